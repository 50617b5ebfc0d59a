"""HiGHS through highspy: a MIP solved directly or LP-first (and then by blocks when the model falls into them), an LP
directly (one run: :mod:`allocator.backends.highs_run`). Also writes a model as an LP or MPS file for another solver,
with HiGHS's own writer."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np

from allocator.backends import Deadline, Solution, SolveStatus
from allocator.backends.blocks import Blocks, find_blocks
from allocator.backends.decomposition import Priced, solve_by_blocks
from allocator.backends.knapsacks import Knapsacks, find_knapsacks
from allocator.backends.highs_run import (FEW_ROWS_SHARE, LP_RELAXATION_OPTIONS, STOPPED, HighsOption, minimised, new_highs, relative_gap,
                                         run_highs, solve_restricted, to_highs_lp)
from allocator.backends.options import SolverOptions
from allocator.backends.repair import repair
from allocator.backends.start_years import StartYears, find_start_years, solve_by_start_years
from allocator.errors import InputError
from allocator.model.arrays import Block, LinearModel

#: A MIP with at least this many integer columns is solved LP-first (strategy "auto").
LP_FIRST_MIN_INTEGERS = 5_000
#: The relaxation of a model with few rows is solved with LP_RELAXATION_OPTIONS (highs_run); of a model with many rows
#: that falls into blocks, or a large LP, the same with presolve.
IPM_WITH_PRESOLVE: dict[str, HighsOption] = {**LP_RELAXATION_OPTIONS, "presolve": "on"}
#: An LP (not a relaxation) with at least this many rows, and many per column, is solved by interior point with presolve
#: and crossover: measured on the even split's LP of county pooling at 20,000 (40,721 rows), 11.7 s against the dual
#: simplex's 27.7 s.
LARGE_LP_ROWS = 10_000
#: LP-first decomposes the model by blocks (allocator.backends.decomposition) when its relaxation leaves at least this
#: many selections fractional and the model falls into blocks; fewer, and the restricted MIPs close the gap at once.
DECOMPOSE_FROM_FRACTIONAL = 50
INTEGRALITY_TOLERANCE = 1e-6
#: A model whose blocks are at least this share knapsacks with money shares (allocator.backends.knapsacks) is first
#: decomposed from a cold start, without the LP relaxation (4.6 s of a 23 s solve at 20,000 county-pooling candidates),
#: for at most COLD_START_TIME of the time left; LP-first follows if that does not prove the requested gap.
COLD_START_SHARE = 0.9
COLD_START_TIME = 0.5
#: ... while its blocks hold at most this many projects on average: the exact rounds' branch and bound grows with them
#: (at 20,000 county-pooling candidates, 7.6 a county: solve 9.5 s against 37 s LP-first; at 200,000, 68 a county: no
#: proof of 1e-4 within 150 s, where LP-first proves it in 55 s).
COLD_START_PROJECTS = 20
#: The blocks HiGHS prices go to worker processes only from this many (each batch of BATCH_COLUMNS costs HiGHS about
#: 0.1 s; starting the processes about 1.6 s).
WORKERS_FROM_BLOCKS = 200
#: The restricted MIP frees the fractional selections and, per row of the model, this many integral
#: ones nearest the margin: room to trade projects, still small enough to solve close to optimal.
NEIGHBOURHOOD_PER_ROW = 5
#: ... but at most this many integral ones in all: once rows grow with n (a capacity per county: 19,660 rows at
#: 20,000 candidates), five per row would free every selection and the "small" MIP would be the whole one.
NEIGHBOURHOOD_MAX = 2_500
RESTRICTED_GAP = 1e-7
#: A relative gap below this is rounding in the objective's arithmetic, reported as 0.
GAP_NOISE = 1e-12
def solve_highs(model: LinearModel, options: SolverOptions, *, log: bool = False, deadline: Deadline | None = None,
                start: np.ndarray | None = None) -> Solution:
    """Solve with HiGHS by `deadline` (default: ``options.time_limit`` from now); a large MIP LP-first (see
    :func:`solve_lp_first`), anything else directly, from `start` when given: a feasible point (the plan of a tighter
    model, for a marginal value's re-solve) that HiGHS takes as its first incumbent. LP-first makes its own start."""
    deadline = deadline if deadline is not None else Deadline(options.time_limit)
    lp_first = options.strategy == "lp_first" or (options.strategy == "auto" and int(model.integer.sum()) >= LP_FIRST_MIN_INTEGERS)
    if model.is_mip and lp_first:
        return solve_lp_first(model, options, deadline, log=log)
    years = find_start_years(model) if not model.is_mip and start is None else None
    if years is not None:  # a phased LP (model.selection = "continuous")
        return solve_relaxation(model, None, years, options, deadline, log=log)
    large_lp = not model.is_mip and model.num_rows >= LARGE_LP_ROWS and model.num_rows > FEW_ROWS_SHARE * model.num_cols
    return run_highs(model, options, deadline, log=log, start=start, extra=IPM_WITH_PRESOLVE if large_lp else None)


def solve_lp_first(model: LinearModel, options: SolverOptions, deadline: Deadline, *, log: bool = False) -> Solution:
    """Solve the LP relaxation (a proven bound), fix the selections it left integral, and solve the small
    MIP over the fractional ones; the gap is proven against the LP bound.

    With a few hundred rows and hundreds of thousands of selections, the relaxation's vertex has at most
    as many fractional selections as rows, so the restricted MIP is tiny and its gap usually far below
    the requested one. When it is not, a second restricted MIP also frees the integral selections
    nearest the margin (smallest |reduced cost|, NEIGHBOURHOOD_PER_ROW per row), so that projects can
    be traded, and stops once within the requested gap. HiGHS's own MIP search on the full model
    spends its time in presolve and root heuristics over rows as long as the candidate list
    (docs/performance.md). If neither finds an allocation (rounding left a hard rule no room), a repair frees the
    selections of the rows they cannot meet (:func:`repair`). If none of these reaches the requested gap, the full MIP runs with
    the time left, started from the incumbent when there is one; its dual bound then proves the gap
    whether or not it improves the incumbent.

    When the relaxation leaves many selections fractional because rules grow with n (a capacity per county fills
    with a fraction of a project in every county), and the model falls into many blocks tied by a few linking rows
    (:func:`find_blocks`), the restricted MIPs give way to the decomposition by blocks (:func:`solve_by_blocks`),
    whose Lagrangian bound is far tighter than the LP's; when those blocks are small knapsacks with money shares
    (:func:`find_knapsacks`), the decomposition runs first, from a cold start without the relaxation (:func:`_from_cold`).
    A phased model's relaxation, whose one-start rows grow with n, is solved by pricing its start years
    (:func:`solve_relaxation`).
    """
    started = time.perf_counter()
    blocks = find_blocks(model)
    knapsacks = None if blocks is None else find_knapsacks(model, blocks)
    cold_start: dict[str, object] = {}
    if blocks is not None and knapsacks is not None and _starts_cold(blocks, knapsacks):
        cold, cold_start = _from_cold(model, blocks, knapsacks, options, deadline, log=log)
        if cold is not None:
            return _finish(cold, {"strategy": "blocks", "decomposition": cold_start["decomposition"]}, started)
    relaxation = solve_relaxation(model, blocks, find_start_years(model), options, deadline, log=log)
    if relaxation.status is SolveStatus.INFEASIBLE:
        return relaxation  # no relaxed solution: the MIP has none either
    if relaxation.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE_OR_UNBOUNDED):
        # An unbounded relaxation: the MIP is unbounded too, or it has no integral allocation at all.
        relaxation.status, relaxation.message = SolveStatus.INFEASIBLE_OR_UNBOUNDED, f"LP relaxation: {relaxation.message}"
        return relaxation
    if relaxation.status is not SolveStatus.OPTIMAL:
        return run_highs(model, options, deadline, log=log)
    values, bound = relaxation.values, relaxation.objective
    assert values is not None and bound is not None  # an optimal solve has both
    fractional = model.integer & (np.abs(values - np.round(values)) > INTEGRALITY_TOLERANCE)
    best: Solution | None = None
    details: dict[str, object] = {"strategy": "lp_first", **({"cold_start": cold_start} if cold_start else {}), "lp_bound": bound, "lp_seconds": round(relaxation.seconds, 3),
                                  "fractional_selections": int(fractional.sum()), **relaxation.details}
    decompose = blocks is not None and fractional.sum() >= DECOMPOSE_FROM_FRACTIONAL
    for stage, per_row in enumerate((0, NEIGHBOURHOOD_PER_ROW)):
        if stage == 1 and decompose:
            assert blocks is not None
            best, bound = _decomposed(model, blocks, knapsacks, relaxation, options, deadline, best, bound, details, log=log)
            break
        free = _neighbourhood(model, fractional, relaxation.col_duals, per_row)
        # The tiny first stage is solved close to optimal; the wider one only to the requested gap.
        stage_options = replace(options, mip_rel_gap=options.mip_rel_gap if stage else min(options.mip_rel_gap, RESTRICTED_GAP))
        # The wider stage stops as soon as an allocation is within half the requested gap of the LP bound.
        extra = {"objective_target": bound + 0.5 * options.mip_rel_gap * abs(bound)} if stage else None
        restricted = None
        if stage == 0 and decompose:
            assert blocks is not None
            restricted = _within_fractional_blocks(model, blocks, free, values, stage_options, deadline, log=log)
            details["stage1_blocks"] = {"free_blocks": int(blocks.blocks_of(free).sum()), "seconds": round(restricted.seconds, 3),
                                        "status": restricted.status.value}
        if restricted is None or not restricted.status.has_solution:
            restricted = solve_restricted(model, ~model.integer | free, np.round(values), stage_options, deadline, log=log,
                                          extra=extra, start=None if best is None else best.values)
            details[f"stage{stage + 1}"] = {"free_selections": int((model.integer & free).sum()),
                                            "seconds": round(restricted.seconds, 3), "status": restricted.status.value}
        if restricted.status.has_solution and (best is None or minimised(restricted) < minimised(best)):
            best = restricted
            _prove_gap(best, bound, options)
        if (best is not None and best.status is SolveStatus.OPTIMAL) or deadline.expired:
            break
    if best is None and not decompose and not deadline.expired:  # rounding left a hard rule no room
        repaired, details["repair"] = repair(model, free, np.round(values), relaxation.col_duals, options, deadline,
                                            log=log)
        if repaired is not None:
            best = repaired
            _prove_gap(best, bound, options)
    # After the decomposition, the full MIP could neither beat its bound nor find a better plan in time (measured).
    if (best is None or (best.status is not SolveStatus.OPTIMAL and not decompose)) and not deadline.expired:
        full = run_highs(model, options, deadline, log=log, start=None if best is None else best.values)
        details["full_mip"] = {"seconds": round(full.seconds, 3), "status": full.status.value}
        if not full.status.has_solution and best is None:
            return _finish(full, details, started)  # e.g. proven infeasible: the diagnosis takes over
        if full.status.has_solution:
            if best is None or minimised(full) < minimised(best):
                best = full
            _prove_gap(best, _tighter(bound, full.dual_bound), options)  # a tie keeps the full MIP's proof
    if best is None:
        best = Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=relaxation.solver_version,
                        message=f"{STOPPED}: no restricted MIP found an allocation")
    return _finish(best, details, started)


