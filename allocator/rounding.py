"""Money rounded to the unit a run states (``[output] money_precision``), so that every table adds up exactly.

Rounding a plan is a matrix-rounding problem: rows are projects, columns are sources, and a source's column is also
summed per province or region where it has a capacity. :func:`round_plan` rounds every cell down or up so that each row
and each of those sums is its exact value rounded down or up, within the budgets and capacities: a small integer program
whose constraint matrix is two laminar families (rows; groups within sources), so its LP optimum is already whole.
:func:`controlled_round` is the lighter rounding of a matrix whose rows add up to whole numbers (years, shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix

from allocator.errors import InternalError

if TYPE_CHECKING:
    from allocator.rules import CapacityLimits, MatchingRule

#: A table of more fractional cells than this settles most rows in advance and leaves FREE_ROWS to the LP.
LARGE_TABLE = 100_000
FREE_ROWS = 20_000
#: The rounding LP's simplex may take this long before the MIP decides instead.
SIMPLEX_SECONDS = 120.0
#: The default unit, 万元 (0.01万元 = 100元).
DEFAULT_PRECISION_WAN = 0.01
#: A value within this many units of a whole number is that number (solver noise, not money).
NOISE_UNITS = 1e-6


@dataclass(frozen=True)
class Precision:
    """The unit money is written in: a power of ten of 万元 (``0.01`` = 0.01万元 = 100元)."""

    unit_wan: float = DEFAULT_PRECISION_WAN

    @property
    def decimals(self) -> int:
        """Decimals of 万元 a written amount has (0 for a unit of 1万元 or more)."""
        return max(0, -round(np.log10(self.unit_wan)))

    @property
    def label(self) -> str:
        return f"{self.unit_wan:.{self.decimals}f}万元"

    def units(self, amounts_wan: np.ndarray | float) -> np.ndarray:
        """Amounts in whole units, rounded half up (四舍五入) as typed: 12.345万 -> 1235 of 0.01万."""
        return np.floor(np.asarray(amounts_wan, dtype=float) / self.unit_wan + 0.5 + 1e-9).astype(np.int64)

    def limit(self, amount_wan: float, *, upper: bool) -> int:
        """A limit in whole units, never printed looser than it was set: a ceiling (a budget: 1500.5万 at 1万 is 1500)
        rounded down, a floor (a minimum spend) rounded up."""
        units = amount_wan / self.unit_wan
        return int(np.floor(units + 1e-9) if upper else np.ceil(units - 1e-9))

    def to_wan(self, units: np.ndarray | int) -> np.ndarray:
        """Whole units back to 万元, each the float nearest its decimal (so it is written as that decimal)."""
        units = np.asarray(units, dtype=np.int64)
        if self.decimals:
            return units / 10**self.decimals + 0.0
        return (units * round(self.unit_wan)).astype(float)


def controlled_round(values: np.ndarray) -> np.ndarray:
    """`values` (rows x columns, in units, >= 0, each row adding up to a whole number) as whole numbers.

    Each cell is its value rounded down or up; each row keeps its sum; each column sum is its exact
    value rounded down or up. Each row first rounds up its largest remainders (ties: the first column);
    columns outside their range are then repaired by moving a rounding-up from one cell of a row to
    another of the same row, the moves that cost the least remainder first, along a shortest path of columns."""
    values = np.where(np.abs(values - np.rint(values)) < NOISE_UNITS, np.rint(values), values)
    floor = np.floor(values)
    remainder = values - floor
    up = _largest_remainders(remainder, np.rint(values.sum(axis=1)) - floor.sum(axis=1))
    sums = values.sum(axis=0)
    low, high = np.floor(sums + NOISE_UNITS), np.ceil(sums - NOISE_UNITS)
    _repair_columns(remainder, up, low - floor.sum(axis=0), high - floor.sum(axis=0))
    return floor.astype(np.int64) + up


def _rank_in_rows(key: np.ndarray) -> np.ndarray:
    """Per cell, its place in its row by descending `key` (0 first; ties: the first column)."""
    order = np.argsort(-key, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(key.shape[1]), key.shape), axis=1)
    return rank


def _largest_remainders(remainder: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row, 1 in the `count` cells of largest remainder (ties: the first column), 0 elsewhere."""
    up = (_rank_in_rows(remainder) < count[:, None]).astype(np.int64)
    if np.any(up & (remainder <= 0)):
        raise InternalError("a row of money cannot round to its sum (a bug; nothing was written)")
    return up


