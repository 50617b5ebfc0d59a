"""The LP relaxation of a phased model by pricing its start years.

With ``[phasing]`` every project has one column per start year and a row that it starts at most once
(``sum_y x_{p,y} = z_p``, z_p <= 1): the rows grow with the candidates (201,915 rows x 1,001,244 columns at
200,000 candidates), and HiGHS's simplex on the whole relaxation overran a 300 s limit there
(docs/performance.md). Yet at the optimum nearly every project uses one start year at most, and a project
with a single start year needs no row: its column's bounds say the same.

So the relaxation is solved over a working set of start years, as column generation:

1. every project gets one start year, so the restricted LP has only the rules' rows (1,915 at any size),
   the base model's shape;
2. its prices move each project to its best start year, and the LP is solved again;
3. then any start year whose reduced cost is negative under the prices (with the one-start row's dual,
   implied by the single column's reduced cost where the row is not in the LP) joins its project's working
   set, and a project with two or more start years gets its one-start row back. Projects whose working
   start year carries nothing swap instead (for the first :data:`SWAP_ROUNDS` rounds, so that the rounds
   end).

When no start year prices out, the restricted LP's optimum is the whole relaxation's, and its duals,
extended to the one-start rows, are optimal duals of the whole. The first two restricted LPs (one start year per
project, then each project's best) are built whole and solved by interior point and crossover without presolve: the
LP is degenerate, and the optimal prices HiGHS's simplex or presolve returns priced in 291 of the test case's 300
projects where these priced in 24; and the second LP moves nearly every column, so a warm start has nothing to keep
(at 200,000 candidates: 35 s from the last basis against 7 s whole). After them the LP is changed in place in one
HiGHS instance (start years join as columns, a project with two gets its one-start row, a swapped-out year is fixed
at 0) and solved by simplex from the last basis, so a scenario in which most projects trade years (a steep discount
rate) still ends in a few cheap rounds. The pricing gives way (the caller solves the whole relaxation) only when a
restricted LP ends without an optimum: no room for the rules, or the time limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
import scipy.sparse as sp

from allocator.backends import NOT_STARTED, Deadline, Solution, SolveStatus
from allocator.backends.highs_run import LP_RELAXATION_OPTIONS, STOPPED, configure, new_highs, run_configured, to_highs_lp
from allocator.backends.options import SolverOptions
from allocator.model.arrays import ColumnKind, LinearModel, RowKind

#: A start year joins its project's working set when its reduced cost is below minus this share of the largest start
#: column's cost (not of every cost: a soft target's penalty can be far larger), so no project's best start year is missed
#: by more than 1e-9 of the dearest project (HiGHS's own dual feasibility tolerance is 1e-7, on its scaled model).
PRICING_TOLERANCE = 1e-9
#: Rounds in which a project whose working start year carries nothing swaps it for a better one instead of adding
#: one; after them start years are only added, so the rounds end.
SWAP_ROUNDS = 3


@dataclass(frozen=True)
class StartYears:
    """Where a phased model keeps its start years: per project, the start columns, the funded column z_p and the
    one-start row ``sum_y x_{p,y} - z_p = 0``."""

    starts: np.ndarray  # projects x start years: column index
    funded: np.ndarray  # projects: column of z_p, in no other row
    rows: np.ndarray  # projects: the one-start row


def find_start_years(model: LinearModel) -> StartYears | None:
    """The start years of a phased model, or None when `model` has no one-start rows or they are not in the form
    the pricing needs (each row +1 on the same number of start columns, -1 on a funded column that is in no other row
    and costs nothing, right-hand side 0, start columns from 0)."""
    row_blocks = model.rows(RowKind.ONE_START)
    funded_blocks = [block for block in model.col_blocks if block.kind is ColumnKind.FUNDED]
    if len(row_blocks) != 1 or len(funded_blocks) != 1:
        return None
    rows = row_blocks[0].indices
    csr = model.A.tocsr()[rows].sorted_indices()
    count = np.diff(csr.indptr)
    if len(rows) == 0 or np.any(count != count[0]) or count[0] < 3:
        return None
    cols, vals = csr.indices.reshape(len(rows), -1), csr.data.reshape(len(rows), -1)
    starts_mask, funded_mask = vals == 1.0, vals == -1.0
    if np.any(funded_mask.sum(axis=1) != 1) or np.any(starts_mask.sum(axis=1) != count[0] - 1):
        return None
    starts = cols[starts_mask].reshape(len(rows), -1)
    funded = cols[funded_mask]
    in_rows = np.bincount(model.A.tocsr().indices, minlength=model.num_cols)
    if (np.any(in_rows[funded] != 1) or np.any(model.c[funded] != 0) or np.any(model.row_lower[rows] != 0)
            or np.any(model.row_upper[rows] != 0) or np.any(model.col_lower[starts] != 0) or not np.all(np.isin(funded, funded_blocks[0].indices))):
        return None
    return StartYears(starts=starts, funded=funded, rows=rows)


def solve_by_start_years(model: LinearModel, years: StartYears, options: SolverOptions, deadline: Deadline, *, log: bool) -> Solution:
    """The LP `model` (a relaxation: no integer columns) solved over working sets of start years (module docstring);
    values and duals come back for the whole model. Not optimal (stopped by `deadline`, or the pricing gave way, its
    reason in ``details["start_years"]["gave_way"]``) means no bound: the caller solves the whole LP instead."""
    started = time.perf_counter()
    pricing = _Pricing(model, years)
    restricted = _RestrictedLP(pricing, options, deadline, log=log)
    active = pricing.first_working_set()
    rounds: list[dict[str, object]] = []
    solution = restricted.build(active)
    for round_number in range(1, 10_000):
        if solution.status is not SolveStatus.OPTIMAL:
            break
        reduced = pricing.reduced_costs(active, solution)
        better = pricing.allowed & ~active & (reduced < -pricing.tolerance)
        rounds.append({"columns": int(active.sum()), "one_start_rows": int((active.sum(axis=1) > 1).sum()),
                       "seconds": round(solution.seconds, 3), "method": restricted.method, "priced_in": int(better.any(axis=1).sum())})
        if not better.any():
            return pricing.whole(active, solution, started, rounds)
        if round_number == 1:
            widened = pricing.best_years(reduced)
            attempt = restricted.build(widened)
        else:
            widened = pricing.widen(active, solution, reduced, better, swap=round_number <= SWAP_ROUNDS + 1)
            attempt = restricted.update(widened)
        if attempt.status is SolveStatus.INFEASIBLE:  # a swap left the rules no room: keep the old start years as well
            widened = widened | active
            attempt = restricted.update(widened)
        active, solution = widened, attempt
    solution.message = STOPPED if deadline.expired else f"start-year pricing gave way: {solution.message}"
    solution.status = SolveStatus.NO_SOLUTION
    solution.values = solution.row_duals = solution.col_duals = None
    solution.seconds = time.perf_counter() - started
    solution.details["start_years"] = {"rounds": rounds, "gave_way": solution.message}
    return solution


def _forced_projects(rules: sp.csr_matrix, lower: np.ndarray, years: StartYears) -> np.ndarray:
    """The projects a rule row forces into the plan: a row with a positive lower bound over start columns of that
    project alone (bool per project)."""
    project_of = np.full(rules.shape[1], -1)
    project_of[years.starts] = np.arange(len(years.starts))[:, None]
    forced = np.zeros(len(years.starts), dtype=bool)
    nonempty = np.flatnonzero(np.diff(rules.indptr) > 0)
    if len(nonempty) == 0:
        return forced
    owners = project_of[rules.indices]
    starts = rules.indptr[nonempty]  # consecutive non-empty rows: each segment is one row's entries
    lowest, highest = np.minimum.reduceat(owners, starts), np.maximum.reduceat(owners, starts)
    alone = (lowest == highest) & (lowest >= 0) & (lower[nonempty] > 0)
    forced[lowest[alone]] = True
    return forced


class _Pricing:
    """The whole relaxation's arrays as start-year pricing reads them, and the restricted LPs built from them."""

    def __init__(self, model: LinearModel, years: StartYears) -> None:
        self.model, self.years = model, years
        self.n, self.k = years.starts.shape
        rule_rows = np.ones(model.num_rows, dtype=bool)
        rule_rows[years.rows] = False
        self.rule_rows = np.flatnonzero(rule_rows)
        rules = model.A.tocsr()[self.rule_rows]
        self.forced = _forced_projects(rules, model.row_lower[self.rule_rows], years)
        A = rules.tocsc()
        self.A_starts = A[:, years.starts.ravel()].tocsc()
        rest = np.ones(model.num_cols, dtype=bool)
        rest[years.starts.ravel()] = rest[years.funded] = False
        self.rest = np.flatnonzero(rest)
        self.A_rest = A[:, self.rest]
        self.cost = model.c[years.starts]
        self.upper = model.col_upper[years.starts]
        self.funded_lower, self.funded_upper = model.col_lower[years.funded], model.col_upper[years.funded]
        self.allowed = (self.upper > 0) & (self.funded_upper[:, None] > 0)
        self.tolerance = PRICING_TOLERANCE * max(1.0, float(np.abs(self.cost).max(initial=0.0)))

    def first_working_set(self) -> np.ndarray:
        """One allowed start year per project, spread over the years (project i takes its (i mod m)-th of m allowed
        years), so that the first restricted LP does not pile every project into one year's budget; every allowed
        year for a project a rule forces into the plan (must_fund, continuing, kept), which one year might not fit."""
        ordinal = np.cumsum(self.allowed, axis=1) - 1
        allowed_count = self.allowed.sum(axis=1)
        pick = np.arange(self.n) % np.maximum(allowed_count, 1)
        first = self.allowed & (ordinal == pick[:, None])
        first[self.forced] = self.allowed[self.forced]
        return first

    def one_start_duals(self, active: np.ndarray, solution: Solution) -> np.ndarray:
        """The dual of every project's one-start row: the LP's own where the row is in it; else the one that makes the
        single start column's reduced cost zero where the row's bound is what holds the column (at z_p's upper bound
        with a negative reduced cost, or at z_p's lower bound above the column's own with a positive one), else 0."""
        assert solution.row_duals is not None and solution.col_duals is not None
        several = active.sum(axis=1) > 1
        duals = np.zeros(self.n)
        duals[several] = solution.row_duals[len(self.rule_rows):]
        projects, years = np.nonzero(active)
        reduced = solution.col_duals[:len(projects)]
        single = ~several[projects]
        p, d = projects[single], reduced[single]
        held = ((d < 0) & (self.funded_upper[p] <= self.upper[p, years[single]])) | ((d > 0) & (self.funded_lower[p] > 0))
        duals[p[held]] = d[held]
        return duals

    def reduced_costs(self, active: np.ndarray, solution: Solution) -> np.ndarray:
        """Every start column's reduced cost (projects x years) under the restricted LP's prices."""
        assert solution.row_duals is not None
        prices = solution.row_duals[:len(self.rule_rows)]
        return self.cost - (self.A_starts.T @ prices).reshape(self.n, self.k) - self.one_start_duals(active, solution)[:, None]

    def best_years(self, reduced: np.ndarray) -> np.ndarray:
        """Each project's single start year with the least reduced cost (the earliest of ties)."""
        best = np.argmin(np.where(self.allowed, reduced, np.inf), axis=1)
        chosen = np.zeros_like(self.allowed)
        chosen[np.arange(self.n), best] = True
        return chosen & self.allowed

    def widen(self, active: np.ndarray, solution: Solution, reduced: np.ndarray, better: np.ndarray, *, swap: bool) -> np.ndarray:
        """`active` with each priced-in project's best new start year; with `swap`, a project whose working start years
        carry nothing and that has no one-start row drops them."""
        assert solution.values is not None
        widened = active.copy()
        projects = np.flatnonzero(better.any(axis=1))
        best = np.argmin(np.where(better, reduced, np.inf), axis=1)[projects]
        if swap:
            carried = np.zeros(active.shape)
            carried[active] = solution.values[:int(active.sum())]
            idle = projects[(np.abs(carried[projects]).sum(axis=1) <= 1e-9) & (active[projects].sum(axis=1) == 1)]
            widened[idle] = False
        widened[projects, best] = True
        return widened

    def whole(self, active: np.ndarray, solution: Solution, started: float, rounds: list[dict[str, object]]) -> Solution:
        """The restricted optimum as the whole relaxation's solution: values (z_p the sum of its starts), row duals
        (the one-start rows' as :meth:`one_start_duals`) and reduced costs of every column."""
        assert solution.values is not None and solution.row_duals is not None
        model, years = self.model, self.years
        values = np.zeros(model.num_cols)
        projects, starts = np.nonzero(active)
        values[years.starts[projects, starts]] = solution.values[:len(projects)]
        values[self.rest] = solution.values[len(projects):]
        values[years.funded] = values[years.starts].sum(axis=1)
        row_duals = np.zeros(model.num_rows)
        row_duals[self.rule_rows] = solution.row_duals[:len(self.rule_rows)]
        row_duals[years.rows] = self.one_start_duals(active, solution)
        solution.values, solution.row_duals = values, row_duals
        solution.col_duals = model.c - model.A.T @ row_duals
        solution.seconds = time.perf_counter() - started
        solution.details["start_years"] = {"rounds": rounds}
        return solution


