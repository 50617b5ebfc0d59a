"""One HiGHS run through highspy: a model's arrays handed over whole (no Python object per variable), stopped at a
deadline, with a truthful status. The strategies that combine runs (LP-first, the decomposition by blocks) build on it."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

import highspy
import numpy as np

from allocator.backends import NOT_STARTED, Deadline, Solution, SolveStatus
from allocator.backends.options import SolverOptions
from allocator.cluster import ChildStopped, run_with_hard_limit
from allocator.model.arrays import LinearModel

#: A HiGHS option's value, as highspy's setOptionValue takes it.
HighsOption = bool | int | float | str
_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
}
_LIMITS = {
    highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt,
    highspy.HighsModelStatus.kMemoryLimit, highspy.HighsModelStatus.kObjectiveBound,
    highspy.HighsModelStatus.kObjectiveTarget,
}
#: An LP relaxation by interior point then crossover (a vertex, so few fractional selections), without presolve (HiGHS's
#: presolve spends longer on long rows than the solve itself; docs/performance.md). Its optimal prices sit near the
#: middle of the optimal ones, which start-year pricing relies on (allocator.backends.start_years).
LP_RELAXATION_OPTIONS: dict[str, HighsOption] = {"solver": "ipm", "presolve": "off", "run_crossover": "on"}
#: A row of fixed columns alone holds when its activity is within this share (at least 1) of its bounds.
ROW_TOLERANCE = 1e-9
#: Said of a solve that the deadline stopped (HiGHS's own word is "Interrupted by user").
STOPPED = "Time limit reached (wall clock)"
#: A HiGHS run that ends more than this many seconds after its deadline is noted in ``cut_short``: on large models some
#: of its phases check neither its time limit nor the interrupt callbacks (measured: 116 s past a 60 s limit).
OVERRUN_NOTED = 5.0
#: A model has few rows when it has at most this many per column (the national rules: 415 rows at 20,000 candidates),
#: not once rules grow with n (a capacity per county: 19,660 rows); see :func:`allocator.backends.highs.lp_settings`.
FEW_ROWS_SHARE = 0.05
#: A simplex or MIP run on a model with many rows (more than FEW_ROWS_SHARE per column) and at least this many nonzeros
#: is solved in a process of its own, killed FORCE_STOP_AFTER seconds past the deadline. Measured: the whole phased
#: relaxation at 200,000 candidates (201,915 rows, 6.7 million nonzeros) ran 176 s past a 60 s limit before its dual
#: simplex's first iteration, and HiGHS's MIP on that model did not stop at a 60 s limit. The process costs 1.6 s to
#: start once and 1.5 s to send that model (and the model's memory again), so interior-point runs, which check our
#: interrupt and were never seen to overrun, and models with few rows stay here (600,000 candidates: 2.4 s more
#: otherwise; the even split's LP at 200,000 phased candidates: 3 s and 540 MiB more).
HARD_LIMIT_FROM_NONZEROS = 1_000_000
FORCE_STOP_AFTER = 10.0


def new_highs(log: bool) -> highspy.Highs:
    """A Highs instance; its start-up banner (printed by C++ to fd 1) is kept out of our output unless logging."""
    if log:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    highs.setOptionValue("output_flag", False)
    return highs


def highs_version(highs: highspy.Highs) -> str:
    return f"HiGHS {highs.versionMajor()}.{highs.versionMinor()}.{highs.versionPatch()} (highspy)"


#: Set while HiGHS runs and Ctrl-C has been pressed (see :func:`_ctrl_c_stops`).
_CTRL_C = threading.Event()


def _stop_at(highs: highspy.Highs, deadline: Deadline) -> None:
    """Interrupt HiGHS's simplex, interior point and MIP search once `deadline` has passed (on large models its own
    time_limit can be overrun by minutes, docs/performance.md) or Ctrl-C was pressed."""
    def interrupt(event: highspy.HighsCallbackEvent) -> None:
        if deadline.expired or _CTRL_C.is_set():
            event.interrupt()

    for callback in (highs.cbSimplexInterrupt, highs.cbIpmInterrupt, highs.cbMipInterrupt):
        callback.subscribe(interrupt)


def run_highs(model: LinearModel, options: SolverOptions, deadline: Deadline, *, log: bool, extra: Mapping[str, HighsOption] | None = None,
         start: np.ndarray | None = None) -> Solution:
    """One HiGHS run on `model` as it is, stopped at `deadline`, with a truthful status. A simplex or MIP run on a large
    model with many rows (:data:`HARD_LIMIT_FROM_NONZEROS`) runs in a process of its own that is killed
    :data:`FORCE_STOP_AFTER` seconds past the deadline, since some phases of HiGHS check neither its time limit nor our
    interrupt."""
    by_interior_point = (extra or {}).get("solver") == "ipm"  # checks our interrupt; never seen to overrun
    if (model.A.nnz < HARD_LIMIT_FROM_NONZEROS or model.num_rows <= FEW_ROWS_SHARE * model.num_cols or by_interior_point
            or deadline.expired):
        return _run_here(model, options, deadline, log=log, extra=extra, start=start)
    started = time.perf_counter()
    try:
        solution, notes = run_with_hard_limit(_run_and_notes, (model, options, deadline, log, extra, start),
                                              deadline.left() + FORCE_STOP_AFTER)
    except ChildStopped as stopped:
        if not stopped.started:  # e.g. a script without a main guard: no process of its own, so no hard limit
            return _run_here(model, options, deadline, log=log, extra=extra, start=start)
        deadline.note(f"HiGHS did not stop at solver.time_limit, in a phase that checks neither its time limit nor our "
                      f"interrupt (HiGHS issues #1278, #885): {stopped}")
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=highs_version(new_highs(False)),
                        message=f"{STOPPED}: HiGHS was {stopped}", seconds=time.perf_counter() - started)
    deadline.cut_short.extend(notes)
    return solution


def _run_and_notes(model: LinearModel, options: SolverOptions, deadline: Deadline, log: bool, extra: Mapping[str, HighsOption] | None,
                   start: np.ndarray | None) -> tuple[Solution, list[str]]:
    """:func:`_run_here` in a process of its own, with the notes it adds to `deadline` (a copy of the caller's)."""
    before = len(deadline.cut_short)
    solution = _run_here(model, options, deadline, log=log, extra=extra, start=start)
    return solution, deadline.cut_short[before:]


def _run_here(model: LinearModel, options: SolverOptions, deadline: Deadline, *, log: bool, extra: Mapping[str, HighsOption] | None,
              start: np.ndarray | None) -> Solution:
    """One HiGHS run on `model` in this process."""
    highs = new_highs(log)
    if deadline.expired:
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=highs_version(highs), message=NOT_STARTED)
    configure(highs, options, deadline, extra)
    highs.passModel(to_highs_lp(model))
    if start is not None:
        incumbent = highspy.HighsSolution()
        incumbent.col_value = list(start)
        highs.setSolution(incumbent)
    solution = run_configured(highs, deadline)
    if solution.status.has_solution:
        result, info = highs.getSolution(), highs.getInfo()
        solution.values = np.asarray(result.col_value, dtype=float)
        solution.objective = float(info.objective_function_value)
        if model.is_mip:
            solution.dual_bound = float(info.mip_dual_bound)
            solution.mip_gap = float(info.mip_gap)
            solution.details["nodes"] = int(info.mip_node_count)
        else:
            solution.mip_gap = 0.0 if solution.status is SolveStatus.OPTIMAL else None
            if result.dual_valid:
                solution.row_duals = np.asarray(result.row_dual, dtype=float)
                solution.col_duals = np.asarray(result.col_dual, dtype=float)
    return solution


