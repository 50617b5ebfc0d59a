"""Marginal values: one row per hard rule, one value a planner reads, confirmed by independent re-solves.

Every value is checked against a different computation: an LP's dual against a small step of the scenario; a MIP's
re-solve against the scenario edited the way the row's ``fix`` says (a new model built from new files); a budget's
``binding`` against the money the run's by_source.csv says is left."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cli import main
from allocator.relaxations import relaxations
from allocator.rundir import write_run
from allocator.solve import solve_model
from helpers import DATA, as_older_run, write_case, write_table

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
NATIONAL = Path(__file__).resolve().parents[1] / "scenarios" / "eleventh_plan_national.toml"
LP = ["model.selection=continuous", "solver.mip_rel_gap=0"]
EXACT = ["solver.mip_rel_gap=0"]


def rows(result, rule: str) -> pd.DataFrame:
    return result.marginal[result.marginal["rule"] == rule]


# -- LP: the dual of every kind of rule predicts a small step ---------------------------------------------------

@pytest.mark.parametrize("source", ["central", "lottery", "local"])
def test_lp_dual_predicts_the_change_from_a_small_budget_step(source):
    base = solve(load_scenario(DEMO, LP))
    row = base.marginal.set_index("key").loc[f"sources.{source}.budget"]
    assert row["technical_method"] == "LP dual" and row["method"] == "线性规划对偶值（精确）"
    budget = base.scenario.sources[source].budget
    delta = 1.0  # 万元: small enough to stay on the same LP basis
    raised = solve(load_scenario(DEMO, [*LP, f"sources.{source}.budget={budget + delta}万"]))
    assert raised.objective - base.objective == pytest.approx(row["marginal_value"] * delta, rel=1e-4, abs=1e-6)


def test_lp_share_and_count_rows_are_priced_per_unit_of_their_own_step():
    """A share maximum of 50% binds the demo's LP: its value per percentage point is what raising it by 0.1 point
    gains, divided by 0.1 (a step small enough to stay on the basis); a count minimum of 15 centres likewise per
    project: the value of an LP is concave in a bound, so lowering it to 14 gains at most the dual, and something."""
    tight = [*LP, "balance.shares.central_to_west.min=0.1", "balance.shares.central_to_west.max=0.5", "targets.counts.centres.min=15"]
    base = solve(load_scenario(DEMO, tight))
    share = base.marginal.set_index("key").loc["balance.shares.central_to_west.max"]
    assert share["used_up"] and share["binding"] and share["per"] == "个百分点" and share["used"] == pytest.approx(50.0)
    eased = solve(load_scenario(DEMO, [*tight, "balance.shares.central_to_west.max=0.501"]))
    assert (eased.objective - base.objective) / 0.1 == pytest.approx(share["marginal_value"], rel=1e-6)
    count = base.marginal.set_index("key").loc["targets.counts.centres.min"]
    assert count["used_up"] and count["binding"] and count["fix"] == "--set targets.counts.centres.min=14"
    relaxed = solve(load_scenario(DEMO, [*tight, "targets.counts.centres.min=14"]))
    assert 0 < relaxed.objective - base.objective <= count["marginal_value"] * (1 + 1e-9)


@pytest.mark.parametrize("bound, edit", [("max", "0.51"), ("min", "0.09")])
def test_a_share_step_moves_every_coefficient_of_its_row_as_the_scenario_edit_does(bound, edit):
    """The model a share's relaxation makes has the optimum of the scenario with the bound edited (a new build)."""
    tight = [*EXACT, "balance.shares.central_to_west.min=0.1", "balance.shares.central_to_west.max=0.5"]
    base = solve(load_scenario(DEMO, tight), marginal="none")
    found = relaxations(base.model, base.solution.values, money_tolerance=0.005)
    share = next(r for r in found if r.key == f"balance.shares.central_to_west.{bound}")
    assert share.fix == f"--set balance.shares.central_to_west.{bound}={edit}"
    moved = solve_model(share.apply(base.model.linear), base.scenario.solver)
    edited = solve(load_scenario(DEMO, [*tight, f"balance.shares.central_to_west.{bound}={edit}"]), marginal="none")
    assert base.model.linear.objective_sign * moved.objective == pytest.approx(edited.objective, abs=1e-6)


