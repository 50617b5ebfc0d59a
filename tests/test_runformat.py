"""The run format: one manifest per run that the reports repeat exactly, manifests read back as written, one
reading of yes/no cells, and a package that depends on no other part of allocator but its errors."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.errors import InputError
from allocator.runformat.cells import parse_bool
from allocator.runformat.manifest import Manifest
from allocator.runformat.names import RUN_FILES, TABLES, report_file
from allocator.runformat.run import read_run

BASE = Path(__file__).parent / "corpus" / "base"
PACKAGE = Path(__file__).resolve().parents[1] / "allocator"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """A run of the base with its reports, and a run of an infeasible variant (no allocation)."""
    folder = tmp_path_factory.mktemp("runformat")
    runner = CliRunner()
    solved = runner.invoke(main, ["run", str(BASE / "case.toml"), "--marginal", "none", "--out", str(folder / "run")])
    assert solved.exit_code == 0, solved.output
    failed = runner.invoke(main, ["run", str(BASE / "case.toml"), "--set", "targets.counts.centres.min=40",
                                  "--set", "targets.counts.centres.max=40", "--out", str(folder / "failed")])
    assert failed.exit_code == 3 and (folder / "failed" / "manifest.json").is_file(), failed.output
    return folder / "run", folder / "failed"


def test_the_reports_show_the_times_manifest_json_records(runs):
    run, _ = runs
    written = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert written["seconds"]["write"] > 0
    book = openpyxl.load_workbook(run / "budget_proposal.xlsx")
    facts = {row[0].value: row[1].value for row in book["参数"].iter_rows() if row[0].value}
    assert facts["created"] == written["created"]
    assert {k: facts[f"seconds.{k}"] for k in written["seconds"]} == written["seconds"]
    assert not any(str(key).startswith("seconds.") and key[len("seconds."):] not in written["seconds"] for key in facts)
    assert f"| {written['created']} |" in (run / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("which", [0, 1], ids=["solved", "failed"])
def test_a_manifest_reads_back_as_written(runs, which):
    folder = runs[which]
    content = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest = Manifest.read(folder)
    assert manifest.to_json() == content and list(manifest.to_json()) == list(content)
    assert manifest.has_allocation == (which == 0)
    assert manifest.scenario.name == "corpus base" and "allocator" in manifest.versions


def test_a_run_reads_back_with_every_table(runs):
    run = read_run(runs[0])
    written = json.loads((runs[0] / "manifest.json").read_text(encoding="utf-8"))
    assert list(run.tables) == list(TABLES) and run.status == "optimal" and run.objective == written["objective"]["value"]
    assert {p.name for p in runs[0].iterdir()} <= RUN_FILES | {"budget_proposal.xlsx", "report.md", "report.html"}
    assert set(run.indicators["met"]) <= {True, False, None}
    failed = read_run(runs[1])
    assert not failed.has_allocation and failed.allocation.empty and failed.manifest.message


@pytest.mark.parametrize(("part", "value", "says"), [
    ("scenario", "a name", "'scenario' should be an object"),
    ("objective", [1, 2], "'objective' should be an object"),
    ("cut_short", "none", "'cut_short' should be a list"),
])
def test_a_malformed_manifest_is_refused_naming_its_part(runs, tmp_path, part, value, says):
    folder = tmp_path / "run"
    shutil.copytree(runs[0], folder)
    content = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (folder / "manifest.json").write_text(json.dumps({**content, part: value}), encoding="utf-8")
    with pytest.raises(InputError, match=says):
        read_run(folder)
    result = CliRunner().invoke(main, ["export", str(folder), "--format", "md"])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("cell", "expected"), [
    (True, True), (False, False), ("True", True), ("false", False), (" yes ", True), ("1", True), ("0", False),
    (None, None), (float("nan"), None), (pd.NA, None), ("", None), ("<NA>", None), ("None", None),
])
def test_yes_no_cells_read_one_way(cell, expected):
    assert parse_bool(cell) is expected


def test_report_files_in_another_language_carry_its_suffix():
    assert [report_file(n, "zh") for n in ("report.md", "budget_proposal.xlsx")] == ["report.md", "budget_proposal.xlsx"]
    assert [report_file(n, "en") for n in ("report.md", "budget_proposal.xlsx")] == ["report_en.md", "budget_proposal_en.xlsx"]


def _imports(path: Path) -> set[str]:
    """The allocator modules a file imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("allocator")}


def test_the_run_format_depends_on_nothing_else_in_allocator():
    for path in (PACKAGE / "runformat").glob("*.py"):
        outside = {m for m in _imports(path) if not m.startswith("allocator.runformat")} - {"allocator.errors"}
        assert not outside, (path.name, outside)


def test_reports_read_runs_through_the_run_format_only():
    for path in (PACKAGE / "report").glob("*.py"):
        imported = _imports(path)
        assert not imported & {"allocator.rundir", "allocator.results", "allocator.compare", "allocator.sweep", "allocator.simulate"}, \
            (path.name, imported)