def configure(highs: highspy.Highs, options: SolverOptions, deadline: Deadline, extra: Mapping[str, HighsOption] | None) -> None:
    """`options` (gap, threads, seed) and `extra` HiGHS options on `highs`, and its runs stopped at `deadline`."""
    _stop_at(highs, deadline)
    highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    highs.setOptionValue("threads", int(options.threads))
    highs.setOptionValue("random_seed", int(options.seed))
    for key, value in (extra or {}).items():
        highs.setOptionValue(key, value)


def run_configured(highs: highspy.Highs, deadline: Deadline) -> Solution:
    """Run `highs` (its model passed, :func:`configure`d with `deadline`) and say truthfully how it ended: status,
    message and seconds, without its values (the caller reads them in its own order)."""
    highs.setOptionValue("time_limit", max(deadline.left(), 0.0))
    # HiGHS keeps one thread pool per process: a pool another Highs instance started at another size
    # would make it refuse `threads` with an error (status "Not Set"), so it starts afresh.
    highspy.Highs.resetGlobalScheduler(True)
    started = time.perf_counter()
    with _ctrl_c_stops():
        highs.run()
    seconds = time.perf_counter() - started
    late = deadline.overrun()
    if late > OVERRUN_NOTED:
        deadline.note(f"HiGHS ran {late:.0f} s past solver.time_limit, in a phase that checks neither its time limit nor "
                      "our interrupt (HiGHS issues #1278, #885; docs/performance.md)")
    model_status = highs.getModelStatus()
    has_primal = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    status = _STATUS.get(model_status)
    if status is SolveStatus.OPTIMAL and not has_primal:
        status = SolveStatus.ERROR
    elif status is None:
        status = (SolveStatus.FEASIBLE if has_primal else SolveStatus.NO_SOLUTION) if model_status in _LIMITS else SolveStatus.ERROR
    message = STOPPED if model_status == highspy.HighsModelStatus.kInterrupt else highs.modelStatusToString(model_status)
    return Solution(status=status, solver="highs", solver_version=highs_version(highs), seconds=seconds, message=message)


