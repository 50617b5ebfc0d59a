"""Dantzig–Wolfe decomposition by blocks (column generation), for a MIP of many small blocks tied by a few linking rows:
the 14th plan's county pooling, where each county's local money is capped (docs/performance.md, "County pooling").

The LP relaxation of such a model is weak: within each county it funds a fraction of a project to fill the capacity,
so its bound sits percent above any allocation, and a MIP search must close that gap county by county. Here:

- The master LP chooses, per block, a convex combination of whole-block plans that are integral (its columns), subject
  to the linking rows; the columns of no block (a soft target's shortfall) stay in the master as they are. It starts
  with each block's part of the LP relaxation's solution, charged a penalty that grows until whole plans replace it.
- Pricing solves every block's own small MIP with the master's prices on the linking rows (independent: in this
  process, a local process pool or a Dask cluster through `mapper`) and adds each block's plan that would improve the
  master (every plan priced enters; the master's simplex ignores those that cannot help). Each pricing round also proves a Lagrangian lower bound: the blocks' proven MIP bounds plus the prices times
  the linking rows' bounds. It equals the LP bound with the blocks' integrality convexified, far tighter here.
- The master LP's basic solution is fractional in at most as many blocks as it has linking rows. The plan fixes every
  other block at its column and solves the small MIP of the original model over the fractional blocks' columns and
  the blocks with the nearest rival plans.

The gap is proven against the best Lagrangian bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import scipy.sparse as sp

from allocator.backends import Deadline, Solution, SolveStatus
from allocator.backends.blocks import Blocks
from allocator.backends.knapsack_pricing import price_knapsacks
from allocator.backends.knapsacks import Knapsacks
from allocator.backends.highs_run import highs_version, minimised, new_highs, relative_gap, run_highs, solve_restricted
from allocator.backends.options import SolverOptions
from allocator.model.arrays import LinearModel

#: A pricing batch holds whole blocks, about this many columns (one HiGHS run each: its start-up costs ~1 ms).
BATCH_COLUMNS = 400
#: Each block's MIP is solved to this relative gap (1e-7 took 25% longer at 20,000 for a bound 1e-7 tighter), or for
#: at most BATCH_SECONDS a batch (at some prices a few batches are hard: 150 s for one round at 200,000 candidates);
#: the bound uses the batch's proven dual bound whatever it is.
PRICING_GAP = 1e-5
BATCH_SECONDS = 2.0
#: Stop generating columns once the master LP is within this share of the requested gap of the Lagrangian bound.
CONVERGED_SHARE = 0.25
#: Try rounding the master between rounds once it is within this multiple of the requested gap of the Lagrangian bound
#: (at 200,000 county-pooling candidates: 2.5e-4 after round 1, and the rounded plan within 3e-5).
TRIAL_SHARE = 10.0
MAX_ROUNDS = 60
#: The master starts with each block's fractional LP plan, so it is always feasible, charged this share of the largest
#: block's cost beyond its own; the charge grows by PENALTY_GROWTH every round it is still used. (A charge that starts
#: high gives wild prices, and pricing at them is slow and useless: measured at 200,000 candidates.)
START_PENALTY = 0.01
PENALTY_GROWTH = 10.0
#: A cold start's slack on a linking row is charged this many times :func:`_slack_scale` at first.
#: Measured at 20,000 county-pooling candidates: from zero prices, 6 rounds to within 1e-4 of the Lagrangian bound.
SLACK_PENALTY = 10.0
#: A cold start prices the knapsack blocks exactly once the master's objective moves by less than this share in a round
#: of their Lagrangian plans (whose bound, the LP's, cannot prove the gap).
SETTLED = 1e-3
#: A cold start gives up once its slacks are still used after this many growths of their charge.
MAX_SLACK_GROWTHS = 3
#: The master leans on artificial columns while their values sum to more than this.
ARTIFICIAL_TOLERANCE = 1e-9
#: The master is re-solved by the primal simplex: new columns leave its basis primal feasible. Measured on county
#: pooling at 20,000 from a cold start: 1.8 s over 8 masters, against 2.9 s by HiGHS's choice (the dual simplex).
PRIMAL_SIMPLEX = 4
#: Column generation may use this share of the time left; the rounding MIP has the rest.
GENERATION_SHARE = 0.8
#: Said of a decomposition that converged (the time limit did not stop it).
DONE = "Decomposition by blocks converged"

#: The rounding MIP also frees this many blocks whose best plan not taken is nearest to entering (the near ties).
#: Measured on county pooling at 20,000 from a cold start: 10 gives the rounding in 0.1-0.4 s and gap 1.78e-4-1.85e-4,
#: 40 in 2.0-3.8 s and gap 1.78e-4.
NEAR_TIES = 10

Mapper = Callable[..., Iterable["Priced"]]


@dataclass(frozen=True)
class PricingBatch:
    """Whole blocks as one small model: their columns (indices into the full model) and their rows."""

    columns: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray


@dataclass(frozen=True)
class Priced:
    """A batch's best plan under the prices given, its objective, and the proven lower bound on it."""

    values: np.ndarray
    objective: float
    bound: float


