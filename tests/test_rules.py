"""Each rule of a scenario, computed once (allocator/rules.py), against small cases worked out by hand; and the
model's blocks of rows, which say their kind so the diagnosis and the marginal values find them by kind."""

from pathlib import Path

import numpy as np
import pytest

from allocator.data import load_data
from allocator.diagnose import relaxable_rules
from allocator.relaxations import RULE_ROWS
from allocator.model import formulate
from allocator.model.arrays import ColumnKind, RowKind
from allocator.rules import MET_TOLERANCE, Rules, target_met, target_missed
from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "R1", "name": "东一区", "province": "甲省", "zone": "east", "streets": 10, "centres": 2, "capacity": 100},
    {"region_id": "R2", "name": "东二区", "province": "甲省", "zone": "east", "streets": 10, "centres": 3, "capacity": 50},
    {"region_id": "R3", "name": "西一县", "province": "乙省", "zone": "west", "streets": 5, "centres": 1, "capacity": 70},
]
PROJECTS = [
    {"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 100, "adds": 1, "request_central": "", "request_local": ""},
    {"project_id": "P2", "region_id": "R2", "type": "station", "cost": 50, "adds": 1, "request_central": "", "request_local": ""},
    {"project_id": "P3", "region_id": "R3", "type": "centre", "cost": 80, "adds": 1, "request_central": "", "request_local": ""},
    {"project_id": "P4", "region_id": "R3", "type": "station", "cost": 40, "adds": 1, "request_central": 10, "request_local": 30},
]
SCENARIO = DATA + """
[types.centre]
[types.station]

[phasing]
first_year = 2021
last_year = 2023
duration = 2

[sources.central]
budget = "90万"
min_spend = "10万"
max_share_of_cost = { centre = 0.5 }
cap_per_project = { centre = { west = "30万", default = "60万" } }

[sources.lottery]
budget = "30万"
types = ["station"]
zones = ["east"]
standard = { share = 0.2 }  # a subsidy standard: 20% of an east station's cost

[sources.local]
budget = "300万"
capacity = { column = "capacity", by = "province" }
matching = { of = ["central"], ratio = { east = 1.0, west = 0.5 } }

[targets.counts.east_stations]
type = "station"
zone = "east"
max = 1

[targets.counts.centres]
type = "centre"
min = 1

[targets.indicators.coverage]
baseline = "centres"
contribution = "adds"
denominator = "streets"
types = ["centre"]
scope = "zone"
target = 0.35
penalty = 1.0
deadline = 2022

[balance]
min_projects_per_region = 2

[balance.shares.west]
source = "all"
zones = ["west"]
min = 0.1
max = 0.9

[objective]
sense = "min_cost"
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    path = write_case(tmp_path_factory.mktemp("rules"), SCENARIO, PROJECTS, REGIONS)
    scenario = load_scenario(path)
    return scenario, Rules(scenario, load_data(scenario))


def test_eligibility_shares_and_caps(case):
    _, rules = case  # sources: central, lottery, local
    assert rules.eligible.tolist() == [[True, False, True], [True, True, True], [True, False, True], [True, False, True]]
    assert rules.max_share_of_cost.tolist() == [[0.5, 1, 1], [1, 1, 1], [0.5, 1, 1], [1, 1, 1]]
    assert rules.absolute_caps.tolist() == [[60, np.inf, np.inf], [np.inf] * 3, [30, np.inf, np.inf], [np.inf] * 3]


def test_declared_plans_and_what_each_source_may_put_in(case):
    _, rules = case
    assert rules.declared.tolist() == [False, False, False, True]
    assert rules.requests.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [10, 0, 30]]
    assert rules.fundable.all()
    # min(alpha x cost, cap) where eligible, 0 where not; a declared plan's request.
    assert rules.money_limit.tolist() == [[50, 0, 100], [50, 50, 50], [30, 0, 80], [10, 0, 30]]


def test_matching_capacity_and_budgets(case):
    scenario, rules = case
    (matching,) = rules.matching
    assert (matching.source, matching.of, matching.ratio.tolist()) == (2, [0], [1.0, 1.0, 0.5, 0.5])
    capacity = rules.capacity(scenario.sources["local"])
    assert capacity.labels.tolist() == ["乙省", "甲省"]
    assert capacity.limit.tolist() == [70, 150]
    assert capacity.group_of_project.tolist() == [1, 1, 0, 0]
    assert rules.budget_limits(scenario.sources["central"]) == pytest.approx([30, 60, 90])  # carried over: cumulative


def test_counts_and_the_minimum_per_region(case):
    scenario, rules = case
    assert rules.count_mask(scenario.counts["east_stations"]).tolist() == [False, True, False, False]
    assert rules.count_mask(scenario.counts["centres"]).tolist() == [True, False, True, False]
    assert rules.region_minimum.tolist() == [1, 1, 2]  # min(2, candidates)


def test_an_indicator_counts_projects_completed_by_its_deadline(case):
    _, rules = case
    (coverage,) = rules.indicator_groups
    assert coverage.labels.tolist() == ["east", "west"]
    assert coverage.baseline.tolist() == [5, 1] and coverage.denominator.tolist() == [20, 5]
    assert coverage.contribution.tolist() == [1, 0, 1, 0]  # only centres count
    # Two-year projects over 2021-2023 start in 2021 or 2022; by the end of 2022 only a 2021 start is finished.
    assert coverage.deadline == 1
    assert rules.scenario.phasing.starts_done_by(coverage.deadline) == 1
    assert coverage.achieved(np.ones(4)).tolist() == pytest.approx([6 / 20, 2 / 5])


def test_share_parts(case):
    scenario, rules = case
    money = np.array([[10.0, 0, 20], [5, 5, 5], [1, 0, 2], [10, 0, 30]])
    assert rules.share_parts(scenario.shares["west"], money) == pytest.approx((43, 88))


def test_one_tolerance_for_a_target_met():
    achieved = np.array([0.35, 0.35 - 0.5 * MET_TOLERANCE, 0.35 - 2 * MET_TOLERANCE, np.nan])
    assert target_met(achieved, 0.35).tolist() == [True, True, False, False]
    assert target_missed(achieved, 0.35).tolist() == [False, False, True, False]  # an unmeasured group is not missed
    # Relative above 1: a target of 200 allows 2e-4.
    assert target_met(np.array([200 - 1e-4, 200 - 3e-4]), 200.0).tolist() == [True, False]


def test_every_block_says_its_kind_key_and_groups(case):
    scenario, rules = case
    model = formulate(scenario, rules.data).linear
    assert all(isinstance(block.kind, RowKind) for block in model.row_blocks)
    assert all(isinstance(block.kind, ColumnKind) for block in model.col_blocks)
    # the case uses every kind of rule but statuses, a reference plan (tests/test_stability.py), capped benefit
    # (tests/test_benefit.py), a raised floor (tests/test_floor.py), money per resident (tests/test_per_resident.py) and zone gaps
    # (tests/test_zone_gap.py)
    assert {block.kind for block in model.row_blocks} == set(RowKind) - {RowKind.STATUS, RowKind.KEEP, RowKind.BENEFIT_CAP, RowKind.FLOOR,
                                                                        RowKind.PER_RESIDENT_MIN, RowKind.PER_RESIDENT_MAX, RowKind.ZONE_GAP}
    assert {block.kind for block in model.col_blocks} == {ColumnKind.SELECT, ColumnKind.FUNDED, ColumnKind.MONEY, ColumnKind.SHORTFALL}
    assert [block.key for block in model.rows(RowKind.BUDGET)] == ["central", "lottery", "local"]
    assert [block.name for block in model.rows(RowKind.COUNT)] == ["count:east_stations", "count:centres"]
    budgets = model.row_frame(RowKind.BUDGET, upper=model.row_upper)
    central = budgets[budgets["key"] == "central"]
    assert central["group"].tolist() == ["2021", "2022", "2023"]
    assert central["upper"].tolist() == pytest.approx(rules.budget_limits(scenario.sources["central"]).tolist())
    capacity = model.row_frame(RowKind.CAPACITY)
    assert capacity[["key", "group"]].values.tolist() == [["local", "乙省"], ["local", "甲省"]]
    assert model.row_frame(RowKind.INDICATOR)["group"].tolist() == ["east", "west"]


def test_the_diagnosis_finds_every_rule_that_may_give_by_kind(case):
    scenario, rules = case
    model = formulate(scenario, rules.data).linear
    found = {(rule.kind, rule.name): rule for rule in relaxable_rules(scenario, model)}
    assert set(found) == {("budget", "central"), ("budget", "lottery"), ("budget", "local"), ("min_spend", "central"),
                          ("capacity", "local"), ("count_max", "east_stations"), ("count_min", "centres"),
                          ("share_min", "west"), ("share_max", "west"), ("min_per_region", "")}  # a soft target never gives
    (local,) = [block for block in model.rows(RowKind.CAPACITY)]
    assert found["capacity", "local"].rows.tolist() == local.indices.tolist()
    assert found["budget", "central"].labels.tolist() == [2021, 2022, 2023]


DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"


def test_marginal_values_are_read_by_kind_with_their_groups():
    result = solve(load_scenario(DEMO, ["model.selection=continuous", "phasing.first_year=2021", "phasing.last_year=2022"]))
    assert set(RULE_ROWS) <= set(RowKind)
    budgets = result.marginal[result.marginal["rule"] == "budget of central"]
    assert budgets["group"].tolist() == ["2021", "2022"]  # one row per year of the budget block
    assert budgets["limit"].tolist() == pytest.approx([750.0, 1500.0])  # carried over: cumulative
    capacities = result.marginal[result.marginal["rule"] == "capacity of local"]
    assert sorted(capacities["group"]) == ["四川省", "浙江省", "湖北省"]  # the capacity's block, labelled by province
    soft = result.marginal[result.marginal["rule"] == "soft target street_centres"]
    assert len(soft) == 1 and soft["group"].iloc[0] == "3/3 组未达标"  # one row for the target, its groups counted
