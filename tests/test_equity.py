"""Equity measures: the Gini coefficient and the Theil index (with its between/within-zone split) against a case
worked by hand and a brute-force double sum; money per resident read back from the run's own allocation.csv."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from allocator import load_scenario, solve
from allocator.equity import equity_table, gini, theil
from allocator.report.workbook import lorenz_points
from allocator.rundir import write_run
from helpers import DATA, write_case

# Three provinces: A (east, 100 residents, 300 of money), B (east, 100, 100), C (west, 200, 200).
MONEY = np.array([300.0, 100.0, 200.0])
POPULATION = np.array([100.0, 100.0, 200.0])
ZONE = np.array(["east", "east", "west"], dtype=object)


def test_gini_of_the_hand_worked_case():
    # per resident 3, 1, 1; population shares 1/4, 1/4, 1/2; mean 1.5. Ordered pairs with a difference:
    # (A,B), (B,A): 2 * 1/16 * 2 = 1/4; (A,C), (C,A): 2 * 1/8 * 2 = 1/2. G = (3/4) / (2 * 1.5) = 1/4.
    assert gini(MONEY / POPULATION, POPULATION) == pytest.approx(0.25)


def test_theil_of_the_hand_worked_case_and_its_split_by_zone():
    parts = theil(MONEY, POPULATION, ZONE)
    # money shares 1/2, 1/6, 1/3 against population shares 1/4, 1/4, 1/2
    assert parts.total == pytest.approx(0.5 * math.log(2) + (1 / 6) * math.log(2 / 3) + (1 / 3) * math.log(2 / 3))
    # zones: east holds 2/3 of the money and 1/2 of the residents, west 1/3 and 1/2
    assert parts.between == pytest.approx((2 / 3) * math.log(4 / 3) + (1 / 3) * math.log(2 / 3))
    # within east: A has 3/4 of east's money and 1/2 of its residents, B 1/4 and 1/2; west is one province (0)
    assert parts.within == pytest.approx((2 / 3) * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)))
    assert parts.between + parts.within == pytest.approx(parts.total)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4, allow_subnormal=False), st.floats(1, 1e4), st.sampled_from(["east", "central", "west"])),
                min_size=2, max_size=12))  # money of 1e-311 per province is no plan's, and loses digits in the double sum
def test_gini_equals_the_double_sum_and_theil_parts_add_up(rows):
    money = np.array([r[0] for r in rows])
    population = np.array([r[1] for r in rows])
    zone = np.array([r[2] for r in rows], dtype=object)
    x, p = money / population, population / population.sum()
    mean = float(p @ x)
    if mean == 0:
        assert math.isnan(gini(x, population))
        return
    brute = sum(p[i] * p[j] * abs(x[i] - x[j]) for i in range(len(x)) for j in range(len(x))) / (2 * mean)
    assert gini(x, population) == pytest.approx(brute, rel=1e-9, abs=1e-12)
    parts = theil(money, population, zone)
    assert parts.between + parts.within == pytest.approx(parts.total, rel=1e-9, abs=1e-12)
    assert parts.total >= -1e-12 and parts.between >= -1e-12 and parts.within >= -1e-12


def test_equal_money_per_resident_is_perfect_equality():
    assert gini(np.array([2.0, 2.0, 2.0]), POPULATION) == 0
    assert theil(2 * POPULATION, POPULATION, ZONE).total == pytest.approx(0)


def test_a_run_writes_money_per_resident_that_its_allocation_adds_up_to(tmp_path):
    regions = [{"region_id": "R1", "name": "东城区", "province": "甲省", "zone": "east", "streets": 10, "centres": 4, "population": 200_000},
               {"region_id": "R2", "name": "西川县", "province": "乙省", "zone": "west", "streets": 10, "centres": 2, "population": 50_000}]
    projects = [{"project_id": f"P{i}", "name": f"站{i}", "region_id": "R1" if i < 3 else "R2", "type": "station", "cost": 10 + i,
                 "benefit": 5 + i} for i in range(6)]
    path = write_case(tmp_path / "case", DATA + """
[types.station]
label = "社区服务站"
welfare = true
[sources.central]
budget = "40万"
max_share_of_cost = 0.5
[sources.local]
budget = "40万"
[objective]
benefit = { benefit = 1.0 }
""", projects, regions)
    out = write_run(solve(load_scenario(path)), tmp_path / "run")
    allocation = pd.read_csv(out / "allocation.csv", encoding="utf-8-sig", dtype={"region_id": str})
    equity = pd.read_csv(out / "equity.csv", encoding="utf-8-sig", keep_default_na=False)
    per_resident = equity[equity["measure"] == "money_per_resident"].set_index(["basis", "group"])["value"].astype(float)
    for province, residents in (("甲省", 200_000), ("乙省", 50_000)):
        funded = allocation[allocation["province"] == province]
        assert per_resident["all", province] == pytest.approx(funded[["central", "local"]].to_numpy().sum() * 10_000 / residents)
        assert per_resident["central", province] == pytest.approx(funded["central"].sum() * 10_000 / residents)
    x = per_resident.loc["all"].reindex(["甲省", "乙省"]).to_numpy()
    written_gini = float(equity.query("measure == 'gini' and basis == 'all'")["value"].iloc[0])
    assert written_gini == pytest.approx(gini(x, np.array([200_000, 50_000])))
    # the workbook's equity sheet and the report carry the same figures
    sheet = load_workbook(out / "budget_proposal.xlsx", read_only=True)["地区公平性"]
    rows = [r for r in sheet.iter_rows(values_only=True) if r and r[0] == "全部资金"]
    assert rows and rows[0][1] == pytest.approx(written_gini)
    provinces = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if r and r[0] in ("甲省", "乙省")}
    assert provinces["甲省"] == pytest.approx(per_resident["all", "甲省"])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## 地区公平性" in report and f"| 全部资金 | {written_gini:.4f} |" in report


def test_no_population_column_means_no_equity_table():
    demo = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml")
    assert equity_table(solve(demo, marginal="none")) is None


def test_the_lorenz_curve_encloses_the_gini_the_table_states(tmp_path):
    """1 − Σ (P_i − P_i−1)(L_i + L_i−1) over the report's Lorenz points is the Gini coefficient: the curve and the
    figure come from the same plan, computed two ways. The report draws the curve."""
    out = write_run(solve(load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "eleventh_plan_national.toml"),
                          marginal="none"), tmp_path / "run")
    table = pd.read_csv(out / "equity.csv", encoding="utf-8-sig", keep_default_na=False)
    curves = lorenz_points(table)
    assert set(curves) == {"all", "central", "lottery", "local"}
    for basis, (population, money) in curves.items():
        p, m = np.array(population), np.array(money)
        assert p[0] == m[0] == 0 and p[-1] == pytest.approx(1) and m[-1] == pytest.approx(1)
        assert (np.diff(p) >= 0).all() and (np.diff(m) >= 0).all() and (m <= p + 1e-12).all()  # below the diagonal
        stated = float(table.query(f"measure == 'gini' and basis == '{basis}'")["value"].iloc[0])
        assert 1 - float((np.diff(p) * (m[1:] + m[:-1])).sum()) == pytest.approx(stated, abs=1e-9)
    assert "各省人均资金洛伦兹曲线" in (out / "report.html").read_text(encoding="utf-8")
