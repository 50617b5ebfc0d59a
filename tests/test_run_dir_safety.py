"""Never lose a user's files: what ``--out`` and ``--force`` may replace, racing runs, and a kill at any step
of a replace. Every case creates the user's files, runs the command and finds them all again, byte for byte."""

from __future__ import annotations

import errno
import importlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import allocator.runformat.tables
from allocator.cli import main
from allocator.errors import InputError
from allocator.rundir import write_run
from allocator.scenario_toml import load_scenario
from allocator.solve import solve

SOLVE_MODULE = importlib.import_module("allocator.solve")  # `allocator.solve` is also the function, which `run` imports from here
BASE = Path(__file__).parent / "corpus" / "base"
#: The base scenario with what `baseline` and `simulate` need.
EXTRA = """
[baseline]
level = "province"
factors = { streets = 1.0 }
priority = "benefit"

[uncertainty]
matching_source = "local"
local_arrival = { east = { low = 0.8, mode = 0.9, high = 1.0 }, west = { low = 0.5, mode = 0.8, high = 1.0 } }
"""
USER_FILES = {"a.txt": b"my notes\n", "b.docx": b"PK\x03\x04 a document", "sub/c.csv": b"x,y\n1,2\n",
              "report.html": b"<p>my own report</p>\n", "summary.csv": b"mine\n", "comparison.csv": b"mine too\n",
              "manifest.json": b'{"mine": true}\n'}
