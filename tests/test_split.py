"""The split between sources: uniform within a rule class (read from allocation.csv alone), and chosen by a stated
rule between provinces (allocator/split.py): the second stage keeps the selection and the objective and makes the
shares as even as the rules allow, and says which rule keeps a province apart; its tie rule makes the split one point,
so a run --from itself, a sweep point and a run --set give the same split."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

ROOT = Path(__file__).resolve().parents[1]
NATIONAL = ROOT / "scenarios" / "eleventh_plan_national.toml"
SOURCES = ["central", "lottery", "local"]
#: allocation.csv rounds money to 0.01万元 by default; a share recovered from rounded cells is off by at most that.
CELL = 0.01 + 1e-9


def run_allocation(scenario: Path, out: Path) -> pd.DataFrame:
    """`allocate run` in a subprocess; the allocation.csv it writes."""
    subprocess.run([sys.executable, "-m", "allocator", "run", str(scenario), "--out", str(out), "--no-reports", "--marginal", "none"],
                   check=True, capture_output=True, cwd=ROOT)
    return pd.read_csv(out / "allocation.csv", encoding="utf-8-sig")


@pytest.fixture(scope="module")
def national_csv(tmp_path_factory) -> pd.DataFrame:
    return run_allocation(NATIONAL, tmp_path_factory.mktemp("national") / "run")


def test_within_a_rule_class_every_project_has_the_same_shares(national_csv):
    # Read from allocation.csv alone: a rule class of the national scenario is (province, type, zone).
    funded = national_csv[national_csv["selected"] > 0]
    keys = ["province", "type", "zone"]
    class_share = funded.groupby(keys)[SOURCES].transform("sum").div(funded.groupby(keys)["cost"].transform("sum"), axis=0)
    expected = class_share.mul(funded["cost"], axis=0)
    assert (funded[SOURCES] - expected).abs().to_numpy().max() <= CELL
    assert funded.groupby(keys).size().max() > 50  # the classes are real groups, not single projects
    assert (funded[SOURCES].sum(axis=1) - funded["cost"]).abs().max() <= CELL


def spread_deviation(allocation: pd.DataFrame) -> float:
    """Sum over (type, zone, source) of min over m of sum over provinces |money - m x funded cost| (万元): the least
    money away from a common share, computed from the allocation alone (the minimiser is one of the provinces' shares)."""
    funded = allocation[allocation["selected"] > 0]
    total = 0.0
    for _, group in funded.groupby(["type", "zone"]):
        per_province = group.groupby("province")[["cost", *SOURCES]].sum()
        for source in SOURCES:
            money, cost = per_province[source].to_numpy(), per_province["cost"].to_numpy()
            total += min(np.abs(money - m * cost).sum() for m in money / cost)
    return total


def test_the_even_split_keeps_selection_and_objective_and_evens_the_shares():
    even = solve(load_scenario(NATIONAL), marginal="none")
    accident = solve(load_scenario(NATIONAL, ["model.split=solver"]), marginal="none")
    assert np.array_equal(even.selected, accident.selected)
    assert even.objective == pytest.approx(accident.objective, rel=1e-9)
    assert even.by_source.set_index("source")["used"].sum() == pytest.approx(accident.by_source.set_index("source")["used"].sum())
    assert spread_deviation(even.allocation) < 0.5 * spread_deviation(accident.allocation)
    # west stations: the central share across provinces, narrower than the solver's accident (0 to 0.5)
    west = even.allocation.query("selected > 0 and type == 'station' and zone == 'west'").groupby("province").agg(
        central=("central", "sum"), cost=("cost", "sum"), funded=("cost", "size"))
    share = west["central"] / west["cost"]
    rounding = (CELL * west["funded"] / west["cost"]).max()  # each written cell is within one cent of the exact split
    group = next(g for g in even.solution.details["split"]["groups"]
                 if (g["type"], g["zone"], g["source"]) == ("station", "west", "central"))
    assert group["min_share"] == pytest.approx(share.min(), abs=rounding) and group["max_share"] == pytest.approx(share.max(), abs=rounding)
    accident_west = accident.allocation.query("selected > 0 and type == 'station' and zone == 'west'").groupby("province")[["central", "cost"]].sum()
    assert share.min() > (accident_west["central"] / accident_west["cost"]).min()
    # every province but those the split names, each with the rows that bind on its money, is at the common share
    deviating = {d["province"] for d in group["deviating"]}
    assert all(d["binding"] for d in group["deviating"]) and len(deviating) < len(share) / 2
    assert np.allclose(share.drop(index=list(deviating)), group["common_share"], atol=rounding)


REGIONS = [
    {"region_id": "R1", "name": "甲一区", "province": "甲省", "zone": "east", "streets": 1, "capacity": 20},
    {"region_id": "R2", "name": "乙一区", "province": "乙省", "zone": "east", "streets": 1, "capacity": 1000},
    {"region_id": "R3", "name": "丙一区", "province": "丙省", "zone": "east", "streets": 1, "capacity": 1000},
]
PROJECTS = [{"project_id": f"P{i}", "region_id": f"R{i}", "type": "station", "cost": 100, "benefit": 1} for i in (1, 2, 3)]
CASE = DATA + """
[types.station]

[sources.central]
budget = "150万"

[sources.local]
budget = "150万"
capacity = { column = "capacity" }

[objective]
benefit = { benefit = 1.0 }
"""

# By hand: all three stations (300万) take all the money. 甲省's local money is capped at 20, so P1 gets
# central F1 >= 80 and F2 + F3 = 150 - F1. The deviation |F1 - 100m| + |F2 - 100m| + |F3 - 100m| is least at
# F1 = 80, F2 = F3 = 35, m = 0.35 (45万): with F1 = 80 + e it is 45 + 1.5e, and F2 != F3 only adds to it.


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_a_hand_solved_even_split_and_the_rule_that_keeps_a_province_apart(tmp_path, solver):
    result = solve(load_scenario(write_case(tmp_path, CASE, PROJECTS, regions=REGIONS), [f'solver.name="{solver}"']), marginal="none")
    allocation = result.allocation.set_index("project_id")
    assert list(allocation["selected"]) == [1, 1, 1]
    assert allocation["central"].to_numpy() == pytest.approx([80, 35, 35], abs=1e-6)
    assert allocation["local"].to_numpy() == pytest.approx([20, 65, 65], abs=1e-6)
    split = result.solution.details["split"]
    central = next(g for g in split["groups"] if g["source"] == "central")
    assert (central["min_share"], central["max_share"], central["common_share"]) == pytest.approx((0.35, 0.8, 0.35))
    assert [d["province"] for d in central["deviating"]] == ["甲省"]
    assert "capacity:local[甲省]" in central["deviating"][0]["binding"]
    assert split["deviation_wan"] == pytest.approx(2 * 45)  # central and local each 45万 away


def test_without_capacity_the_split_is_exactly_even(tmp_path):
    regions = [dict(region, capacity=1000) for region in REGIONS]
    result = solve(load_scenario(write_case(tmp_path, CASE, PROJECTS, regions=regions)), marginal="none")
    assert result.allocation["central"].to_numpy() == pytest.approx([50, 50, 50], abs=1e-6)
    assert all(not g["deviating"] for g in result.solution.details["split"]["groups"])


# One province per zone: every (type, zone, source) group has one class, so before layers 2 and 3 of the rule
# (allocator/split.py) nothing pinned the split and the solver's path decided it (the demo's --from moved 1,890万).
DEMO = ROOT / "scenarios" / "demo" / "demo.toml"
QUICK = ["--no-reports", "--marginal", "none"]


def allocate(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "allocator", *map(str, args)], check=True, capture_output=True, cwd=ROOT)


