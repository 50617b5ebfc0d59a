"""Rounded money obeys the plan's rules as printed: budgets and capacities, per-project share caps and matching ratios,
shares that add up to 100%, Theil parts that add up to the printed index (docs/outputs.md, Rounding).

Every check reads the printed figures as decimals, or recomputes the answer independently (by brute force on small
cases); the plans are drawn at random (hypothesis) or are the outside tester's cases."""

from __future__ import annotations

import itertools
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from allocator.rounding import Precision, round_plan, shares_adding_up
from allocator.rules import CapacityLimits, MatchingRule
from tests.test_rounding import ROOT, rows, run

NATIONAL = ROOT / "scenarios" / "eleventh_plan_national.toml"
DEMO = ROOT / "scenarios" / "demo" / "demo.toml"
UNIT = Precision(0.01)


def plan(money: np.ndarray, budgets: np.ndarray, **rules: object):  # type: ignore[no-untyped-def]
    """`money` (万元, every project funded at the cost its money adds up to) rounded to 0.01万."""
    cost = money.sum(axis=1)
    return round_plan(UNIT, money, cost, np.ones(len(money)), budgets, np.zeros(money.shape[1]), **rules)  # type: ignore[arg-type]


def test_eight_eighths_of_a_budget_print_the_budget():
    """8 projects of 0.125万 on a budget of 1万 (the tester's rounded_cost_over_budget): half up each prints 0.13 and 1.04 in
    all; 尾差: the fewest rows (4) round down instead, ties by file order, and the printed costs are those rows' sums."""
    rounded = plan(np.full((8, 1), 0.125), np.array([1.0]))
    assert rounded.money[:, 0].tolist() == [12, 12, 12, 12, 13, 13, 13, 13]
    assert rounded.cost.tolist() == rounded.money[:, 0].tolist()
    assert sum(Decimal(int(v)) / 100 for v in rounded.money[:, 0]) == Decimal("1.00")


@given(st.lists(st.integers(1, 400), min_size=1, max_size=9), st.integers(0, 40))
def test_a_single_source_changes_the_fewest_rows_to_fit_its_budget(halves, slack):
    """One source: each row is its cell, so the fewest rows to change is what the rows rounded half up exceed the budget
    (or the exact total's rounding) by; each changed row is one of the rows nearest .5 that rounded up."""
    exact = np.array(halves, dtype=float) / 2 + 0.0025 * (np.arange(len(halves)) % 2)  # .5 and .5025 units
    money = exact[:, None] / 100
    budget = (np.floor(exact.sum()) + slack) / 100
    rounded = plan(money, np.array([budget]))
    half_up = np.floor(exact + 0.5)
    high = min(np.ceil(exact.sum()), np.floor(exact.sum()) + slack)
    changed = np.flatnonzero(rounded.money[:, 0] != half_up)
    assert len(changed) == max(0, int(half_up.sum() - high))
    assert np.all(np.abs(rounded.money[:, 0] - exact) < 1)
    assert rounded.money.sum() <= round(budget * 100)
    fractional_up = np.flatnonzero(half_up > exact)
    nearest = fractional_up[np.lexsort((fractional_up, np.abs(exact[fractional_up] % 1 - 0.5)))]
    assert sorted(changed) == sorted(nearest[:len(changed)])


@given(st.lists(st.lists(st.integers(0, 3000), min_size=2, max_size=2), min_size=2, max_size=8), st.integers(0, 1))
def test_a_capacity_the_exact_plan_meets_holds_as_printed(cells, groups):
    """Each province's (group's) local money, printed, never exceeds its capacity when the exact plan's does not: here the
    capacity is the exact sum rounded down to the unit, which half-up rounding of the cells would overshoot."""
    money = np.array(cells, dtype=float) / 200 + 0.00499  # remainders of .999 units
    group = np.arange(len(money)) % (groups + 1)
    exact_sums = np.bincount(group, weights=money[:, 1])
    capacity = np.floor(exact_sums * 100 + 1e-9) / 100
    money[:, 1] *= (capacity / exact_sums)[group]  # the local money scaled down to fit each capacity exactly
    rounded = plan(money, np.array([np.inf, np.inf]), capacities=[(1, CapacityLimits(group, np.arange(groups + 1), capacity))])
    printed = np.bincount(group, weights=rounded.money[:, 1], minlength=groups + 1)
    assert np.all(printed <= np.round(capacity * 100))


@given(st.lists(st.lists(st.integers(1, 3000), min_size=3, max_size=3), min_size=4, max_size=30), st.integers(0, 2),
       st.integers(1, 6))