def price(batch: PricingBatch, costs: np.ndarray, until: float) -> Priced:
    """Solve `batch`'s blocks with objective `costs` (per batch column) by `until` (``time.time()``'s clock, which
    worker processes and a cluster's machines share). Top level, so worker processes and Dask can run it."""
    seconds = until - time.time()
    if seconds <= 0:
        raise _PricingFailed("the time limit came during pricing")
    model = LinearModel(c=costs, A=batch.A, row_lower=batch.row_lower, row_upper=batch.row_upper, col_lower=batch.col_lower,
                        col_upper=batch.col_upper, integer=batch.integer, col_blocks=[], row_blocks=[])
    solution = run_highs(model, SolverOptions(mip_rel_gap=PRICING_GAP), Deadline(min(seconds, BATCH_SECONDS)), log=False)
    if not solution.status.has_solution or solution.values is None or solution.objective is None:
        raise _PricingFailed(f"a block's own MIP ended {solution.status.value}: {solution.message}")
    bound = solution.dual_bound if model.is_mip and solution.dual_bound is not None else solution.objective
    return Priced(values=solution.values, objective=solution.objective, bound=min(bound, solution.objective))


class _PricingFailed(Exception):
    """A block's MIP gave no plan, or the time ran out: column generation stops, and the last master is rounded."""


def batches(model: LinearModel, blocks: Blocks, chosen: np.ndarray | None = None) -> list[PricingBatch]:
    """The blocks (the `chosen` ids, default all) grouped into batches of about BATCH_COLUMNS columns, in block order."""
    A = model.A.tocsr()
    columns, column_bounds = blocks.columns()
    rows, row_bounds = blocks.rows()
    ids = np.arange(blocks.count) if chosen is None else np.asarray(chosen)
    result, start = [], 0
    while start < len(ids):
        stop = start + 1
        size = column_bounds[ids[start] + 1] - column_bounds[ids[start]]
        while stop < len(ids) and size + column_bounds[ids[stop] + 1] - column_bounds[ids[stop]] <= BATCH_COLUMNS:
            size += column_bounds[ids[stop] + 1] - column_bounds[ids[stop]]
            stop += 1
        cols = np.concatenate([columns[column_bounds[b]:column_bounds[b + 1]] for b in ids[start:stop]])
        batch_rows = np.concatenate([rows[row_bounds[b]:row_bounds[b + 1]] for b in ids[start:stop]])
        result.append(PricingBatch(columns=cols, A=A[batch_rows][:, cols].tocsr(), row_lower=model.row_lower[batch_rows],
                                   row_upper=model.row_upper[batch_rows], col_lower=model.col_lower[cols],
                                   col_upper=model.col_upper[cols], integer=model.integer[cols]))
        start = stop
    return result


