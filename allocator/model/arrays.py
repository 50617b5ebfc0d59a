"""A linear model as arrays (minimise c·x subject to row bounds on A·x and column bounds), and its builder.

Blocks of variables and rows are added whole, from numpy arrays, never one Python object per project.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

INF = np.inf


@dataclass(frozen=True)
class Block:
    """A named run of consecutive variables or rows; `labels` name its members for people."""

    name: str
    start: int
    stop: int
    labels: np.ndarray | None = None

    @property
    def indices(self) -> np.ndarray:
        return np.arange(self.start, self.stop)

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

    def block(self, name: str, rows: bool = False) -> Block:
        return next(b for b in (self.row_blocks if rows else self.col_blocks) if b.name == name)

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

    def add_variables(self, name: str, count: int, *, lower: float | np.ndarray = 0.0, upper: float | np.ndarray = INF,
                      integer: bool = False, labels: np.ndarray | None = None) -> np.ndarray:
        """Add `count` variables; returns their column indices."""
        self._lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self._upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        self._integer.append(np.full(count, integer))
        self._cost.append(np.zeros(count))
        block = Block(name, self.num_cols, self.num_cols + count, labels)
        self.col_blocks.append(block)
        self.num_cols += count
        return block.indices

    def add_rows(self, name: str, count: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, *,
                 lower: float | np.ndarray = -INF, upper: float | np.ndarray = INF, labels: np.ndarray | None = None) -> np.ndarray:
        """Add `count` rows from triplets whose `rows` count from 0 within this block; returns row indices."""
        rows, cols, vals = (np.asarray(a) for a in (rows, cols, vals))
        keep = vals != 0
        self._rows.append(rows[keep].astype(np.int64) + self.num_rows)
        self._cols.append(cols[keep].astype(np.int64))
        self._vals.append(vals[keep].astype(float))
        self._row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self._row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        block = Block(name, self.num_rows, self.num_rows + count, labels)
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
