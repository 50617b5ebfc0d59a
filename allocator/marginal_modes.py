"""Which marginal values a solve computes (``allocate run --marginal``). Imports nothing heavy, so the CLI
can offer the modes without loading the solver."""

from __future__ import annotations

from typing import Literal, get_args

#: "full": duals and, for a MIP, finite differences on budgets; "duals"; "none"; "auto": full up to
#: FINITE_DIFFERENCE_LIMIT candidates, duals above.
MarginalMode = Literal["auto", "full", "duals", "none"]
MARGINAL_MODES: tuple[MarginalMode, ...] = get_args(MarginalMode)
#: Above this many candidates, "auto" marginal values skip the MIP re-solves of the finite differences.
FINITE_DIFFERENCE_LIMIT = 50_000


def finite_differences(mode: MarginalMode, candidates: int) -> bool:
    """Whether `mode` asks for the budgets' finite differences on a scenario of `candidates` projects."""
    return mode == "full" or (mode == "auto" and candidates <= FINITE_DIFFERENCE_LIMIT)
