"""What the workbench keeps in memory between solves (allocator.serve.cache) is never stale: a data table changed on disk
between two solves (even to the same size, its modification time set back) is read again by the warm worker, a run's
table changed on disk shows on its page, and every caller gets its own copy of a table."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")  # Starlette's TestClient

with warnings.catch_warnings():  # Starlette >= 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from allocator.data import read_table  # noqa: E402
from allocator.serve.app import create_app  # noqa: E402
from allocator.serve.cache import TableCache  # noqa: E402
from helpers import as_older_run  # noqa: E402
from allocator.serve.worker import pool  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo"


def solve(client: TestClient) -> str:
    """Press 求解 on the demo scenario; the run written."""
    page = client.get("/scenario", params={"path": "demo/demo.toml"}).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    response = client.post("/solve", data={"csrf": csrf.group(1), "path": "demo/demo.toml"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("name=", 1)[1]


def cost_of(run: Path, project: str) -> float:
    plan = pd.read_csv(run / "allocation.csv", encoding="utf-8-sig", dtype={"project_id": str}).set_index("project_id")
    return float(plan.loc[project, "cost"])


def test_a_table_changed_between_two_solves_is_read_again_by_the_warm_worker(tmp_path):
    shutil.copytree(DEMO, tmp_path / "demo")
    projects = tmp_path / "demo" / "projects.csv"
    with TestClient(create_app(tmp_path, pool=lambda: pool(1))) as client:
        first = solve(client)
        before = os.stat(projects)
        content = projects.read_bytes()
        assert ",centre,420万,".encode() in content
        projects.write_bytes(content.replace(",centre,420万,".encode(), ",centre,520万,".encode(), 1))  # the same size
        os.utime(projects, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same modification time
        assert (os.stat(projects).st_size, os.stat(projects).st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        second = solve(client)
    runs = tmp_path / "runs"
    assert (cost_of(runs / first, "D001"), cost_of(runs / second, "D001")) == (420.0, 520.0)
    manifest = json.loads((runs / second / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["projects"]["sha256"] == hashlib.sha256(projects.read_bytes()).hexdigest()


def test_a_run_table_changed_on_disk_shows_on_its_page(tmp_path):
    shutil.copytree(DEMO, tmp_path / "demo")
    with TestClient(create_app(tmp_path, pool=lambda: pool(1))) as client:
        name = solve(client)
        by_source = tmp_path / "runs" / name / "by_source.csv"
        assert "12,345,678.00" not in client.get("/run", params={"name": name}).text  # read, and kept
        table = pd.read_csv(by_source, encoding="utf-8-sig", dtype={"source": str})
        table.loc[table["source"] == "central", "budget"] = 12_345_678.0
        table.to_csv(by_source, index=False, encoding="utf-8-sig")
        changed = client.get("/run", params={"name": name})  # not the file the run wrote: refused, and said so
        assert changed.status_code == 422 and "by_source.csv is not the file the run wrote" in changed.text
        as_older_run(tmp_path / "runs" / name)  # a run without checksums: the changed table is read again, not cached
        assert "12,345,678.00" in client.get("/run", params={"name": name}).text


def test_each_read_gets_its_own_copy_and_an_unchanged_file_is_read_once(tmp_path):
    path = shutil.copy(DEMO / "projects.csv", tmp_path / "projects.csv")
    reads: list[Path] = []

    def counted(file: Path) -> tuple[pd.DataFrame, object]:
        reads.append(file)
        return read_table(file)

    cache = TableCache(counted)  # type: ignore[arg-type]
    frame, _ = cache(Path(path))
    frame.loc[0, "cost"] = "1万"  # checking a table against a scenario changes it
    again, file = cache(Path(path))
    assert len(reads) == 1 and again.loc[0, "cost"] == "420万"
    pd.testing.assert_frame_equal(again, read_table(Path(path))[0])
    assert file.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
