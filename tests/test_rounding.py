"""Money rounded to a stated unit: rows add up to costs, columns to by_source.csv and the workbook, exactly.

The run-directory checks read the files alone, as decimals (no model code); the hand cases drive
:func:`allocator.rounding.controlled_round` where per-row rounding alone would break a column.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from allocator.rounding import Precision, controlled_round, round_plan

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {"demo": ROOT / "scenarios" / "demo" / "demo.toml", "shandong": ROOT / "scenarios" / "shandong_12th_plan.toml",
             "zhejiang": ROOT / "scenarios" / "zhejiang_2008.toml"}


def run(scenario: Path, out: Path, *sets: str) -> Path:
    args = [a for s in sets for a in ("--set", s)]
    done = subprocess.run([sys.executable, "-m", "allocator", "run", str(scenario), "--out", str(out), "--marginal", "none", *args],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def check_run(folder: Path, unit: Decimal) -> None:
    """Every money figure of the run is a whole number of `unit`, and every sum adds up exactly."""
    by_source = rows(folder / "by_source.csv")
    keys = [r["source"] for r in by_source]
    allocation = rows(folder / "allocation.csv")
    column = dict.fromkeys(keys, Decimal(0))
    by_zone: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(keys, Decimal(0)))
    for row in allocation:
        money = {k: Decimal(row[k]) for k in keys}
        for value in (*money.values(), Decimal(row["cost"])):
            assert value % unit == 0, (row["project_id"], value)
        if row["selected"] == "1":
            assert sum(money.values()) == Decimal(row["cost"]), row
        else:
            assert not any(money.values()), row
        for k in keys:
            column[k] += money[k]
            by_zone[row["zone"]][k] += money[k]
    for source in by_source:
        assert Decimal(source["used"]) == column[source["source"]]
        assert Decimal(source["used"]) <= Decimal(source["budget"])
        assert Decimal(source["left"]) == Decimal(source["budget"]) - Decimal(source["used"])
    for zone in rows(folder / "by_zone.csv"):
        assert {k: Decimal(zone[k]) for k in keys} == by_zone[zone["zone"]]
        assert Decimal(zone["total"]) == sum(by_zone[zone["zone"]].values())
    check_workbook(folder / "budget_proposal.xlsx", {r["label"] or r["source"]: r["source"] for r in by_source}, column)


def check_workbook(path: Path, sources: dict[str, str], column: dict[str, Decimal]) -> None:
    """The summary's used per source (its rows named by `sources`' labels) and the project sheet's grand total equal the
    allocation's sums."""
    book = load_workbook(path, read_only=True)
    sheets = book.worksheets
    keys = list(sources.values())
    used = {sources[r[0]]: r[2] for r in sheets[0].iter_rows(values_only=True) if len(r) > 2 and r[0] in sources}
    assert {k: Decimal(str(v)) for k, v in used.items()} == column
    last = [r for r in sheets[2].iter_rows(values_only=True) if any(v is not None for v in r)][-1]
    money = [v for v in last if isinstance(v, (int, float))]
    assert [Decimal(str(v)) for v in money[-len(keys) - 1:]] == [*column.values(), sum(column.values())]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rows_and_columns_add_up_exactly(tmp_path, name):
    folder = run(SCENARIOS[name], tmp_path / name)
    check_run(folder, Decimal("0.01"))


def test_whole_wan_precision(tmp_path):
    folder = run(SCENARIOS["demo"], tmp_path / "demo", "output.money_precision=1万")
    check_run(folder, Decimal(1))
    assert '"money_precision": 1.0' in (folder / "manifest.json").read_text(encoding="utf-8")


def test_largest_remainders_break_a_column_and_the_repair_restores_it():
    """Three projects of 1.00 split in thirds: rounding each row alone (largest remainder, first wins ties)
    gives the first source 1.02 and the others 0.99; the columns must each add up to 1.00."""
    thirds = np.full((3, 3), 100 / 3)
    rounded = controlled_round(thirds)
    assert (rounded.sum(axis=1) == 100).all()
    assert (rounded.sum(axis=0) == 100).all()
    assert set(rounded.ravel()) == {33, 34}


def test_column_limit_rounds_down_into_the_budget():
    """Each row alone would round its first cell up (remainder .6); the budget of column 0 allows one of them."""
    values = np.array([[10.6, 9.4], [20.6, 9.4]])
    rounded = round_plan(Precision(1.0), values, values.sum(axis=1), np.ones(2), budgets=np.array([31, 100]), min_spend=np.zeros(2)).money
    assert rounded.sum(axis=0)[0] == 31 and (rounded.sum(axis=1) == [20, 30]).all()
    assert np.all(np.abs(rounded - values) < 1)


def test_solver_noise_never_reaches_a_cell():
    """1500.000001 of a budget of 1500 and a -1e-06 are noise: the plan shows 1500.00 and nothing left."""
    precision = Precision(0.01)
    money = np.array([[1500.000001, 0.0], [-1e-6, 300.0]])
    plan = round_plan(precision, money, cost=np.array([1500.0, 300.0]), selected=np.ones(2),
                      budgets=np.array([1500.0, 400.0]), min_spend=np.zeros(2))
    assert plan.money.tolist() == [[150000, 0], [0, 30000]]
    assert precision.to_wan(plan.money.sum(axis=0)).tolist() == [1500.0, 300.0]


def test_half_up_as_typed():
    assert Precision(0.01).units(np.array([12.345, 0.005, 43.018868])).tolist() == [1235, 1, 4302]
    assert Precision(1.0).to_wan(np.array([3])).tolist() == [3.0]
