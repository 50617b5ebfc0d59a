"""Status and time: LP-first keeps a proof it is given, a run with no incumbent says so, "infeasible or
unbounded" is its own status, solver.time_limit bounds the whole solve, and a gap no solver measured is
never printed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from allocator import load_scenario, solve
from allocator.backends import Deadline, Solution, SolveStatus
from allocator.backends import highs as highs_backend
from allocator.backends.highs import solve_highs
from allocator.cli import main
from allocator.errors import SolveFailed
from allocator.model.arrays import LinearModel
from allocator.rundir import manifest_of, write_run
from allocator.solve import build
from allocator.backends.options import SolverOptions
from allocator.summary import summary

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
INFEASIBLE = ["targets.counts.centres.min=18"]  # the demo has fewer centre candidates than that


def knapsack(n: int, m: int, seed: int) -> tuple[LinearModel, np.ndarray, np.ndarray, np.ndarray]:
    """A multi-dimensional 0/1 knapsack (maximise v·x s.t. W x <= cap) as the minimisation backends solve."""
    rng = np.random.default_rng(seed)
    W = rng.integers(5, 60, size=(m, n)).astype(float)
    v = rng.integers(10, 100, size=n).astype(float)
    cap = np.floor(0.5 * W.sum(axis=1))
    model = LinearModel(c=-v, A=sp.csr_matrix(W), row_lower=np.full(m, -np.inf), row_upper=cap, col_lower=np.zeros(n),
                        col_upper=np.ones(n), integer=np.ones(n, dtype=bool), col_blocks=[], row_blocks=[], objective_sign=-1.0)
    return model, W, v, cap


def brute_force_best(W: np.ndarray, v: np.ndarray, cap: np.ndarray) -> float:
    """The best value over every subset, enumerated."""
    n = W.shape[1]
    subsets = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    fits = (subsets @ W.T <= cap + 1e-9).all(axis=1)
    return float((subsets[fits] @ v).max())


# -- 1. LP-first keeps the full MIP's proof when the fallback does not improve the incumbent ------------------

@pytest.mark.parametrize("seed", [0, 3, 6])
def test_lp_first_keeps_the_proof_of_a_fallback_that_ties(seed):
    model, W, v, cap = knapsack(14, 3, seed)
    solution = solve_highs(model, SolverOptions(strategy="lp_first"))
    best = brute_force_best(W, v, cap)
    assert -solution.objective == pytest.approx(best, abs=1e-6)
    assert solution.status is SolveStatus.OPTIMAL
    assert solution.mip_gap <= 1e-4
    assert best - 1e-6 <= -solution.dual_bound <= best * (1 + 1e-4)  # a bound no allocation exceeds, close to this one
    # The LP bound alone leaves a gap of over 1%: the proof came from the full MIP, which found nothing better.
    assert -solution.details["lp_bound"] > 1.01 * best
    assert "full_mip" in solution.details


# -- 2. no restricted MIP found an allocation before the time ran out --------------------------------------

def test_lp_first_without_any_incumbent_reports_no_solution(monkeypatch):
    model, *_ = knapsack(14, 3, 0)

    def restricted_until_time_is_up(*args, **kwargs):
        time.sleep(0.35)  # past the 0.3 s limit below
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version="test", message="Time limit reached")

    monkeypatch.setattr(highs_backend, "solve_restricted", restricted_until_time_is_up)
    solution = solve_highs(model, SolverOptions(strategy="lp_first", time_limit=0.3))
    assert solution.status is SolveStatus.NO_SOLUTION
    assert solution.values is None and solution.objective is None
    assert "lp_bound" in solution.details


# -- 3. "infeasible or unbounded" ----------------------------------------------------------------------------

def test_highs_unbounded_or_infeasible_has_its_own_status():
    # min -x0 - x1 s.t. x0 - x1 >= 1, integers >= 0: unbounded, and HiGHS's presolve cannot tell which.
    model = LinearModel(c=np.array([-1.0, -1.0]), A=sp.csr_matrix(np.array([[1.0, -1.0]])), row_lower=np.array([1.0]),
                        row_upper=np.array([np.inf]), col_lower=np.zeros(2), col_upper=np.full(2, np.inf),
                        integer=np.ones(2, dtype=bool), col_blocks=[], row_blocks=[])
    solution = solve_highs(model, SolverOptions(strategy="mip"))
    assert solution.status is SolveStatus.INFEASIBLE_OR_UNBOUNDED
    assert not solution.status.has_solution


def _first_solve_says(monkeypatch, answers: list[SolveStatus]) -> list[str]:
    """Make the first solves of `solve()` answer `answers`, in order; later ones are real. Returns what was asked."""
    real, asked = highs_backend.solve_highs, []

    def fake(model, options, **kwargs):
        asked.append("zero objective" if not model.c.any() else "objective")
        if len(asked) <= len(answers):
            return Solution(status=answers[len(asked) - 1], solver="highs", solver_version="test",
                            message="Primal infeasible or unbounded")
        return real(model, options, **kwargs)

    monkeypatch.setattr(highs_backend, "solve_highs", fake)
    return asked


def test_unbounded_or_infeasible_that_is_infeasible_gets_the_diagnosis(monkeypatch):
    asked = _first_solve_says(monkeypatch, [SolveStatus.INFEASIBLE_OR_UNBOUNDED])
    with pytest.raises(SolveFailed) as failure:
        solve(load_scenario(DEMO, INFEASIBLE), marginal="none")
    assert asked[:2] == ["objective", "zero objective"]
    assert failure.value.status == "infeasible"
    assert "Any one of these changes is enough" in failure.value.report
    assert "zero objective" in str(failure.value)


def test_unbounded_or_infeasible_with_an_allocation_is_unbounded(monkeypatch):
    _first_solve_says(monkeypatch, [SolveStatus.INFEASIBLE_OR_UNBOUNDED])
    with pytest.raises(SolveFailed) as failure:
        solve(load_scenario(DEMO), marginal="none")  # the zero-objective re-solve finds an allocation
    assert failure.value.status == "unbounded"


def test_unbounded_or_infeasible_that_stays_ambiguous_exits_3_without_a_diagnosis(monkeypatch, tmp_path):
    asked = _first_solve_says(monkeypatch, [SolveStatus.INFEASIBLE_OR_UNBOUNDED, SolveStatus.NO_SOLUTION])
    out = tmp_path / "run"
    outcome = CliRunner().invoke(main, ["run", str(DEMO), "--out", str(out), "--marginal", "none"])
    assert outcome.exit_code == 3, outcome.output
    assert asked == ["objective", "zero objective"]  # no diagnosis: it assumes an infeasible scenario
    assert "infeasible or unbounded" in outcome.output
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["status"] == "infeasible_or_unbounded"


# -- 4. solver.time_limit bounds the whole solve -------------------------------------------------------------

class FakeClock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_marginal_re_solves_share_what_the_main_solve_left_and_the_manifest_says_what_was_cut(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(Deadline, "clock", staticmethod(clock))
    real, given = highs_backend.solve_highs, []

    def slow(model, options, *, deadline, **kwargs):
        given.append((model.is_mip, deadline.left()))
        answer = real(model, options, deadline=deadline, **kwargs)
        mip_solves = sum(is_mip for is_mip, _ in given)
        clock.now += {1: 60.0, 2: 39.9}.get(mip_solves, 0.0) if model.is_mip else 0.0
        return answer

    monkeypatch.setattr(highs_backend, "solve_highs", slow)
    result = solve(load_scenario(DEMO, ["solver.time_limit=100", "solver.mip_rel_gap=0"]), marginal="full")
    main_solve, split_lp, fixed_lp, first_re_solve = given[:4]
    assert main_solve == (True, pytest.approx(80.0))  # most of the limit; the rest is kept for the re-solves
    assert split_lp == (False, pytest.approx(40.0))  # the split between sources (allocator/split.py)
    assert fixed_lp == (False, pytest.approx(40.0))
    assert first_re_solve == (True, pytest.approx(40.0 / 4))  # one of four equal shares (3 budgets, 1 soft target)
    assert len(given) == 4  # 0.1 s left, less than a re-solve needs (MIN_RE_SOLVE_SECONDS): the other three are skipped
    finite = result.marginal[result.marginal["technical_method"].str.startswith("finite difference")]
    assert list(finite["key"]) == ["sources.central.budget"]
    assert manifest_of(result).cut_short == ["marginal: 3 of 4 re-solves skipped (time limit)"]


def test_a_solve_that_finishes_in_time_cuts_nothing_short():
    result = solve(load_scenario(DEMO, ["solver.mip_rel_gap=0"]), marginal="full")
    assert manifest_of(result).cut_short == []
    assert len(result.marginal[result.marginal["technical_method"].str.startswith("finite difference")]) == 3


def test_highs_is_interrupted_at_the_deadline_even_when_its_own_limit_is_far(monkeypatch):
    clock = FakeClock()

    def ticking() -> float:
        clock.now += 1.0  # a second passes each time anyone looks: the deadline passes during the search
        return clock.now

    monkeypatch.setattr(Deadline, "clock", staticmethod(ticking))
    model, *_ = knapsack(40, 5, 1)  # HiGHS needs about 20 MIP interrupt checks to prove this one
    solution = solve_highs(model, SolverOptions(strategy="mip", time_limit=10.0), deadline=Deadline(10.0))
    assert solution.status in (SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION)
    assert "time limit" in solution.message.lower()


def test_a_solve_with_no_time_left_is_not_started(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(Deadline, "clock", staticmethod(clock))
    deadline = Deadline(5.0)
    clock.now = 6.0
    model, *_ = knapsack(14, 3, 0)
    solution = solve_highs(model, SolverOptions(strategy="mip"), deadline=deadline)
    assert solution.status is SolveStatus.NO_SOLUTION


# -- 5. a gap that was not measured is not printed ------------------------------------------------------------

def test_cbc_gap_is_reported_as_not_measured_everywhere(tmp_path):
    result = solve(load_scenario(DEMO, ['solver.name="cbc"', "solver.mip_rel_gap=0"]), marginal="full")
    assert result.solution.mip_gap is None  # CBC through PuLP reports no gap and no bound
    finite = result.marginal[result.marginal["technical_method"].str.startswith("finite difference")]
    assert len(finite) == 3
    assert all("gap not measured" in method and "gap 0" not in method for method in finite["technical_method"])
    assert "gap not measured" in summary(result)
    out = write_run(result, tmp_path / "run")
    assert "0.0e+00" not in (out / "marginal.csv").read_text(encoding="utf-8-sig")
    written = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert written["objective"]["mip_gap"] is None and written["objective"]["dual_bound"] is None
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "未测得" in report  # the report's gap row: "not measured", never an empty or made-up figure


def test_highs_gap_is_still_printed():
    result = solve(load_scenario(DEMO, ["solver.mip_rel_gap=0"]), marginal="full")
    finite = result.marginal[result.marginal["technical_method"].str.startswith("finite difference")]
    assert all("gap not measured" not in method and " gap " in method for method in finite["technical_method"])
    assert f"gap {result.solution.mip_gap:.2e}" in summary(result)


def test_a_run_with_no_solution_says_how_far_it_got(tmp_path, monkeypatch):
    """The solver stops with an LP bound and no incumbent: the failure's manifest keeps the model's size, that the
    relaxation finished, its bound and each LP-first stage (what a planner needs to decide on a longer time limit)."""
    stopped = {"strategy": "lp_first", "lp_bound": -1234.5, "lp_seconds": 0.4, "fractional_selections": 7,
               "stage1": {"free_selections": 7, "seconds": 0.1, "status": "no_solution"}}

    def no_solution(model, options, *, deadline=None, **kwargs):
        return Solution(status=SolveStatus.NO_SOLUTION, solver="highs", solver_version="HiGHS test", seconds=2.5,
                        message="Time limit reached", details=dict(stopped))

    monkeypatch.setattr(highs_backend, "solve_highs", no_solution)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(DEMO), "--out", str(out)])
    assert result.exit_code == 3, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    progress = manifest["progress"]
    model = build(load_scenario(DEMO)).linear  # the same model, built again
    assert progress["model_size"] == {"rows": model.num_rows, "columns": model.num_cols, "nonzeros": int(model.A.nnz),
                                      "integer_columns": int(model.integer.sum())}
    assert progress["lp_relaxation_finished"] is True and progress["best_bound"] == -1234.5 and progress["incumbent"] is None
    assert progress["stages"] == {"stage1": stopped["stage1"]} and progress["seconds"] == 2.5
    assert not (out / "allocation.csv").exists()


def test_reports_are_skipped_by_default_above_the_stated_size_and_written_when_asked(tmp_path, monkeypatch):
    import allocator.cli as cli

    monkeypatch.setattr(cli, "REPORTS_LIMIT", 10)  # the demo has 39 candidates
    skipped = CliRunner().invoke(main, ["run", str(DEMO), "--out", str(tmp_path / "skipped"), "--marginal", "none"])
    assert skipped.exit_code == 0, skipped.output
    assert "39 candidates: the workbook and report are skipped above 10" in skipped.output
    assert not (tmp_path / "skipped" / "budget_proposal.xlsx").exists() and (tmp_path / "skipped" / "allocation.csv").exists()
    asked = CliRunner().invoke(main, ["run", str(DEMO), "--out", str(tmp_path / "asked"), "--marginal", "none", "--reports"])
    assert asked.exit_code == 0 and (tmp_path / "asked" / "budget_proposal.xlsx").exists() and "are skipped above" not in asked.output


def test_a_highs_run_that_ends_long_after_its_deadline_says_so(monkeypatch):
    # Some HiGHS phases check neither its time limit nor our interrupt (116 s past a 60 s limit, measured at 200,000
    # phased candidates): a run that ends more than OVERRUN_NOTED after its deadline is noted, one that ends in time is not.
    from allocator.backends.highs_run import OVERRUN_NOTED, run_highs

    model, *_ = knapsack(8, 2, seed=0)
    now = [0.0]
    monkeypatch.setattr(Deadline, "clock", staticmethod(lambda: now[0]))
    on_time = Deadline(60)
    run_highs(model, SolverOptions(), on_time, log=False)
    assert on_time.overrun() == 0.0 and on_time.cut_short == []

    late = Deadline(60)
    now[0] = 60 + 116  # the clock when HiGHS returns
    assert late.overrun() == 116.0 > OVERRUN_NOTED
    monkeypatch.setattr(late, "left", lambda: 60.0)  # HiGHS is handed 60 s, and the interrupt never fires
    run_highs(model, SolverOptions(), late, log=False)
    assert late.cut_short == ["HiGHS ran 116 s past solver.time_limit, in a phase that checks neither its time limit nor "
                              "our interrupt (HiGHS issues #1278, #885; docs/performance.md)"]
