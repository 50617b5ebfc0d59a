"""The two-step API: ``build(scenario)`` then ``.solve()``, ``.write(path)`` or ``.rows(kind)``.

``build(...).solve()`` is ``solve(...)``; a written model, read back by HiGHS, solves to the same optimum
and names its rows and columns after the scenario's rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from allocator import AllocationModel, build, load_scenario, solve
from allocator.backends.highs import file_names, write_model
from allocator.errors import InputError
from allocator.model.arrays import Block, ColumnKind, LinearModel, RowKind

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
EXACT = ["solver.mip_rel_gap=0"]
LEGAL = re.compile(r"[A-Za-z0-9_.()@]+")


@pytest.fixture(scope="module")
def demo() -> AllocationModel:
    return build(load_scenario(DEMO, EXACT))


def read_back(path: Path) -> highspy.Highs:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", 0.0)
    assert highs.readModel(str(path)) == highspy.HighsStatus.kOk
    return highs


def test_build_then_solve_is_solve(demo):
    two_steps = demo.solve(marginal="full")
    one_call = solve(load_scenario(DEMO, EXACT), marginal="full")
    assert two_steps.status == one_call.status
    assert two_steps.objective == pytest.approx(one_call.objective, rel=1e-12)
    pd.testing.assert_frame_equal(two_steps.allocation, one_call.allocation)
    pd.testing.assert_frame_equal(two_steps.marginal, one_call.marginal)
    assert {"read_and_validate", "build", "solve", "recover_and_verify", "marginal"} <= set(two_steps.timings)


def test_a_built_model_solves_again_with_its_own_timings(demo):
    first, second = demo.solve(marginal="none"), demo.solve(marginal="none")
    assert first.objective == second.objective
    assert first.timings is not second.timings and "solve" not in demo.timings


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_a_written_model_solves_to_the_same_optimum_with_named_rows_and_columns(demo, tmp_path, suffix):
    path = demo.write(tmp_path / f"model{suffix}")
    highs = read_back(path)
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    # the demo maximises benefit, and so does the file: the optimum is the result's objective, sign and all
    assert highs.getInfo().objective_function_value == pytest.approx(demo.solve(marginal="none").objective, rel=1e-9)
    lp = highs.getLp()
    columns, rows = list(lp.col_names_), list(lp.row_names_)
    assert "select(D001)" in columns and "money(class0.central)" in columns
    assert {"budget.central", "budget.lottery", "budget.local", "count.centres"} <= set(rows)
    assert "capacity.local(___)" in rows  # a province's name in Chinese: no LP file can hold it
    assert len(set(columns)) == len(columns) == demo.linear.num_cols
    assert len(set(rows)) == len(rows) == demo.linear.num_rows


def test_rows_by_kind_are_the_models_blocks(demo):
    budgets = demo.rows(RowKind.BUDGET)
    assert [block.key for block in budgets] == ["central", "lottery", "local"]
    assert demo.rows("count") == demo.linear.rows(RowKind.COUNT)
    assert demo.rows(RowKind.MIN_PER_REGION) == []
    with pytest.raises(ValueError, match="budgets"):
        demo.rows("budgets")


def small_model(labels: list[object], key: str = "") -> LinearModel:
    n = len(labels)
    return LinearModel(c=-np.ones(n), A=sp.csr_matrix(np.ones((1, n))), row_lower=np.array([-np.inf]), row_upper=np.array([1.5]),
                       col_lower=np.zeros(n), col_upper=np.ones(n), integer=np.ones(n, dtype=bool),
                       col_blocks=[Block(ColumnKind.SELECT, key, 0, n, np.array(labels, dtype=object))],
                       row_blocks=[Block(RowKind.BUDGET, "central", 0, 1)], objective_sign=-1.0)


def test_names_are_legal_and_unique_whatever_the_labels():
    labels = ["上海市", "云南省", "a b", "x:y", "x.y", "x.y_2", "(ok)", 7, "=1+2", "a" * 300]
    names = file_names(small_model(labels).col_blocks, len(labels))
    assert all(LEGAL.fullmatch(name) for name in names), names
    assert len(set(names)) == len(names)
    assert names[:3] == ["select(___)", "select(___)_2", "select(a_b)"]
    assert names[3:6] == ["select(x.y)", "select(x.y)_2", "select(x.y_2)"]
    assert names[7] == "select(7)" and max(map(len, names)) <= 255


def test_names_fall_back_to_highs_own_when_blocks_do_not_cover_the_model():
    model = small_model(["a", "b"])
    assert file_names(model.col_blocks, model.num_cols + 1) == []


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_hostile_names_survive_a_round_trip(tmp_path, suffix):
    model = small_model(["上海市", "a b", "x:y"], key="")
    path = tmp_path / f"m{suffix}"
    write_model(model, path)
    highs = read_back(path)
    assert list(highs.getLp().col_names_) == file_names(model.col_blocks, 3)
    assert list(highs.getLp().row_names_) == ["budget.central"]


def test_a_model_file_needs_an_lp_or_mps_suffix(tmp_path):
    with pytest.raises(InputError, match=r"\.lp or \.mps"):
        write_model(small_model(["a"]), tmp_path / "model.txt")


def test_a_highs_run_elsewhere_in_the_process_does_not_break_a_solve(demo, tmp_path):
    """HiGHS keeps one thread pool per process; one of another size used to make the next solve an error."""
    highspy.Highs.resetGlobalScheduler(True)
    other = read_back(demo.write(tmp_path / "model.mps"))
    other.setOptionValue("threads", 2)
    other.run()
    assert other.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert demo.solve(marginal="none").status.has_solution
