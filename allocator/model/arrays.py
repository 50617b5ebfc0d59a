"""A linear model as arrays (minimise c·x subject to row bounds on A·x and column bounds), and its builder.

Blocks of variables and rows are added whole, from numpy arrays, never one Python object per project.
Each block says what it is: its kind (a closed set), the scenario's rule it belongs to, and the group of
each member, so code that reads a model asks for rows by kind instead of parsing names.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd
import scipy.sparse as sp

INF = np.inf


class RowKind(StrEnum):
    """What a block of rows says; the key of a block names the source, count, indicator or share rule."""

    ONE_START = "one_start"  # per project: it starts at most once
    FULL_FUNDING = "full_funding"  # per class and period: the money pays the cost
    MATCHING = "matching"  # per class and period, key: the matching source
    SHARE_CAP = "share_cap"  # per class and period, key: the source paying at most a share of the cost
    STANDARD = "standard"  # per class and period, key: the source paying a fixed share or amount (补助标准)
    ABSOLUTE_CAP = "absolute_cap"  # per one-project class and source whose cap is below the cost
    BUDGET = "budget"  # per period, key: the source
    MIN_SPEND = "min_spend"  # one row, key: the source
    CAPACITY = "capacity"  # per province or region, key: the source
    COUNT = "count"  # one row, key: the count
    MIN_PER_REGION = "min_per_region"  # per region with candidates
    INDICATOR = "indicator"  # per group with a denominator, key: the indicator
    SHARE_MIN = "share_min"  # one row, key: the share rule
    SHARE_MAX = "share_max"  # one row, key: the share rule
    ZONE_GAP = "zone_gap"  # per ordered pair of zones, key: the indicator: zone a's value - zone b's <= max_zone_gap
    PER_RESIDENT_MIN = "per_resident_min"  # per province or zone with residents, key: the per-resident rule
    PER_RESIDENT_MAX = "per_resident_max"  # per province or zone with residents, key: the per-resident rule
    STATUS = "status"  # per project with a status, key: must_fund, exclude or continuing
    KEEP = "keep"  # per project funded in the reference plan that [stability] keeps
    BENEFIT_CAP = "benefit_cap"  # per region with candidates of a type whose benefit is capped, key: the type
    FLOOR = "floor"  # per group of [objective] raise_lowest's indicator, key: the indicator: the floor is at most its value


class ColumnKind(StrEnum):
    """What a block of variables is."""

    SELECT = "select"  # per project (and start period): x
    FUNDED = "funded"  # per project, with several start periods: z = sum of its starts
    MONEY = "money"  # per class, source (and period)
    SHORTFALL = "shortfall"  # per group of a soft target, key: the indicator
    SLACK = "slack"  # the diagnosis's elastic columns
    BENEFIT = "benefit"  # per region with candidates of a capped type, key: the type: its benefit, at most the cap
    FLOOR = "floor"  # one column with [objective] raise_lowest, key: the indicator: the lowest group's value


@dataclass(frozen=True)
class Block:
    """A run of consecutive rows or columns of one kind.

    `key` is the scenario's name of the rule it belongs to ("" for a block the model has once);
    `labels` name each member's group (a year, province, region, project), None when it has none.
    """

    kind: RowKind | ColumnKind
    key: str
    start: int
    stop: int
    labels: np.ndarray | None = None

    @property
    def name(self) -> str:
        """``kind:key`` (the kind alone without a key), for people and model files."""
        return f"{self.kind}:{self.key}" if self.key else str(self.kind)

    @property
    def indices(self) -> np.ndarray:
        return np.arange(self.start, self.stop)

    @property
    def groups(self) -> np.ndarray:
        """Each member's group as text ("" for every member when the block has no labels)."""
        if self.labels is None:
            return np.full(self.stop - self.start, "", dtype=object)
        return np.array([str(label) for label in self.labels], dtype=object)

    def label(self, index: int) -> str:
        offset = index - self.start
        return f"{self.name}[{self.labels[offset] if self.labels is not None else offset}]"


