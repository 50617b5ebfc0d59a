"""The order of the projects table's rows changes nothing: the model is built in project-id order
(allocator.data), so a shuffled table gives the same plan and a byte-identical allocation.csv."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = {"demo": (ROOT / "scenarios" / "demo" / "demo.toml", ROOT / "scenarios" / "demo" / "projects.csv"),
         "shandong": (ROOT / "scenarios" / "shandong_12th_plan.toml", ROOT / "scenarios" / "data" / "shandong_12th_plan_projects.csv.gz")}


def shuffled(scenario: Path, projects: Path, folder: Path, seed: int) -> Path:
    """A scenario extending `scenario` (outside its folder: run with --allow-outside-paths) whose projects table has
    the same rows in a random order."""
    opened = gzip.open if projects.suffix == ".gz" else open
    with opened(projects, "rt", encoding="utf-8-sig", newline="") as handle:
        header, *lines = handle.read().splitlines(keepends=True)
    random.Random(seed).shuffle(lines)
    assert lines != sorted(lines)
    folder.mkdir()
    (folder / "projects.csv").write_text(header + "".join(line if line.endswith("\n") else line + "\n" for line in lines), encoding="utf-8")
    path = folder / "shuffled.toml"
    path.write_text(f'extends = "{scenario.as_posix()}"\n\n[data]\nprojects = "projects.csv"\n', encoding="utf-8")
    return path


def allocation(scenario: Path, out: Path) -> bytes:
    done = subprocess.run([sys.executable, "-m", "allocator", "run", str(scenario), "--out", str(out), "--marginal", "none",
                           "--no-reports", "--allow-outside-paths"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return (out / "allocation.csv").read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_shuffled_projects_give_a_byte_identical_allocation(tmp_path, name):
    scenario, projects = CASES[name]
    reference = allocation(scenario, tmp_path / "original")
    for seed in (1, 2):
        assert allocation(shuffled(scenario, projects, tmp_path / f"shuffled-{seed}", seed), tmp_path / f"run-{seed}") == reference


def test_allocation_is_in_project_id_order(tmp_path):
    """Digits compare as numbers: P2 before P10 (docs/outputs.md)."""
    scenario, projects = CASES["demo"]
    text = allocation(shuffled(scenario, projects, tmp_path / "shuffled", 3), tmp_path / "run").decode("utf-8-sig")
    ids = [line.split(",", 1)[0] for line in text.splitlines()[1:]]
    assert ids == sorted(ids, key=lambda i: (i.rstrip("0123456789"), int(i[len(i.rstrip("0123456789")):] or 0)))
