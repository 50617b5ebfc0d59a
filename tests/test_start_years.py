"""The relaxation of a phased model by pricing its start years: the same optimum as HiGHS on the whole relaxation, a
solution feasible for the whole model, duals that price every column of it correctly, and a fall-back to the whole LP
when the first working set leaves the rules no room."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from allocator import load_scenario, solve
from allocator.backends import Deadline, SolveStatus
from allocator.backends.highs import solve_relaxation
from allocator.backends.highs_run import STOPPED, run_highs
from allocator.backends.options import SolverOptions
from allocator.backends.start_years import StartYears, find_start_years, solve_by_start_years
from allocator.model.arrays import LinearModel
from allocator.solve import build
from helpers import DATA, write_case

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.generate import generate  # noqa: E402

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def phased(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    for variant in ("base", "county_pooling"):
        generate(300, 0, out, variant=variant)
    return generate(300, 0, out, variant="phasing")


def model_of(path: Path, overrides: list[str] | None = None) -> LinearModel:
    return build(load_scenario(path, overrides or [])).linear


def priced(model: LinearModel, years: StartYears):
    return solve_by_start_years(model.relaxed(), years, SolverOptions(), Deadline(120), log=False)


def assert_optimal_for_the_whole(model: LinearModel, solution) -> None:
    """`solution` is feasible for the whole relaxation, and its duals are feasible and complementary for it, computed
    here from the whole matrix (so its objective is the whole relaxation's optimum, independently of HiGHS)."""
    x, y = solution.values, solution.row_duals
    activity = model.A @ x
    scale = 1.0 + np.abs(activity)
    assert np.all(activity >= model.row_lower - TOLERANCE * scale) and np.all(activity <= model.row_upper + TOLERANCE * scale)
    assert np.all(x >= model.col_lower - TOLERANCE) and np.all(x <= model.col_upper + TOLERANCE)
    reduced = model.c - model.A.T @ y
    np.testing.assert_allclose(reduced, solution.col_duals, atol=1e-6 * np.abs(model.c).max())
    slack = 1e-7 * np.abs(model.c).max()
    at_lower, at_upper = x <= model.col_lower + TOLERANCE, x >= model.col_upper - TOLERANCE
    inside = ~at_lower & ~at_upper
    assert np.all(reduced[at_lower & ~at_upper] >= -slack)  # a minimisation: nothing at its lower bound would improve it
    assert np.all(reduced[at_upper & ~at_lower] <= slack)
    assert np.all(np.abs(reduced[inside]) <= slack)
    # The dual objective (rows and columns at their active bounds) equals the primal one: strong duality.
    priced_rows, priced_cols = np.abs(y) > slack, np.abs(reduced) > slack
    row_bound = np.where(y > 0, model.row_lower, model.row_upper)[priced_rows]
    col_bound = np.where(reduced > 0, model.col_lower, model.col_upper)[priced_cols]
    assert np.isfinite(row_bound).all() and np.isfinite(col_bound).all()
    dual = row_bound @ y[priced_rows] + col_bound @ reduced[priced_cols]
    assert dual + model.offset == pytest.approx(solution.objective, rel=1e-8)


@pytest.mark.parametrize("overrides", [
    [],
    ["sources.central.profile=[0.4, 0.3, 0.0, 0.2, 0.1]", "sources.lottery.profile=[0.0, 0.5, 0.5, 0.0, 0.0]"],
    ["phasing.cost_profile=[0.8, 0.2]"],
], ids=["generated", "uneven-budgets", "front-loaded-costs"])
def test_the_priced_relaxation_is_the_whole_relaxation(phased: Path, overrides: list[str]):
    model = model_of(phased, overrides)
    years = find_start_years(model)
    assert years is not None and years.starts.shape == (300, 4)
    whole = run_highs(model.relaxed(), SolverOptions(), Deadline(120), log=False)
    solution = priced(model, years)
    assert whole.status is solution.status is SolveStatus.OPTIMAL
    assert solution.objective == pytest.approx(whole.objective, rel=1e-9)
    assert_optimal_for_the_whole(model.relaxed(), solution)
    rounds = solution.details["start_years"]["rounds"]
    assert rounds[-1]["priced_in"] == 0 and rounds[0]["one_start_rows"] == 0
    if overrides:  # years that differ in worth: some projects keep two years, with their one-start rows
        assert max(r["one_start_rows"] for r in rounds) > 0


def test_when_most_projects_keep_two_years_the_rounds_go_on_from_the_last_basis(phased: Path):
    # A 20% discount rate makes every year worth trading: after the second LP, most projects price in and keep two or
    # more start years with their one-start rows. The rounds after the second change the LP in place and re-solve it
    # by simplex from the last basis, and end at the whole relaxation's optimum.
    model = model_of(phased, ["phasing.discount_rate=0.2"])
    years = find_start_years(model)
    assert years is not None
    solution = priced(model, years)
    whole = run_highs(model.relaxed(), SolverOptions(), Deadline(60), log=False)
    assert solution.status is whole.status is SolveStatus.OPTIMAL
    assert solution.objective == pytest.approx(whole.objective, rel=1e-9)
    assert_optimal_for_the_whole(model.relaxed(), solution)
    rounds = solution.details["start_years"]["rounds"]
    assert [r["method"] for r in rounds[:2]] == ["interior point"] * 2 and all(r["method"] == "simplex" for r in rounds[2:])
    assert len(rounds) > 3 and rounds[-1]["one_start_rows"] > 0.25 * 300


def test_the_plan_from_a_priced_relaxation_is_within_its_gap_of_highs_on_the_whole_mip(phased: Path):
    lp_first = solve(load_scenario(phased, ["solver.strategy=\"lp_first\"", "solver.mip_rel_gap=1e-3"]), marginal="none")
    whole = solve(load_scenario(phased, ["solver.strategy=\"mip\"", "solver.mip_rel_gap=1e-3"]), marginal="none")
    assert lp_first.status is whole.status is SolveStatus.OPTIMAL
    details = lp_first.solution.details
    assert "start_years" in details
    # Minimised objectives: the priced relaxation's bound is below HiGHS's plan, and each plan within 1e-3 of the other.
    assert details["lp_bound"] <= whole.solution.objective + 1e-9 * abs(whole.solution.objective)
    assert lp_first.solution.objective == pytest.approx(whole.solution.objective, rel=1e-3)


def test_models_without_several_start_years_are_left_to_the_whole_lp(phased: Path):
    assert find_start_years(model_of(phased.parent / "scenario.toml")) is None
    assert find_start_years(model_of(phased.parent / "scenario_county_pooling.toml")) is None


def test_a_deadline_stops_the_pricing_without_a_bound(phased: Path):
    model = model_of(phased)
    years = find_start_years(model)
    assert years is not None
    stopped = solve_by_start_years(model.relaxed(), years, SolverOptions(), Deadline(0), log=False)
    assert stopped.status is SolveStatus.NO_SOLUTION and stopped.message == STOPPED and stopped.values is None


PROJECTS = [{"project_id": f"P{i}", "region_id": "R1", "type": "centre", "cost": 100, "benefit": 10 - i} for i in range(4)]
TWO_YEARS = DATA + """
[phasing]
first_year = 2021
last_year = 2022
carry_over = false

[types.centre]
welfare = true

[sources.central]
budget_by_year = {budgets}

{rules}

[objective]
sense = "max_benefit"
benefit = {{ benefit = 1.0 }}

[solver]
mip_rel_gap = 0.0
strategy = "lp_first"
"""


def two_years(tmp_path: Path, budgets: str, rules: str):
    scenario = load_scenario(write_case(tmp_path, TWO_YEARS.format(budgets=budgets, rules=rules), PROJECTS))
    model = build(scenario).linear
    years = find_start_years(model)
    assert years is not None
    return scenario, model, years


def funded(result) -> dict[str, int]:
    return result.allocation.set_index("project_id")["start_year"].dropna().astype(int).to_dict()


def test_a_project_a_rule_forces_into_the_plan_starts_with_every_year(tmp_path: Path):
    # P1 must be funded; spread, it would start in 2022, which has no money. It gets both years from the start (with its
    # one-start row), so the first restricted LP has room, and the plan funds P0 and P1 in 2021.
    scenario, model, years = two_years(tmp_path, '["200万", "0"]', '[projects]\nmust_fund = ["P1"]')
    solution = priced(model, years)
    assert solution.status is SolveStatus.OPTIMAL
    assert solution.details["start_years"]["rounds"][0]["one_start_rows"] == 1
    assert funded(solve(scenario, marginal="none")) == {"P0": 2021, "P1": 2021}


def test_a_first_working_set_with_no_room_falls_back_to_the_whole_lp(tmp_path: Path):
    # Three centres must be funded and only 2022 has money: spread, P0 and P2 start in 2021, so only two can be funded and
    # that restricted LP is infeasible. The relaxation is then solved whole, and the plan funds all four in 2022.
    scenario, model, years = two_years(tmp_path, '["0", "400万"]', '[targets.counts.centres]\ntype = "centre"\nmin = 3')
    assert priced(model, years).status is SolveStatus.NO_SOLUTION
    relaxation = solve_relaxation(model, None, years, SolverOptions(), Deadline(60), log=False)
    assert relaxation.status is SolveStatus.OPTIMAL
    assert relaxation.details["start_years"] == {"rounds": [], "gave_way": "start-year pricing gave way: Infeasible"}
    assert funded(solve(scenario, marginal="none")) == {f"P{i}": 2022 for i in range(4)}


def test_a_phased_lp_is_solved_by_pricing_its_start_years(phased: Path):
    # model.selection = "continuous": the LP itself goes by start years, to HiGHS's optimum on the whole LP.
    scenario = load_scenario(phased, ["model.selection=\"continuous\""])
    model = build(scenario).linear
    whole = run_highs(model, SolverOptions(), Deadline(120), log=False)
    result = solve(scenario, marginal="none")
    assert result.status is SolveStatus.OPTIMAL and "start_years" in result.solution.details
    assert result.solution.objective == pytest.approx(whole.objective, rel=1e-9)
