"""Marginal values: LP duals agree with finite differences; MIP rows say which method made them."""

from pathlib import Path

import pytest

from allocator import load_scenario, solve

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
LP = ["model.selection=continuous", "solver.mip_rel_gap=0"]


@pytest.mark.parametrize("source", ["central", "lottery", "local"])
def test_lp_dual_predicts_the_change_from_a_small_budget_step(source):
    base = solve(load_scenario(DEMO, LP))
    row = base.marginal.set_index("key").loc[f"sources.{source}.budget"]
    assert row["method"] == "LP dual"
    budget = base.scenario.sources[source].budget
    delta = 1.0  # 万元: small enough to stay on the same LP basis
    raised = solve(load_scenario(DEMO, [*LP, f"sources.{source}.budget={budget + delta}万"]))
    assert raised.objective - base.objective == pytest.approx(row["marginal_value"] * delta, rel=1e-4, abs=1e-6)
    assert row["marginal_value"] > 0, "every source is exhausted in the demo, so more of it buys benefit"


def test_mip_reports_fixed_selection_duals_and_finite_differences():
    result = solve(load_scenario(DEMO, ["solver.mip_rel_gap=0"]), marginal="full")
    methods = set(result.marginal["method"])
    assert "fixed-selection LP dual" in methods
    differences = result.marginal[result.marginal["method"].str.startswith("finite difference")].set_index("key")
    assert set(differences.index) == {"sources.central.budget", "sources.lottery.budget", "sources.local.budget"}
    step = 150.0  # min(1亿, 10% of 1,500万)
    raised = solve(load_scenario(DEMO, ["solver.mip_rel_gap=0", f"sources.central.budget={1500 + step}万"]), marginal="none")
    assert differences.loc["sources.central.budget", "marginal_value"] == pytest.approx((raised.objective - result.objective) / step)


def test_a_soft_target_with_a_shortfall_is_priced_at_its_penalty():
    result = solve(load_scenario(DEMO, ["solver.mip_rel_gap=0"]))
    targets = result.marginal[result.marginal["rule"] == "target street_centres"]
    missed = result.indicators.query("indicator == 'street_centres' and shortfall > 1e-6")["group"]
    assert len(missed) > 0
    priced = targets.set_index("group").loc[list(missed), "marginal_value"]
    assert list(priced) == pytest.approx([-2000.0] * len(missed))  # the demo's penalty per indicator unit


def test_explain_lists_binding_rules_or_the_diagnosis():
    from click.testing import CliRunner

    from allocator.cli import main

    feasible = CliRunner().invoke(main, ["explain", str(DEMO)])
    assert feasible.exit_code == 0, feasible.output
    assert "Binding rules" in feasible.output and "budget of lottery" in feasible.output
    infeasible = CliRunner().invoke(main, ["explain", str(DEMO), "--set", "targets.counts.centres.min=18"])
    assert infeasible.exit_code == 3
    assert "\nAny one of these changes is enough:\n" in infeasible.output

