"""``[objective] raise_lowest``: raise the worst-off group first (lexicographic max-min), and say what it costs.

Stage 1 maximises the floor column t alone (every rule still holds): t* is the highest value the lowest group of the
indicator can reach. Stage 2 is the scenario's own objective with t >= t* (less a relative FLOOR_TOLERANCE, so the
second solve is not cut off by round-off), started from stage 1's plan. The plan without the floor is solved too, so
the run reports what equal treatment costs: its objective and its lowest group against the floor's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from allocator.backends import Deadline, Solution
from allocator.backends.options import SolverOptions
from allocator.model.arrays import ColumnKind, LinearModel, RowKind

#: Stage 2 keeps the floor to within this share of it (at least this much in absolute terms).
FLOOR_TOLERANCE = 1e-7


def floor_column(model: LinearModel) -> int:
    (block,) = [b for b in model.col_blocks if b.kind == ColumnKind.FLOOR]
    return block.start


def lowest_group(model: LinearModel, values: np.ndarray) -> float:
    """The lowest group's value of the floor's indicator on the plan `values` (whatever the floor column holds)."""
    rows = np.concatenate([b.indices for b in model.rows(RowKind.FLOOR)])
    column = floor_column(model)
    # each row is t - (value_g - B_g/D_g) <= B_g/D_g: value_g = upper_g - (activity_g - t)
    activity = model.A[rows] @ values
    return float(np.min(model.row_upper[rows] - (activity - values[column])))


def raise_lowest(model: LinearModel, options: SolverOptions, solve_model: Callable[..., Solution],
                 deadline: Deadline) -> tuple[LinearModel, np.ndarray | None, dict[str, object]]:
    """The model with the floor fixed at its highest reachable value, stage 1's plan (a start for stage 2) and what
    the floor cost. When stage 1 finds no plan, the model is returned as it is: the main solve says why."""
    column = floor_column(model)
    only_floor = np.zeros_like(model.c)
    only_floor[column] = -1.0  # minimise -t
    first = solve_model(replace(model, c=only_floor, offset=0.0), options, deadline=deadline.portion(deadline.left() / 3))
    if not first.status.has_solution or first.values is None:
        return model, None, {"status": f"stage 1 {first.status.value}: the floor was not raised"}
    floor = float(first.values[column])
    free = solve_model(model, options, deadline=deadline.portion(deadline.left() / 2))
    lower = model.col_lower.copy()
    lower[column] = floor - FLOOR_TOLERANCE * max(1.0, abs(floor))
    details: dict[str, object] = {"floor": floor, "stage1_status": first.status.value, "stage1_gap": first.mip_gap}
    if free.status.has_solution and free.values is not None and free.objective is not None:
        details.update(lowest_without=lowest_group(model, free.values), objective_without=model.objective_sign * free.objective)
    return replace(model, col_lower=lower), first.values, details


def floor_text(details: dict[str, object] | None, objective: float, unit: str) -> str:
    """The summary's line on a raised floor: the lowest group reached, and the objective against the plan without it."""
    if not details:
        return ""
    if "floor" not in details:
        return f"raise_lowest {details.get('indicator')}: {details.get('status')}"
    text = f"raise_lowest {details['indicator']}: lowest group {_number(details['floor']):.4g}"
    if "objective_without" in details:
        without = _number(details["objective_without"])
        text += (f" (plan without it: {_number(details['lowest_without']):.4g}); objective {objective:,.2f}{unit} against "
                 f"{without:,.2f}{unit} without it ({objective - without:+,.2f})")
    return text


def _number(value: object) -> float:
    assert isinstance(value, (int, float)), value  # the details hold the figures this module wrote
    return float(value)
