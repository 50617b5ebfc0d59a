"""A large HiGHS run in a process of its own, killed past its deadline: some phases of HiGHS check neither its time
limit nor our interrupt (measured: 176 s past a 60 s limit), so the time limit is enforced from outside."""

import multiprocessing
import signal
import threading
import subprocess
import sys
import os
import time

import numpy as np
import pytest

from allocator.backends import Deadline, SolveStatus
from allocator.backends import highs_run
from allocator.backends.highs_run import run_highs
from allocator.backends.options import SolverOptions
from allocator.cluster import ChildStopped, run_with_hard_limit
from benchmarks.narrow_ranges import provinces_in_narrow_ranges


def test_a_call_returns_its_result_or_raises_its_exception_from_its_own_process():
    assert run_with_hard_limit(divmod, (7, 2), 30) == (3, 1)
    assert run_with_hard_limit(os.getpid, (), 30) != os.getpid()
    with pytest.raises(ValueError, match="invalid literal"):
        run_with_hard_limit(int, ("x",), 30)


def test_a_call_that_does_not_return_in_time_is_killed():
    started = time.monotonic()
    with pytest.raises(ChildStopped, match="stopped by force after 1 s") as stopped:
        run_with_hard_limit(time.sleep, (120,), 1.0)
    assert stopped.value.started
    assert time.monotonic() - started < 30  # not the two minutes the call asked for
    assert multiprocessing.active_children() == []  # killed and reaped


@pytest.fixture()
def model():
    return provinces_in_narrow_ranges(10, 12, seed=1)  # 11 rows x 120 columns: many rows per column


def test_a_model_with_few_rows_stays_in_this_process(monkeypatch):
    # HiGHS solves such a model by interior point without presolve, which checks our interrupt: no process to pay for.
    few_rows = provinces_in_narrow_ranges(6, 30, seed=1)  # 7 rows x 180 columns
    assert few_rows.num_rows <= highs_run.FEW_ROWS_SHARE * few_rows.num_cols
    monkeypatch.setattr(highs_run, "HARD_LIMIT_FROM_NONZEROS", 0)
    monkeypatch.setattr(highs_run, "run_with_hard_limit", lambda *arguments: pytest.fail("moved to a process"))
    assert run_highs(few_rows, SolverOptions(), Deadline(60), log=False).status is SolveStatus.OPTIMAL


def test_an_interior_point_run_stays_in_this_process(model, monkeypatch):
    # Interior point checks our interrupt and was never seen to overrun: not worth a process and a copy of the model.
    monkeypatch.setattr(highs_run, "HARD_LIMIT_FROM_NONZEROS", 0)
    monkeypatch.setattr(highs_run, "run_with_hard_limit", lambda *arguments: pytest.fail("moved to a process"))
    relaxation = run_highs(model.relaxed(), SolverOptions(), Deadline(60), log=False, extra=highs_run.LP_RELAXATION_OPTIONS)
    assert relaxation.status is SolveStatus.OPTIMAL


def test_a_large_model_is_solved_in_its_own_process_with_the_same_answer(model, monkeypatch):
    here = run_highs(model, SolverOptions(mip_rel_gap=1e-9), Deadline(60), log=False)
    calls = []

    def spy(function, arguments, seconds):
        calls.append(seconds)
        return run_with_hard_limit(function, arguments, seconds)

    monkeypatch.setattr(highs_run, "HARD_LIMIT_FROM_NONZEROS", 0)
    monkeypatch.setattr(highs_run, "run_with_hard_limit", spy)
    deadline = Deadline(60)
    apart = run_highs(model, SolverOptions(mip_rel_gap=1e-9), deadline, log=False)
    assert len(calls) == 1 and 60 < calls[0] <= 60 + highs_run.FORCE_STOP_AFTER  # the deadline plus the grace
    assert apart.status is here.status is SolveStatus.OPTIMAL
    assert apart.objective == pytest.approx(here.objective, rel=1e-12)
    np.testing.assert_array_equal(apart.values, here.values)
    assert deadline.cut_short == []


