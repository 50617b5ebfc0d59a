"""Warm starts: a plan already solved, handed to the next solve of a similar model as its first incumbent, only when
it is a feasible point of that model (its column bounds, integrality and every row), checked here.

HiGHS itself checks a start (an infeasible one is reported and dropped, or its integer part repaired by an LP), but
a start that fails the check here is not passed at all: what reaches the solver is feasible by construction.
"""

from __future__ import annotations

import numpy as np

from allocator.model.arrays import LinearModel

#: Feasibility tolerance, relative to the size of each bound (HiGHS's primal feasibility tolerance is 1e-7 absolute
#: on its scaled model).
TOLERANCE = 1e-7


def feasible_start(model: LinearModel, values: np.ndarray | None) -> np.ndarray | None:
    """`values` when they are a feasible point of `model`, else None (also when they have another number of columns)."""
    if values is None or len(values) != model.num_cols:
        return None
    if not (_within(values, model.col_lower, model.col_upper) and _integral(values[model.integer])):
        return None
    return values if _within(model.A @ values, model.row_lower, model.row_upper) else None


def _within(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> bool:
    slack_low = TOLERANCE * np.maximum(1.0, np.abs(np.where(np.isfinite(lower), lower, 0.0)))
    slack_high = TOLERANCE * np.maximum(1.0, np.abs(np.where(np.isfinite(upper), upper, 0.0)))
    return bool(np.all(values >= lower - slack_low) and np.all(values <= upper + slack_high))


def _integral(values: np.ndarray) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) <= 1e-6))