def _repair_columns(remainder: np.ndarray, up: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Move rounding-ups within rows (in place) until each column's count of them lies in [low, high]."""
    while True:
        count = up.sum(axis=0)
        over, under = count > high, count < low
        if over.any():
            sources, sinks, amount_out, amount_in = over, count < high, count - high, high - count
        elif under.any():
            sources, sinks, amount_out, amount_in = count > low, under, count - low, low - count
        else:
            return
        path = _cheapest_path(remainder, up, sources, sinks)
        if path is None:
            raise InternalError("rounded money cannot add up to its column totals (a bug; nothing was written)")
        edges = list(zip(path, path[1:]))
        movable = [_moves(remainder, up, a, b) for a, b in edges]
        k = int(min(amount_out[path[0]], amount_in[path[-1]], *(len(rows) for rows in movable)))
        for (a, b), rows in zip(edges, movable):
            up[rows[:k], a] = 0
            up[rows[:k], b] = 1


def _moves(remainder: np.ndarray, up: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows that can move a rounding-up from column a to b, cheapest first (ties: the first row)."""
    rows = np.flatnonzero((up[:, a] == 1) & (up[:, b] == 0) & (remainder[:, b] > 0))
    cost = remainder[rows, a] - remainder[rows, b]
    return rows[np.argsort(cost, kind="stable")]


def _cheapest_path(remainder: np.ndarray, up: np.ndarray, sources: np.ndarray, sinks: np.ndarray) -> list[int] | None:
    """The fewest-edge path of columns from a source to a sink (edges: a row can move a rounding-up along them),
    of least cost among those; None when there is none."""
    m = up.shape[1]
    cost = np.full((m, m), np.inf)
    for a in range(m):
        for b in range(m):
            if a != b:
                rows = _moves(remainder, up, a, b)
                if rows.size:
                    cost[a, b] = remainder[rows[0], a] - remainder[rows[0], b]
    paths = {a: ([a], 0.0) for a in np.flatnonzero(sources).tolist()}
    while paths:
        ends = [(c + cost[p[-1], b], p + [b]) for p, c in paths.values() for b in np.flatnonzero(sinks).tolist() if np.isfinite(cost[p[-1], b])]
        if ends:
            return min(ends, key=lambda end: end[0])[1]
        grown: dict[int, tuple[list[int], float]] = {}
        for p, c in paths.values():
            for b in range(m):
                if b not in p and np.isfinite(cost[p[-1], b]) and (b not in grown or c + cost[p[-1], b] < grown[b][1]):
                    grown[b] = (p + [b], c + cost[p[-1], b])
        paths = grown
    return None


@dataclass(frozen=True)
class RoundedMoney:
    """A plan's money in whole units of its precision: what every table of the run shows."""

    precision: Precision
    cost: np.ndarray  # per project: its cost as printed (a funded row's target: see round_plan)
    money: np.ndarray  # projects x sources; a funded row adds up to its printed cost (x its selection)


@dataclass(frozen=True)
class GroupSums:
    """One source's money summed over each group of projects (one group of all: the source's column; a province's or
    region's: its capacity), kept within [low, high] units per group."""

    source: int
    group: np.ndarray  # per project, its group (0..len(low)-1)
    low: np.ndarray
    high: np.ndarray


def round_plan(precision: Precision, money: np.ndarray, cost: np.ndarray, selected: np.ndarray, budgets: np.ndarray,
               min_spend: np.ndarray, capacities: Sequence[tuple[int, CapacityLimits]] = (), share_cap: np.ndarray | None = None,
               matching: Sequence[MatchingRule] = ()) -> RoundedMoney:
    """`money` (projects x sources, 万元) rounded, with no cell, row or sum moved by a unit or more (docs/outputs.md, Rounding):

    - each cell is its exact value rounded down or up; each project's row adds up to its exact sum rounded half up
      (a funded project's: its cost rounded half up), or, when that cannot fit the limits below, rounded the other way
      (尾差): the fewest rows change, those nearest .5 first, ties by file order;
    - each source's column adds up to its exact total rounded down or up, within its budget and min_spend, and each
      capacity group's sum (`capacities`: source, its groups) to its exact sum rounded down or up, within its capacity,
      where the rows allow (else these limits are dropped, and only the rounding down or up holds);
    - in each row, a cell whose rounding up could break its source's `share_cap` (projects x sources, share of the printed
      cost) or a `matching` rule rounds down, and a matching source's cell whose rounding down could break its ratio
      rounds up, where the sums allow; then the cells nearest their exact value (ties: deterministic)."""
    units = precision.unit_wan
    exact = np.clip(money, 0.0, None) / units  # a -1e-06 is solver noise
    exact = np.where(np.abs(exact - np.rint(exact)) < NOISE_UNITS, np.rint(exact), exact)
    row_sum = exact.sum(axis=1)
    low, high = np.floor(row_sum + NOISE_UNITS), np.ceil(row_sum - NOISE_UNITS)
    cost_units = precision.units(cost)
    target = precision.units(cost * selected).astype(float)
    target = np.where((low <= target) & (target <= high), target, np.clip(np.floor(row_sum + 0.5 + 1e-9), low, high))
    prefer = _preferences(exact, target, share_cap, matching)
    everyone = np.zeros(len(exact), dtype=np.int64)
    limits = [(s, everyone, np.array([min_spend[s]]), np.array([budgets[s]])) for s in range(exact.shape[1])]
    limits += [(s, c.group_of_project, np.zeros(len(c.limit)), c.limit) for s, c in capacities]
    for narrow in (True, False):
        sums = [_sums(exact, s, group, low_wan / units if narrow else np.full(len(low_wan), -np.inf),
                      high_wan / units if narrow else np.full(len(high_wan), np.inf)) for s, group, low_wan, high_wan in limits]
        rounded = _round_rows(exact, target, prefer, sums)
        if rounded is None:
            targets = _row_targets(exact, target, low, high, sums)
            rounded = None if targets is None else _round_rows(exact, targets, prefer, sums)
        if rounded is not None:
            printed_cost = np.where((selected >= 1) & (target == cost_units), rounded.sum(axis=1), cost_units)
            return RoundedMoney(precision, printed_cost.astype(np.int64), rounded)
    raise InternalError("rounded money cannot add up to its sums (a bug; nothing was written)")


def _sums(exact: np.ndarray, source: int, group: np.ndarray, low: np.ndarray, high: np.ndarray) -> GroupSums:
    """A source's sums over `group`: each its exact sum rounded down or up, narrowed to [low, high] (units) where that range
    leaves a whole number in it (a limit the exact plan meets only to solver noise rounds the way it allows)."""
    total = np.bincount(group, weights=exact[:, source], minlength=len(low))
    down, up = np.floor(total + NOISE_UNITS), np.ceil(total - NOISE_UNITS)
    narrow_high = np.maximum(down, np.minimum(up, np.floor(high + 1e-9)))
    return GroupSums(source, group, np.minimum(narrow_high, np.maximum(down, np.ceil(low - 1e-9))), narrow_high)


def _preferences(exact: np.ndarray, target: np.ndarray, share_cap: np.ndarray | None, matching: Sequence[MatchingRule]) -> np.ndarray:
    """projects x sources: +1 where rounding the cell up could break a per-project rule as printed, -1 where rounding it
    down could, 0 elsewhere (a cell whose rounding down and up both could is left to the rule it breaks less often)."""
    floor, ceil = np.floor(exact), np.ceil(exact)
    prefer = np.zeros(exact.shape)
    if share_cap is not None:
        prefer += ceil > share_cap * target[:, None] + NOISE_UNITS
    for rule in matching:
        local_low = floor[:, rule.source]
        most_matched = rule.ratio * ceil[:, rule.of].sum(axis=1)
        prefer[:, rule.source] -= local_low < most_matched - NOISE_UNITS
        for o in rule.of:
            prefer[:, o] += most_matched > local_low + NOISE_UNITS
    return np.sign(prefer)


def _round_rows(exact: np.ndarray, target: np.ndarray, prefer: np.ndarray, sums: list[GroupSums]) -> np.ndarray | None:
    """`exact` (units) rounded cell by cell, each row adding up to its `target`, within `sums`; the fewest cells against
    `prefer`, then the least distance from the exact values. None when no such rounding exists.

    A table of more than LARGE_TABLE fractional cells is rounded first with most rows settled in advance: each rounds
    up its cells by preference, then remainder, and only the FREE_ROWS rows nearest a tie between two of their cells
    enter the LP (measured at 600,000 candidates, 957,203 cells: the whole LP took 24-30 s); the whole LP decides only
    if those rows cannot meet the sums."""
    floor = np.floor(exact)
    need = target - floor.sum(axis=1)
    if np.count_nonzero(exact > floor) > LARGE_TABLE:
        settled, free = _settle_rows(exact, need, prefer)
        fixed = np.where(free[:, None], floor, floor + settled)
        rounded = _round_some_rows(exact, fixed, np.where(free, need, 0.0), prefer, sums, free)
        if rounded is not None:
            return rounded
    return _round_some_rows(exact, floor, need, prefer, sums, np.ones(len(exact), dtype=bool))


def _round_some_rows(exact: np.ndarray, fixed: np.ndarray, need: np.ndarray, prefer: np.ndarray, sums: list[GroupSums],
                     free: np.ndarray) -> np.ndarray | None:
    """The rows `free` rounded by the LP (each rounding up `need` cells), the others at `fixed` (their whole values)."""
    floor = np.floor(exact)
    rows, cols = np.nonzero((exact > floor) & free[:, None])
    remainder = exact[rows, cols] - floor[rows, cols]
    penalty = len(rows) + 1.0  # one cell against its preference outweighs every distance
    cost = 1 - 2 * remainder + penalty * prefer[rows, cols]
    up = _solve(cost, rows, cols, exact, fixed, need, need, sums, np.empty(0, dtype=np.int64), np.empty(0))
    if up is None:
        return None
    rounded = fixed.astype(np.int64)
    rounded[rows, cols] += up[:len(rows)]
    return rounded


def _settle_rows(exact: np.ndarray, need: np.ndarray, prefer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cells rounded up (0/1) by preference, then remainder (ties: the first source), `need` of them; and the
    FREE_ROWS rows whose choice was nearest a tie (or that could not settle), left free."""
    remainder = exact - np.floor(exact)
    key = np.where(remainder > 0, remainder - 2.0 * prefer, -np.inf)
    ranked = -np.sort(-key, axis=1)
    settled = ((_rank_in_rows(key) < need[:, None]) & (remainder > 0)).astype(np.int64)
    position = np.clip(need.astype(np.int64), 1, exact.shape[1] - 1)
    last_in = np.take_along_axis(ranked, (position - 1)[:, None], axis=1)[:, 0]
    first_out = np.take_along_axis(ranked, position[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore"):
        margin = np.where((need > 0) & np.isfinite(first_out), last_in - first_out, np.inf)
    free = settled.sum(axis=1) != need
    free[np.argsort(margin, kind="stable")[:FREE_ROWS]] = True
    free &= np.isfinite(margin) | (settled.sum(axis=1) != need)
    return settled, free


def _row_targets(exact: np.ndarray, target: np.ndarray, low: np.ndarray, high: np.ndarray, sums: list[GroupSums]) -> np.ndarray | None:
    """Row targets that fit `sums`, each `target` or its row's sum rounded the other way (尾差): the fewest changed, those of
    rows nearest .5 first, ties by file order. None when none fit."""
    floor = np.floor(exact)
    rows, cols = np.nonzero(exact > floor)
    free = np.flatnonzero(low < high)
    row_sum = exact.sum(axis=1)
    rank = np.empty(len(free))
    nearness = np.round(np.abs(row_sum[free] - np.floor(row_sum[free]) - 0.5), 6)  # to .5; float noise is no nearer
    rank[np.lexsort((free, nearness))] = np.arange(len(free))
    cost = np.concatenate([np.zeros(len(rows)), len(free) ** 2 + 1.0 + rank])  # one row fewer outweighs every order
    need = target - floor.sum(axis=1)
    sign = np.where(target[free] == high[free], -1.0, 1.0)
    flips = _solve(cost, rows, cols, exact, floor, need, need, sums, free, sign)
    if flips is None:
        return None
    return target + np.bincount(free, weights=sign * flips[len(rows):], minlength=len(target))


def _solve(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray, exact: np.ndarray, floor: np.ndarray, need_low: np.ndarray,
           need_high: np.ndarray, sums: list[GroupSums], flip_rows: np.ndarray, flip_sign: np.ndarray) -> np.ndarray | None:
    """0/1 per fractional cell (rounded up or not) and per row of `flip_rows` (its target moved by `flip_sign` or not), of
    least `cost`, such that each row's cells rounded up (plus its flip) number its need and each group sum lies within its
    limits. The constraint matrix is two laminar families (rows; groups within sources), so its LP is integral."""
    n = len(rows)
    parts = [(rows, np.arange(n), np.ones(n)), (flip_rows, n + np.arange(len(flip_rows)), -flip_sign)]
    lows, highs = [need_low], [need_high]
    offset = len(exact)
    for s in sums:
        mine = np.flatnonzero(cols == s.source)
        group = s.group[rows[mine]]
        parts.append((offset + group, mine, np.ones(len(mine))))
        floors = np.bincount(s.group, weights=floor[:, s.source], minlength=len(s.low))
        lows.append(s.low - floors)
        highs.append(s.high - floors)
        offset += len(s.low)
    i, j, v = (np.concatenate(x) for x in zip(*parts))
    if not len(cost):  # every cell already whole: the limits hold or not
        return np.empty(0, dtype=np.int64) if np.all(np.concatenate(lows) <= 0) and np.all(np.concatenate(highs) >= 0) else None
    matrix = coo_matrix((v, (i, j)), shape=(offset, len(cost))).tocsr()
    low, high = np.concatenate(lows), np.concatenate(highs)
    vertex = _simplex_vertex(cost, matrix, low, high)
    if vertex is not None:
        return vertex
    answer = milp(cost, integrality=np.ones(len(cost), dtype=np.int64), bounds=Bounds(0, 1),
                  constraints=LinearConstraint(matrix, low, high), options={"mip_rel_gap": 0})
    return None if answer.x is None else np.rint(answer.x).astype(np.int64)


def _simplex_vertex(cost: np.ndarray, matrix: csr_matrix, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """The LP's optimal vertex by HiGHS's simplex, which is whole because the matrix is (two laminar families); None
    when it is not optimal or not whole within 1e-9 (then the MIP decides). Measured on the even split of county
    pooling at 20,000 (22,650 cells): 0.8 s, against 22 s for scipy's milp on the same model."""
    from allocator.backends import Deadline, SolveStatus  # HiGHS is loaded where it is used (docs/performance.md, "Start-up")
    from allocator.backends.highs_run import run_highs
    from allocator.backends.options import SolverOptions
    from allocator.model.arrays import LinearModel

    count = len(cost)
    model = LinearModel(c=cost, A=matrix, row_lower=low, row_upper=high, col_lower=np.zeros(count), col_upper=np.ones(count),
                        integer=np.zeros(count, dtype=bool), col_blocks=[], row_blocks=[])
    solution = run_highs(model, SolverOptions(), Deadline(SIMPLEX_SECONDS), log=False, extra={"solver": "simplex"})
    if solution.status is not SolveStatus.OPTIMAL or solution.values is None:
        return None
    whole = np.rint(solution.values)
    if np.abs(solution.values - whole).max(initial=0.0) > 1e-9:
        return None
    activity = matrix @ whole
    return whole.astype(np.int64) if np.all(activity >= low - 1e-9) and np.all(activity <= high + 1e-9) else None


def shares_adding_up(values: np.ndarray, decimals: int) -> np.ndarray:
    """Each of `values`' share of their total to `decimals` places (of the fraction: 4 for 12.34%), rounded down or up so
    that the shares add up to exactly 1 as printed: the largest remainders round up (ties: the first). All 0 when the total is."""
    values = np.asarray(values, dtype=float)
    total = values.sum()
    if total <= 0:
        return np.zeros(len(values))
    return controlled_round(values[None, :] / total * 10**decimals)[0] / 10**decimals


def round_periods(precision: Precision, money_by_period: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Money per source and period (projects x sources x periods, 万元) rounded (sources x periods): each source's
    periods add up to its rounded total `used` (units), each period's total is its exact total rounded down or up."""
    exact = money_by_period.sum(axis=0) / precision.unit_wan
    totals = exact.sum(axis=1)
    scale = np.divide(used, totals, out=np.zeros_like(totals), where=totals > 0)
    return controlled_round(exact * scale[:, None])