def test_budget_rows_of_a_mip_are_re_solved_and_agree_with_a_run_of_the_raised_budget():
    result = solve(load_scenario(DEMO, EXACT), marginal="full")
    budgets = rows(result, "budget of central")
    assert budgets["technical_method"].iloc[0].startswith("finite difference") and budgets["method"].iloc[0] == "放宽一步后重新求解"
    step = 150.0  # min(1亿, 10% of 1,500万)
    assert budgets["step"].iloc[0] == step and budgets["fix"].iloc[0] == "--set sources.central.budget=1650万"
    raised = solve(load_scenario(DEMO, [*EXACT, "sources.central.budget=1650万"]), marginal="none")
    assert budgets["gain"].iloc[0] == pytest.approx(raised.objective - result.objective)
    assert budgets["marginal_value"].iloc[0] == pytest.approx((raised.objective - result.objective) / step)


def test_no_budget_is_binding_with_money_left_over(tmp_path):
    """The demo leaves lottery money unspent: that budget is neither used up nor binding, though its step still pays
    (a lumpy project); read from the run's own by_source.csv, not from the model."""
    out = write_run(solve(load_scenario(DEMO), marginal="full"), tmp_path / "run", reports=False)
    marginal = pd.read_csv(out / "marginal.csv", encoding="utf-8-sig")
    spent = pd.read_csv(out / "by_source.csv", encoding="utf-8-sig").set_index("source")
    budgets = marginal[marginal["rule"].str.startswith("budget of ")]
    assert len(budgets) == 3
    for row in budgets.itertuples():
        source = row.rule.removeprefix("budget of ")
        left = row.limit - spent.loc[source, "used"]
        assert row.binding is False or left < 0.01, f"{source} is marked binding with {left}万元 left"
        assert row.used_up == (left < 0.005)
    lottery = budgets.set_index("rule").loc["budget of lottery"]
    assert not lottery["used_up"] and not lottery["binding"]


def district_case(folder: Path) -> Path:
    """Four districts of one city: 东区's money cap stops it funding its best stations; 北区 has only poor projects
    but must fund one (min_projects_per_region = 1)."""
    regions = [{"region_id": f"D{i}", "name": name, "province": "甲市", "zone": "east", "cap": cap}
               for i, (name, cap) in enumerate([("东区", 100), ("西区", 1000), ("南区", 1000), ("北区", 1000)], start=1)]
    projects = ([{"project_id": f"E{i:02d}", "name": f"东区站{i}", "region_id": "D1", "type": "station", "cost": 10, "benefit": 50 + i} for i in range(20)]
                + [{"project_id": f"W{i:02d}", "name": f"西区站{i}", "region_id": "D2", "type": "station", "cost": 10, "benefit": 20 + i} for i in range(30)]
                + [{"project_id": f"S{i:02d}", "name": f"南区站{i}", "region_id": "D3", "type": "station", "cost": 10, "benefit": 15 + i} for i in range(30)]
                + [{"project_id": f"N{i:02d}", "name": f"北区站{i}", "region_id": "D4", "type": "station", "cost": 50, "benefit": 1 + i} for i in range(3)])
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "regions.csv", regions)
    write_table(folder / "projects.csv", projects)
    path = folder / "case.toml"
    path.write_text("""name = "区县资金上限与最少项目"
[data]
regions = "regions.csv"
projects = "projects.csv"
money_unit = "万元"
[types.station]
label = "社区服务站"
welfare = true
[sources.city]
label = "市级资金"
budget = "500万"
capacity = { column = "cap", by = "region" }
[balance]
min_projects_per_region = 1
[objective]
sense = "max_benefit"
benefit = { benefit = 1.0 }
[solver]
mip_rel_gap = 0
""", encoding="utf-8")
    return path


