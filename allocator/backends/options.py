"""What a scenario's ``[solver]`` table asks of a backend (docs/scenarios.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How HiGHS solves a MIP: directly, LP relaxation first, or LP first from a size up (allocator/backends/highs.py).
Strategy = Literal["auto", "mip", "lp_first"]


@dataclass(frozen=True)
class SolverOptions:
    name: str = "highs"  # highs (highspy), or a PuLP solver (allocator/backends/pulp.py)
    time_limit: float = 300.0  # seconds of wall clock for the whole solve
    mip_rel_gap: float = 1e-4
    threads: int = 1
    seed: int = 0
    strategy: Strategy = "auto"  # HiGHS only
    workers: int | None = None  # processes that solve a decomposed model's blocks (None: one per CPU; 1: this process)
    scheduler: str | None = None  # or a Dask scheduler's address that solves them (allocate run --scheduler)