@dataclass(frozen=True)
class _Pricing:
    """How a round prices the blocks: the knapsack blocks without HiGHS (:mod:`allocator.backends.knapsack_pricing`),
    every other block by HiGHS in `batches` through `mapper`."""

    model: LinearModel
    blocks: Blocks
    knapsacks: Knapsacks | None
    batches: list[PricingBatch]
    mapper: Mapper

    @classmethod
    def of(cls, model: LinearModel, blocks: Blocks, knapsacks: Knapsacks | None, mapper: Mapper) -> _Pricing:
        others = None if knapsacks is None else np.setdiff1d(np.arange(blocks.count), knapsacks.blocks)
        return cls(model, blocks, knapsacks, batches(model, blocks, others), mapper)

    def round(self, reduced: np.ndarray, until: float, *, exact: bool = True) -> tuple[np.ndarray, float]:
        """Every block's best plan under `reduced` (over the model's columns) and the sum of their proven bounds (not
        `exact`: the knapsacks' Lagrangian plans and LP bounds)."""
        plan, bound = np.zeros(self.model.num_cols), 0.0
        if self.knapsacks is not None:
            fast = price_knapsacks(self.knapsacks, reduced, exact=exact)
            plan, bound = fast.values, float(fast.bound.sum())
        priced = list(self.mapper(price, self.batches, [reduced[b.columns] for b in self.batches], [until] * len(self.batches)))
        for batch, result in zip(self.batches, priced, strict=True):
            plan[batch.columns] = result.values
        return plan, bound + sum(p.bound for p in priced)


