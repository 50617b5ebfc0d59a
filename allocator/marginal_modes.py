"""Which marginal values a solve computes (``allocate run --marginal``). Imports nothing heavy, so the CLI
can offer the modes without loading the solver."""

from __future__ import annotations

from typing import Literal, get_args

#: "full": duals, and re-solves for every budget, soft target and used-up rule (per province, region or group too);
#: "auto": the same but only the scenario-wide rules (one row each: budgets, soft targets, counts, shares, minimum
#: spends) up to RE_SOLVE_LIMIT candidates, duals alone above; "duals"; "none".
MarginalMode = Literal["auto", "full", "duals", "none"]
MARGINAL_MODES: tuple[MarginalMode, ...] = get_args(MarginalMode)
#: Above this many candidates, "auto" marginal values skip the re-solves.
RE_SOLVE_LIMIT = 50_000
#: Which rules are re-solved: none, the scenario-wide ones, or every used-up one.
ReSolveScope = Literal["none", "scenario", "every"]


def re_solve_scope(mode: MarginalMode, candidates: int) -> ReSolveScope:
    """Which rules `mode` re-solves on a scenario of `candidates` projects."""
    if mode == "full":
        return "every"
    return "scenario" if mode == "auto" and candidates <= RE_SOLVE_LIMIT else "none"