def solve_relaxation(model: LinearModel, blocks: Blocks | None, years: StartYears | None, options: SolverOptions,
                     deadline: Deadline, *, log: bool) -> Solution:
    """The LP relaxation of `model`: a phased model's (its start `years`) by pricing them
    (:mod:`allocator.backends.start_years`), whose restricted LPs have the base model's few rows; any other, or one the
    pricing gave way on before the deadline (its reason in ``details["start_years"]``), whole with :func:`lp_settings`."""
    priced = None if years is None else solve_by_start_years(model.relaxed(), years, options, deadline, log=log)
    if priced is not None and (priced.status is SolveStatus.OPTIMAL or deadline.expired):
        return priced
    whole = run_highs(model.relaxed(), options, deadline, log=log, extra=lp_settings(model, blocks))
    if priced is not None:  # the relaxation's time and details include the pricing that gave way
        whole.seconds += priced.seconds
        whole.details.update(priced.details)
    return whole


def lp_settings(model: LinearModel, blocks: Blocks | None) -> dict[str, HighsOption]:
    """How to solve the LP relaxation, by the model's shape (measured: docs/performance.md, "LP settings by shape"):
    interior point then crossover (a vertex, so few fractional selections) without presolve while the rows are few,
    since HiGHS's presolve then spends longer on the long rows than the solve itself; with presolve for a model of many
    small blocks (a capacity per county); HiGHS's own choice (dual simplex after presolve) for other models whose rows
    grow with the candidates (five-year phasing)."""
    if model.num_rows <= FEW_ROWS_SHARE * model.num_cols:
        return dict(LP_RELAXATION_OPTIONS)
    if blocks is not None:
        return dict(IPM_WITH_PRESOLVE)
    return {}


