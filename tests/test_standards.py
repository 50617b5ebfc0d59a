"""Subsidy standards (补助标准): a source pays a fixed share of cost or a fixed amount per project, by type and then
province, zone or default, never above the cost; a hard rule of the model, checked project by project."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocator.checks import rule_violations
from allocator.data import load_data
from allocator.errors import InputError
from allocator.scenario_toml import load_scenario
from allocator.solve import solve
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "R1", "name": "甲一区", "province": "甲省", "zone": "east", "streets": 1},
    {"region_id": "R2", "name": "乙一区", "province": "乙省", "zone": "west", "streets": 1},
    {"region_id": "R3", "name": "丙一区", "province": "丙省", "zone": "west", "streets": 1},
]


def case(tmp_path, standard: str, projects: list[dict[str, object]], central: str = "1000万", extra: str = ""):
    toml = DATA + f"""
[types.station]
[types.centre]

[sources.central]
budget = "{central}"
{extra}
[sources.central.standard]
{standard}

[sources.local]
budget = "1000万"

[objective]
benefit = {{ benefit = 1.0 }}
"""
    return load_scenario(write_case(tmp_path, toml, projects, regions=REGIONS))


def project(i: int, region: str, type_key: str, cost: float) -> dict[str, object]:
    return {"project_id": f"P{i}", "region_id": region, "type": type_key, "cost": cost, "benefit": 1}


def test_a_share_by_province_then_zone_then_default(tmp_path):
    projects = [project(1, "R1", "station", 100), project(2, "R2", "station", 80), project(3, "R3", "station", 50)]
    scenario = case(tmp_path, 'share = { station = { "丙省" = 0.3, west = 0.4, default = 0.2 } }', projects)
    allocation = solve(scenario, marginal="none").allocation
    # 甲省 (east): default 0.2 x 100; 乙省 (west): 0.4 x 80; 丙省: its own 0.3 x 50
    assert allocation["central"].to_numpy() == pytest.approx([20, 32, 15], abs=1e-6)
    assert allocation["local"].to_numpy() == pytest.approx([80, 48, 35], abs=1e-6)


def test_a_fixed_amount_per_project_with_a_ceiling_at_cost(tmp_path):
    # three centres of one class (甲省, east) with different costs: each gets exactly min(60, cost)
    projects = [project(1, "R1", "centre", 50), project(2, "R1", "centre", 100), project(3, "R1", "centre", 150),
                project(4, "R1", "station", 40)]
    scenario = case(tmp_path, 'amount = { centre = "60万" }', projects)
    result = solve(scenario, marginal="none")
    assert result.allocation["central"].to_numpy()[:3] == pytest.approx([50, 60, 60], abs=1e-6)
    assert result.allocation["local"].to_numpy()[:3] == pytest.approx([0, 40, 90], abs=1e-6)
    assert result.model_size["rule_classes"] == 4  # the three centres' shares differ (1, 0.6, 0.4): one class each


def test_a_standard_above_what_the_source_may_pay_is_said_and_refused_when_it_rules_out_a_whole_type(tmp_path, capsys):
    # max_share_of_cost 0.5: a fixed 60万 is above half the cost of the centres of 50万 and 100万 (the ceiling at cost
    # makes the first 50万), so only the centre of 150万 can be funded: a warning says so, and the plan funds only it.
    projects = [project(1, "R1", "centre", 50), project(2, "R1", "centre", 100), project(3, "R1", "centre", 150)]
    some = case(tmp_path / "some", 'amount = { centre = "60万" }', projects, extra="max_share_of_cost = 0.5")
    result = solve(some, marginal="none")
    assert "sources.central.standard fixes 50.00万元 for centre P1" in capsys.readouterr().err
    assert "2 of the 3 centre candidates it applies to cannot be funded" in " ".join(result.data.notes)
    assert result.selected.tolist() == [0, 0, 1]
    every = case(tmp_path / "every", 'amount = { centre = "80万" }', projects[:2], extra="max_share_of_cost = 0.5")
    with pytest.raises(InputError, match="2 of the 2 centre candidates it applies to cannot be funded") as refused:
        load_data(every)
    assert refused.value.where == "sources.central.standard"


def test_the_standard_is_a_hard_rule_the_budget_must_pay(tmp_path):
    # Three stations of 100万, central budget 100万. Free, central could pay a third of each and fund all three;
    # at a standard of half the cost, each funded station takes exactly 50万, so only two fit.
    projects = [project(i, "R1", "station", 100) for i in (1, 2, 3)]
    free = solve(case(tmp_path / "free", "share = { centre = 0.5 }", projects, central="100万", extra='max_share_of_cost = 0.5'),
                 marginal="none")
    assert free.selected.sum() == 3
    fixed = solve(case(tmp_path / "fixed", "share = 0.5", projects, central="100万"), marginal="none")
    assert fixed.selected.sum() == 2
    funded = fixed.allocation[fixed.allocation["selected"] > 0]
    assert funded["central"].to_numpy() == pytest.approx([50, 50], abs=1e-6)


def test_the_checks_name_a_plan_off_its_standard(tmp_path):
    projects = [project(1, "R1", "station", 100), project(2, "R2", "station", 100)]
    scenario = case(tmp_path, "share = 0.3", projects)
    data = load_data(scenario)
    selected = np.ones(2)
    assert rule_violations(scenario, data, selected, np.array([[30.0, 70.0], [30.0, 70.0]])) == []
    problems = rule_violations(scenario, data, selected, np.array([[30.0, 70.0], [40.0, 60.0]]))
    assert problems == ["source 'central' differs from its subsidy standard: project P2"]


@pytest.mark.parametrize("standard, extra, message", [
    ('share = { station = 0.3 }\namount = { station = "10万" }', "", "type 'station' has both a share and an amount"),
    ("share = { station = 0.6 }", "max_share_of_cost = 0.5", "share 0.6 for station in default is above max_share_of_cost 0.5"),
    ("share = { centre = 0.2 }", 'types = ["station"]', "'centre' is not one of station"),
    ("share = { station = 1.5 }", "", "standard.share.station: 'station' must be at most 1, got 1.5"),
    ('level = "zone"', "", "unknown key 'level'"),
    ("", "", "a standard needs 'share' or 'amount'"),
])
def test_a_wrong_standard_is_refused_with_its_place(tmp_path, standard, extra, message):
    with pytest.raises(InputError, match="case.toml") as refused:
        case(tmp_path, standard, [project(1, "R1", "station", 100)], extra=extra)
    assert message in str(refused.value)


@pytest.mark.parametrize("standard, key, near", [
    ('share = { station = { "甲" = 0.5, default = 0.1 } }', "share.station.甲", "did you mean '甲省'?"),
    ('share = { station = { "甲省 " = 0.5, default = 0.1 } }', "share.station.甲省 ", "did you mean '甲省'?"),
    ('amount = { station = { "Jia" = "50万", default = "10万" } }', "amount.station.Jia", None),
])
def test_a_standard_naming_a_province_or_zone_not_in_the_regions_table_is_refused(tmp_path, standard, key, near):
    # It was ignored: every project of 甲省 got the default share, exit 0.
    scenario = case(tmp_path, standard, [project(1, "R1", "station", 100)])
    with pytest.raises(InputError) as refused:
        load_data(scenario)
    said = str(refused.value)
    assert "case.toml:" in said and f"sources.central.standard.{key}" in said
    assert "is neither a province nor a zone of the regions table" in said and "provinces: 丙省, 乙省, 甲省; zones: east, west" in said
    assert (near in said) if near else "did you mean" not in said


def test_the_national_standard_scenario_pays_its_table_to_every_funded_project(tmp_path):
    # From allocation.csv alone: central money / cost is the assumed standard of the project's type and zone.
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "allocator", "run", "scenarios/eleventh_plan_national_standard.toml", "--out",
                    str(tmp_path / "run"), "--no-reports", "--marginal", "none"], check=True, capture_output=True, cwd=root)
    allocation = pd.read_csv(tmp_path / "run" / "allocation.csv", encoding="utf-8-sig")
    funded = allocation[allocation["selected"] > 0]
    standard = {("centre", "east"): 0.1, ("centre", "central"): 0.3, ("centre", "west"): 0.5,
                ("station", "east"): 0.05, ("station", "central"): 0.2, ("station", "west"): 0.45,
                ("network", "east"): 0.1, ("network", "central"): 0.3, ("network", "west"): 0.5}
    expected = [standard[t, z] * cost for t, z, cost in zip(funded["type"], funded["zone"], funded["cost"])]
    assert np.abs(funded["central"].to_numpy() - expected).max() <= 0.01 + 1e-9  # the 0.01万元 rounding unit
    assert ((funded["central"] > 0) | (funded["lottery"] > 0)).all()
    counts = funded["type"].value_counts()
    assert abs(counts["centre"] - 487) <= 25 and counts["station"] == 2640 and counts["network"] == 110
