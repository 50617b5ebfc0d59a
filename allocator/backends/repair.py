"""A repair for LP-first when rounding leaves a hard rule no room: the restricted MIPs keep every selection the LP
relaxation left integral at its value, and when that makes a row impossible to meet (a province's money within a
narrow range, a count that the fractional selections alone cannot reach), both find no allocation.

The repair asks which rows: the restricted MIP is solved once more with every row allowed to be missed at a price
(an elastic column per bound, weighted by the row's largest coefficient so rows in 万元 and rows in projects weigh
alike), minimising only the misses. In each row it misses, the selections nearest the margin (least |reduced cost| in
the relaxation) are freed, :data:`FREED_PER_MISSED_ROW` of them in the first round, more in the next, and the
restricted MIP is solved again; this repeats while rows are missed, and stops once more than
:data:`REPAIR_MAX_SHARE` of the selections would be free (the full MIP is then hardly bigger).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from allocator.backends import Deadline, Solution
from allocator.backends.highs_run import solve_restricted
from allocator.backends.options import SolverOptions
from allocator.model.arrays import LinearModel

#: Per repair round, how many selections of each missed row are freed (None: all of them). Measured at 201,500
#: candidates (benchmarks/narrow_ranges.py): freeing whole provinces of 6,500 made a restricted MIP of 78,134 free
#: selections (41 s); the nearest 50 per row already meet every range.
FREED_PER_MISSED_ROW: tuple[int | None, ...] = (50, 500, None)
REPAIR_MAX_SHARE = 0.5
#: A row is missed when its elastic column carries more than this (in units of its largest coefficient).
MISSED = 1e-6
#: At most this many missed rows are named in the details.
NAMED_ROWS = 10


def repair(model: LinearModel, free: np.ndarray, rounded: np.ndarray, reduced_costs: np.ndarray | None, options: SolverOptions,
           deadline: Deadline, *, log: bool) -> tuple[Solution | None, dict[str, object]]:
    """An allocation of `model` with the selections outside `free` at their `rounded` values, except those nearest the
    margin (least |`reduced_costs`|) in the rows they leave no room (module docstring); None when the rounds end
    without one. Also what each round did."""
    free = free.copy()
    rounds: list[dict[str, object]] = []
    selections = int(model.integer.sum())
    margin = np.abs(reduced_costs) if reduced_costs is not None else np.zeros(model.num_cols)
    A = model.A.tocsr()
    for per_row in FREED_PER_MISSED_ROW:
        if deadline.expired:
            break
        missed = _missed_rows(model, free, rounded, options, deadline, log=log)
        if missed is None or len(missed) == 0:
            rounds.append({"missed_rows": 0 if missed is not None else None})
            break
        for row in missed:
            columns = A.indices[A.indptr[row]:A.indptr[row + 1]]
            columns = columns[model.integer[columns] & ~free[columns]]
            free[columns[np.argsort(margin[columns], kind="stable")[:per_row]]] = True
        share = float((free & model.integer).sum()) / max(selections, 1)
        step: dict[str, object] = {"missed_rows": len(missed), "rows": _names(model, missed), "freed_per_row": per_row or "all",
                                   "free_selections": int((free & model.integer).sum())}
        rounds.append(step)
        if share > REPAIR_MAX_SHARE:
            step["status"] = f"more than {REPAIR_MAX_SHARE:.0%} of the selections would be free: left to the full MIP"
            break
        solution = solve_restricted(model, ~model.integer | free, rounded, options, deadline, log=log, extra=None, start=None)
        step.update(seconds=round(solution.seconds, 3), status=solution.status.value)
        if solution.status.has_solution:
            return solution, {"rounds": rounds}
    return None, {"rounds": rounds}


def _missed_rows(model: LinearModel, free: np.ndarray, rounded: np.ndarray, options: SolverOptions, deadline: Deadline, *,
                 log: bool) -> np.ndarray | None:
    """The rows that the restricted MIP over `free` must miss: those its least weighted misses need (None: no answer)."""
    lower_rows = np.flatnonzero(np.isfinite(model.row_lower))
    upper_rows = np.flatnonzero(np.isfinite(model.row_upper))
    rows = np.concatenate([lower_rows, upper_rows])
    signs = np.concatenate([np.ones(len(lower_rows)), -np.ones(len(upper_rows))])
    scale = np.asarray(abs(model.A).max(axis=1).todense()).ravel()
    scale = np.where(scale > 0, scale, 1.0)
    elastic = sp.csr_matrix((signs * scale[rows], (rows, np.arange(len(rows)))), shape=(model.num_rows, len(rows)))
    count = len(rows)
    misses = replace(model, c=np.concatenate([np.zeros(model.num_cols), np.ones(count)]),
                     A=sp.csr_matrix(sp.hstack([model.A, elastic])), col_lower=np.concatenate([model.col_lower, np.zeros(count)]),
                     col_upper=np.concatenate([model.col_upper, np.full(count, np.inf)]),
                     integer=np.concatenate([model.integer, np.zeros(count, dtype=bool)]), offset=0.0, col_blocks=[], row_blocks=[])
    keep = np.concatenate([~model.integer | free, np.ones(count, dtype=bool)])
    solution = solve_restricted(misses, keep, np.concatenate([rounded, np.zeros(count)]), options, deadline, log=log, extra=None,
                                start=None)
    if not solution.status.has_solution or solution.values is None:
        return None
    carried = solution.values[model.num_cols:]
    return np.unique(rows[carried > MISSED])


def _names(model: LinearModel, rows: np.ndarray) -> list[str]:
    """The first NAMED_ROWS of `rows` by name (``kind:key[group]``), or by number in a model without row blocks."""
    return [model.row_name(int(r)) if model.row_blocks else f"row {r}" for r in rows[:NAMED_ROWS]]