@dataclass
class LinearModel:
    """``min c·x + offset`` s.t. ``row_lower <= A x <= row_upper``, ``col_lower <= x <= col_upper``.

    ``objective_sign`` is -1 when the scenario maximises: the reported objective is
    ``objective_sign * (c·x + offset)``.
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    col_blocks: list[Block]
    row_blocks: list[Block]
    offset: float = 0.0
    objective_sign: float = 1.0

    @property
    def num_cols(self) -> int:
        return len(self.c)

    @property
    def num_rows(self) -> int:
        return len(self.row_lower)

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def rows(self, *kinds: RowKind) -> list[Block]:
        """The row blocks of `kinds`, in the model's order."""
        return [block for block in self.row_blocks if block.kind in kinds]

    def row_frame(self, *kinds: RowKind, **values: np.ndarray) -> pd.DataFrame:
        """One line per row of the blocks of `kinds`, in the model's order and indexed by row: the block's kind and key,
        the row's group, and for each keyword that array's entry for the row (arrays over every row of the model,
        such as duals, activities or bounds)."""
        blocks = self.rows(*kinds)
        sizes = [b.stop - b.start for b in blocks]
        rows = np.concatenate([b.indices for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
        frame = pd.DataFrame({
            "kind": np.repeat(np.array([b.kind for b in blocks], dtype=object), sizes),
            "key": np.repeat(np.array([b.key for b in blocks], dtype=object), sizes),
            "group": np.concatenate([b.groups for b in blocks]) if blocks else np.zeros(0, dtype=object),
        }, index=pd.Index(rows, name="row"))
        for name, array in values.items():
            frame[name] = np.asarray(array)[rows]
        return frame

    def col_name(self, index: int) -> str:
        return _find(self.col_blocks, index).label(index)

    def row_name(self, index: int) -> str:
        return _find(self.row_blocks, index).label(index)

    def relaxed(self) -> LinearModel:
        """The same model with every integrality dropped."""
        return replace(self, integer=np.zeros_like(self.integer))


def _find(blocks: list[Block], index: int) -> Block:
    return blocks[bisect_right([b.start for b in blocks], index) - 1]


@dataclass
class ModelBuilder:
    """Collects variable blocks, row blocks (as COO triplets) and objective terms."""

    _lower: list[np.ndarray] = field(default_factory=list)
    _upper: list[np.ndarray] = field(default_factory=list)
    _integer: list[np.ndarray] = field(default_factory=list)
    _cost: list[np.ndarray] = field(default_factory=list)
    _rows: list[np.ndarray] = field(default_factory=list)
    _cols: list[np.ndarray] = field(default_factory=list)
    _vals: list[np.ndarray] = field(default_factory=list)
    _row_lower: list[np.ndarray] = field(default_factory=list)
    _row_upper: list[np.ndarray] = field(default_factory=list)
    col_blocks: list[Block] = field(default_factory=list)
    row_blocks: list[Block] = field(default_factory=list)
    num_cols: int = 0
    num_rows: int = 0
    offset: float = 0.0

    def add_variables(self, kind: ColumnKind, count: int, *, key: str = "", lower: float | np.ndarray = 0.0,
                      upper: float | np.ndarray = INF, integer: bool = False, labels: np.ndarray | None = None) -> np.ndarray:
        """Add `count` variables; returns their column indices."""
        self._lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        self._integer.append(np.full(count, integer))
        self._cost.append(np.zeros(count))
        block = Block(kind, key, self.num_cols, self.num_cols + count, labels)
        self.col_blocks.append(block)
        self.num_cols += count
        return block.indices

    def add_rows(self, kind: RowKind, count: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, *, key: str = "",
                 lower: float | np.ndarray = -INF, upper: float | np.ndarray = INF, labels: np.ndarray | None = None) -> np.ndarray:
        """Add `count` rows from triplets whose `rows` count from 0 within this block; returns row indices."""
        rows, cols, vals = (np.asarray(a) for a in (rows, cols, vals))
        keep = vals != 0
        self._rows.append(rows[keep].astype(np.int64) + self.num_rows)
        self._cols.append(cols[keep].astype(np.int64))
        self._vals.append(vals[keep].astype(float))
        self._row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self._row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        block = Block(kind, key, self.num_rows, self.num_rows + count, labels)
        self.row_blocks.append(block)
        self.num_rows += count
        return block.indices

    def add_objective(self, cols: np.ndarray, coefs: np.ndarray | float) -> None:
        """Add `coefs` to the (minimised) objective coefficients of `cols`."""
        cost = np.concatenate(self._cost) if len(self._cost) > 1 else self._cost[0]
        np.add.at(cost, np.asarray(cols), np.broadcast_to(np.asarray(coefs, dtype=float), np.shape(cols)))
        self._cost = [cost]

    def build(self, objective_sign: float = 1.0) -> LinearModel:
        def cat(parts: list[np.ndarray], dtype: type = float) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        A = sp.csr_matrix(
            (cat(self._vals), (cat(self._rows, np.int64), cat(self._cols, np.int64))),
            shape=(self.num_rows, self.num_cols),
        )
        A.sum_duplicates()
        return LinearModel(
            c=cat(self._cost), A=A, row_lower=cat(self._row_lower), row_upper=cat(self._row_upper),
            col_lower=cat(self._lower), col_upper=cat(self._upper), integer=cat(self._integer, bool),
            col_blocks=list(self.col_blocks), row_blocks=list(self.row_blocks), offset=self.offset,
            objective_sign=objective_sign,
        )
