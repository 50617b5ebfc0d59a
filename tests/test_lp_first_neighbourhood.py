"""LP-first's wider stage frees at most NEIGHBOURHOOD_MAX integral selections, however many rows the model has."""

import numpy as np
import scipy.sparse as sp

from allocator.backends.highs import NEIGHBOURHOOD_MAX, NEIGHBOURHOOD_PER_ROW, _neighbourhood
from allocator.model.arrays import LinearModel


def model_of(rows: int, columns: int) -> LinearModel:
    """`columns` binary selections under `rows` rows (a capacity per county makes rows grow with n)."""
    return LinearModel(c=-np.ones(columns), A=sp.csr_matrix((rows, columns)),  # only the shape matters here
                       row_lower=np.full(rows, -np.inf), row_upper=np.ones(rows), col_lower=np.zeros(columns),
                       col_upper=np.ones(columns), integer=np.ones(columns, dtype=bool), col_blocks=[], row_blocks=[])


def test_the_neighbourhood_is_capped_when_rows_grow_with_n():
    model = model_of(rows=6_000, columns=20_000)  # five per row would be 30,000: every selection
    fractional = np.zeros(20_000, dtype=bool)
    fractional[:100] = True
    reduced = np.random.default_rng(0).normal(size=20_000)
    free = _neighbourhood(model, fractional, reduced, NEIGHBOURHOOD_PER_ROW)
    assert free[:100].all()
    assert free.sum() == 100 + NEIGHBOURHOOD_MAX
    # The integral selections it frees are those nearest the margin.
    chosen = np.abs(reduced[100:][free[100:]])
    assert chosen.max() <= np.sort(np.abs(reduced[100:]))[NEIGHBOURHOOD_MAX - 1]


def test_few_rows_free_five_per_row():
    model = model_of(rows=50, columns=20_000)
    free = _neighbourhood(model, np.zeros(20_000, dtype=bool), np.arange(20_000, dtype=float), NEIGHBOURHOOD_PER_ROW)
    assert np.flatnonzero(free).tolist() == list(range(50 * NEIGHBOURHOOD_PER_ROW))
