"""HiGHS through highspy: the arrays are handed over whole, with no Python object per variable."""

from __future__ import annotations

import os
import sys
import time

import highspy
import numpy as np

from allocator.backends import Solution, SolveStatus
from allocator.model.arrays import LinearModel
from allocator.scenario import SolverOptions

_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE,
}
_LIMITS = {
    highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt,
    highspy.HighsModelStatus.kMemoryLimit, highspy.HighsModelStatus.kObjectiveBound,
    highspy.HighsModelStatus.kObjectiveTarget,
}


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


def solve_highs(model: LinearModel, options: SolverOptions, *, log: bool = False) -> Solution:
    highs = _new_highs(log)
    highs.setOptionValue("time_limit", float(options.time_limit))
    highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    highs.setOptionValue("threads", int(options.threads))
    highs.setOptionValue("random_seed", int(options.seed))
    highs.passModel(_to_highs_lp(model))

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
    solution = Solution(status=status, solver="highs", solver_version=_version(highs), seconds=seconds,
                        message=highs.modelStatusToString(model_status))
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
