"""Warm starts: a sweep point or the robust plan started from a plan solved before, only when that plan is feasible for
the new model, and the same objectives as solving from scratch (within the requested gap)."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from allocator import load_scenario, sweep
from allocator.model.arrays import LinearModel
from allocator.simulate import load_plan, robust_inputs, robust_plan
from allocator.solve import build
from allocator.sweep import Axis, checked_points, chains, parse_vary, run_point, warm_order
from allocator.warm import feasible_start
from helpers import REGIONS, ROBUST, write_case

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"


def _model() -> LinearModel:
    """x0 + x1 <= 1.5 and x0 - x2 >= 0, x0 and x1 binary, 0 <= x2 <= 10."""
    inf = np.inf
    return LinearModel(c=np.array([-1.0, -1.0, 0.0]), A=sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, -1.0]])),
                       row_lower=np.array([-inf, 0.0]), row_upper=np.array([1.5, inf]), col_lower=np.zeros(3),
                       col_upper=np.array([1.0, 1.0, 10.0]), integer=np.array([True, True, False]), col_blocks=[], row_blocks=[])


def test_only_a_feasible_point_is_a_start():
    model = _model()
    assert feasible_start(model, np.array([1.0, 0.0, 0.5])) is not None
    assert feasible_start(model, np.array([1.0, 1.0, 0.0])) is None  # row 0: 2 > 1.5
    assert feasible_start(model, np.array([0.0, 1.0, 0.5])) is None  # row 1: 0 - 0.5 < 0
    assert feasible_start(model, np.array([0.5, 0.0, 0.0])) is None  # a half selection
    assert feasible_start(model, np.array([1.0, 0.0, 11.0])) is None  # above its bound
    assert feasible_start(model, np.array([1.0, 0.0])) is None  # another model's columns
    assert feasible_start(model, None) is None


def test_points_go_from_the_tightest_limit_to_the_loosest():
    budget = parse_vary("sources.central.budget=3亿,1亿,2亿")
    count = Axis("targets.counts.centres.min", settings=(5, 9, 7), values=(5.0, 9.0, 7.0))
    scenario = load_scenario(DEMO)
    assert warm_order([budget], checked_points(scenario, [budget])) == [1, 2, 0]  # a budget rises
    assert warm_order([count], checked_points(scenario, [count])) == [1, 2, 0]  # a minimum falls
    assert chains([4, 1, 0, 3, 2], 2) == [[4, 1, 0], [3, 2]]
    assert chains([4, 1], 5) == [[4], [1]]


def test_a_larger_budget_starts_from_the_smaller_ones_plan_with_the_same_objective(tmp_path):
    axes = [parse_vary("sources.central.budget=500万:2000万:4")]
    points = checked_points(load_scenario(DEMO), axes)
    first, second = (points[i] for i in warm_order(axes, points)[:2])
    earlier = run_point(first, tmp_path / "first")
    assert earlier["status"] == "optimal"
    start = earlier["values"]
    assert feasible_start(build(second.scenario).linear, start) is not None  # so the warm path is taken
    warm = run_point(second, tmp_path / "warm", start)
    cold = run_point(second, tmp_path / "cold")
    assert warm["values"] @ build(second.scenario).linear.c == pytest.approx(cold["values"] @ build(second.scenario).linear.c,
                                                                               rel=second.scenario.solver.mip_rel_gap)


def test_warm_and_cold_sweeps_give_the_same_objectives_within_the_gap():
    scenario = load_scenario(DEMO)
    vary = {"sources.central.budget": "500万:2000万:6"}
    warm = sweep(scenario, vary, workers=2)
    cold = sweep(scenario, vary, workers=2, warm=False)
    assert (warm.table["status"] == "optimal").all() and (cold.table["status"] == "optimal").all()
    gap = scenario.solver.mip_rel_gap
    np.testing.assert_allclose(warm.table["objective"].to_numpy(float), cold.table["objective"].to_numpy(float), rtol=gap)
    assert warm.table["objective"].is_monotonic_increasing  # more money, at least as much benefit


def test_the_robust_plan_starts_from_the_nominal_one_when_it_fits(tmp_path):
    # Capacity 1000 per region: the nominal plan's 300万 of matching money fits the robust capacity (~622) and budget.
    projects = [{"project_id": f"P{i}", "region_id": "R2", "type": "centre", "cost": 100, "benefit": 10 - i} for i in range(6)]
    scenario, data, nominal = load_plan(write_case(tmp_path, ROBUST, projects, REGIONS))
    robust_scenario, robust_data, _ = robust_inputs(scenario, data)
    assert feasible_start(build(robust_scenario, robust_data).linear, nominal.values) is not None
    warm, _ = robust_plan(scenario, data, nominal)
    cold, _ = robust_plan(scenario, data)
    assert warm.objective == pytest.approx(cold.objective, rel=scenario.solver.mip_rel_gap)
    assert warm.selected.sum() == 6 == nominal.selected.sum()  # nothing to protect against: the same plan
