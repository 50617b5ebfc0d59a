"""Solvers behind one seam: a :class:`LinearModel` in, a :class:`Solution` out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class SolveStatus(str, Enum):
    """What a solve proved, in the words the reports use."""

    OPTIMAL = "optimal"  # proven optimal within the requested gap
    FEASIBLE = "feasible"  # a solution, but a limit stopped the proof (see the gap)
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"  # no optimum, and the solver could not tell which of the two
    NO_SOLUTION = "no_solution"  # a limit stopped the solver before any solution was found
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


class FormulaStatus(str, Enum):
    """The status of an allocation computed by a formula (allocate baseline) rather than solved: it meets the
    per-project rules and optimises nothing."""

    FORMULA = "formula"
    CASCADE = "cascade"  # two stages: money split between provinces, then each province solved on its own (allocate cascade)

    @property
    def has_solution(self) -> bool:
        return True


@dataclass
class Solution:
    """A backend's answer (or the formula baseline's). ``objective`` is the minimised value c·x + offset; duals only for an LP."""

    status: SolveStatus | FormulaStatus
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


#: The message of a solve that the deadline never let start.
NOT_STARTED = "Time limit reached before this solve could start"


class Deadline:
    """The wall-clock bound of one whole solve (``solver.time_limit`` from its start), shared by every phase.

    :meth:`portion` gives one phase an earlier deadline of its own; every portion shares ``cut_short``,
    the notes on the phases the time limit stopped or skipped (``manifest.json``).
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, seconds: float, *, cut_short: list[str] | None = None):
        self.at = self.clock() + seconds
        self.cut_short: list[str] = [] if cut_short is None else cut_short

    def left(self) -> float:
        return max(self.at - self.clock(), 0.0)

    @property
    def expired(self) -> bool:
        return self.left() <= 0.0

    def overrun(self) -> float:
        """Seconds past this deadline (0 before it)."""
        return max(self.clock() - self.at, 0.0)

    def portion(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now, never later than this one."""
        return Deadline(min(seconds, self.left()), cut_short=self.cut_short)

    def note(self, text: str) -> None:
        """Record that a phase was cut short, and how."""
        self.cut_short.append(text)