def _starts_cold(blocks: Blocks, knapsacks: Knapsacks) -> bool:
    """Are the blocks knapsacks (at least COLD_START_SHARE of them) small enough (COLD_START_PROJECTS) to start cold?"""
    return (len(knapsacks.blocks) >= COLD_START_SHARE * blocks.count
            and len(knapsacks.item_column) <= COLD_START_PROJECTS * len(knapsacks.blocks))


def _from_cold(model: LinearModel, blocks: Blocks, knapsacks: Knapsacks, options: SolverOptions, deadline: Deadline, *,
               log: bool) -> tuple[Solution | None, dict[str, object]]:
    """The decomposition from a cold start, for at most COLD_START_TIME of the time left: its plan when it proves the
    gap or converges short of it (then only branching on the blocks would close the rest, which LP-first's
    decomposition cannot do either, so LP-first would run in vain), else None; and its details either way."""
    cold = _by_blocks(model, blocks, None, options, deadline.portion(COLD_START_TIME * deadline.left()), log=log,
                      incumbent=None, knapsacks=knapsacks)
    decomposed = cold.details.pop("decomposition", {})
    assert isinstance(decomposed, dict)
    details: dict[str, object] = {"decomposition": decomposed, "status": cold.status.value}
    if not cold.status.has_solution or cold.dual_bound is None:
        return None, details
    _prove_gap(cold, cold.dual_bound, options)
    return (cold if cold.status is SolveStatus.OPTIMAL or decomposed.get("converged") else None), details


