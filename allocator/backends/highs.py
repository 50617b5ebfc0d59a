"""HiGHS through highspy: the arrays are handed over whole, with no Python object per variable. Also writes a
model as an LP or MPS file for another solver, with HiGHS's own writer."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np

from allocator.backends import NOT_STARTED, Deadline, Solution, SolveStatus
from allocator.backends.options import SolverOptions
from allocator.errors import InputError
from allocator.model.arrays import Block, LinearModel

_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE_OR_UNBOUNDED,
}
#: A MIP with at least this many integer columns is solved LP-first (strategy "auto").
LP_FIRST_MIN_INTEGERS = 5_000
#: The relaxation: interior point then crossover (a vertex, so few fractional selections), no presolve
#: (HiGHS's presolve spends longer on the long rows than the solve itself; docs/performance.md).
#: A HiGHS option's value, as highspy's setOptionValue takes it.
HighsOption = bool | int | float | str
LP_RELAXATION_OPTIONS: dict[str, HighsOption] = {"solver": "ipm", "presolve": "off", "run_crossover": "on"}
INTEGRALITY_TOLERANCE = 1e-6
#: The restricted MIP frees the fractional selections and, per row of the model, this many integral
#: ones nearest the margin: room to trade projects, still small enough to solve close to optimal.
NEIGHBOURHOOD_PER_ROW = 5
#: ... but at most this many integral ones in all: once rows grow with n (a capacity per county: 19,660 rows at
#: 20,000 candidates), five per row would free every selection and the "small" MIP would be the whole one.
NEIGHBOURHOOD_MAX = 2_500
RESTRICTED_GAP = 1e-7
#: A relative gap below this is rounding in the objective's arithmetic, reported as 0.
GAP_NOISE = 1e-12
_LIMITS = {
    highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt,
    highspy.HighsModelStatus.kMemoryLimit, highspy.HighsModelStatus.kObjectiveBound,
    highspy.HighsModelStatus.kObjectiveTarget,
}
#: Said of a solve that the deadline stopped (HiGHS's own word is "Interrupted by user").
STOPPED = "Time limit reached (wall clock)"


def _new_highs(log: bool) -> highspy.Highs:
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


def _version(highs: highspy.Highs) -> str:
    return f"HiGHS {highs.versionMajor()}.{highs.versionMinor()}.{highs.versionPatch()} (highspy)"


def solve_highs(model: LinearModel, options: SolverOptions, *, log: bool = False, deadline: Deadline | None = None,
                start: np.ndarray | None = None) -> Solution:
    """Solve with HiGHS by `deadline` (default: ``options.time_limit`` from now); a large MIP LP-first (see
    :func:`solve_lp_first`), anything else directly, from `start` when given: a feasible point (the plan of a tighter
    model, for a marginal value's re-solve) that HiGHS takes as its first incumbent. LP-first makes its own start."""
    deadline = deadline if deadline is not None else Deadline(options.time_limit)
    lp_first = options.strategy == "lp_first" or (options.strategy == "auto" and int(model.integer.sum()) >= LP_FIRST_MIN_INTEGERS)
    if model.is_mip and lp_first:
        return solve_lp_first(model, options, deadline, log=log)
    return _run(model, options, deadline, log=log, start=start)


def solve_lp_first(model: LinearModel, options: SolverOptions, deadline: Deadline, *, log: bool = False) -> Solution:
    """Solve the LP relaxation (a proven bound), fix the selections it left integral, and solve the small
    MIP over the fractional ones; the gap is proven against the LP bound.

    With a few hundred rows and hundreds of thousands of selections, the relaxation's vertex has at most
    as many fractional selections as rows, so the restricted MIP is tiny and its gap usually far below
    the requested one. When it is not, a second restricted MIP also frees the integral selections
    nearest the margin (smallest |reduced cost|, NEIGHBOURHOOD_PER_ROW per row), so that projects can
    be traded, and stops once within the requested gap. HiGHS's own MIP search on the full model
    spends its time in presolve and root heuristics over rows as long as the candidate list
    (docs/performance.md). If neither restricted MIP reaches the requested gap, the full MIP runs with
    the time left, started from the incumbent when there is one; its dual bound then proves the gap
    whether or not it improves the incumbent.
    """
    started = time.perf_counter()
    relaxation = _run(model.relaxed(), options, deadline, log=log, extra=LP_RELAXATION_OPTIONS)
    if relaxation.status is SolveStatus.INFEASIBLE:
        return relaxation  # no relaxed solution: the MIP has none either
    if relaxation.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED):
        # An unbounded relaxation: the MIP is unbounded too, or it has no integral allocation at all.
        relaxation.status, relaxation.message = SolveStatus.INFEASIBLE_OR_UNBOUNDED, f"LP relaxation: {relaxation.message}"
        return relaxation
    if relaxation.status is not SolveStatus.OPTIMAL:
        return _run(model, options, deadline, log=log)
    values, lp_bound = relaxation.values, relaxation.objective
    assert values is not None and lp_bound is not None  # an optimal solve has both
    fractional = model.integer & (np.abs(values - np.round(values)) > INTEGRALITY_TOLERANCE)
    best: Solution | None = None
    details: dict[str, object] = {"strategy": "lp_first", "lp_bound": lp_bound, "lp_seconds": round(relaxation.seconds, 3),
                                  "fractional_selections": int(fractional.sum())}
    for stage, per_row in enumerate((0, NEIGHBOURHOOD_PER_ROW)):
        free = _neighbourhood(model, fractional, relaxation.col_duals, per_row)
        # The tiny first stage is solved close to optimal; the wider one only to the requested gap.
        stage_options = replace(options, mip_rel_gap=options.mip_rel_gap if stage else min(options.mip_rel_gap, RESTRICTED_GAP))
        # The wider stage stops as soon as an allocation is within half the requested gap of the LP bound.
        extra = {"objective_target": lp_bound + 0.5 * options.mip_rel_gap * abs(lp_bound)} if stage else None
        restricted = _solve_restricted(model, ~model.integer | free, np.round(values), stage_options, deadline, log=log,
                                       extra=extra, start=None if best is None else best.values)
        details[f"stage{stage + 1}"] = {"free_selections": int((model.integer & free).sum()), "seconds": round(restricted.seconds, 3),
                                        "status": restricted.status.value}
        if restricted.status.has_solution and (best is None or _objective(restricted) < _objective(best)):
            best = restricted
            _prove_gap(best, lp_bound, options)
        if (best is not None and best.status is SolveStatus.OPTIMAL) or deadline.expired:
            break
    if (best is None or best.status is not SolveStatus.OPTIMAL) and not deadline.expired:
        full = _run(model, options, deadline, log=log, start=None if best is None else best.values)
        details["full_mip"] = {"seconds": round(full.seconds, 3), "status": full.status.value}
        if not full.status.has_solution and best is None:
            return _finish(full, details, started)  # e.g. proven infeasible: the diagnosis takes over
        if full.status.has_solution:
            if best is None or _objective(full) < _objective(best):
                best = full
            _prove_gap(best, _tighter(lp_bound, full.dual_bound), options)  # a tie keeps the full MIP's proof
    if best is None:
        best = Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=relaxation.solver_version,
                        message=f"{STOPPED}: no restricted MIP found an allocation")
    return _finish(best, details, started)