def test_a_run_stopped_by_force_has_no_allocation_and_says_why(model, monkeypatch):
    def stopped(function, arguments, seconds):
        raise ChildStopped(f"stopped by force after {seconds:.0f} s", started=True)

    monkeypatch.setattr(highs_run, "HARD_LIMIT_FROM_NONZEROS", 0)
    monkeypatch.setattr(highs_run, "run_with_hard_limit", stopped)
    deadline = Deadline(5)
    solution = run_highs(model, SolverOptions(), deadline, log=False)
    assert solution.status is SolveStatus.NO_SOLUTION and solution.values is None
    assert "stopped by force after 15 s" in solution.message
    assert len(deadline.cut_short) == 1 and "did not stop at solver.time_limit" in deadline.cut_short[0]


def test_a_process_that_could_not_start_the_run_leaves_it_to_this_one(model, monkeypatch):
    # A script without a main guard (a fork server imports it again) or a Dask worker (a daemon) cannot give the run a
    # process of its own: it runs here, without the hard limit, and still gets its answer.
    def could_not(function, arguments, seconds):
        raise ChildStopped("its process ended with exit code 1", started=False)

    here = run_highs(model, SolverOptions(mip_rel_gap=1e-9), Deadline(60), log=False)
    monkeypatch.setattr(highs_run, "HARD_LIMIT_FROM_NONZEROS", 0)
    monkeypatch.setattr(highs_run, "run_with_hard_limit", could_not)
    solution = run_highs(model, SolverOptions(mip_rel_gap=1e-9), Deadline(60), log=False)
    assert solution.status is SolveStatus.OPTIMAL and solution.objective == pytest.approx(here.objective, rel=1e-12)


_CALLER = '''
import os, sys, time
from allocator.cluster import local_pool, run_with_hard_limit
from allocator.serve import worker


def record_and_sleep(path):
    with open(path + ".part", "w") as file:
        file.write(str(os.getpid()))
    os.replace(path + ".part", path)
    time.sleep(120)


if __name__ == "__main__":
    if sys.argv[1] == "own process":
        run_with_hard_limit(record_and_sleep, (sys.argv[2],), 300)
    elif sys.argv[1] == "pool":
        with local_pool(1) as pool:
            pool.submit(record_and_sleep, sys.argv[2]).result()
    else:
        worker.pool(1).submit(record_and_sleep, sys.argv[2]).result()
'''


def _running(pid: int) -> bool:
    """Is `pid` a process that has not exited (a zombie waiting to be reaped has)?"""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
@pytest.mark.parametrize("where", ["own process", "pool", "workbench pool"])
def test_a_worker_ends_when_its_caller_is_killed_outright(tmp_path, where):
    # SIGKILL gives the caller no chance to stop its workers; they must not solve on as orphans (the fork server that
    # started them lives as long as they do, so its exit cannot end them).
    script, recorded = tmp_path / "caller.py", tmp_path / "worker.pid"
    script.write_text(_CALLER)
    caller = subprocess.Popen([sys.executable, str(script), where, str(recorded)], cwd=tmp_path)
    try:
        waited = time.monotonic()
        while not recorded.exists():
            assert caller.poll() is None and time.monotonic() - waited < 60, "the worker never started"
            time.sleep(0.1)
        worker = int(recorded.read_text())
        assert _running(worker)
    finally:
        caller.kill()
        caller.wait()
    waited = time.monotonic()
    while _running(worker) and time.monotonic() - waited < 20:
        time.sleep(0.1)
    assert not _running(worker)


def test_ctrl_c_stops_a_highs_run_in_this_process():
    # Python's own SIGINT handler raised inside HiGHS's interrupt callback, where the exception was swallowed and the
    # solve went on to the end; Ctrl-C must stop it and raise KeyboardInterrupt.
    hard = provinces_in_narrow_ranges(31, 650, seed=0)  # HiGHS's MIP takes seconds on it
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_highs(hard, SolverOptions(mip_rel_gap=1e-9), Deadline(120), log=False)
        assert time.monotonic() - started < 10
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
