"""The formula method (因素法): shares by factors, projects by priority, per-project rules kept; and
the optimizer beating it on the national scenario with the same money."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from allocator import InputError, compare, factor_method, load_scenario, solve, with_overrides
from allocator.backends import FormulaStatus
from allocator.baseline import bounded_shares, factor_shares
from allocator.model.objective import objective_value
from allocator.checks import project_checks, rule_violations
from allocator.rules import Rules
from allocator.cli import main
from helpers import DATA, write_case

ROOT = Path(__file__).resolve().parents[1]
NATIONAL = ROOT / "scenarios" / "eleventh_plan_national.toml"
BASELINE = {"baseline.factors": {"population": 0.5, "households": 0.3, "inverse:local_capacity": 0.2},
            "baseline.floor": 0.01, "baseline.cap": 0.2, "baseline.priority": "priority"}

REGIONS = [
    {"region_id": "R1", "name": "东城区", "province": "甲省", "zone": "east", "people": 300, "capacity": 1000},
    {"region_id": "R2", "name": "西川县", "province": "乙省", "zone": "west", "people": 100, "capacity": 1000},
]
PROJECTS = [
    {"project_id": "P1", "region_id": "R1", "type": "centre", "cost": 60, "rank": 1},
    {"project_id": "P2", "region_id": "R1", "type": "centre", "cost": 60, "rank": 3},
    {"project_id": "P3", "region_id": "R1", "type": "centre", "cost": 60, "rank": 3},
    {"project_id": "P4", "region_id": "R2", "type": "centre", "cost": 40, "rank": 2},
]
SMALL = DATA + """
[types.centre]
welfare = true
[sources.central]
budget = "160万"
max_share_of_cost = 0.5
[sources.local]
budget = "160万"
matching = { ratio = 1.0, of = ["central"] }
[objective]
sense = "max_benefit"
benefit = { rank = 1.0 }
[baseline]
factors = { people = 1.0 }
priority = "rank"
"""


@pytest.fixture(scope="module")
def national():
    scenario = with_overrides(load_scenario(NATIONAL), BASELINE)
    return scenario, factor_method(scenario), solve(scenario, marginal="none")


def test_shares_follow_the_factors_and_projects_go_by_priority(tmp_path):
    scenario = load_scenario(write_case(tmp_path, SMALL, PROJECTS, REGIONS))
    result = factor_method(scenario)
    shares = factor_shares(scenario, result.data).set_index("province")
    assert shares.loc["甲省", "share:central"] == pytest.approx(0.75)  # 300 of 400 people
    assert shares.loc["甲省", "central"] == pytest.approx(120.0)
    funded = dict(zip(result.allocation["project_id"], result.allocation["selected"]))
    # 甲省 holds 120万 of each source: P2 and P3 (rank 3, tie broken by id) take 30万 + 30万 each, then P1 the rest.
    assert funded == {"P1": 1, "P2": 1, "P3": 1, "P4": 1}
    money = result.allocation.set_index("project_id")
    assert money.loc["P2", "central"] == pytest.approx(30.0)  # in proportion to what 甲省 holds: half each
    assert money.loc["P2", "local"] == pytest.approx(30.0)
    assert result.status is FormulaStatus.FORMULA and result.solution.solver == "factor-method"
    assert rule_violations(scenario, result.data, result.selected, result.money) == []


def test_a_group_runs_out_in_priority_order(tmp_path):
    scenario = load_scenario(write_case(tmp_path, SMALL, PROJECTS, REGIONS), ["sources.central.budget=80万", "sources.local.budget=120万"])
    result = factor_method(scenario)
    funded = dict(zip(result.allocation["project_id"], result.allocation["selected"]))
    # 甲省 holds 60万 + 90万: P2 (rank 3, id before P3) and P3 take 24万 + 36万 each; P1 (rank 1) finds 30万 for 60万.
    assert funded == {"P1": 0, "P2": 1, "P3": 1, "P4": 1}
    assert result.by_source.set_index("source").loc["central", "used"] <= 80.0 + 1e-9


def test_floor_and_cap_hold_after_renormalising():
    shares = bounded_shares(np.array([0.7, 0.2, 0.05, 0.05]), floor=0.1, cap=0.5)
    assert shares.sum() == pytest.approx(1.0)
    assert shares.min() >= 0.1 - 1e-12 and shares.max() <= 0.5 + 1e-12
    assert shares[0] == pytest.approx(0.5)
    with pytest.raises(InputError, match="cannot both hold"):
        bounded_shares(np.ones(4), floor=0.3, cap=1.0)


def test_baseline_table_is_strict_and_required(tmp_path):
    with pytest.raises(InputError, match="unknown key 'flor'"):
        load_scenario(write_case(tmp_path / "a", SMALL + "flor = 0.1\n", PROJECTS, REGIONS))
    plain = load_scenario(write_case(tmp_path / "b", SMALL.split("[baseline]")[0], PROJECTS, REGIONS))
    with pytest.raises(InputError, match=r"needs a \[baseline\] table"):
        factor_method(plain)
    missing = load_scenario(write_case(tmp_path / "c", SMALL.replace('priority = "rank"', 'priority = "score"'), PROJECTS, REGIONS))
    with pytest.raises(InputError, match="priority column 'score'"):
        factor_method(missing)


def test_formula_keeps_every_per_project_rule_on_the_national_scenario(national):
    scenario, formula, _ = national
    broken = [what for what, mask in project_checks(scenario, formula.data, formula.selected, formula.money) if mask.any()]
    assert broken == []
    used = formula.by_source.set_index("source")
    assert (used["used"] <= used["budget"] + 1e-6).all()
    assert formula.selected.sum() > 1000  # it funds a real programme, not nothing


def test_optimizer_beats_the_formula_with_the_same_money(national, tmp_path):
    scenario, formula, optimum = national
    # One objective function for both: the optimizer's own value agrees with objective_value on its allocation.
    assert objective_value(Rules(scenario, optimum.data), optimum.starts, optimum.money) == pytest.approx(optimum.objective, rel=1e-9)
    assert formula.objective == objective_value(Rules(scenario, formula.data), formula.starts, formula.money)
    assert optimum.objective >= formula.objective
    assert optimum.by_source["used"].sum() <= formula.scenario.sources["central"].budget + 13_000 + 145_000 + 1e-6
    comparison = compare({"formula": formula, "optimizer": optimum}, out=tmp_path / "cmp")
    gain = comparison.table().loc["objective", "Δ optimizer"]
    assert gain == pytest.approx(optimum.objective - formula.objective)
    assert gain > 0
    assert comparison.figures.loc["status"].tolist() == ["formula", "optimal"]
    assert (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8").count("| objective |") == 1


def test_cli_baseline_then_compare_with_the_optimizer(tmp_path):
    scenario = write_case(tmp_path / "case", SMALL, PROJECTS, REGIONS)
    runner = CliRunner()
    formula = runner.invoke(main, ["baseline", str(scenario), "--out", str(tmp_path / "formula")])
    assert formula.exit_code == 0, formula.output
    assert "formula" in formula.output and (tmp_path / "formula" / "baseline_shares.csv").is_file()
    result = runner.invoke(main, ["compare", str(tmp_path / "formula"), str(scenario), "--out", str(tmp_path / "cmp"),
                                  "--label", "formula", "--label", "optimizer"])
    assert result.exit_code == 0, result.output
    assert "| objective |" in result.output
    assert {"comparison.csv", "comparison.md", "by_zone.csv", "by_province.csv", "projects.csv"} <= {p.name for p in (tmp_path / "cmp").iterdir()}