FAST = ("--marginal", "none", "--no-reports")


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder` (hidden ones too): a file's bytes, None for a folder."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def no_folders_in(folder: Path, monkeypatch, error: int, text: str) -> None:
    """Make creating a folder directly in `folder` fail with `error` (even root meets a read-only file system)."""
    real = os.mkdir

    def refused(path, *args, **kwargs):
        if Path(path).parent == folder:
            raise OSError(error, text, str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", refused)


def user_folder(folder: Path) -> Path:
    for name, data in USER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def scenario(folder: Path) -> Path:
    shutil.copytree(BASE, folder)
    with (folder / "case.toml").open("a", encoding="utf-8") as handle:
        handle.write(EXTRA)
    return folder / "case.toml"


def refused(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of the base (with reports), to export, simulate and compare."""
    folder = tmp_path_factory.mktemp("finished")
    result = invoke("run", scenario(folder / "case"), "--out", folder / "run", "--marginal", "none")
    assert result.exit_code == 0, result.output
    return folder / "run"


def command(name: str, case: Path, out: object, finished: Path) -> list[object]:
    """The command line of `name` writing to `out` with --force."""
    return {
        "run": ["run", case, "--out", out, "--force", *FAST],
        "baseline": ["baseline", case, "--out", out, "--force"],
        "sweep": ["sweep", case, "--vary", "sources.central.budget=500万,600万", "--workers", "1", "--out", out, "--force"],
        "compare": ["compare", finished, case, "--out", out, "--force"],
        "simulate": ["simulate", case, "--draws", "4", "--workers", "1", "--out", out, "--force"],
    }[name]


COMMANDS = ("run", "baseline", "sweep", "compare", "simulate")


def targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Path) -> dict[str, tuple[str, Path]]:
    """What --out names, and the folder whose every file must survive, for each kind of user folder."""
    work = user_folder(tmp_path / "work")
    home = user_folder(tmp_path / "home")
    mine = user_folder(tmp_path / "mine")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    return {"own-folder": (str(mine), mine), "cwd-dot": (".", work), "cwd-empty": ("", work), "home": (str(home), home),
            "scenario-folder": (str(case.parent), case.parent), "inputs-ancestor": (str(tmp_path), tmp_path)}


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("target", ["own-folder", "cwd-dot", "cwd-empty", "home", "scenario-folder", "inputs-ancestor"])
def test_force_never_replaces_a_users_folder(tmp_path, monkeypatch, finished, name, target):
    case = scenario(tmp_path / "project" / "scenario")
    out, kept = targets(tmp_path, monkeypatch, case)[target]
    before = snapshot(kept)
    result = invoke(*command(name, case, out, finished))
    refused(result)
    assert snapshot(kept) == before


def test_force_refuses_root_before_touching_anything(tmp_path, monkeypatch, finished):
    """`--out /`: every call that could delete, move or create is made to fail, and none may be made."""
    case = scenario(tmp_path / "case")
    calls: list[str] = []

    def forbidden(name):
        def call(*args, **kwargs):
            calls.append(f"{name}{args}")
            raise PermissionError(errno.EPERM, f"test: {name} is forbidden")
        return call

    for module, name in [(os, "mkdir"), (os, "makedirs"), (os, "rename"), (os, "replace"), (os, "rmdir"), (os, "remove"),
                         (os, "unlink"), (shutil, "rmtree"), (shutil, "move")]:
        monkeypatch.setattr(module, name, forbidden(name))
    for name in COMMANDS:
        result = invoke(*command(name, case, "/", finished))
        refused(result)
        assert "/" in result.output
    assert calls == []


def test_force_refuses_a_run_folder_holding_a_users_file(tmp_path):
    case = scenario(tmp_path / "case")
    out = tmp_path / "run"
    assert invoke("run", case, "--out", out, *FAST).exit_code == 0
    (out / "my notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(out)
    result = invoke("run", case, "--out", out, "--force", *FAST)
    refused(result)
    assert "1 file that allocate did not write: my notes.txt" in result.output
    assert snapshot(out) == before


@pytest.mark.parametrize("own", ["report_final.md", "report_reviewed.html", "budget_proposal_signed.xlsx", "report_zh.md"])
def test_force_refuses_a_run_folder_holding_a_users_report_like_file(tmp_path, own):
    # Only the reports allocate writes (report.md, report_en.md, ...) are its own; a reviewed copy beside them is not.
    case = scenario(tmp_path / "case")
    out = tmp_path / "run"
    assert invoke("run", case, "--out", out, *FAST).exit_code == 0
    (out / own).write_text("signed", encoding="utf-8")
    before = snapshot(out)
    result = invoke("run", case, "--out", out, "--force", *FAST)
    refused(result)
    assert f"1 file that allocate did not write: {own}" in result.output
    assert snapshot(out) == before


def test_force_replaces_a_run_written_by_allocate(tmp_path):
    case = scenario(tmp_path / "case")
    out = tmp_path / "run"
    assert invoke("run", case, "--out", out, *FAST).exit_code == 0
    again = invoke("run", case, "--out", out, *FAST)
    refused(again)
    assert "already exists" in again.output
    assert invoke("run", case, "--out", out, "--force", *FAST, "--set", "sources.central.budget=300万").exit_code == 0
    overrides = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["scenario"]["overrides"]
    assert [o["key"] for o in overrides] == ["sources.central.budget"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_folder_holding_only_a_dead_writes_leftovers_is_taken(tmp_path):
    """Once the dead process's hidden folder is cleaned away the folder is empty, and is taken (it was a KeyError)."""
    case = scenario(tmp_path / "case")
    out = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    (out / f".run.partial-{int(dead.stdout)}").mkdir(parents=True)
    result = invoke("run", case, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    assert (out / "allocation.csv").is_file()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("role", ["partial", "aside", "trash", "probe"])
def test_a_users_hidden_folder_named_like_a_dead_writes_leftover_is_left_alone(tmp_path, role):
    # Only a folder allocate can tell is its own (its output, or its in-progress mark) is cleaned or put back.
    case = scenario(tmp_path / "case")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    mine = tmp_path / "parent" / f".thesis.{role}-{int(dead.stdout)}"
    mine.mkdir(parents=True)
    (mine / "chapter1.md").write_text("keep me", encoding="utf-8")
    before = snapshot(tmp_path / "parent")
    assert invoke("run", case, "--out", tmp_path / "parent" / "newrun", *FAST).exit_code == 0
    after = snapshot(tmp_path / "parent")
    assert {name: content for name, content in after.items() if not name.startswith("newrun")} == before
    assert not (tmp_path / "parent" / "thesis").exists()


def test_sweep_validates_its_keys_before_touching_the_disk(tmp_path):
    case = scenario(tmp_path / "case")
    out = tmp_path / "sweep"
    assert invoke("run", case, "--out", out, *FAST).exit_code == 0  # a folder --force may replace
    before = snapshot(out)
    result = invoke("sweep", case, "--vary", "sources.central.budget=lots,more", "--workers", "1", "--out", out, "--force")
    refused(result)
    assert "sources.central.budget" in result.output
    assert snapshot(out) == before


def test_sweep_force_replaces_its_own_sweep(tmp_path):
    case = scenario(tmp_path / "case")
    out = tmp_path / "sweep"
    vary = ("--vary", "sources.central.budget=500万,600万", "--workers", "1", "--out", out)
    assert invoke("sweep", case, *vary).exit_code == 0
    refused(invoke("sweep", case, *vary))
    result = invoke("sweep", case, *vary, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "sweep.csv").is_file() and len(list((out / "runs").iterdir())) == 2


@pytest.mark.parametrize("existing", [{"report.html": b"<p>someone's report</p>\n"}, {"notes.txt": b"unrelated\n"}])
def test_export_never_writes_over_or_beside_unrelated_files(tmp_path, finished, existing):
    folder = tmp_path / "reports"
    folder.mkdir()
    for name, data in existing.items():
        (folder / name).write_bytes(data)
    before = snapshot(folder)
    result = invoke("export", finished, "--out", folder)
    refused(result)
    assert str(folder) in result.output and next(iter(existing)) in result.output
    assert snapshot(folder) == before


def test_export_never_replaces_another_runs_reports(tmp_path, finished):
    other = tmp_path / "other"
    shutil.copytree(finished, other)
    (other / "report.md").write_text("the other run's report\n", encoding="utf-8")
    before = snapshot(other)
    result = invoke("export", finished, "--out", other, "--format", "md")
    refused(result)
    assert "another run's directory" in result.output
    assert snapshot(other) == before


def test_export_into_a_new_folder_and_again(tmp_path, finished):
    folder = tmp_path / "reports"
    assert invoke("export", finished, "--out", folder, "--format", "md").exit_code == 0
    result = invoke("export", finished, "--out", folder, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert {"report.md", "report_en.md", "report_en.html", "budget_proposal_en.xlsx"} <= {p.name for p in folder.iterdir()}


def test_export_into_a_run_it_cannot_write_says_so_without_options_it_was_not_given(tmp_path, finished, monkeypatch):
    # A read-only run directory: the refusal named --out (not given) and the hidden staging folder.
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    before = snapshot(run)
    no_folders_in(run, monkeypatch, errno.EACCES, "Permission denied")
    result = invoke("export", run, "--format", "md")
    refused(result)
    assert "RUN_DIR" in result.output and "cannot write the reports: Permission denied" in result.output
    assert "--out" not in result.output and ".export.partial" not in result.output
    assert snapshot(run) == before


def test_export_never_mixes_two_runs_reports_in_one_folder(tmp_path, finished):
    # The folder of an earlier export takes more reports of the same run only: its allocate.json names the run.
    folder = tmp_path / "reports"
    other = Path(shutil.copytree(finished, tmp_path / "other"))
    assert invoke("export", finished, "--out", folder, "--format", "xlsx").exit_code == 0
    before = snapshot(folder)
    result = invoke("export", other, "--out", folder, "--format", "md")
    refused(result)
    assert "holds the reports of another run" in result.output and str(finished.resolve()) in result.output
    assert snapshot(folder) == before


def test_out_that_cannot_be_written_is_refused_before_solving(tmp_path, monkeypatch):
    case = scenario(tmp_path / "case")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "case")

    def no_solve(*args, **kwargs):
        raise AssertionError("solved before checking --out")

    monkeypatch.setattr(SOLVE_MODULE, "solve", no_solve)
    for out, says in [(tmp_path / "notes.txt", "is a file"), (tmp_path / "notes.txt" / "run", "is a file"),
                      (tmp_path / "link", "symbolic link"), (tmp_path / "dangling", "symbolic link")]:
        if out.name == "dangling":
            out.symlink_to(tmp_path / "nowhere")
        result = invoke("run", case, "--out", out, "--force")
        refused(result)
        assert says in result.output


def test_read_only_folder_is_refused_before_solving(tmp_path, monkeypatch):
    """A read-only file system (EROFS), simulated: even root cannot create the run there."""
    case = scenario(tmp_path / "case")
    locked = tmp_path / "locked"
    locked.mkdir()
    no_folders_in(locked, monkeypatch, errno.EROFS, "Read-only file system")
    monkeypatch.setattr(SOLVE_MODULE, "solve", lambda *a, **k: pytest.fail("solved before checking --out"))
    result = invoke("run", case, "--out", locked / "run")
    refused(result)
    assert str(locked) in result.output and "Read-only file system" in result.output
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("old", [True, False], ids=["replacing", "new"])
def test_full_disk_while_writing_keeps_the_old_run(tmp_path, monkeypatch, old):
    case = scenario(tmp_path / "case")
    out = tmp_path / "run"
    if old:
        assert invoke("run", case, "--out", out, *FAST).exit_code == 0
    before = snapshot(tmp_path)
    real, written = allocator.runformat.tables.write_csv, []

    def fills_up(frame, path):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real(frame, path)

    monkeypatch.setattr(allocator.runformat.tables, "write_csv", fills_up)
    result = invoke("run", case, "--out", out, "--force", *FAST)
    refused(result)
    assert "No space left on device" in result.output and str(out) in result.output
    assert snapshot(tmp_path) == before


# Racing runs: real processes, started together.

def allocate(*args: object, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "allocator", "run", str(BASE / "case.toml"), *FAST, *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """Each process's exit code, output and error output, once it has ended."""
    outputs = [p.communicate(timeout=120) for p in processes]
    return [(p.returncode, *output) for p, output in zip(processes, outputs)]


#: The files of a run of the base with --marginal none --no-reports.
RUN_FILES = {"manifest.json", "allocation.csv", "by_source.csv", "by_zone.csv", "by_province.csv", "by_region.csv", "by_type.csv",
             "indicators.csv"}


def complete(run: Path) -> bool:
    """A whole run of the base: every file, a manifest that reads, and a row per candidate in allocation.csv."""
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    candidates = len((BASE / "projects.csv").read_text(encoding="utf-8").splitlines()) - 1
    rows = len((run / "allocation.csv").read_text(encoding="utf-8-sig").splitlines()) - 1
    return {p.name for p in run.iterdir()} == RUN_FILES and manifest["scenario"]["name"] == "corpus base" and rows == candidates


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")]


def test_eight_runs_at_once_each_get_their_own_default_directory(tmp_path):
    outcomes = finish([allocate(cwd=tmp_path) for _ in range(8)])
    assert [code for code, _, _ in outcomes] == [0] * 8, outcomes
    written = [Path(tmp_path, out.strip().splitlines()[-1].removeprefix("written to ")) for _, out, _ in outcomes]
    assert len(set(written)) == 8, written
    assert sorted(written) == sorted(p for p in (tmp_path / "runs").iterdir())
    assert all(complete(run) for run in written)
    assert hidden(tmp_path) == []


def test_eight_runs_at_once_on_one_out_one_wins(tmp_path):
    user_folder(tmp_path / "mine")
    before = snapshot(tmp_path / "mine")
    outcomes = finish([allocate("--out", "shared", cwd=tmp_path) for _ in range(8)])
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] + [2] * 7, outcomes
    assert all(err.startswith("error: ") and "shared" in err for code, _, err in outcomes if code == 2)
    assert complete(tmp_path / "shared")
    assert snapshot(tmp_path / "mine") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "shared"]
    assert hidden(tmp_path) == []


# A kill at each step of a --force replace: the old run or the new one is whole under the name, never neither.

@pytest.fixture(scope="module")
def results():
    base = load_scenario(BASE / "case.toml")
    return solve(base, marginal="none"), solve(load_scenario(BASE / "case.toml", ["sources.central.budget=300万"]), marginal="none")


def killed_at(step: str, count: int):
    """Patches for a child process: the `count`-th call of `step` ends the process on the spot."""
    calls = {"n": 0}

    def patch(module, name):
        real = getattr(module, name)

        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == count:
                if name == "rmtree":  # die halfway through deleting
                    victim = next(p for p in Path(args[0]).iterdir() if p.is_file())
                    victim.unlink()
                os._exit(9)
            return real(*args, **kwargs)
        setattr(module, name, call)

    return {"rename": lambda: patch(os, "rename"), "unlink": lambda: patch(os, "unlink"),
            "write_csv": lambda: patch(allocator.runformat.tables, "write_csv")}[step]


def replace_in_child(result, out: Path, step: str, count: int) -> int:
    def child():
        killed_at(step, count)()
        try:
            write_run(result, out, force=True, reports=False)
        finally:
            os._exit(0)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    return process.exitcode


@pytest.mark.parametrize(("step", "count"), [("write_csv", 3), ("unlink", 1), ("rename", 1), ("rename", 2), ("unlink", 3)],
                         ids=["while-staging", "once-staged", "before-moving-old-aside", "between-the-renames",
                              "while-deleting-old"])
def test_a_kill_at_any_step_of_a_replace_loses_nothing(tmp_path, results, step, count):
    old, new = results
    out = tmp_path / "runs" / "run"
    reference = {"old": write_run(old, tmp_path / "old", reports=False), "new": write_run(new, tmp_path / "new", reports=False)}
    write_run(old, out, reports=False)
    assert replace_in_child(new, out, step, count) == 9
    write_run(old, tmp_path / "runs" / "next", reports=False)  # the next run in that folder cleans up after the dead one
    assert any(snapshot_tables(out) == snapshot_tables(run) for run in reference.values())
    assert hidden(tmp_path / "runs") == []


@pytest.mark.parametrize("count", [1, 2], ids=["moving-old-aside", "moving-new-in"])
def test_a_failed_rename_of_a_replace_keeps_the_old_run(tmp_path, monkeypatch, results, count):
    old, new = results
    out = tmp_path / "run"
    write_run(old, out, reports=False)
    before = snapshot(tmp_path)
    real, calls = os.rename, []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == count:
            raise OSError(errno.EIO, "Input/output error", str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(InputError, match="Input/output error"):
        write_run(new, out, force=True, reports=False)
    assert snapshot(tmp_path) == before


def snapshot_tables(run: Path) -> dict[str, bytes | None]:
    """A run's files and their bytes, the manifest read for what differs between runs (not its time)."""
    files = snapshot(run)
    manifest = json.loads(files.pop("manifest.json"))
    return {**files, "overrides": json.dumps(manifest["scenario"]["overrides"]).encode()}