@dataclass
class _Master:
    """The restricted master LP, kept in one HiGHS instance so each round re-solves from the last basis. Its artificial
    columns (a block's fractional LP plan, or a linking row's slack) keep it feasible before whole plans can; they
    cost their own cost plus a penalty that grows while the master still uses them."""

    model: LinearModel
    blocks: Blocks
    linking: np.ndarray  # the linking rows' indices
    own: int  # the master's columns before the first plan: the model's columns of no block, then any slacks
    highs: highspy.Highs
    column_block: list[int] = field(default_factory=list)  # per plan column: its block
    column_values: list[np.ndarray] = field(default_factory=list)  # ... and its block plan (over the block's columns)
    artificial: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # HiGHS's indices of them
    artificial_costs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def start(cls, model: LinearModel, blocks: Blocks, linking_A: sp.csr_matrix) -> _Master:
        linking = np.flatnonzero(blocks.linking)
        own = np.flatnonzero(blocks.block_of_column < 0)
        highs = new_highs(log=False)
        highs.setOptionValue("solver", "simplex")
        highs.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX)
        highs.setOptionValue("threads", 1)
        lower = np.concatenate([model.row_lower[linking], np.ones(blocks.count)])
        upper = np.concatenate([model.row_upper[linking], np.ones(blocks.count)])
        highs.addRows(len(lower), lower, upper, 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0))
        own_A = linking_A[:, own].tocsc()
        highs.addCols(len(own), model.c[own], model.col_lower[own], model.col_upper[own], own_A.nnz,
                      own_A.indptr.astype(np.int32), own_A.indices.astype(np.int32), own_A.data)
        return cls(model=model, blocks=blocks, linking=linking, own=len(own), highs=highs)

    def add_slacks(self) -> None:
        """An artificial column per finite bound of each linking row, which moves the row's activity towards that bound
        (cost 0 before :meth:`charge`): the master of a cold start is feasible before any plan meets the linking rows."""
        lower, upper = self.model.row_lower[self.linking], self.model.row_upper[self.linking]
        rows = np.concatenate([np.flatnonzero(np.isfinite(lower)), np.flatnonzero(np.isfinite(upper))]).astype(np.int32)
        signs = np.concatenate([np.ones(int(np.isfinite(lower).sum())), -np.ones(int(np.isfinite(upper).sum()))])
        count = len(rows)
        self.highs.addCols(count, np.zeros(count), np.zeros(count), np.full(count, np.inf), count,
                           np.arange(count, dtype=np.int32), rows, signs)
        self.artificial = np.arange(self.own, self.own + count, dtype=np.int32)
        self.artificial_costs = np.zeros(count)
        self.own += count

    def add(self, block_ids: np.ndarray, plans: list[np.ndarray], costs: np.ndarray, linking_rows: sp.csc_matrix,
            *, artificial: bool) -> None:
        """Add one column per block in `block_ids`: its plan, its cost and its linking-row activities (a csc, one column
        each); `artificial`: fractional plans, charged by :meth:`charge`."""
        count = len(block_ids)
        first = self.own + len(self.column_block)
        convexity = sp.csr_matrix((np.ones(count), (block_ids, np.arange(count))), shape=(self.blocks.count, count))
        entries = sp.csc_matrix(sp.vstack([linking_rows, convexity]))
        self.highs.addCols(count, costs, np.zeros(count), np.full(count, np.inf), entries.nnz, entries.indptr.astype(np.int32),
                           entries.indices.astype(np.int32), entries.data)
        self.column_block += [int(b) for b in block_ids]
        self.column_values += plans
        if artificial:
            self.artificial = np.concatenate([self.artificial, np.arange(first, first + count, dtype=np.int32)])
            self.artificial_costs = np.concatenate([self.artificial_costs, costs])

    def is_artificial(self) -> np.ndarray:
        """Per plan column: is it artificial?"""
        flags = np.zeros(len(self.column_block), dtype=bool)
        plans = self.artificial[self.artificial >= self.own] - self.own
        flags[plans] = True
        return flags

    def charge(self, penalty: float | np.ndarray) -> None:
        """Price the artificial columns at their own cost plus `penalty` each."""
        self.highs.changeColsCost(len(self.artificial), self.artificial, self.artificial_costs + penalty)

    def solve(self) -> _MasterSolution:
        highspy.Highs.resetGlobalScheduler(True)  # the pricing runs' Highs instances share the process's thread pool
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:  # e.g. "excessive dual values" from the
            self.highs.clearSolver()  # last basis while the slacks are dear: once more from scratch
            self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise _PricingFailed(f"the master LP ended {self.highs.modelStatusToString(self.highs.getModelStatus())}")
        solution = self.highs.getSolution()
        duals = np.asarray(solution.row_dual, dtype=float)
        values = np.asarray(solution.col_value, dtype=float)
        return _MasterSolution(objective=float(self.highs.getInfo().objective_function_value) + self.model.offset,
                               prices=duals[:len(self.linking)], weights=values[self.own:],
                               reduced=np.asarray(solution.col_dual, dtype=float)[self.own:],
                               artificial_used=float(values[self.artificial].sum()))


@dataclass(frozen=True)
class _MasterSolution:
    """The master LP's objective, its linking rows' prices, per plan column its weight and reduced cost, and how much
    it still leans on artificial columns."""

    objective: float
    prices: np.ndarray
    weights: np.ndarray
    reduced: np.ndarray
    artificial_used: float  # the artificial columns' total value: 0 once whole plans alone meet the linking rows


