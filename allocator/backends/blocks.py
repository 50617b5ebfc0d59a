"""The block structure of a model: independent blocks (a county's projects and money, with its capacity) tied together
by a handful of linking rows (national budgets, counts, shares, targets per zone).

Read off the matrix alone: rows are taken in order of length, and the longest length T is found for which the rows no
longer than T join the columns into blocks of at most ``MAX_BLOCK_SHARE`` of the columns; the longer rows link the
blocks. A column in no block row (a soft target's shortfall) belongs to no block: the master keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from allocator.model.arrays import LinearModel

#: A block holds at most this share of the columns (and at least MIN_BLOCK_COLUMNS may always be joined).
MAX_BLOCK_SHARE = 0.01
MIN_BLOCK_COLUMNS = 64
#: Decompose only into at least this many blocks ...
MIN_BLOCKS = 50
#: ... tied by at most this share of the rows (and never more than MAX_LINKING_ROWS).
MAX_LINKING_SHARE = 0.02
MAX_LINKING_ROWS = 500


@dataclass(frozen=True)
class Blocks:
    """``block_of_column[j]`` is column j's block (-1: in no block row, kept by the master); ``linking`` marks the rows
    that tie blocks together; ``block_of_row[i]`` is row i's block (-1 for a linking row)."""

    block_of_column: np.ndarray
    block_of_row: np.ndarray
    linking: np.ndarray
    count: int

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(columns, bounds): the block columns ordered by block; block b's are ``columns[bounds[b]: bounds[b + 1]]``."""
        return _grouped(self.block_of_column, self.count)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, bounds): the block rows ordered by block, as :meth:`columns`."""
        return _grouped(self.block_of_row, self.count)

    def blocks_of(self, columns: np.ndarray) -> np.ndarray:
        """The blocks that hold any of `columns` (bool per column), as bool per block."""
        chosen = np.zeros(self.count, dtype=bool)
        chosen[self.block_of_column[columns & (self.block_of_column >= 0)]] = True
        return chosen

    def columns_of(self, chosen: np.ndarray) -> np.ndarray:
        """The columns of the `chosen` blocks (bool per block) and those in no block, as bool per column."""
        return (self.block_of_column < 0) | chosen[np.maximum(self.block_of_column, 0)]


def _grouped(owner: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    members = np.flatnonzero(owner >= 0)
    members = members[np.argsort(owner[members], kind="stable")]
    return members, np.searchsorted(owner[members], np.arange(count + 1))


def find_blocks(model: LinearModel) -> Blocks | None:
    """The model's blocks and linking rows, or None when it does not fall into many small blocks tied by few rows."""
    A = model.A.tocsr()
    lengths = np.diff(A.indptr)
    limit = max(MIN_BLOCK_COLUMNS, int(MAX_BLOCK_SHARE * model.num_cols))
    candidates = np.unique(lengths[lengths > 0])
    low, high = 0, len(candidates) - 1  # the largest threshold whose blocks stay within the limit
    best: tuple[np.ndarray, np.ndarray] | None = None
    while low <= high:
        middle = (low + high) // 2
        labels, sizes = _components(A, lengths <= candidates[middle])
        if sizes.max(initial=0) <= limit:
            best, low = (labels, lengths <= candidates[middle]), middle + 1
        else:
            high = middle - 1
    if best is None:
        return None
    labels, inside = best
    linking = ~inside & (lengths > 0)
    if linking.sum() > min(MAX_LINKING_ROWS, MAX_LINKING_SHARE * model.num_rows):
        return None
    in_block_row = np.zeros(model.num_cols, dtype=bool)
    in_block_row[A[np.flatnonzero(inside & (lengths > 0))].indices] = True
    _, block_of_column = np.unique(np.where(in_block_row, labels, -1), return_inverse=True)
    block_of_column = block_of_column - (0 if in_block_row.all() else 1)  # -1 stays for columns in no block row
    count = int(block_of_column.max()) + 1
    if count < MIN_BLOCKS:
        return None
    first_column = A.indices[np.minimum(A.indptr[:-1], max(A.nnz - 1, 0))]
    block_of_row = np.where(inside & (lengths > 0), block_of_column[first_column], -1)
    return Blocks(block_of_column=block_of_column, block_of_row=block_of_row, linking=linking, count=count)


def _components(A: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The connected components of the columns joined by `rows` (bool per row): labels per column and their sizes."""
    chosen = A[np.flatnonzero(rows)]
    n_rows, n_cols = chosen.shape
    row_nodes = np.repeat(np.arange(n_rows), np.diff(chosen.indptr))
    graph = sp.coo_matrix((np.ones(chosen.nnz), (row_nodes, n_rows + chosen.indices)), shape=(n_rows + n_cols, n_rows + n_cols))
    _, labels = connected_components(graph.tocsr(), directed=False)
    column_labels = labels[n_rows:]
    return column_labels, np.bincount(column_labels)
