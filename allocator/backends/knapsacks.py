"""Blocks that are knapsacks with money shares, read from the matrix alone: the structure that exact pricing without
HiGHS (:mod:`allocator.backends.knapsack_pricing`) needs.

A county of the 14th plan's county pooling is such a block. Its binary columns x_j are projects; they fall into
classes k (a type in a county) whose rows are homogeneous (bounds 0 or infinite: full funding, share caps, matching)
with selection coefficients proportional to one weight per project (its cost w_j), so the class's money is
``m_k = C_k u`` with ``C_k = sum_j w_j x_j`` and u in a small bounded unit polytope P_k; and at most one row over the
money alone has a finite bound (the county's capacity: ``g·m <= cap``). A block that does not fit is left to HiGHS.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from allocator.backends.blocks import Blocks
from allocator.model.arrays import LinearModel

#: A unit polytope of more dimensions (money columns of a class) or vertices is left to HiGHS.
MAX_DIMENSION = 8
MAX_VERTICES = 64
#: Relative tolerance of the proportionality of a class's selection coefficients.
PROPORTIONAL = 1e-9


@dataclass(frozen=True)
class Knapsacks:
    """The recognised blocks (``blocks``: ids of :class:`Blocks`), as arrays over their classes and items (projects).

    Classes and items are ordered by block; ``class_bounds[b]:class_bounds[b + 1]`` are recognised block b's classes,
    and ``item_bounds`` likewise its items. A class's money columns pad with ``num_cols`` (a column of cost 0)."""

    num_cols: int
    blocks: np.ndarray  # per recognised block: its id
    capacity: np.ndarray  # per recognised block: the resource row's bound (inf: none)
    class_block: np.ndarray  # per class: its recognised block (0..len(blocks)-1)
    money: np.ndarray  # classes x width: money column indices
    vertices: np.ndarray  # classes x vertices x width: the unit polytope's vertices (padding repeats vertex 0)
    resource: np.ndarray  # classes x vertices: resource used per unit of C at each vertex
    item_column: np.ndarray
    item_class: np.ndarray
    item_weight: np.ndarray
    item_forced: np.ndarray  # lower bound 1: always selected
    idle: np.ndarray  # columns of recognised blocks that are always 0 (fixed-out projects, money of classes without one)
    class_bounds: np.ndarray
    item_bounds: np.ndarray

    @property
    def item_block(self) -> np.ndarray:
        return self.class_block[self.item_class]


def find_knapsacks(model: LinearModel, blocks: Blocks) -> Knapsacks | None:
    """The blocks of `model` that are knapsacks with money shares, or None when none is."""
    A = model.A.tocsr()
    ok = np.ones(blocks.count, dtype=bool)
    column_block, row_block = blocks.block_of_column, blocks.block_of_row
    in_block = column_block >= 0
    integer = model.integer
    lower, upper = model.col_lower, model.col_upper
    bad_integer = integer & ~(np.isin(lower, (0.0, 1.0)) & np.isin(upper, (0.0, 1.0)) & (lower <= upper))
    bad_money = ~integer & ((lower != 0) | (upper != np.inf))
    ok[column_block[in_block & (bad_integer | bad_money)]] = False

    block_rows = np.flatnonzero(row_block >= 0)
    homogeneous = (np.isin(model.row_lower, (0.0, -np.inf)) & np.isin(model.row_upper, (0.0, np.inf)))
    resource_rows = block_rows[~homogeneous[block_rows]]
    ok[row_block[resource_rows][np.bincount(row_block[resource_rows], minlength=blocks.count)[row_block[resource_rows]] > 1]] = False
    capacity = np.full(blocks.count, np.inf)
    resource = sp.csr_matrix((blocks.count, model.num_cols))
    if len(resource_rows):
        capacity, resource, usable = _resources(model, A, resource_rows, row_block[resource_rows], blocks.count)
        ok[row_block[resource_rows][~usable]] = False

    class_rows = block_rows[homogeneous[block_rows]]
    H = A[class_rows]
    labels = _classes(H, model.num_cols)
    covered = np.zeros(model.num_cols, dtype=bool)
    covered[H.indices] = True
    ok[column_block[in_block & ~covered]] = False

    classes = _class_arrays(model, H, class_rows, labels, column_block, ok)
    return _assemble(model, blocks, ok, capacity, resource, classes)


