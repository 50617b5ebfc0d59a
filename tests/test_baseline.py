"""The formula method (因素法): shares by factors, projects by priority, per-project rules kept; and
the optimizer beating it on the national scenario with the same money."""

import re
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


@pytest.mark.parametrize(("people", "factors", "says"), [
    (["300", "n/a"], "{ people = 1.0 }", "row 3, column people: expected a number, got 'n/a'"),
    (["300", "100"], "{ people = 0.5, name = 0.5 }", "column name: expected a number"),
    (["0", "0"], "{ people = 1.0 }", "baseline factor 'people' is 0 in every province with candidates"),
], ids=["a bad cell", "a text column", "all zero"])
def test_a_factor_that_is_not_numbers_or_is_all_zero_is_refused(tmp_path, people, factors, says):
    # Each was read as 0 and shifted every province's share without a word.
    regions = [{**region, "people": value} for region, value in zip(REGIONS, people)]
    scenario = load_scenario(write_case(tmp_path, SMALL.replace("factors = { people = 1.0 }", f"factors = {factors}"), PROJECTS, regions))
    with pytest.raises(InputError, match=re.escape(says)):
        factor_method(scenario)


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
    assert (tmp_path / "cmp" / "comparison.md").read_text(encoding="utf-8").count("| 目标函数值（万人） |") == 1


