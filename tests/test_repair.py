"""LP-first's repair: when rounding the LP relaxation leaves a hard rule no room (each province's money within a narrow
range), the restricted MIPs find no allocation, and the repair frees the selections of the rows they cannot meet."""

import numpy as np
import pytest

from allocator.backends import Deadline
from allocator.backends.highs import solve_lp_first
from allocator.backends.highs_run import run_highs
from allocator.backends.options import SolverOptions
from allocator.model.arrays import LinearModel
from benchmarks.narrow_ranges import provinces_in_narrow_ranges


def direct_optimum(model: LinearModel) -> float:
    solution = run_highs(model, SolverOptions(mip_rel_gap=1e-9), Deadline(60), log=False)
    assert solution.status.value == "optimal" and solution.objective is not None
    return solution.objective


def assert_keeps_every_row(model: LinearModel, values: np.ndarray) -> None:
    activity = model.A @ values
    assert np.all(activity >= model.row_lower - 1e-6) and np.all(activity <= model.row_upper + 1e-6)
    assert np.allclose(values, np.round(values))


def test_the_repair_frees_the_provinces_rounding_left_no_room_and_its_plan_is_within_the_gap():
    model = provinces_in_narrow_ranges(10, 60, seed=0)
    gap = 1e-2
    solution = solve_lp_first(model, SolverOptions(strategy="lp_first", mip_rel_gap=gap), Deadline(60))
    details = solution.details
    assert details["stage1"]["status"] == "infeasible" and details["stage2"]["status"] == "infeasible"
    (step,) = details["repair"]["rounds"]
    assert step["missed_rows"] >= 1 and step["freed_per_row"] == 50 and step["status"] == "optimal"
    assert all(name.startswith("capacity:local[省") for name in step["rows"])  # the provinces, by name
    assert "full_mip" not in details  # the repaired plan is within the gap: no full MIP
    assert solution.values is not None and solution.objective is not None
    assert_keeps_every_row(model, solution.values)
    optimum = direct_optimum(model)
    assert solution.dual_bound <= optimum + 1e-6  # the LP bound is below every allocation ...
    assert solution.objective <= optimum + gap * abs(solution.objective)  # ... and the plan within the gap of it
    assert solution.mip_gap <= gap


def test_a_repair_that_would_free_half_the_selections_leaves_it_to_the_full_mip():
    model = provinces_in_narrow_ranges(10, 60, seed=3)
    solution = solve_lp_first(model, SolverOptions(strategy="lp_first", mip_rel_gap=1e-4), Deadline(60))
    (step,) = solution.details["repair"]["rounds"]
    assert "full MIP" in step["status"] and step["free_selections"] > 300
    assert solution.details["full_mip"]["status"] == "optimal"
    assert solution.objective == pytest.approx(direct_optimum(model), rel=1e-4)


def test_a_model_no_integral_plan_meets_is_still_proven_infeasible():
    # Even coefficients and an odd right-hand side: the relaxation has plans, no 0/1 choice does. The repair cannot
    # help; the full MIP proves it, and the answer says infeasible (the diagnosis takes over from there).
    import scipy.sparse as sp

    n = 12
    model = LinearModel(c=-np.arange(1.0, n + 1), A=sp.csr_matrix(np.full((1, n), 2.0)), row_lower=np.array([3.0]),
                        row_upper=np.array([3.0]), col_lower=np.zeros(n), col_upper=np.ones(n), integer=np.ones(n, dtype=bool),
                        col_blocks=[], row_blocks=[])
    solution = solve_lp_first(model, SolverOptions(strategy="lp_first"), Deadline(60))
    assert solution.status.value == "infeasible" and solution.values is None
    (step,) = solution.details["repair"]["rounds"]
    assert step["missed_rows"] == 1 and "full MIP" in step["status"]