def test_a_district_money_cap_and_minimum_count_both_bind_with_values_a_re_solve_confirms(tmp_path):
    path = district_case(tmp_path / "case")
    result = solve(load_scenario(path), marginal="full")
    table = result.marginal
    cap = table[(table["rule"] == "capacity of city") & table["binding"]]
    least = table[(table["rule"] == "minimum projects per region") & table["binding"]]
    assert cap["group"].tolist() == ["D1"] and least["group"].tolist() == ["D4"]
    assert cap["label"].iloc[0] == "市级资金分地区额度（东区（D1））"
    # the cap: 东区's column raised by the row's step, in a new copy of the tables
    step = float(cap["step"].iloc[0])
    assert step == 10.0  # 10% of 100万
    raised = tmp_path / "raised"
    district_case(raised)
    regions = list(csv.DictReader((raised / "regions.csv").open(encoding="utf-8")))
    regions[0]["cap"] = str(100 + step)
    write_table(raised / "regions.csv", regions)
    more = solve(load_scenario(raised / "case.toml"), marginal="none")
    assert float(cap["gain"].iloc[0]) == pytest.approx(more.objective - result.objective, abs=1e-6)
    assert more.objective > result.objective
    # the minimum: only 北区 funds a project because it must, so relaxing the rule for all regions gains what the row says
    fewer = solve(load_scenario(path, ["balance.min_projects_per_region=0"]), marginal="none")
    assert float(least["gain"].iloc[0]) == pytest.approx(fewer.objective - result.objective, abs=1e-6)
    assert least["fix"].iloc[0].startswith("--set balance.min_projects_per_region=0")


def test_a_closable_soft_target_reports_its_shortfall_and_what_closing_it_costs(tmp_path):
    """Coverage 0.3 of a soft target 0.5 (penalty 1 per unit): the plan funds ten stations (benefit 200) and pays
    0.2 of penalty. Meeting the target needs four centres (benefit 1 each) in place of four stations: benefit 124, so
    closing costs 76 of benefit, whatever the penalty weight (not 0.2, and not the 199.8 of the penalised objective)."""
    projects = ([{"project_id": f"C{i}", "name": f"中心{i}", "region_id": "R1", "type": "centre", "cost": 10, "benefit": 1, "adds_centre": 1}
                 for i in range(6)]
                + [{"project_id": f"S{i}", "name": f"站{i}", "region_id": "R2", "type": "station", "cost": 10, "benefit": 20, "adds_centre": 0}
                   for i in range(10)])
    path = write_case(tmp_path / "soft", DATA + """
[types.centre]
label = "街道社区服务中心"
welfare = true
[types.station]
label = "社区服务站"
welfare = true
[sources.city]
budget = "100万"
[targets.indicators.coverage]
label = "街道中心覆盖率"
baseline = "centres"
contribution = "adds_centre"
denominator = "streets"
target = 0.5
penalty = 1
[objective]
benefit = { benefit = 1.0 }
[solver]
mip_rel_gap = 0
""", projects)
    result = solve(load_scenario(path), marginal="full")
    row = rows(result, "soft target coverage").iloc[0]
    assert row["shortfall"] == pytest.approx(0.2) and row["used"] == pytest.approx(0.3) and row["limit"] == 0.5
    assert row["method"] == "改为硬目标后重新求解" and row["fix"] == "--set targets.indicators.coverage.hard=true"
    assert row["gain"] == pytest.approx(124 - 200)
    hard = solve(load_scenario(path, ["targets.indicators.coverage.hard=true"]), marginal="none")
    assert hard.objective == pytest.approx(124)  # the independent run of the fix


# -- explain --------------------------------------------------------------------------------------------------------

def ranked(output: str) -> list[str]:
    return [line.split("：")[0].split(". ", 1)[1] for line in output.splitlines() if line[:5].strip().rstrip(".").isdigit()]


