"""Solvers behind one seam: a :class:`LinearModel` in, a :class:`Solution` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class SolveStatus(str, Enum):
    """What a solve proved, in the words the reports use."""

    OPTIMAL = "optimal"  # proven optimal within the requested gap
    FEASIBLE = "feasible"  # a solution, but a limit stopped the proof (see the gap)
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"  # a limit stopped the solver before any solution was found
    ERROR = "error"
    FORMULA = "formula"  # a formula allocation (allocate baseline): meets the per-project rules, optimises nothing

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.FORMULA)


@dataclass
class Solution:
    """A backend's answer. ``objective`` is the minimised value c·x + offset; duals only for an LP."""

    status: SolveStatus
    solver: str
    solver_version: str
    values: np.ndarray | None = None
    objective: float | None = None
    dual_bound: float | None = None
    mip_gap: float | None = None
    row_duals: np.ndarray | None = None
    col_duals: np.ndarray | None = None  # reduced costs, for an LP
    seconds: float = 0.0
    message: str = ""
    details: dict[str, object] = field(default_factory=dict)
