"""allocate sweep --scheduler: the points solved on a Dask cluster give the same sweep.csv as the local process pool."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import load_scenario, sweep
from allocator.cli import main

distributed = pytest.importorskip("distributed")

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"
VARY = "sources.central.budget=500万:1500万:3"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as running:
        yield running


def test_a_sweep_on_a_cluster_writes_the_same_table_as_the_local_pool(cluster, tmp_path):
    runner = CliRunner()
    on_cluster = runner.invoke(main, ["sweep", str(DEMO), "--vary", VARY, "--scheduler", cluster.scheduler_address,
                                      "--out", str(tmp_path / "cluster")])
    assert on_cluster.exit_code == 0, on_cluster.output
    alone = runner.invoke(main, ["sweep", str(DEMO), "--vary", VARY, "--workers", "2", "--out", str(tmp_path / "local")])
    assert alone.exit_code == 0, alone.output
    remote = pd.read_csv(tmp_path / "cluster" / "sweep.csv", encoding="utf-8-sig")
    pooled = pd.read_csv(tmp_path / "local" / "sweep.csv", encoding="utf-8-sig")
    # the pool's warm starts take HiGHS down another path to the same plan: the proven gap may differ, within mip_rel_gap
    pd.testing.assert_frame_equal(remote.drop(columns="mip_gap"), pooled.drop(columns="mip_gap"))
    assert (remote["mip_gap"] <= 1e-4 + 1e-12).all() and (pooled["mip_gap"] <= 1e-4 + 1e-12).all()
    assert (remote["status"] == "optimal").all() and len(remote) == 3
    for run in remote["run"]:  # every point's run directory came back from its worker, whole
        assert (tmp_path / "cluster" / "runs" / run / "allocation.csv").read_bytes() == \
            (tmp_path / "local" / "runs" / run / "allocation.csv").read_bytes()


def test_a_client_given_by_the_caller_is_used_and_left_open(cluster):
    with distributed.Client(cluster) as client:
        result = sweep(load_scenario(DEMO), {"sources.central.budget": ["500万", "1500万"]}, client=client)
        assert client.status == "running"
    assert result.table["status"].tolist() == ["optimal", "optimal"]
    assert result.table["objective"].is_monotonic_increasing


@pytest.mark.parametrize("address", ["nonsense", "foo://127.0.0.1:1"])
def test_a_malformed_scheduler_address_is_one_line_and_exit_2(tmp_path, address):
    result = CliRunner().invoke(main, ["sweep", str(DEMO), "--vary", VARY, "--scheduler", address, "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert f"--scheduler: cannot reach the Dask scheduler at {address}" in result.output
    assert not (tmp_path / "s").exists()  # nothing written


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    # Nothing listens on port 1: the connection is refused until Dask's connect timeout (shortened here).
    environment = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    done = subprocess.run([sys.executable, "-m", "allocator", "sweep", str(DEMO), "--vary", VARY, "--scheduler", "tcp://127.0.0.1:1",
                           "--out", str(tmp_path / "s")], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in lines[0]
    assert not (tmp_path / "s").exists()


UNGUARDED = """
from allocator import load_scenario, sweep
sweep(load_scenario({demo!r}), {{"sources.central.budget": "500万:1500万:2"}}, workers=2, out={out!r})
"""


def test_a_script_without_a_main_guard_gets_the_reason_not_a_broken_pool(tmp_path):
    # Workers start from a fork server, which imports the main script again: unguarded, the script starts another sweep
    # in each worker, which Python refuses, and the worker dies. The caller is told why, and how to fix it.
    script = tmp_path / "sweep_script.py"
    script.write_text(UNGUARDED.format(demo=str(DEMO), out=str(tmp_path / "sweep")), encoding="utf-8")
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert finished.returncode != 0
    raised = [line for line in finished.stderr.splitlines() if line.startswith("allocator.errors.InputError")]
    assert raised and raised[-1].startswith("allocator.errors.InputError: solver.workers: a local worker process stopped")
    assert 'if __name__ == "__main__":' in raised[-1]
    assert not (tmp_path / "sweep").exists()  # nothing written as if complete
