import math

import pandas as pd
import pytest

from allocator.errors import InputError
from allocator.units import MAX_WAN, format_wan, parse_money, parse_money_column


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
        ("1,234,567元", 123.4567),
        ("1,500.5万", 1_500.5),
        ("６亿", 60_000.0),
        ("１，５００万", 1_500.0),
        ("0．5亿", 5_000.0),
        ("￥１．３亿", 13_000.0),
        ("¥3000", 0.3),
        ("3000元", 0.3),
        ({"amount": 6, "unit": "亿"}, 60_000.0),
        ("0", 0.0),
    ],
)
def test_amounts_are_read_into_wan(text, wan):
    assert parse_money(text, where="k") == pytest.approx(wan)


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("0,06亿", "'0.06亿'"),
        ("99,5", "'99.5'"),
        ("０，０６亿", "'0.06亿'"),
        ("0,600万", "'0.600万'"),
        ("6,0,0万", "no other commas"),
        ("1,5000万", "'1.5000万'"),
        ("12,34,567万", "no other commas"),
        ("1.234,5万", "no other commas"),
        ("1,234.5,6万", "no other commas"),
    ],
)
def test_a_comma_is_only_a_thousands_separator(text, advice):
    with pytest.raises(InputError) as error:
        parse_money(text, where="k")
    assert "not a thousands separator" in str(error.value) and advice in str(error.value)


@pytest.mark.parametrize("text", ["0。06亿", "1 500万", "6亿5", "1.2.3万"])
def test_malformed_numbers_are_not_read(text):
    with pytest.raises(InputError, match="cannot read"):
        parse_money(text, where="k")


def test_without_a_default_unit_a_plain_number_needs_one():
    for value, plain in ((600, "600"), (600.5, "600.5"), ("600", "600"), ({"amount": 6}, "6"), ("１２", "12")):
        with pytest.raises(InputError) as error:
            parse_money(value, where="sources.c.budget", default_unit=None)
        assert f"write the unit: '{plain}万', '{plain}亿' or '{plain}元'" in str(error.value)
    assert [parse_money(v, default_unit=None) for v in (0, 0.0, "0", "80元", {"amount": 6, "unit": "亿"})] == [0, 0, 0, 0.008, 60_000]


def test_amounts_are_bounded():
    assert parse_money("1e8亿", default_unit=None) == MAX_WAN
    with pytest.raises(InputError, match="at most"):
        parse_money("1.1e8亿", default_unit=None)
    with pytest.raises(InputError, match="at most"):
        parse_money(1e300)


def test_the_column_parser_follows_the_same_comma_rule():
    values = parse_money_column(pd.Series([1_000, "1,000", "１，０００", "0.1万"]), where="c", default_unit="万元")
    assert list(values) == [1_000.0, 1_000.0, 1_000.0, 0.1]
    with pytest.raises(InputError, match="row 3.*'99.5'"):
        parse_money_column(pd.Series([100, "99,5"]), where="projects.csv: column cost", default_unit="万元")


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


@pytest.mark.parametrize("text", ["¹", "²万", "①亿", "½万", "³⁴"])
def test_superscripts_fractions_and_circled_numbers_are_not_amounts(text):
    """NFKC would read them as digits; a planner never types them for money (full-width digits stay accepted)."""
    with pytest.raises(InputError, match="cannot read"):
        parse_money(text, where="projects.csv, row 2, cost")