def _finish(solution: Solution, details: dict[str, object], started: float) -> Solution:
    """`solution` as the answer of the whole LP-first solve: its time and the stages' details."""
    solution.seconds = time.perf_counter() - started
    solution.details.update(details)
    return solution


def _objective(solution: Solution) -> float:
    """The objective of a solve that found an allocation."""
    assert solution.objective is not None, solution.status
    return solution.objective


def _tighter(lp_bound: float, dual_bound: float | None) -> float:
    """The higher of two proven lower bounds (a MIP's dual bound may be missing or infinite)."""
    return max(lp_bound, dual_bound) if dual_bound is not None and np.isfinite(dual_bound) else lp_bound


def _solve_restricted(model: LinearModel, keep: np.ndarray, fixed_values: np.ndarray, options: SolverOptions, deadline: Deadline,
                      *, log: bool, extra: Mapping[str, HighsOption] | None, start: np.ndarray | None) -> Solution:
    """Solve `model` with every column outside `keep` fixed at `fixed_values`, handing HiGHS only the kept
    columns (the fixed ones move into the row bounds and the objective's constant); values come back full."""
    fixed = ~keep
    A = model.A.tocsc()
    activity = A[:, fixed] @ fixed_values[fixed]
    smaller = replace(model, c=model.c[keep], A=A[:, keep].tocsr(), row_lower=model.row_lower - activity,
                      row_upper=model.row_upper - activity, col_lower=model.col_lower[keep], col_upper=model.col_upper[keep],
                      integer=model.integer[keep], offset=model.offset + float(model.c[fixed] @ fixed_values[fixed]),
                      col_blocks=[], row_blocks=[])
    solution = _run(smaller, options, deadline, log=log, extra=extra, start=None if start is None else start[keep])
    if solution.values is not None:
        full = fixed_values.copy()
        full[keep] = solution.values
        solution.values = full
    return solution