def money_by_project(run: Path) -> pd.DataFrame:
    allocation = pd.read_csv(run / "allocation.csv", encoding="utf-8-sig").set_index("project_id")
    return allocation.loc[allocation["selected"] > 0, SOURCES]


def test_a_run_from_its_own_plan_keeps_the_split_and_one_wan_more_moves_about_one_wan(tmp_path):
    allocate("run", DEMO, "--out", tmp_path / "a", *QUICK)
    allocate("run", DEMO, "--from", tmp_path / "a", "--out", tmp_path / "b", *QUICK)
    allocate("run", DEMO, "--set", "sources.central.budget=1501万", "--from", tmp_path / "a", "--out", tmp_path / "c", *QUICK)
    a, b, c = (money_by_project(tmp_path / run) for run in "abc")
    pd.testing.assert_frame_equal(a, b)  # same inputs, same selection: the same split, cell for cell
    assert list(c.index) == list(a.index)
    moved = (c - a).abs()
    assert moved["central"].sum() < 3 and moved.to_numpy().sum() < 5  # 1万 more central money moves a few 万, not 1,890


def test_a_sweep_point_is_the_run_with_set_at_the_same_value(tmp_path):
    allocate("sweep", DEMO, "--vary", "sources.central.budget=1500万:1503万:4", "--out", tmp_path / "sweep")
    for point, budget in ((2, "1501万"), (4, "1503万")):
        allocate("run", DEMO, "--set", f"sources.central.budget={budget}", "--out", tmp_path / budget, *QUICK)
        pd.testing.assert_frame_equal(money_by_project(tmp_path / "sweep" / "runs" / f"run-{point}"), money_by_project(tmp_path / budget))


TWO_ZONES = [
    {"region_id": "R1", "name": "甲一区", "province": "甲省", "zone": "east", "streets": 1, "capacity": 1000},
    {"region_id": "R2", "name": "乙一区", "province": "乙省", "zone": "west", "streets": 1, "capacity": 1000},
]
TWO_ZONES_CASE = DATA + """
[types.station]

[sources.central]
budget = "{central}"
max_share_of_cost = 0.6

[sources.local]
budget = "1000万"
capacity = {{ column = "capacity" }}

[objective]
benefit = {{ benefit = 1.0 }}
"""


@pytest.mark.parametrize(("central", "expected"), [("100万", [50, 50]), ("101万", [50.5, 50.5]), ("1000万", [60, 60])])
def test_one_province_per_zone_is_split_evenly_and_unspent_room_goes_to_the_source_listed_first(tmp_path, central, expected):
    # By hand: two stations of 100万 in two zones (two groups of one class each). Layer 2 evens central's share across
    # the groups (central 100万: 50 each; 101万: 50.5 each); with room to spare, layer 3 prefers central, listed first,
    # up to its max_share_of_cost (60 each) and local pays the rest.
    projects = [{"project_id": f"P{i}", "region_id": f"R{i}", "type": "station", "cost": 100, "benefit": 1} for i in (1, 2)]
    result = solve(load_scenario(write_case(tmp_path, TWO_ZONES_CASE.format(central=central), projects, regions=TWO_ZONES)),
                   marginal="none")
    allocation = result.allocation.set_index("project_id")
    assert allocation["central"].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert allocation["local"].to_numpy() == pytest.approx([100 - e for e in expected], abs=1e-6)
    split = result.solution.details["split"]
    assert split["source_shares"]["central"] == pytest.approx(expected[0] / 100)
    assert {(g["zone"], g["classes"]) for g in split["groups"]} == {("east", 1), ("west", 1)}