def _decomposed(model: LinearModel, blocks: Blocks, knapsacks: Knapsacks | None, relaxation: Solution, options: SolverOptions,
                deadline: Deadline, best: Solution | None, bound: float, details: dict[str, object], *,
                log: bool) -> tuple[Solution | None, float]:
    """The decomposition by blocks after a first restricted MIP that did not reach the gap: the better of its plan and
    `best`, with the gap proven against the tighter of the Lagrangian bound and `bound`; and that bound."""
    by_blocks = _by_blocks(model, blocks, relaxation, options, deadline, log=log, incumbent=None if best is None else best.values,
                           knapsacks=knapsacks)
    details["decomposition"] = by_blocks.details.pop("decomposition", {})
    if by_blocks.status.has_solution:
        bound = _tighter(bound, by_blocks.dual_bound)
        if best is None or minimised(by_blocks) < minimised(best):
            best = by_blocks
    if best is not None:
        _prove_gap(best, bound, options)
        best.message = by_blocks.message  # how the gap was proven (or why the decomposition stopped)
    return best, bound


def _by_blocks(model: LinearModel, blocks: Blocks, relaxation: Solution | None, options: SolverOptions, deadline: Deadline, *,
               log: bool, incumbent: np.ndarray | None, knapsacks: Knapsacks | None) -> Solution:
    """:func:`solve_by_blocks`, its `knapsacks` priced in this process, and the blocks HiGHS prices in
    `options.workers` local processes (default one per CPU; 1: in this process) or on the Dask scheduler
    `options.scheduler`; in this process too when they are fewer than WORKERS_FROM_BLOCKS (starting the processes
    costs more than they save)."""
    by_highs = blocks.count - (0 if knapsacks is None else len(knapsacks.blocks))
    workers = options.workers or os.cpu_count() or 1
    if (workers <= 1 or by_highs < WORKERS_FROM_BLOCKS) and options.scheduler is None:
        return solve_by_blocks(model, blocks, relaxation, options, deadline, log=log, incumbent=incumbent, knapsacks=knapsacks)
    from allocator.cluster import engine

    with engine(workers=workers, scheduler=options.scheduler) as pool:
        def mapper(function: Callable[..., Priced], *arguments: Iterable[object]) -> list[Priced]:
            futures = [pool.submit(function, *each) for each in zip(*arguments, strict=True)]
            return [future.result() for future in futures]

        return solve_by_blocks(model, blocks, relaxation, options, deadline, log=log, mapper=mapper, incumbent=incumbent,
                               knapsacks=knapsacks)