def _resources(model: LinearModel, A: sp.csr_matrix, rows: np.ndarray, owner: np.ndarray,
               count: int) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Per block: its resource row's bound and coefficients, as ``g·m <= cap`` over money alone; and per row whether
    it is usable (no binary column, and one finite bound on the side that leaves 0 feasible)."""
    low, high = model.row_lower[rows], model.row_upper[rows]
    R = A[rows]
    touches_integer = np.asarray(R[:, np.flatnonzero(model.integer)].getnnz(axis=1)).ravel() > 0
    as_upper = ~np.isfinite(low) & np.isfinite(high) & (high >= 0)
    as_lower = np.isfinite(low) & ~np.isfinite(high) & (low <= 0)
    usable = ~touches_integer & (as_upper | as_lower)
    sign = np.where(as_upper, 1.0, -1.0)
    capacity = np.full(count, np.inf)
    capacity[owner[usable]] = np.where(as_upper, high, -low)[usable]
    g = sp.diags(sign) @ R
    by_block = sp.csr_matrix((np.ones(int(usable.sum())), (owner[usable], np.flatnonzero(usable))), shape=(count, len(rows)))
    return capacity, (by_block @ g).tocsr(), usable


def _classes(H: sp.csr_matrix, num_cols: int) -> np.ndarray:
    """Per column, its class: the connected components of the columns joined by the homogeneous rows `H`."""
    n_rows = H.shape[0]
    row_nodes = np.repeat(np.arange(n_rows), np.diff(H.indptr))
    size = n_rows + num_cols
    graph = sp.coo_matrix((np.ones(H.nnz), (row_nodes, n_rows + H.indices)), shape=(size, size))
    _, labels = connected_components(graph.tocsr(), directed=False)
    return labels[n_rows:]


@dataclass(frozen=True)
class _ClassArrays:
    """Per class (of any block, ordered by class label): its block, money columns (by rank), polytope key; per item."""

    block: np.ndarray  # per class
    polytope: np.ndarray  # per class: index into `vertices`
    money: list[np.ndarray]  # per class
    vertices: list[np.ndarray | None]  # per distinct polytope
    item_column: np.ndarray  # items ordered by class
    item_class: np.ndarray
    item_weight: np.ndarray


def _class_arrays(model: LinearModel, H: sp.csr_matrix, rows: np.ndarray, labels: np.ndarray, column_block: np.ndarray,
                  ok: np.ndarray) -> _ClassArrays:
    """Every class's money, unit polytope and items (clearing `ok` for a block with a class whose selection
    coefficients are not proportional to one weight per item). Vectorised over the classes; a polytope is listed once
    for all classes that share it (7 distinct ones among 4,175 classes at 20,000 county-pooling candidates)."""
    coo = H.tocoo()
    order = np.lexsort((coo.col, coo.row, labels[coo.col]))
    row, col, value = coo.row[order], coo.col[order], coo.data[order]
    class_ids, klass = np.unique(labels[col], return_inverse=True)
    count = len(class_ids)
    item = model.integer[col]
    new_row = np.r_[True, (klass[1:] != klass[:-1]) | (row[1:] != row[:-1])]
    row_id = np.cumsum(new_row) - 1
    row_class = klass[new_row]
    first_row = np.searchsorted(row_class, np.arange(count))
    row_rank = row_id - first_row[klass]

    items = np.unique(col[item])
    item_class = np.searchsorted(class_ids, labels[items])
    items = items[np.argsort(item_class, kind="stable")]
    item_class = np.sort(item_class, kind="stable")
    per_class = np.bincount(item_class, minlength=count)
    per_row = np.bincount(row_id[item], minlength=len(row_class))
    reference = np.full(count, -1)
    ranked = np.lexsort((np.arange(len(row_class)), -per_row, row_class))
    firsts = ranked[np.r_[True, row_class[ranked][1:] != row_class[ranked][:-1]]]
    reference[row_class[firsts]] = firsts
    weight = np.zeros(model.num_cols)
    in_reference = item & (row_id == reference[klass])
    weight[col[in_reference]] = np.abs(value[in_reference])
    signs = np.zeros(count)
    np.add.at(signs, klass[in_reference], np.sign(value[in_reference]))
    bad = (per_class > 0) & ((per_row[np.maximum(reference, 0)] != per_class) | (np.abs(signs) != per_class))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = value / weight[col]
    a = np.zeros(len(row_class))
    if item.any():
        starts = np.flatnonzero(np.r_[True, row_id[item][1:] != row_id[item][:-1]])
        item_rows = row_id[item][starts]
        low_ratio, high_ratio = np.minimum.reduceat(ratio[item], starts), np.maximum.reduceat(ratio[item], starts)
        a[item_rows] = high_ratio
        uneven = (high_ratio - low_ratio > PROPORTIONAL * np.maximum(np.abs(high_ratio), 1e-300)) | (per_row[item_rows] != per_class[row_class[item_rows]])
        bad[row_class[item_rows[uneven | ~np.isfinite(ratio[item][starts])]]] = True
    class_block = column_block[col[np.searchsorted(klass, np.arange(count))]]
    ok[class_block[bad]] = False

    money_columns = np.unique(col[~item])
    money_class = np.searchsorted(class_ids, labels[money_columns])
    money_order = np.lexsort((money_columns, money_class))
    money_columns, money_class = money_columns[money_order], money_class[money_order]
    money_rank = np.zeros(model.num_cols, dtype=np.int64)
    money_rank[money_columns] = np.arange(len(money_columns)) - np.searchsorted(money_class, money_class)
    entries = np.rec.fromarrays([row_rank[~item], money_rank[col[~item]], np.round(value[~item], 12)])
    row_low, row_high = model.row_lower[rows[row[new_row]]], model.row_upper[rows[row[new_row]]]
    row_signature = np.rec.fromarrays([np.round(a, 12), row_low, row_high])
    entry_bounds = np.searchsorted(klass[~item], np.arange(count + 1))
    row_bounds = np.searchsorted(row_class, np.arange(count + 1))
    money_bounds = np.searchsorted(money_class, np.arange(count + 1))
    keys: dict[bytes, int] = {}
    polytope = np.zeros(count, dtype=np.int64)
    vertices: list[np.ndarray | None] = []
    for k in range(count):
        key = entries[entry_bounds[k]:entry_bounds[k + 1]].tobytes() + b"|" + row_signature[row_bounds[k]:row_bounds[k + 1]].tobytes()
        if key not in keys:
            keys[key] = len(vertices)
            width = money_bounds[k + 1] - money_bounds[k]
            B = np.zeros((row_bounds[k + 1] - row_bounds[k], width))
            local = entries[entry_bounds[k]:entry_bounds[k + 1]]
            B[local["f0"], local["f1"]] = value[~item][entry_bounds[k]:entry_bounds[k + 1]]
            span = slice(row_bounds[k], row_bounds[k + 1])
            vertices.append(unit_polytope(a[span], B, row_low[span], row_high[span]))
        polytope[k] = keys[key]
    return _ClassArrays(block=class_block, polytope=polytope,
                        money=np.split(money_columns, money_bounds[1:-1]), vertices=vertices,
                        item_column=items, item_class=item_class, item_weight=weight[items])


def unit_polytope(a: np.ndarray, B: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """The vertices of ``{u >= 0 : low <= a + B u <= high}`` (bounds 0 or infinite); None when it is unbounded or too
    large to list (more than MAX_DIMENSION money columns or MAX_VERTICES vertices). An empty array: it is empty."""
    count, dimension = B.shape
    if dimension > MAX_DIMENSION:
        return None
    equal = (low == 0) & (high == 0)
    below, above = (high == 0) & ~equal, (low == 0) & ~equal  # a + B u <= 0 and a + B u >= 0
    G = np.vstack([B[equal], B[below], -B[above], -np.eye(dimension)])
    h = np.concatenate([-a[equal], -a[below], a[above], np.zeros(dimension)])
    is_equal = np.concatenate([np.ones(int(equal.sum()), bool), np.zeros(len(h) - int(equal.sum()), bool)])
    if dimension == 0:
        feasible = np.all(np.abs(h[is_equal]) <= 1e-12) and np.all(h[~is_equal] >= -1e-12)
        return np.zeros((1 if feasible else 0, 0))
    cone = linprog(-np.ones(dimension), A_ub=np.vstack([G[~is_equal][:-dimension], np.ones((1, dimension))]),
                   b_ub=np.append(np.zeros(int((~is_equal).sum()) - dimension), 1.0),
                   A_eq=G[is_equal] if is_equal.any() else None, b_eq=np.zeros(int(is_equal.sum())) if is_equal.any() else None,
                   bounds=[(0, None)] * dimension, method="highs")
    if cone.status != 0 or cone.fun is None or -cone.fun > 1e-9:
        return None  # money without a selection: not a knapsack
    scale = 1.0 + np.abs(h).max()
    vertices: list[np.ndarray] = []
    for chosen in itertools.combinations(range(len(h)), dimension):
        M = G[list(chosen)]
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        u = np.linalg.solve(M, h[list(chosen)])
        slack = G @ u - h
        if np.all(slack[~is_equal] <= 1e-9 * scale) and np.all(np.abs(slack[is_equal]) <= 1e-9 * scale):
            u = np.where(np.abs(u) < 1e-14, 0.0, u)
            if not any(np.allclose(u, v, rtol=1e-10, atol=1e-12) for v in vertices):
                vertices.append(u)
                if len(vertices) > MAX_VERTICES:
                    return None
    return np.array(vertices).reshape(-1, dimension)


def _assemble(model: LinearModel, blocks: Blocks, ok: np.ndarray, capacity: np.ndarray, resource: sp.csr_matrix,
              classes: _ClassArrays) -> Knapsacks | None:
    """The arrays of :class:`Knapsacks` over the classes of the blocks still `ok`: a class with live items and a
    non-empty polytope is priced; its fixed-out items, and a class with none live (or an empty polytope) and its money,
    are idle. A block with a forced item in a class it cannot fund, or an unbounded polytope, is left to HiGHS."""
    live_item = model.col_upper[classes.item_column] > 0
    live_count = np.bincount(classes.item_class[live_item], minlength=len(classes.block))
    forced = np.bincount(classes.item_class[model.col_lower[classes.item_column] > 0], minlength=len(classes.block))
    listed = np.array([v is not None for v in classes.vertices])[classes.polytope]
    empty = np.array([v is not None and len(v) == 0 for v in classes.vertices])[classes.polytope]
    ok[classes.block[~listed | (empty & (forced > 0))]] = False
    if not ok.any():
        return None
    priced = ok[classes.block] & listed & ~empty & (live_count > 0)
    idle_class = ok[classes.block] & ~priced
    idle = [classes.item_column[ok[classes.block[classes.item_class]] & ~live_item]]
    idle += [classes.item_column[idle_class[classes.item_class]]] + [classes.money[k] for k in np.flatnonzero(idle_class)]
    recognised = np.flatnonzero(ok)
    index_of = np.full(blocks.count, -1)
    index_of[recognised] = np.arange(len(recognised))
    order = np.flatnonzero(priced)
    order = order[np.argsort(classes.block[order], kind="stable")]
    width = max(len(classes.money[k]) for k in order) or 1
    most = max(len(v) for v in (classes.vertices[classes.polytope[k]] for k in order) if v is not None)
    money = np.full((len(order), width), model.num_cols)
    vertices = np.zeros((len(order), most, width))
    for i, k in enumerate(order):
        own = classes.vertices[classes.polytope[k]]
        assert own is not None
        d, v = len(classes.money[k]), len(own)
        money[i, :d] = classes.money[k]
        vertices[i, :v, :d] = own
        vertices[i, v:, :d] = own[0]
    owner = np.repeat(classes.block[order], width)
    padded = money.ravel() < model.num_cols
    g = np.zeros(money.size)
    g[padded] = np.asarray(resource[owner[padded], money.ravel()[padded]]).ravel()
    position = np.full(len(classes.block), -1)
    position[order] = np.arange(len(order))
    item = live_item & priced[classes.item_class]
    item_class = position[classes.item_class[item]]
    item_order = np.argsort(item_class, kind="stable")
    class_block = index_of[classes.block[order]]
    return Knapsacks(
        num_cols=model.num_cols, blocks=recognised, capacity=capacity[recognised], class_block=class_block, money=money,
        vertices=vertices, resource=np.einsum("kvd,kd->kv", vertices, g.reshape(money.shape)),
        item_column=classes.item_column[item][item_order], item_class=item_class[item_order],
        item_weight=classes.item_weight[item][item_order],
        item_forced=model.col_lower[classes.item_column[item][item_order]] > 0,
        idle=np.concatenate(idle).astype(np.int64),
        class_bounds=np.searchsorted(class_block, np.arange(len(recognised) + 1)),
        item_bounds=np.searchsorted(class_block[item_class[item_order]], np.arange(len(recognised) + 1)),
    )


__all__ = ["Knapsacks", "find_knapsacks", "unit_polytope"]
