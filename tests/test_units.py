import math

import pandas as pd
import pytest

from allocator.errors import InputError
from allocator.units import format_wan, parse_money, parse_money_column


@pytest.mark.parametrize(
    ("text", "wan"),
    [
        ("6亿", 60_000.0),
        ("1.3亿", 13_000.0),
        ("14.5亿", 145_000.0),
        ("2615万", 2_615.0),
        ("¥6亿", 60_000.0),
        ("￥14.5亿", 145_000.0),
        ("600000000", 60_000.0),
        (600_000_000, 60_000.0),
        ("1,070万元", 1_070.0),
        ("3000元", 0.3),
        ({"amount": 6, "unit": "亿"}, 60_000.0),
        ("0", 0.0),
    ],
)
def test_amounts_are_read_into_wan(text, wan):
    assert parse_money(text, where="k") == pytest.approx(wan)


def test_plain_numbers_follow_the_declared_unit():
    assert parse_money(2615, default_unit="万元") == 2615.0
    assert parse_money("2615", default_unit="万元") == 2615.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("6忆", "did you mean '亿'"),
        ("-6亿", "must not be negative"),
        (-1, "must not be negative"),
        (math.inf, "finite"),
        (math.nan, "finite"),
        ("六亿", "cannot read"),
        ("6 billion", "unknown money unit"),
        (True, "expected an amount"),
        ({"amount": "6", "unit": "亿"}, "'amount' must be a number"),
    ],
)
def test_bad_amounts_name_the_key(value, message):
    with pytest.raises(InputError) as error:
        parse_money(value, where="sources.central.budget")
    assert message in str(error.value)
    assert "sources.central.budget" in str(error.value)


def test_column_parse_names_the_spreadsheet_row():
    column = pd.Series(["100万", "2亿", "12x"])
    with pytest.raises(InputError, match="row 4"):
        parse_money_column(column, where="projects.csv: column cost", default_unit="元")
    values = parse_money_column(pd.Series([1_000_000, "2亿"]), where="c", default_unit="元")
    assert list(values) == [100.0, 20_000.0]


def test_format_shows_yi_above_one_yi():
    assert format_wan(218_000) == "218,000.00万元 (21.80亿)"
    assert format_wan(2_615) == "2,615.00万元"