def _within_fractional_blocks(model: LinearModel, blocks: Blocks, free: np.ndarray, values: np.ndarray, options: SolverOptions,
                              deadline: Deadline, *, log: bool) -> Solution:
    """The first restricted MIP of a model that falls into blocks, over the blocks of its `free` (fractional) selections
    alone: every other block keeps the relaxation's `values`, money included, which meet its own rows. A restriction of
    the usual first stage (whose money columns all stay free), so its plan is a plan of the model; measured on county
    pooling at 20,000 (587 blocks of 2,603 free): the same allocation in 0.4 s instead of 6.5 s. When it finds none, the
    usual first stage runs."""
    keep = (~model.integer & blocks.columns_of(blocks.blocks_of(free))) | free
    return solve_restricted(model, keep, np.where(model.integer, np.round(values), values), options, deadline, log=log, extra=None,
                            start=None)


def _finish(solution: Solution, details: dict[str, object], started: float) -> Solution:
    """`solution` as the answer of the whole LP-first solve: its time and the stages' details."""
    solution.seconds = time.perf_counter() - started
    solution.details.update(details)
    return solution


def _tighter(lp_bound: float, dual_bound: float | None) -> float:
    """The higher of two proven lower bounds (a MIP's dual bound may be missing or infinite)."""
    return max(lp_bound, dual_bound) if dual_bound is not None and np.isfinite(dual_bound) else lp_bound


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
    gap = relative_gap(minimised(solution), bound)
    gap = 0.0 if gap < GAP_NOISE else gap
    solution.dual_bound, solution.mip_gap = bound, gap
    solution.status = SolveStatus.OPTIMAL if gap <= options.mip_rel_gap else SolveStatus.FEASIBLE


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
    lp = to_highs_lp(model)
    if model.objective_sign < 0:
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_cost_, lp.offset_ = -model.c, -model.offset
    lp.col_names_ = file_names(model.col_blocks, model.num_cols)
    lp.row_names_ = file_names(model.row_blocks, model.num_rows)
    highs = new_highs(log=False)
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
