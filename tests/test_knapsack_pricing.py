"""Pricing county blocks without HiGHS: each block's plan and bound are checked against HiGHS solving the same block
alone to a gap of 1e-9, under the LP relaxation's prices and under prices far from them; and blocks whose rows are
not a knapsack with money shares are left to HiGHS."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from allocator import load_scenario
from allocator.backends import Deadline
from allocator.backends.blocks import find_blocks
from allocator.backends.decomposition import _valid_prices
from allocator.backends.highs_run import run_highs
from allocator.backends.knapsack_pricing import price_knapsacks
from allocator.backends.knapsacks import find_knapsacks, unit_polytope
from allocator.backends.options import SolverOptions
from allocator.model.arrays import LinearModel
from allocator.solve import build
from test_decomposition import county_case


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    model = build(load_scenario(county_case(Path(tmp_path_factory.mktemp("counties"))))).linear
    blocks = find_blocks(model)
    assert blocks is not None
    relaxation = run_highs(model.relaxed(), SolverOptions(), Deadline(60), log=False)
    return model, blocks, _valid_prices(model, blocks, relaxation.row_duals[blocks.linking])


def block_alone(model: LinearModel, blocks, b: int, reduced: np.ndarray):
    """Block b's own MIP under `reduced`, solved by HiGHS to 1e-9: (its columns, rows, objective, proven bound)."""
    columns, column_bounds = blocks.columns()
    rows, row_bounds = blocks.rows()
    c, r = columns[column_bounds[b]:column_bounds[b + 1]], rows[row_bounds[b]:row_bounds[b + 1]]
    A = model.A.tocsr()[r][:, c].tocsr()
    alone = LinearModel(c=reduced[c], A=A, row_lower=model.row_lower[r], row_upper=model.row_upper[r], col_lower=model.col_lower[c],
                        col_upper=model.col_upper[c], integer=model.integer[c], col_blocks=[], row_blocks=[])
    solved = run_highs(alone, SolverOptions(mip_rel_gap=1e-9), Deadline(60), log=False)
    return c, r, A, solved.objective, solved.dual_bound


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0, 0.0, -1.0])
def test_every_block_gets_the_plan_and_bound_highs_proves_alone(county, scale):
    # scale 1: the relaxation's prices; 0.5 and 2: prices far from them; 0: no prices (every block's capacity binds);
    # -1: prices whose signs make money earn (negative reduced costs on money).
    model, blocks, prices = county
    knapsacks = find_knapsacks(model, blocks)
    assert knapsacks is not None and len(knapsacks.blocks) == blocks.count
    linking = model.A.tocsr()[np.flatnonzero(blocks.linking)]
    reduced = model.c - linking.T @ (scale * prices)
    priced = price_knapsacks(knapsacks, reduced)
    for i, b in enumerate(knapsacks.blocks):
        columns, rows, A, objective, bound = block_alone(model, blocks, int(b), reduced)
        plan = priced.values[columns]
        activity = A @ plan
        slack = 1e-7 * np.maximum(1.0, abs(A) @ np.abs(plan))
        assert np.all(activity >= model.row_lower[rows] - slack) and np.all(activity <= model.row_upper[rows] + slack), b
        assert np.array_equal(plan[model.integer[columns]], np.round(plan[model.integer[columns]]))
        tolerance = max(1e-6, 1e-7 * abs(objective))
        assert float(reduced[columns] @ plan) == pytest.approx(priced.objective[i], abs=tolerance)
        assert priced.objective[i] <= objective + tolerance  # as good as HiGHS's plan
        assert priced.bound[i] <= objective + tolerance  # a true bound
        assert priced.objective[i] - priced.bound[i] <= tolerance  # and proven tight
        assert bound is None or bound <= priced.objective[i] + tolerance


def test_a_block_that_is_not_a_knapsack_with_money_shares_is_left_to_highs(county):
    # A county whose capacity row also counts a project (a row over a selection with a finite bound), and one with a
    # second capacity row, are not knapsacks with money shares: only they are left out.
    model, blocks, _ = county
    columns, column_bounds = blocks.columns()
    first, second = columns[column_bounds[0]:column_bounds[1]], columns[column_bounds[1]:column_bounds[2]]
    selection = first[model.integer[first]][0]
    money = second[~model.integer[second]][0]
    extra = np.zeros((2, model.num_cols))
    extra[0, [selection, first[~model.integer[first]][0]]] = 1.0
    extra[1, money] = 1.0
    changed = replace(model, A=sp.vstack([model.A, sp.csr_matrix(extra)]).tocsr(), row_lower=np.append(model.row_lower, [-np.inf, -np.inf]),
                      row_upper=np.append(model.row_upper, [50.0, 80.0]))
    changed_blocks = find_blocks(changed)
    assert changed_blocks is not None and changed_blocks.count == blocks.count
    knapsacks = find_knapsacks(changed, changed_blocks)
    assert knapsacks is not None
    left_out = set(range(changed_blocks.count)) - set(knapsacks.blocks.tolist())
    assert left_out == {changed_blocks.block_of_column[selection], changed_blocks.block_of_column[money]}


def test_the_unit_polytope_of_money_shares_is_listed_by_its_vertices():
    # u = (central, local) per unit of cost: u_c + u_l = 1, u_c <= 0.5, u_l >= u_c (matching 1:1): the segment from
    # (0.5, 0.5) to (0, 1). Without the full-funding row the money has no bound: not a knapsack.
    a = np.array([-1.0, -0.5, 0.0])
    B = np.array([[1.0, 1.0], [1.0, 0.0], [-1.0, 1.0]])
    low, high = np.array([0.0, -np.inf, 0.0]), np.array([0.0, 0.0, np.inf])
    vertices = unit_polytope(a, B, low, high)
    assert vertices is not None
    assert sorted(map(tuple, np.round(vertices, 12))) == [(0.0, 1.0), (0.5, 0.5)]
    assert unit_polytope(a[1:], B[1:], low[1:], high[1:]) is None