def _neighbourhood(model: LinearModel, fractional: np.ndarray, reduced_costs: np.ndarray | None, per_row: int) -> np.ndarray:
    """The selections a restricted MIP may change: the fractional ones, and `per_row` x rows (at most
    NEIGHBOURHOOD_MAX) integral ones nearest the margin (smallest |reduced cost|)."""
    free = fractional.copy()
    if reduced_costs is None or per_row == 0:
        return free
    candidates = np.flatnonzero(model.integer & ~fractional & (model.col_upper > model.col_lower))
    size = min(len(candidates), per_row * model.num_rows, NEIGHBOURHOOD_MAX)
    nearest = candidates[np.argsort(np.abs(reduced_costs[candidates]), kind="stable")[:size]]
    free[nearest] = True
    return free


def _prove_gap(solution: Solution, bound: float, options: SolverOptions) -> None:
    """Set the gap of a minimising `solution` against a proven lower `bound`, and its status by the requested gap."""
    objective = _objective(solution)
    gap = max(objective - bound, 0.0) / max(abs(objective), 1e-9)
    gap = 0.0 if gap < GAP_NOISE else gap
    solution.dual_bound, solution.mip_gap = bound, gap
    solution.status = SolveStatus.OPTIMAL if gap <= options.mip_rel_gap else SolveStatus.FEASIBLE


def _stop_at(highs: highspy.Highs, deadline: Deadline) -> None:
    """Interrupt HiGHS's simplex, interior point and MIP search once `deadline` has passed: on large models
    its own time_limit can be overrun by minutes (docs/performance.md)."""
    def interrupt(event: highspy.HighsCallbackEvent) -> None:
        if deadline.expired:
            event.interrupt()

    for callback in (highs.cbSimplexInterrupt, highs.cbIpmInterrupt, highs.cbMipInterrupt):
        callback.subscribe(interrupt)