@contextmanager
def _ctrl_c_stops() -> Iterator[None]:
    """Ctrl-C during a HiGHS run stops it and raises KeyboardInterrupt after it. Python's own handler would raise inside
    an interrupt callback, where pybind11 swallows the exception and HiGHS solves on: the run ignored Ctrl-C. So while
    HiGHS runs, Ctrl-C only sets a flag the callbacks read. (Elsewhere than the main thread, or where SIGINT is handled
    otherwise, as in a process of its own that ignores it, nothing changes.)"""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _CTRL_C.clear()
    signal.signal(signal.SIGINT, lambda signum, frame: _CTRL_C.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if _CTRL_C.is_set():
        _CTRL_C.clear()
        raise KeyboardInterrupt


def minimised(solution: Solution) -> float:
    """The minimised objective of a solve that found an allocation."""
    assert solution.objective is not None, solution.status
    return solution.objective


def relative_gap(objective: float, bound: float) -> float:
    """How far a minimised `objective` lies above a proven lower `bound`, relative to the objective (0 below it)."""
    return max(objective - bound, 0.0) / max(abs(objective), 1e-9)


def to_highs_lp(model: LinearModel) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = model.c
    lp.offset_ = model.offset
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    csc = model.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data
    if model.is_mip:
        lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in model.integer]
    return lp


def solve_restricted(model: LinearModel, keep: np.ndarray, fixed_values: np.ndarray, options: SolverOptions, deadline: Deadline,
                      *, log: bool, extra: Mapping[str, HighsOption] | None, start: np.ndarray | None) -> Solution:
    """Solve `model` with every column outside `keep` fixed at `fixed_values`, handing HiGHS only the kept columns (the
    fixed ones move into the row bounds and the objective's constant) and only the rows that still have one (a row of
    fixed columns alone that holds says nothing; one that fails is kept, so HiGHS proves the infeasibility); values
    come back full. (The rounding of a decomposition by blocks fixes whole blocks, so most of a county-pooling model's
    rows have no kept column: at 20,000 candidates the rounding MIP took 2.1 s instead of 2.4 s.)"""
    fixed = ~keep
    A = model.A.tocsc()
    activity = A[:, fixed] @ fixed_values[fixed]
    kept_A = A[:, keep].tocsr()
    tolerance = ROW_TOLERANCE * np.maximum(1.0, np.abs(activity))
    holds = (activity >= model.row_lower - tolerance) & (activity <= model.row_upper + tolerance)
    rows = np.flatnonzero((np.diff(kept_A.indptr) > 0) | ~holds)
    smaller = replace(model, c=model.c[keep], A=kept_A[rows], row_lower=(model.row_lower - activity)[rows],
                      row_upper=(model.row_upper - activity)[rows], col_lower=model.col_lower[keep], col_upper=model.col_upper[keep],
                      integer=model.integer[keep], offset=model.offset + float(model.c[fixed] @ fixed_values[fixed]),
                      col_blocks=[], row_blocks=[])
    solution = run_highs(smaller, options, deadline, log=log, extra=extra, start=None if start is None else start[keep])
    solution.row_duals = solution.col_duals = None  # of the rows and columns kept only: not the model's
    if solution.values is not None:
        full = fixed_values.copy()
        full[keep] = solution.values
        solution.values = full
    return solution