def solve_by_blocks(model: LinearModel, blocks: Blocks, relaxation: Solution | None, options: SolverOptions, deadline: Deadline, *,
                    log: bool = False, mapper: Mapper = map, incumbent: np.ndarray | None = None,
                    knapsacks: Knapsacks | None = None) -> Solution:
    """Solve `model` by column generation over `blocks`, starting from the LP `relaxation` (its duals and values) and
    an `incumbent` allocation when there is one (its block plans make the master feasible from the first round, so its
    prices are sane); the `knapsacks` among the blocks (:func:`find_knapsacks`) are priced without HiGHS, and
    `mapper(price, batches, costs, until)` prices the batches of the others (the built-in map runs them here).

    Without a relaxation (a cold start, for blocks priced without HiGHS: :mod:`allocator.backends.knapsack_pricing`), the
    first round prices every block at zero prices and the master starts with a slack on each linking row's bounds."""
    started = time.perf_counter()
    A = model.A.tocsr()
    linking_A = A[np.flatnonzero(blocks.linking)]
    pricing = _Pricing.of(model, blocks, knapsacks, mapper)
    columns, column_bounds = blocks.columns()
    master = _Master.start(model, blocks, linking_A)
    if relaxation is None:
        master.add_slacks()
        penalty = np.full(len(master.artificial), SLACK_PENALTY * _slack_scale(model, blocks))
        prices = np.zeros(len(master.linking))
    else:
        assert relaxation.values is not None and relaxation.row_duals is not None
        lp_costs = _add_plans(master, relaxation.values, model, linking_A, columns, column_bounds, artificial=True)
        penalty = np.full(blocks.count, START_PENALTY * float(np.abs(lp_costs).max(initial=0.0)) + 1e-9)
        prices = _valid_prices(model, blocks, relaxation.row_duals[blocks.linking])
    master.charge(penalty)
    if incumbent is not None:
        _add_plans(master, incumbent, model, linking_A, columns, column_bounds, artificial=False)
    best_bound, rounds, solved, stopped, rounded, converged = -np.inf, 0, None, "", None, False
    exact, previous, growths = relaxation is not None, np.inf, 0  # a cold start prices knapsacks by their Lagrangian until the master settles
    generation = deadline.portion(GENERATION_SHARE * deadline.left())
    history: list[list[float]] = []  # per round: the best bound, the master LP's objective, seconds pricing, seconds in the master
    try:
        while rounds < MAX_ROUNDS and not generation.expired:
            rounds += 1
            round_started = time.perf_counter()
            reduced = model.c - linking_A.T @ prices
            until = time.time() + generation.left()
            plan, block_bounds = pricing.round(reduced, until, exact=exact)
            best_bound = max(best_bound, _lagrangian_bound(model, blocks, prices, reduced, block_bounds))
            if incumbent is not None and relative_gap(float(model.c @ incumbent + model.offset), best_bound) <= options.mip_rel_gap:
                return _incumbent_proven(model, incumbent, best_bound, rounds, started)
            _add_plans(master, plan, model, linking_A, columns, column_bounds, artificial=False)
            priced_at = time.perf_counter()
            solved = master.solve()
            history.append([round(best_bound, 3), round(solved.objective, 3), round(priced_at - round_started, 3),
                            round(time.perf_counter() - priced_at, 3)])
            settled = abs(previous - solved.objective) <= SETTLED * abs(solved.objective)
            previous = solved.objective
            # Make the artificial columns dearer while the master uses them: every round for the LP's fractional plans,
            # and for a cold start's slacks once the master has settled on them (every round, the penalties overflowed
            # HiGHS's dual simplex within four rounds).
            if solved.artificial_used > ARTIFICIAL_TOLERANCE and (relaxation is not None or settled):
                growths += 1
                if relaxation is None and growths > MAX_SLACK_GROWTHS:
                    raise _PricingFailed("the master still needs slacks on the linking rows: the model may have no allocation")
                penalty *= PENALTY_GROWTH
                master.charge(penalty)
                solved = master.solve()
            elif not exact and solved.artificial_used <= ARTIFICIAL_TOLERANCE and settled:
                exact = True
            if solved.artificial_used <= ARTIFICIAL_TOLERANCE and exact:
                if relative_gap(solved.objective, best_bound) <= CONVERGED_SHARE * options.mip_rel_gap:
                    converged = True
                    break
                if relative_gap(solved.objective, best_bound) <= TRIAL_SHARE * options.mip_rel_gap:
                    # Close enough that a rounded plan may already be within the gap (it can beat the master, whose
                    # columns are whole-block plans only): a rounding (seconds) before another round of pricing (a
                    # minute at 200,000 county-pooling candidates).
                    rounded = _round(model, master, solved, columns, column_bounds, options, deadline, log=log)
                    if rounded.status.has_solution and relative_gap(minimised(rounded), best_bound) <= options.mip_rel_gap:
                        converged = True
                        break
                    rounded = None
            prices = _valid_prices(model, blocks, solved.prices)
    except _PricingFailed as failure:
        stopped = str(failure)
    if solved is None:
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version=highs_version(master.highs),
                        message=stopped or "no round of column generation finished",
                        details={"decomposition": {"rounds": rounds, "stopped": stopped}})
    summary = {"blocks": blocks.count, "linking_rows": int(blocks.linking.sum()), "batches": len(pricing.batches),
               "knapsack_blocks": 0 if pricing.knapsacks is None else len(pricing.knapsacks.blocks), "rounds": rounds,
               "columns": len(master.column_block), "lagrangian_bound": best_bound, "master_lp": solved.objective,
               "history": history, "converged": converged, **({"stopped": stopped} if stopped else {})}
    solution = rounded or _round(model, master, solved, columns, column_bounds, options, deadline, log=log)
    solution.details["decomposition"] = {**summary, "rounding": solution.details.pop("rounding"),
                                         "seconds": round(time.perf_counter() - started, 3)}
    solution.dual_bound = best_bound
    if rounded is not None:
        solution.message = f"{DONE}: the plan rounded after round {rounds} is within the requested gap of the Lagrangian bound"
    elif solution.status.has_solution and not stopped and not generation.expired:
        solution.message = (f"{DONE}: the plan's gap to the Lagrangian bound is what remains between whole blocks and "
                            "their convex combinations; a smaller gap would need branching on the blocks")
    elif solution.status.has_solution:
        solution.message = (f"Decomposition by blocks stopped by the time limit in round {rounds} ({stopped or 'column generation'}); "
                            "the plan rounds the last master and its gap is proven against the best bound so far")
    return solution