class _RestrictedLP:
    """The restricted LP over a working set of start years, in one HiGHS instance. A single start year is a column whose
    bounds also carry z_p's; a project with two or more has its one-start row over all its columns in the instance
    (those out of the working set fixed at 0). Its values and duals are read back in the order :class:`_Pricing`
    reads: the working start columns as ``np.nonzero(active)``, then the other columns; the rules' rows, then the
    one-start rows of the projects with two or more start years, by project."""

    def __init__(self, pricing: _Pricing, options: SolverOptions, deadline: Deadline, *, log: bool) -> None:
        self.pricing, self.options, self.deadline, self.log = pricing, options, deadline, log
        self.highs: highspy.Highs | None = None
        self.method = ""

    def build(self, active: np.ndarray) -> Solution:
        """A new instance over `active`, solved by interior point and crossover without presolve."""
        pricing = self.pricing
        highs = new_highs(self.log)
        configure(highs, self.options, self.deadline, LP_RELAXATION_OPTIONS)
        projects, years = np.nonzero(active)
        self.column = np.full(active.shape, -1, dtype=np.int64)
        self.column[projects, years] = np.arange(len(projects))
        self.rest = len(projects) + np.arange(len(pricing.rest))
        self.row = np.full(pricing.n, -1, dtype=np.int64)
        self.active = np.zeros_like(active)
        A = sp.csr_matrix(sp.hstack([pricing.A_starts[:, projects * pricing.k + years], pricing.A_rest]))
        model = pricing.model
        starts = np.zeros(len(projects))  # bounds set by _change
        highs.passModel(to_highs_lp(replace(
            model, c=np.concatenate([pricing.cost[projects, years], model.c[pricing.rest]]), A=A,
            row_lower=model.row_lower[pricing.rule_rows], row_upper=model.row_upper[pricing.rule_rows],
            col_lower=np.concatenate([starts, model.col_lower[pricing.rest]]), col_upper=np.concatenate([starts, model.col_upper[pricing.rest]]),
            integer=np.zeros(A.shape[1], dtype=bool), col_blocks=[], row_blocks=[])))
        self.highs, self.method = highs, "interior point"
        self._change(active)
        return self._solve()

    def update(self, active: np.ndarray) -> Solution:
        """The instance changed in place to the working set `active`, solved by simplex from the last basis."""
        assert self.highs is not None
        if self.method != "simplex":
            self.highs.setOptionValue("solver", "simplex")
            self.method = "simplex"
        self._change(active)
        return self._solve()

    def _change(self, active: np.ndarray) -> None:
        """Add the start columns `active` has and the instance has not, and the one-start rows of projects that now have
        two; then set the bounds of every column of the projects whose working set changed."""
        assert self.highs is not None
        pricing, highs = self.pricing, self.highs
        projects, years = np.nonzero(active & (self.column < 0))
        if len(projects):
            rules = pricing.A_starts[:, projects * pricing.k + years].tocoo()
            own = np.flatnonzero(self.row[projects] >= 0)
            rows = np.concatenate([rules.row, self.row[projects[own]]])
            entries = sp.csc_matrix((np.concatenate([rules.data, np.ones(len(own))]), (rows, np.concatenate([rules.col, own]))),
                                    shape=(highs.getNumRow(), len(projects)))
            first = highs.getNumCol()
            highs.addCols(len(projects), pricing.cost[projects, years], np.zeros(len(projects)), np.zeros(len(projects)),
                          entries.nnz, entries.indptr[:-1].astype(np.int32), entries.indices.astype(np.int32), entries.data)
            self.column[projects, years] = first + np.arange(len(projects))
        two = np.flatnonzero((active.sum(axis=1) > 1) & (self.row < 0))
        if len(two):
            owner, year = np.nonzero(self.column[two] >= 0)
            counts = np.bincount(owner, minlength=len(two))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
            first = highs.getNumRow()
            highs.addRows(len(two), pricing.funded_lower[two], pricing.funded_upper[two], len(owner), starts,
                          self.column[two[owner], year].astype(np.int32), np.ones(len(owner)))
            self.row[two] = first + np.arange(len(two))
        changed = np.flatnonzero((active != self.active).any(axis=1))
        owner, year = np.nonzero(self.column[changed] >= 0)
        p = changed[owner]
        working = active[p, year]
        alone = self.row[p] < 0  # a single start year: its bounds carry z_p's
        lower = np.where(working & alone, pricing.funded_lower[p], 0.0)
        upper = np.where(working, np.where(alone, np.minimum(pricing.upper[p, year], pricing.funded_upper[p]), pricing.upper[p, year]), 0.0)
        highs.changeColsBounds(len(p), self.column[p, year].astype(np.int32), lower, upper)
        self.active = active.copy()

    def _solve(self) -> Solution:
        assert self.highs is not None
        if self.deadline.expired:
            return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version="", message=NOT_STARTED)
        solution = run_configured(self.highs, self.deadline)
        if solution.status is SolveStatus.OPTIMAL:
            result = self.highs.getSolution()
            values, col_duals = np.asarray(result.col_value), np.asarray(result.col_dual)
            order = np.concatenate([self.column[np.nonzero(self.active)], self.rest])
            several = np.flatnonzero(self.active.sum(axis=1) > 1)
            solution.values, solution.col_duals = values[order], col_duals[order]
            solution.row_duals = np.asarray(result.row_dual)[np.concatenate([np.arange(len(self.pricing.rule_rows)), self.row[several]])]
            solution.objective = float(self.highs.getInfo().objective_function_value)
        return solution