def test_cli_baseline_then_compare_with_the_optimizer(tmp_path):
    scenario = write_case(tmp_path / "case", SMALL, PROJECTS, REGIONS)
    runner = CliRunner()
    formula = runner.invoke(main, ["baseline", str(scenario), "--out", str(tmp_path / "formula")])
    assert formula.exit_code == 0, formula.output
    assert "formula" in formula.output and (tmp_path / "formula" / "baseline_shares.csv").is_file()
    result = runner.invoke(main, ["compare", str(tmp_path / "formula"), str(scenario), "--out", str(tmp_path / "cmp"),
                                  "--label", "formula", "--label", "optimizer"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^目标函数值\S*\s", result.output, re.M), result.output
    assert {"comparison.csv", "comparison.md", "by_zone.csv", "by_province.csv", "projects.csv"} <= {p.name for p in (tmp_path / "cmp").iterdir()}


# Two provinces, two factors: 甲省 has 3/4 of the people and 1/5 of the inverse capacity (1/1000 against 1/250), so
# its share of central money is 0.6 x 0.75 + 0.4 x 0.2 = 0.53 (53万 of 100万); 乙省 gets 47万. Local money is not split.
SPLIT = DATA + """
[types.centre]
welfare = true
[sources.central]
budget = "100万"
max_share_of_cost = 0.5
[sources.local]
budget = "1000万"
matching = { ratio = { east = 2.0, west = 1.0 }, of = ["central"] }
[objective]
sense = "max_benefit"
benefit = { rank = 1.0 }
[baseline]
factors = { people = 0.6, "inverse:capacity" = 0.4 }
priority = "rank"
"""
SPLIT_REGIONS = [{**REGIONS[0]}, {**REGIONS[1], "capacity": 250}]
SPLIT_PROJECTS = [*PROJECTS, {"project_id": "P5", "region_id": "R1", "type": "centre", "cost": 60, "rank": 0}]


def _allocation(scenario_path: Path, overrides: list[str] | None = None):
    result = factor_method(load_scenario(scenario_path, overrides or []))
    return result, result.allocation.set_index("project_id")


def test_factors_split_central_money_only_and_local_follows_the_matching_rule(tmp_path):
    path = write_case(tmp_path, SPLIT, SPLIT_PROJECTS, SPLIT_REGIONS)
    result, money = _allocation(path)
    shares = factor_shares(result.scenario, result.data).set_index("province")
    assert shares.loc["甲省", "central"] == pytest.approx(53.0) and shares.loc["乙省", "central"] == pytest.approx(47.0)
    assert "local" not in shares  # the formula does not split the matching source
    # A full central part is the most that keeps local >= ratio x central: cost / (1 + ratio) in the east (2:1), half
    # in the west (1:1); local pays the rest, which is then exactly the ratio.
    ratio = {"R1": 2.0, "R2": 1.0}
    for pid in ("P2", "P3", "P4"):
        row = money.loc[pid]
        assert row["selected"] == 1
        assert row["central"] == pytest.approx(row["cost"] / (1 + ratio[row["region_id"]]))
        assert row["local"] == pytest.approx(ratio[row["region_id"]] * row["central"])


def test_projects_are_funded_in_priority_order_within_each_provinces_share(tmp_path):
    result, money = _allocation(write_case(tmp_path, SPLIT, SPLIT_PROJECTS, SPLIT_REGIONS))
    # 甲省's 53万: P2 and P3 (rank 3) take 20万 each, P1 (rank 1) the 13万 left (local pays the other 47万, above
    # 2 x 13万), and P5 (rank 0) finds none. 乙省's 47万 funds P4 (20万) whatever 甲省 lacks.
    assert dict(money["selected"]) == {"P1": 1, "P2": 1, "P3": 1, "P4": 1, "P5": 0}
    assert money.loc["P1", "central"] == pytest.approx(13.0) and money.loc["P1", "local"] == pytest.approx(47.0)
    assert money.loc[["P1", "P2", "P3"], "central"].sum() == pytest.approx(53.0)
    assert money.loc["P4", "central"] == pytest.approx(20.0)


def test_statuses_and_standards_are_honoured(tmp_path):
    projects = [{**p, "status": {"P5": "must_fund", "P2": "exclude"}.get(str(p["project_id"]), "")} for p in SPLIT_PROJECTS]
    result, money = _allocation(write_case(tmp_path / "status", SPLIT, projects, SPLIT_REGIONS))
    # P5 (must_fund) goes first despite its rank; P2 (excluded) never; then P3 and P1 by rank.
    assert dict(money["selected"]) == {"P1": 1, "P2": 0, "P3": 1, "P4": 1, "P5": 1}
    assert not any("status" in rule for rule in result.solution.details["unmet_rules"])
    standard = SPLIT.replace("[sources.local]", "[sources.central.standard]\nshare.centre = { east = 0.1, west = 0.25 }\n[sources.local]")
    result, money = _allocation(write_case(tmp_path / "standard", standard, SPLIT_PROJECTS, SPLIT_REGIONS))
    share = {"R1": 0.1, "R2": 0.25}
    funded = money[money["selected"] == 1]
    assert len(funded) == 5  # 4 x 6万 + 10万 of central money fits the shares
    for pid, row in funded.iterrows():
        assert row["central"] == pytest.approx(share[row["region_id"]] * row["cost"]), pid
        assert row["local"] == pytest.approx(row["cost"] - row["central"]), pid
    assert not any(mask.any() for _, mask in project_checks(result.scenario, result.data, result.selected, result.money))


def test_broken_rules_and_the_status_reach_report_and_workbook(tmp_path):
    import openpyxl

    toml = SPLIT + "[targets.counts.all]\nmin = 5\n"
    path = write_case(tmp_path / "case", toml, SPLIT_PROJECTS, SPLIT_REGIONS)
    out = CliRunner().invoke(main, ["baseline", str(path), "--out", str(tmp_path / "formula")])
    assert out.exit_code == 0, out.output
    report = (tmp_path / "formula" / "report.md").read_text(encoding="utf-8")
    assert "| 求解状态 | 因素法分配 |" in report
    assert "## 因素法分配未满足的规则" in report and "count 'all' is 4, outside [5" in report.replace("\\[", "[")
    book = openpyxl.load_workbook(tmp_path / "formula" / "budget_proposal.xlsx", read_only=True)
    assert "因素法分配" in str(next(book["汇总"].iter_rows(values_only=True))[0])
    cells = [str(c) for row in book["未满足规则"].iter_rows(values_only=True) for c in row if c is not None]
    assert any(c.startswith("count 'all' is 4, outside [5") for c in cells)
    assert any("不强制满足以下 1 条方案规则" in c for c in cells)
