"""Every other solver PuLP drives (CBC, GLPK, commercial ones).

PuLP creates a Python object per variable and row; that is fine for the sizes these solvers are used
at here, and the reason HiGHS goes through :mod:`allocator.backends.highs` instead.
"""

from __future__ import annotations

import time

import numpy as np
import pulp

from allocator.backends import NOT_STARTED, Deadline, Solution, SolveStatus
from allocator.backends.options import SolverOptions
from allocator.errors import InputError
from allocator.model.arrays import LinearModel

#: Short names a scenario may use for PuLP's solver classes.
ALIASES = {"cbc": "PULP_CBC_CMD", "glpk": "GLPK_CMD", "highs-pulp": "HiGHS", "gurobi": "GUROBI", "cplex": "CPLEX_CMD",
           "xpress": "XPRESS", "scip": "SCIP_CMD", "copt": "COPT", "mosek": "MOSEK"}


def available_solvers() -> list[str]:
    return list(pulp.listSolvers(onlyAvailable=True))


def solver_class_name(name: str) -> str:
    """PuLP's class name for `name`; an unknown or absent solver is an input error."""
    class_name = ALIASES.get(name.lower(), name)
    if class_name not in pulp.listSolvers():
        raise InputError(f"unknown solver '{name}'; use highs or one of {', '.join(sorted(ALIASES))} "
                         f"or a PuLP solver name ({', '.join(pulp.listSolvers())})", where="solver.name")
    if class_name not in available_solvers():
        raise InputError(f"solver '{name}' ({class_name}) is not installed here; available: highs, {', '.join(available_solvers())}",
                         where="solver.name")
    return class_name


def to_pulp(model: LinearModel) -> tuple[pulp.LpProblem, list[pulp.LpVariable], list[list[pulp.LpConstraint]]]:
    """The model as a PuLP problem with ASCII names ``x<j>``/``r<i>`` (``col_name``/``row_name`` say what they are).

    A row bounded on both sides becomes two PuLP constraints; its dual is their sum.
    """
    problem = pulp.LpProblem("allocation", pulp.LpMinimize)
    variables = [
        pulp.LpVariable(f"x{j}", lowBound=_bound(model.col_lower[j]), upBound=_bound(model.col_upper[j]),
                        cat=pulp.LpInteger if model.integer[j] else pulp.LpContinuous)
        for j in range(model.num_cols)
    ]
    nonzero = np.flatnonzero(model.c)
    problem += pulp.LpAffineExpression([(variables[j], float(model.c[j])) for j in nonzero], constant=model.offset)
    constraints: list[list[pulp.LpConstraint]] = []
    A = model.A.tocsr()
    for i in range(model.num_rows):
        span = slice(A.indptr[i], A.indptr[i + 1])
        expr = pulp.LpAffineExpression([(variables[j], float(v)) for j, v in zip(A.indices[span], A.data[span])])
        lower, upper = model.row_lower[i], model.row_upper[i]
        if lower == upper:
            parts = [pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"r{i}", float(lower))]
        else:
            parts = []
            if np.isfinite(lower):
                parts.append(pulp.LpConstraint(expr, pulp.LpConstraintGE, f"r{i}", float(lower)))
            if np.isfinite(upper):
                parts.append(pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{i}_upper" if parts else f"r{i}", float(upper)))
        for part in parts:
            problem += part
        constraints.append(parts)
    return problem, variables, constraints


def _bound(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def solve_pulp(model: LinearModel, options: SolverOptions, *, log: bool = False, deadline: Deadline | None = None,
               start: np.ndarray | None = None) -> Solution:
    """Solve through PuLP by `deadline` (default: ``options.time_limit`` from now), passed as the solver's time limit.
    `start` is not passed on: PuLP's warm starts differ by solver, so every PuLP solve starts afresh.

    CBC reports neither a gap nor a dual bound for a MIP: both stay None (not measured)."""
    class_name = solver_class_name(options.name)
    deadline = deadline if deadline is not None else Deadline(options.time_limit)
    if deadline.expired:
        return Solution(status=SolveStatus.NO_SOLUTION, solver=options.name, solver_version=class_name, message=NOT_STARTED)
    problem, variables, constraints = to_pulp(model)
    solver = pulp.getSolver(class_name, msg=log, timeLimit=deadline.left(), gapRel=options.mip_rel_gap,
                            **({"threads": options.threads} if class_name in {"PULP_CBC_CMD", "HiGHS"} else {}))
    started = time.perf_counter()
    try:
        problem.solve(solver)
    except pulp.PulpSolverError as exc:
        return Solution(status=SolveStatus.ERROR, solver=options.name, solver_version=class_name, message=str(exc))
    seconds = time.perf_counter() - started
    status = _status(problem)
    solution = Solution(status=status, solver=options.name, solver_version=f"{class_name} via PuLP {pulp.__version__}",
                        seconds=seconds, message=f"{pulp.LpStatus[problem.status]} / {pulp.LpSolution[problem.sol_status]}")
    if status.has_solution:
        solution.values = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables], dtype=float)
        solution.objective = float(pulp.value(problem.objective) or 0.0)
        if not model.is_mip:
            solution.mip_gap = 0.0 if status is SolveStatus.OPTIMAL else None
            duals = [[c.pi for c in parts] for parts in constraints]
            if all(d is not None for parts in duals for d in parts):
                solution.row_duals = np.array([sum(parts) for parts in duals], dtype=float)
    return solution


def _status(problem: pulp.LpProblem) -> SolveStatus:
    """Read both PuLP statuses: "Optimal" after a time limit is only a feasible solution (sol_status)."""
    if problem.sol_status == pulp.LpSolutionOptimal:
        return SolveStatus.OPTIMAL
    if problem.sol_status == pulp.LpSolutionIntegerFeasible:
        return SolveStatus.FEASIBLE
    if problem.status == pulp.LpStatusInfeasible or problem.sol_status == pulp.LpSolutionInfeasible:
        return SolveStatus.INFEASIBLE
    if problem.status == pulp.LpStatusUnbounded or problem.sol_status == pulp.LpSolutionUnbounded:
        return SolveStatus.UNBOUNDED
    if problem.status == pulp.LpStatusNotSolved or problem.sol_status == pulp.LpSolutionNoSolutionFound:
        return SolveStatus.NO_SOLUTION
    return SolveStatus.ERROR