def _slack_scale(model: LinearModel, blocks: Blocks) -> float:
    """What a unit of a linking row's slack is charged at first, per SLACK_PENALTY: the largest objective coefficient of
    a block column. (Scaled per row by its smallest coefficient instead, the charges reached 9e10 and HiGHS's dual
    simplex failed on excessive dual values.)"""
    return float(np.abs(model.c[blocks.block_of_column >= 0]).max(initial=0.0)) or 1.0


def _incumbent_proven(model: LinearModel, incumbent: np.ndarray, bound: float, rounds: int, started: float) -> Solution:
    """The incumbent as the answer once a round's Lagrangian bound proves it within the requested gap: further rounds
    and the rounding could only polish a plan already good enough (at 200,000 county-pooling candidates, a 62 s round)."""
    return Solution(status=SolveStatus.FEASIBLE, solver="highs", solver_version=highs_version(new_highs(log=False)), values=incumbent.copy(),
                    objective=float(model.c @ incumbent + model.offset), dual_bound=bound,
                    message=f"{DONE}: the Lagrangian bound of round {rounds} proves the first restricted MIP's allocation "
                            "within the requested gap",
                    details={"decomposition": {"rounds": rounds, "lagrangian_bound": bound, "incumbent_proven": True,
                                               "seconds": round(time.perf_counter() - started, 3)}})


def _add_plans(master: _Master, plan: np.ndarray, model: LinearModel, linking_A: sp.csr_matrix, columns: np.ndarray,
               column_bounds: np.ndarray, *, artificial: bool) -> np.ndarray:
    """Add each block's part of `plan` as a master column priced by its cost (an `artificial` one: a fractional plan,
    charged more by :meth:`_Master.charge`); returns the costs."""
    count = master.blocks.count
    block_of = master.blocks.block_of_column
    values = np.where(block_of >= 0, plan, 0.0)
    costs = np.bincount(block_of[columns], weights=model.c[columns] * values[columns], minlength=count)
    weighted = linking_A @ sp.diags(values)
    by_block = sp.csr_matrix((np.ones(len(columns)), (columns, block_of[columns])), shape=(model.num_cols, count))
    activity = (weighted @ by_block).tocsc()
    plans = [values[columns[column_bounds[b]:column_bounds[b + 1]]].copy() for b in range(count)]
    master.add(np.arange(count), plans, costs, activity, artificial=artificial)
    return costs