def test_a_large_table_settles_most_rows_in_advance_and_still_meets_every_sum(cells, groups, free_rows):
    """With the thresholds made small, the rounding of a 'large' table settles all but `free_rows` rows before the LP:
    every printed row still adds up to its cost, every cell is its exact value rounded down or up, and each source's
    column and each capacity group stay within their limits (checked here from the printed cells alone)."""
    import allocator.rounding as rounding

    money = np.array(cells, dtype=float) / 300  # thirds of a unit: most cells fractional
    group = np.arange(len(money)) % (groups + 1)
    capacity = np.floor(np.bincount(group, weights=money[:, 2]) * 100 + 1e-9) / 100
    money[:, 2] *= (capacity / np.bincount(group, weights=money[:, 2]))[group]
    budgets = np.floor(money.sum(axis=0) * 100 + 1e-9) / 100
    money[:, :2] *= (budgets[:2] / money[:, :2].sum(axis=0))[None, :]
    limits = {"capacities": [(2, CapacityLimits(group, np.arange(groups + 1), capacity))]}
    saved = rounding.LARGE_TABLE, rounding.FREE_ROWS
    rounding.LARGE_TABLE, rounding.FREE_ROWS = 0, free_rows
    try:
        rounded = plan(money, budgets, **limits)
    finally:
        rounding.LARGE_TABLE, rounding.FREE_ROWS = saved
    exact = money * 100
    assert np.all((rounded.money >= np.floor(exact - 1e-6)) & (rounded.money <= np.ceil(exact + 1e-6)))
    assert np.array_equal(rounded.money.sum(axis=1), rounded.cost)
    assert np.all(rounded.money.sum(axis=0) <= np.round(budgets * 100))
    assert np.all(np.bincount(group, weights=rounded.money[:, 2], minlength=groups + 1) <= np.round(capacity * 100))


def keeps_rules(row: np.ndarray, cost: int, cap: float, ratio: float) -> bool:
    """Source 0 pays at most `cap` of the cost, source 2 at least `ratio` times source 0 (in units, exactly)."""
    return bool(row[0] <= cap * cost + 1e-9 and row[2] >= ratio * row[0] - 1e-9)


@given(st.integers(100, 40000), st.floats(0.2, 0.5), st.sampled_from([0.5, 1.0, 2.0]), st.floats(0, 1))
def test_a_row_keeps_its_share_cap_and_matching_ratio_when_some_rounding_does(cost, cap, ratio, spread):
    """A project whose exact split meets central <= cap x cost and local >= ratio x central (central at its cap, local at its
    ratio, lottery the rest): if any rounding of the row (brute force) keeps both rules as printed, the plan's does."""
    central = cap * cost
    local = min(ratio * central + spread * (cost - central - ratio * central), cost - central)
    if local < ratio * central:
        return
    exact = np.array([central, cost - central - local, local])
    share_cap = np.array([[cap, 1.0, 1.0]])
    rounded = plan(exact[None, :] / 100, np.full(3, np.inf), share_cap=share_cap,
                   matching=[MatchingRule(2, [0], np.array([ratio]))]).money[0]
    floor = np.floor(exact)
    rounding = [floor + np.array(up) for up in itertools.product((0, 1), repeat=3)]
    possible = [r for r in rounding if r.sum() == cost and np.all(r <= np.ceil(exact)) and keeps_rules(r, cost, cap, ratio)]
    assert not possible or keeps_rules(rounded, cost, cap, ratio), (exact, rounded)


@pytest.mark.parametrize(("unit", "expected"), [(1.0, [78, 39, 40]), (0.01, [6705, 3352, 3353])])
def test_the_testers_rows_keep_central_at_half_and_local_at_half_of_central(unit, expected):
    """C-150104001 (cost 157万 at whole 万元: central 78.5) and C-150571002 (134.1万 at 0.01万: lottery and local 33.525):
    the round-up goes to the matching source, not the capped one."""
    cost = 157.0 if unit == 1.0 else 134.1
    money = np.array([[cost / 2, cost / 4, cost / 4]])
    rounded = round_plan(Precision(unit), money, np.array([cost]), np.ones(1), np.full(3, np.inf), np.zeros(3),
                         share_cap=np.array([[0.5, 0.3, 1.0]]), matching=[MatchingRule(2, [0], np.array([0.5]))])
    assert rounded.money[0].tolist() == expected