def test_explain_on_the_national_plan_at_8yi_names_the_count_rule_first_with_its_set_fix():
    args = ["explain", str(NATIONAL), "--set", "sources.central.budget=8亿"]
    output = CliRunner().invoke(main, args)
    assert output.exit_code == 0, output.output
    first = ranked(output.output)[0]
    assert first == "城市社区服务信息网络数量上限"
    assert "--set targets.counts.networks.max=111" in output.output
    result = solve(load_scenario(NATIONAL, ["sources.central.budget=8亿"]), marginal="full")
    counts = result.marginal[result.marginal["rule"].str.startswith("count ")]
    binding = counts[counts["binding"]]
    assert "count networks max" in set(binding["rule"]) and (binding["marginal_value"] > 0).all()
    wider = solve(load_scenario(NATIONAL, ["sources.central.budget=8亿", "targets.counts.networks.max=111"]), marginal="none")
    gain = float(binding.set_index("rule").loc["count networks max", "gain"])
    gap = (result.solution.mip_gap or 0) * abs(result.objective) + (wider.solution.mip_gap or 0) * abs(wider.objective)
    assert abs((wider.objective - result.objective) - gain) <= gap + 1e-6


def test_explain_ranks_the_district_rules_by_the_gain_of_their_step(tmp_path):
    output = CliRunner().invoke(main, ["explain", str(district_case(tmp_path / "case"))])
    assert output.exit_code == 0, output.output
    names = ranked(output.output)
    assert names == ["市级资金预算", "每个地区至少资助项目数（北区（D4））", "市级资金分地区额度（东区（D1））"]
    assert "地区表 cap 列：东区（D1） 加 10万" in output.output


def test_explain_on_an_infeasible_scenario_gives_the_diagnosis():
    infeasible = CliRunner().invoke(main, ["explain", str(DEMO), "--set", "targets.counts.centres.min=18"])
    assert infeasible.exit_code == 3
    assert "\nAny one of these changes is enough:\n" in infeasible.output


def test_a_run_written_by_an_earlier_version_still_exports_and_says_why_its_marginal_values_are_missing(tmp_path):
    out = write_run(solve(load_scenario(DEMO), marginal="duals"), tmp_path / "run", reports=False)
    old = pd.read_csv(out / "marginal.csv", encoding="utf-8-sig")[["rule", "key", "group", "unit", "limit", "marginal_value", "per", "binding"]]
    old.assign(method="LP dual").to_csv(out / "marginal.csv", index=False, encoding="utf-8-sig")
    as_older_run(out)
    exported = CliRunner().invoke(main, ["export", str(out), "--format", "md"])
    assert exported.exit_code == 0, exported.output
    assert "较早版本" in (out / "report.md").read_text(encoding="utf-8")


def test_rules_that_bind_only_together_are_named_together_with_their_joint_gain(tmp_path):
    """Ten stations at most, and ten projects of any type at most (all candidates are stations): neither maximum
    alone gains anything when relaxed by one, both together fund the eleventh station."""
    projects = [{"project_id": f"S{i:02d}", "name": f"站{i}", "region_id": "R1", "type": "station", "cost": 10, "benefit": 10 + i}
                for i in range(15)]
    path = write_case(tmp_path / "joint", DATA + """
[types.station]
label = "社区服务站"
welfare = true
[sources.city]
budget = "1000万"
[targets.counts.stations]
type = "station"
max = 10
[targets.counts.all]
max = 10
[objective]
benefit = { benefit = 1.0 }
[solver]
mip_rel_gap = 0
""", projects)
    output = CliRunner().invoke(main, ["explain", str(path)])
    assert output.exit_code == 0, output.output
    assert "共同约束：社区服务站数量上限、全部项目数量上限 都已用满" in output.output
    both = solve(load_scenario(path, ["targets.counts.stations.max=11", "targets.counts.all.max=11"]), marginal="none")
    alone = solve(load_scenario(path), marginal="none")
    assert both.objective - alone.objective == 14  # the best station left out: benefit 10 + 4
    assert "各放宽一步（同时）→ 目标 +14（一起放宽后重新求解）" in output.output


def test_explain_says_which_command_writes_the_marginal_csv_it_points_to(tmp_path):
    # explain writes no file, yet pointed to "见 marginal.csv" as if it had written one.
    path = district_case(tmp_path / "case")
    output = CliRunner().invoke(main, ["explain", str(path)])
    assert output.exit_code == 0, output.output
    assert "其余规则（allocate run --marginal full 写出的 marginal.csv 列出全部规则）：" in output.output
    assert "见 marginal.csv" not in output.output
    assert not list(tmp_path.rglob("marginal.csv"))
