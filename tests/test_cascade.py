"""allocate cascade: stage 1 splits money between provinces by the [baseline] factors, stage 2 solves each province alone.
Checked against a case worked by hand and a brute force per province; the national optimum is never worse."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.cascade import cascade
from allocator.cli import main
from helpers import DATA, write_case

REGIONS = [
    {"region_id": "110101", "name": "东城区", "province": "北京市", "zone": "east", "people": 200},
    {"region_id": "650102", "name": "天山区", "province": "新疆维吾尔自治区", "zone": "west", "people": 100},
]
# (region, cost 万元, benefit, priority)
PROJECTS = [("110101", 10, 9, 1), ("110101", 10, 8, 2), ("110101", 10, 7, 3), ("650102", 10, 5, 4), ("650102", 10, 4, 5),
            ("650102", 10, 3, 6)]
BUDGET = 30

SCENARIO = DATA + f"""
[types.station]
label = "社区服务站"
welfare = true
[sources.central]
label = "中央资金"
budget = "{BUDGET}万"
[objective]
benefit = {{ benefit = 1.0 }}
[baseline]
level = "province"
factors = {{ people = 1.0 }}
floor = 0.0
cap = 1.0
priority = "priority"
[solver]
mip_rel_gap = 0
"""


def case(tmp_path, text: str = SCENARIO):
    projects = [{"project_id": f"P{i}", "name": f"站{i}", "region_id": r, "type": "station", "cost": c, "benefit": b, "priority": q}
                for i, (r, c, b, q) in enumerate(PROJECTS)]
    return write_case(tmp_path / "cascade", text, projects, REGIONS)


def best_within(region: str, budget: float) -> float:
    """Brute force: the most benefit one province can buy with `budget` among its own projects."""
    own = [(c, b) for r, c, b, _ in PROJECTS if r == region]
    return max(sum(b for (c, b), x in zip(own, pick) if x) for pick in itertools.product([0, 1], repeat=len(own))
               if sum(c for (c, _), x in zip(own, pick) if x) <= budget + 1e-9)


def test_stage_one_splits_by_the_factors_and_stage_two_is_each_provinces_own_optimum(tmp_path):
    result = cascade(load_scenario(case(tmp_path))).result
    provinces = result.solution.details["provinces"].set_index("province")
    # people: 200 and 100, so two thirds and one third of 30万
    assert provinces["budget:central"].tolist() == pytest.approx([20.0, 10.0])
    assert provinces.index.tolist() == ["北京市", "新疆维吾尔自治区"]  # division-code order
    assert result.objective == pytest.approx(best_within("110101", 20.0) + best_within("650102", 10.0))  # 17 + 5
    assert result.status.value == "cascade" and result.solution.details["unmet_rules"] == []


def test_the_national_optimum_is_at_least_the_cascade_and_the_gap_is_the_price_of_two_stages(tmp_path):
    path = case(tmp_path)
    two_stages, national = cascade(load_scenario(path)).result, solve(load_scenario(path), marginal="none")
    assert national.objective == pytest.approx(9 + 8 + 7)  # the three best projects, all in 北京
    assert two_stages.objective == pytest.approx(22) and national.objective - two_stages.objective == pytest.approx(2)


def test_the_cli_writes_a_run_the_tools_read_and_compare(tmp_path):
    path = case(tmp_path)
    out = tmp_path / "run"
    done = CliRunner().invoke(main, ["cascade", str(path), "--out", str(out)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out / "cascade.csv", encoding="utf-8-sig")
    allocation = pd.read_csv(out / "allocation.csv", encoding="utf-8-sig", dtype={"region_id": str})
    budgets = table.set_index("province")
    for province, funded in allocation.groupby("province"):
        # what each province's plan spends is what cascade.csv says it used, within the money stage 1 gave it
        assert funded["central"].sum() == pytest.approx(budgets.loc[province, "used:central"], abs=0.01)
        assert funded["central"].sum() <= budgets.loc[province, "budget:central"] + 1e-6
        # each province's own run (runs/<province>) funds exactly the combined plan's projects there
        own = pd.read_csv(out / "runs" / province / "allocation.csv", encoding="utf-8-sig")
        assert set(own.loc[own["selected"] > 0.5, "project_id"]) == set(funded.loc[funded["selected"] > 0.5, "project_id"])
    replaced = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--force"])  # a cascade run is allocate's own
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "runs").exists() and not (out / "cascade.csv").exists()
    again = tmp_path / "again"
    CliRunner().invoke(main, ["cascade", str(path), "--out", str(again)])
    compared = CliRunner().invoke(main, ["compare", str(again), str(path), "--out", str(tmp_path / "cmp")])
    assert compared.exit_code == 0, compared.output
    assert "两级分配" in compared.output


def test_a_scenario_without_province_factors_is_refused(tmp_path):
    path = case(tmp_path, SCENARIO.replace('level = "province"', 'level = "zone"'))
    refused = CliRunner().invoke(main, ["cascade", str(path), "--out", str(tmp_path / "run")])
    assert refused.exit_code == 2
    assert "[baseline] table with level = " in refused.output and "baseline.level" in refused.output
    assert not (tmp_path / "run").exists()


def test_provinces_solved_in_two_processes_give_the_same_plan_as_one(tmp_path):
    path = case(tmp_path)
    alone, parallel = cascade(load_scenario(path), workers=1).result, cascade(load_scenario(path), workers=2).result
    assert (alone.selected == parallel.selected).all() and (alone.money == parallel.money).all()


def test_a_province_that_finds_no_allocation_is_named_with_its_diagnosis_and_the_command_exits_3(tmp_path):
    # 新疆 gets 10万 of central money in stage 1 but must fund two projects of 10万: no allocation there (nationally,
    # 30万 pays for both). The plan of 北京 alone must not pass for the whole plan.
    path = case(tmp_path)
    projects = pd.read_csv(path.parent / "projects.csv", dtype=str)
    projects["status"] = ["", "", "", "must_fund", "must_fund", ""]
    projects.to_csv(path.parent / "projects.csv", index=False)
    out = tmp_path / "run"
    done = CliRunner().invoke(main, ["cascade", str(path), "--out", str(out), "--workers", "1"])
    assert done.exit_code == 3, done.output
    assert "新疆维吾尔自治区 found no allocation (infeasible)" in done.output
    assert "the plan is incomplete: 1 of 2 provinces found no allocation (新疆维吾尔自治区)" in done.output
    assert "the status 'must_fund' of projects P3, P4" in done.output  # why, from the province's diagnosis
    diagnosis = (out / "runs" / "新疆维吾尔自治区" / "diagnosis.md").read_text(encoding="utf-8")
    assert "infeasible" in diagnosis and "must_fund" in diagnosis and "not the national scenario" in diagnosis
    assert (out / "runs" / "北京市" / "allocation.csv").exists()
    table = pd.read_csv(out / "cascade.csv", encoding="utf-8-sig").set_index("province")
    assert table.loc["新疆维吾尔自治区", "status"] == "infeasible" and table.loc["北京市", "status"] == "optimal"
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## 没有分配方案的省份" in report and "| 新疆维吾尔自治区 | 不可行 |" in report
    assert "新疆维吾尔自治区 (infeasible)" in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["solver"]["message"]


def test_a_province_without_candidates_gets_no_money_as_in_the_formula_baseline(tmp_path):
    # 上海 has people (a factor) and local money (a capacity) but no candidate project: the formula baseline gives it a
    # share of 0, and so does the cascade now; it was refused, naming --from, an option cascade does not have.
    regions = [{**region, "capacity": 40} for region in
               [*REGIONS, {"region_id": "310101", "name": "黄浦区", "province": "上海市", "zone": "east", "people": 300}]]
    local = '[sources.local]\nbudget = "60万"\nmatching = { ratio = 0.5, of = ["central"] }\ncapacity = { column = "capacity", by = "province" }\n'
    path = case(tmp_path, SCENARIO.replace("[objective]", local + "[objective]"))
    pd.DataFrame(regions).to_csv(path.parent / "regions.csv", index=False)
    done = CliRunner().invoke(main, ["cascade", str(path), "--out", str(tmp_path / "run"), "--workers", "1"])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(tmp_path / "run" / "cascade.csv", encoding="utf-8-sig").set_index("province")
    assert table.index.tolist() == ["北京市", "新疆维吾尔自治区"]
    assert table["budget:central"].tolist() == pytest.approx([20.0, 10.0])  # 300 people in 上海 count for nothing
    assert table["budget:local"].tolist() == pytest.approx([30.0, 30.0])  # 上海's capacity neither counted nor scaled in
    formula = CliRunner().invoke(main, ["baseline", str(path), "--out", str(tmp_path / "formula")])
    assert formula.exit_code == 0, formula.output
    shares = pd.read_csv(tmp_path / "formula" / "baseline_shares.csv", encoding="utf-8-sig").set_index("province")
    assert shares.loc["上海市", "central"] == 0.0 and shares.loc["北京市", "central"] == pytest.approx(20.0)
