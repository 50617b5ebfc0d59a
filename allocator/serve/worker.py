"""The solve, in a worker process: load the scenario with its overrides (the ``--set`` path), solve within its time limit
and write an ordinary run directory, as ``allocate run --no-reports`` does. A warm pool keeps the engine imported."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from allocator.marginal_modes import MarginalMode

#: Marginal values in the workbench's runs: the duals only (the allocation is the same in every mode; the re-solves of
#: ``auto`` would cost more than the solve itself on the national scenario).
MARGINAL: MarginalMode = "duals"


@dataclass(frozen=True)
class Outcome:
    """What a solve left: the run directory written (an allocation, or a diagnosis), or the error that stopped it."""

    run: Path | None = None
    error: str = ""


def warm() -> None:
    """Import the engine now, so that the first solve does not wait for it."""
    import allocator.rundir  # noqa: F401
    import allocator.solve  # noqa: F401


def _start(server: int) -> None:
    """A worker's start: it ends with the `server` process (one killed outright leaves no worker), and is warm."""
    from allocator.cluster import die_with_caller

    die_with_caller(server)
    warm()


def pool(workers: int = 2) -> ProcessPoolExecutor:
    """Worker processes (spawned: the server's threads are not copied), each importing the engine when it starts."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(os.getpid(),))


def solve_run(scenario_file: Path, overrides: list[str], runs: Path) -> Outcome:
    """Solve `scenario_file` with `overrides` and write its run directory under `runs` (a diagnosis when infeasible)."""
    from allocator.data import load_data
    from allocator.errors import AllocatorError, SolveFailed
    from allocator.outdir import check
    from allocator.rundir import default_run_dir, run_target, write_failure, write_run
    from allocator.serve.cache import TABLES_READ
    from allocator.scenario_toml import load_scenario
    from allocator.solve import solve

    try:
        scenario = load_scenario(scenario_file, overrides)
        target = run_target(scenario, default_run_dir(scenario.path, root=runs), unique=True)
        check(target)
        started = time.perf_counter()
        data = load_data(scenario, read=TABLES_READ)  # a table read before and unchanged since is not read again
        loaded = time.perf_counter() - started
        try:
            result = solve(scenario, data, marginal=MARGINAL)
            result.timings["read_and_validate"] = result.timings.get("read_and_validate", 0.0) + loaded
        except SolveFailed as failure:
            return Outcome(run=write_failure(scenario, failure, target.path, unique=True))
        return Outcome(run=write_run(result, target.path, unique=True, reports=False))
    except AllocatorError as exc:
        return Outcome(error=" ".join(str(exc).split()))