def _valid_prices(model: LinearModel, blocks: Blocks, duals: np.ndarray) -> np.ndarray:
    """The linking rows' prices, each cleared where its sign asks for a bound the row does not have (so the bound holds)."""
    rows = np.flatnonzero(blocks.linking)
    prices = np.where((duals > 0) & ~np.isfinite(model.row_lower[rows]), 0.0, duals)
    return np.where((prices < 0) & ~np.isfinite(model.row_upper[rows]), 0.0, prices)


def _lagrangian_bound(model: LinearModel, blocks: Blocks, prices: np.ndarray, reduced: np.ndarray, block_bounds: float) -> float:
    """A proven lower bound on the MIP: the blocks' bounds under `prices`, the master's own columns at their best bound,
    and the prices times the linking rows' bounds."""
    rows = np.flatnonzero(blocks.linking)
    rhs = np.where(prices > 0, prices * np.where(np.isfinite(model.row_lower[rows]), model.row_lower[rows], 0.0),
                   prices * np.where(np.isfinite(model.row_upper[rows]), model.row_upper[rows], 0.0))
    own = np.flatnonzero(blocks.block_of_column < 0)
    r, lower, upper = reduced[own], model.col_lower[own], model.col_upper[own]
    with np.errstate(invalid="ignore"):
        own_best = np.where(r > 0, r * lower, np.where(r < 0, r * upper, 0.0))
    if not np.all(np.isfinite(own_best)):
        return -np.inf
    return float(block_bounds + own_best.sum() + rhs.sum() + model.offset)


def _round(model: LinearModel, master: _Master, solved: _MasterSolution, columns: np.ndarray, column_bounds: np.ndarray,
           options: SolverOptions, deadline: Deadline, *, log: bool) -> Solution:
    """An allocation from the master LP: each block whose weight sits whole on one integral plan takes it, and the
    blocks it splits (at most as many as there are linking rows), with the master's own columns, are solved again as a
    MIP of the original model. (Freeing also the 300 blocks with the nearest rival plans gained 2e-7 of the objective
    for 230 s on county pooling at 20,000: not done.)"""
    fixed = np.zeros(model.num_cols)
    free = np.ones(master.blocks.count, dtype=bool)
    block_of_plan = np.asarray(master.column_block)[:len(solved.weights)]  # the plans the master had when solved
    for k in np.flatnonzero((solved.weights > 1 - 1e-6) & ~master.is_artificial()[:len(block_of_plan)]):
        b = block_of_plan[k]
        fixed[columns[column_bounds[b]:column_bounds[b + 1]]] = master.column_values[k]
        free[b] = False
    split = int(free.sum())
    free |= _near_ties(master, solved, block_of_plan, NEAR_TIES)
    keep = master.blocks.columns_of(free)
    restricted = solve_restricted(model, keep, fixed, replace(options, mip_rel_gap=min(options.mip_rel_gap, PRICING_GAP)),
                                  deadline, log=log, extra=None, start=None)
    restricted.details["rounding"] = {"split_blocks": split, "free_blocks": int(free.sum()), "seconds": round(restricted.seconds, 3),
                                      "status": restricted.status.value}
    return restricted


def _near_ties(master: _Master, solved: _MasterSolution, block_of_plan: np.ndarray, count: int) -> np.ndarray:
    """The `count` blocks whose best plan not taken has the smallest reduced cost in the master (bool per block)."""
    rival = np.full(master.blocks.count, np.inf)
    untaken = solved.weights <= 1e-9
    np.minimum.at(rival, block_of_plan[untaken], solved.reduced[untaken])
    chosen = np.zeros(master.blocks.count, dtype=bool)
    order = np.argsort(rival, kind="stable")[:count]
    chosen[order[np.isfinite(rival[order])]] = True
    return chosen


__all__ = ["PricingBatch", "Priced", "batches", "price", "solve_by_blocks"]