def _run(model: LinearModel, options: SolverOptions, deadline: Deadline, *, log: bool, extra: Mapping[str, HighsOption] | None = None,
         start: np.ndarray | None = None) -> Solution:
    """One HiGHS run on `model` as it is, stopped at `deadline`, with a truthful status."""
    highs = _new_highs(log)
    if deadline.expired:
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=_version(highs), message=NOT_STARTED)
    highs.setOptionValue("time_limit", deadline.left())
    _stop_at(highs, deadline)
    highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    highs.setOptionValue("threads", int(options.threads))
    highs.setOptionValue("random_seed", int(options.seed))
    for key, value in (extra or {}).items():
        highs.setOptionValue(key, value)
    highs.passModel(_to_highs_lp(model))
    if start is not None:
        incumbent = highspy.HighsSolution()
        incumbent.col_value = list(start)
        highs.setSolution(incumbent)
    # HiGHS keeps one thread pool per process: a pool another Highs instance started at another size
    # would make it refuse `threads` with an error (status "Not Set"), so it starts afresh.
    highspy.Highs.resetGlobalScheduler(True)

    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    model_status = highs.getModelStatus()
    info = highs.getInfo()
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    status = _STATUS.get(model_status)
    if status is SolveStatus.OPTIMAL and not has_primal:
        status = SolveStatus.ERROR
    elif status is None:
        status = (SolveStatus.FEASIBLE if has_primal else SolveStatus.NO_SOLUTION) if model_status in _LIMITS else SolveStatus.ERROR
    message = STOPPED if model_status == highspy.HighsModelStatus.kInterrupt else highs.modelStatusToString(model_status)
    solution = Solution(status=status, solver="highs", solver_version=_version(highs), seconds=seconds, message=message)
    if status.has_solution:
        result = highs.getSolution()
        solution.values = np.asarray(result.col_value, dtype=float)
        solution.objective = float(info.objective_function_value)
        if model.is_mip:
            solution.dual_bound = float(info.mip_dual_bound)
            solution.mip_gap = float(info.mip_gap)
            solution.details["nodes"] = int(info.mip_node_count)
        else:
            solution.mip_gap = 0.0 if status is SolveStatus.OPTIMAL else None
            if result.dual_valid:
                solution.row_duals = np.asarray(result.row_dual, dtype=float)
                solution.col_duals = np.asarray(result.col_dual, dtype=float)
    return solution


def _to_highs_lp(model: LinearModel) -> highspy.HighsLp:
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


#: The model files :func:`write_model` writes, by suffix.
MODEL_SUFFIXES = (".lp", ".mps")
#: What a name in a model file may hold: LP files are the strictest (CPLEX's LP format and HiGHS's reader).
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_.()@]")
_SEPARATORS = str.maketrans({":": ".", "[": "(", "]": ")"})
#: Names are cut to this many characters: an LP file's end at 255, and a repeat's suffix needs the rest.
MAX_NAME = 240


def write_model(model: LinearModel, path: Path) -> None:
    """Write `model` in the scenario's own sense (maximise or minimise) as an LP or MPS file, by suffix, with
    rows and columns named after their blocks (:func:`file_names`)."""
    path = Path(path)
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(f"a model file must end in {' or '.join(MODEL_SUFFIXES)}, got '{path.name}'")
    lp = _to_highs_lp(model)
    if model.objective_sign < 0:
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_, lp.offset_ = -model.c, -model.offset
    lp.col_names_ = file_names(model.col_blocks, model.num_cols)
    lp.row_names_ = file_names(model.row_blocks, model.num_rows)
    highs = _new_highs(log=False)
    highs.passModel(lp)
    if highs.writeModel(str(path)) == highspy.HighsStatus.kError:
        raise InputError("HiGHS could not write the model there", source=str(path))


def file_names(blocks: list[Block], count: int) -> list[str]:
    """A name for each of `count` rows or columns: ``kind.key(group)`` from its block (the position within the
    block when it has no groups; no brackets for a block of one member without groups), legal in LP and MPS
    files: any character but ASCII letters, digits and ``_.()@`` becomes ``_``, and a name met again gets ``_2``,
    ``_3``, ... Empty (HiGHS's own c0, r0, ...) when the blocks do not cover all `count`."""
    if sum(block.stop - block.start for block in blocks) != count:
        return []
    names = []
    for block in blocks:
        size = block.stop - block.start
        if block.labels is not None:
            members = [f"{block.name}({group})" for group in block.groups]
        else:
            members = [block.name] if size == 1 else [f"{block.name}({offset})" for offset in range(size)]
        names += [_NOT_IN_NAMES.sub("_", name.translate(_SEPARATORS))[:MAX_NAME] for name in members]
    return _unique(names)


def _unique(names: list[str]) -> list[str]:
    """`names` with each repeat suffixed ``_2``, ``_3``, ... (never a name already taken)."""
    taken: set[str] = set()
    last: dict[str, int] = {}
    unique = []
    for name in names:
        candidate = name
        while candidate in taken:
            last[name] = last.get(name, 1) + 1
            candidate = f"{name}_{last[name]}"
        taken.add(candidate)
        unique.append(candidate)
    return unique
