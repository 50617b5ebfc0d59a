"""Money rounded to the unit a run states (``[output] money_precision``), so that every table adds up exactly.

Rounding a plan is a matrix-rounding problem: rows are projects (each must add up to its rounded cost),
columns are sources (each must add up to the total by_source.csv shows). :func:`controlled_round` rounds
every cell down or up (a cell already whole stays as it is, so a source that gives nothing still gives
nothing): each row rounds up its largest remainders, then columns whose sum left the range of their
exact value rounded down or up (or went above a budget) are repaired by moving a rounding-up to another
cell of the same row, along the cheapest path of columns: the augmenting paths of a small flow problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.errors import InternalError

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

    def to_wan(self, units: np.ndarray | int) -> np.ndarray:
        """Whole units back to 万元, each the float nearest its decimal (so it is written as that decimal)."""
        units = np.asarray(units, dtype=np.int64)
        if self.decimals:
            return units / 10**self.decimals + 0.0
        return (units * round(self.unit_wan)).astype(float)


def controlled_round(values: np.ndarray, column_limits: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """`values` (rows x columns, in units, >= 0, each row adding up to a whole number) as whole numbers.

    Each cell is its value rounded down or up; each row keeps its sum; each column sum is its exact
    value rounded down or up, within `column_limits` (low, high per column) where that range allows.
    Each row first rounds up its largest remainders (ties: the first column); columns outside their
    range are then repaired by moving a rounding-up from one cell of a row to another of the same row,
    the moves that cost the least remainder first, along a shortest path of columns."""
    values = np.where(np.abs(values - np.rint(values)) < NOISE_UNITS, np.rint(values), values)
    floor = np.floor(values)
    remainder = values - floor
    up = _largest_remainders(remainder, np.rint(values.sum(axis=1)) - floor.sum(axis=1))
    low, high = _column_range(values.sum(axis=0), column_limits)
    _repair_columns(remainder, up, low - floor.sum(axis=0), high - floor.sum(axis=0))
    return floor.astype(np.int64) + up


def _largest_remainders(remainder: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row, 1 in the `count` cells of largest remainder (ties: the first column), 0 elsewhere."""
    order = np.argsort(-remainder, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(remainder.shape[1])[None, :].repeat(len(remainder), axis=0), axis=1)
    up = (rank < count[:, None]).astype(np.int64)
    if np.any(up & (remainder <= 0)):
        raise InternalError("a row of money cannot round to its sum (a bug; nothing was written)")
    return up


def _column_range(sums: np.ndarray, limits: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """Each column's sum rounded down and up, narrowed to `limits` where the range allows and the total still fits."""
    low, high = np.floor(sums + NOISE_UNITS), np.ceil(sums - NOISE_UNITS)
    if limits is None:
        return low, high
    narrow_high = np.maximum(low, np.minimum(high, limits[1]))
    narrow_low = np.minimum(narrow_high, np.maximum(low, limits[0]))
    total = np.rint(sums.sum())
    if narrow_low.sum() <= total <= narrow_high.sum():
        return narrow_low, narrow_high
    return low, high


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
    cost: np.ndarray  # per project: its cost
    money: np.ndarray  # projects x sources; a funded row adds up to its cost (x its selection)


def round_plan(precision: Precision, money: np.ndarray, cost: np.ndarray, selected: np.ndarray, budgets: np.ndarray,
               min_spend: np.ndarray) -> RoundedMoney:
    """`money` (projects x sources, 万元) rounded: each project's row adds up to its rounded cost x selection,
    each source's column to its exact total rounded down or up (never above its budget when rounding down
    allows); each project's money from a source is its exact share of the rounded cost, rounded down or up."""
    exact = np.clip(money, 0.0, None) / precision.unit_wan  # a -1e-06 is solver noise
    row_sum = exact.sum(axis=1)
    target = precision.units(cost * selected).astype(float)
    target = np.where(np.abs(target - row_sum) <= 1.0, target, np.rint(row_sum))  # money not adding up to cost x selection
    scale = np.divide(target, row_sum, out=np.zeros_like(row_sum), where=row_sum > 0)
    limits = (np.ceil(min_spend / precision.unit_wan - 1e-9), np.floor(budgets / precision.unit_wan + 1e-9))
    return RoundedMoney(precision, precision.units(cost), controlled_round(exact * scale[:, None], limits))


def round_periods(precision: Precision, money_by_period: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Money per source and period (projects x sources x periods, 万元) rounded (sources x periods): each source's
    periods add up to its rounded total `used` (units), each period's total is its exact total rounded down or up."""
    exact = money_by_period.sum(axis=0) / precision.unit_wan
    totals = exact.sum(axis=1)
    scale = np.divide(used, totals, out=np.zeros_like(totals), where=totals > 0)
    return controlled_round(exact * scale[:, None])