@given(st.lists(st.floats(0, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=40), st.integers(1, 5))
def test_shares_add_up_as_printed(values, decimals):
    shares = shares_adding_up(np.array(values), decimals)
    printed = [Decimal(f"{s:.{decimals}f}") for s in shares]
    total = sum(values)
    assert sum(printed) == (1 if total > 0 else 0)
    if total > 0:
        assert all(abs(float(p) - v / total) < 10**-decimals for p, v in zip(printed, values))


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("national") / "run"
    done = subprocess.run([sys.executable, "-m", "allocator", "run", str(NATIONAL), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_capacities_hold_and_the_tables_agree_as_printed(national):
    """Each province's local money in by_province.csv is within its capacity (the regions table, summed by province) and is
    the figure marginal.csv's capacity row shows, which holds no solver noise."""
    by_province = {r["province"]: Decimal(r["local"]) for r in rows(national / "by_province.csv")}
    capacity_rows = [r for r in rows(national / "marginal.csv") if r["key"] == "sources.local.capacity"]
    assert len(capacity_rows) == len(by_province)
    for r in capacity_rows:
        assert Decimal(r["used"]) == by_province[r["group"]], r
        assert by_province[r["group"]] <= Decimal(r["limit"]), r


def test_shares_and_theil_parts_add_up_as_printed(national):
    """by_province.csv's shares add up to 1 and the workbook's to its printed 100.00%; each Theil index is its two parts
    as printed (4 places) in equity.csv, the workbook and report.md."""
    assert sum(Decimal(r["share"]) for r in rows(national / "by_province.csv")) == 1
    sheet = list(load_workbook(national / "budget_proposal.xlsx")["分省"].iter_rows(values_only=True))
    column = sheet[2].index("占比")
    body = [r for r in sheet[3:] if r[0] and r[0] != "合计"]
    total = next(r for r in sheet[3:] if r[0] == "合计")
    assert sum(Decimal(f"{100 * r[column]:.2f}") for r in body) == Decimal(f"{100 * total[column]:.2f}") == 100
    equity = [r for r in rows(national / "equity.csv") if r["group"] == ""]
    value = {(r["measure"], r["basis"]): Decimal(f"{float(r['value']):.4f}") for r in equity}
    for basis in {b for m, b in value if m == "theil"}:
        assert value["theil", basis] == value["theil_between_zones", basis] + value["theil_within_zones", basis], basis
    report = (national / "report.md").read_text(encoding="utf-8")
    for line in report.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 7 and all(c.replace(".", "").isdigit() for c in cells[2:6]) and cells[3].startswith("0."):
            assert Decimal(cells[3]) == Decimal(cells[4]) + Decimal(cells[5]), line


def test_benefit_shares_add_up_as_printed(national):
    """The terminal's and the report's benefit shares per type (0.1%) add up to 100.0%."""
    report = (national / "report.md").read_text(encoding="utf-8")
    section = report.split("## 分类型效益")[1].split("\n## ")[0] if "## 分类型效益" in report else report
    shares = [Decimal(c.strip()[:-1]) for line in section.splitlines() for c in line.split("|")[-2:-1] if c.strip().endswith("%")]
    assert shares and sum(shares) == 100


def test_a_budget_is_printed_rounded_down_and_tables_name_their_unit(tmp_path):
    """A budget of 1500.5万 at 1万 is 1,500 (a ceiling is never printed above what was approved), and the report's money
    tables name 万元, its benefit heading has no empty brackets, and counts are whole."""
    folder = run(DEMO, tmp_path / "demo", "output.money_precision=1万", "sources.central.budget=1500.5万")
    central = next(r for r in rows(folder / "by_source.csv") if r["source"] == "central")
    assert Decimal(central["budget"]) == 1500 and Decimal(central["used"]) <= Decimal(central["budget"])
    assert Decimal(central["left"]) == Decimal(central["budget"]) - Decimal(central["used"])
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "（）" not in report
    headers = [line for line in report.splitlines() if line.startswith("| ") and "合计" in line]
    assert headers and all("合计（万元）" in line for line in headers)
    for table in ("by_province", "by_zone", "by_type", "by_region"):
        assert all(r["funded"].isdigit() for r in rows(folder / f"{table}.csv")), table


def test_the_by_year_sheet_names_indicators_by_label(tmp_path):
    folder = run(ROOT / "scenarios" / "eleventh_plan_national_2006_2010.toml", tmp_path / "phased")
    sheet = list(load_workbook(folder / "budget_proposal.xlsx")["分年度"].iter_rows(values_only=True))
    labels = {r["indicator"]: r["label"] for r in rows(folder / "indicators.csv")}
    assert not set(labels) & set(sheet[2]) and set(labels.values()) <= set(sheet[2])
    by_year = rows(folder / "by_year.csv")
    assert all(len(v.partition(".")[2]) <= 6 for r in by_year for k, v in r.items() if k in labels)
