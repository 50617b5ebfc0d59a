"""Paths a user can type or a file system can hold: NUL bytes, names too long for the file system, symbolic
link loops, unreadable or special files as data, and output folders that are files, under files, symbolic
links or unwritable. Each must end in one clear line naming the path (exit 2), before anything is solved
or written, and leave nothing behind."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main
from corpus_harness import Case, add_toml, both, check_case, toml

LONG_NAME = "x" * 300  # above the 255 bytes a file name may have on every common file system
AS_ROOT = os.geteuid() == 0  # root reads and writes whatever the permission bits say
UNCERTAINTY = ('[uncertainty]\nmatching_source = "local"\n'
               "local_arrival = { east = { low = 0.8, mode = 0.9, high = 1.0 }, west = { low = 0.5, mode = 0.8, high = 1.0 } }\n")


def run_to(out: Callable[[Path, Path], Path], *extra: str) -> Callable[[Path, Path], list[str]]:
    """``allocate run CASE --out <out(folder, default out)>`` and `extra`."""
    return lambda folder, default: ["run", str(folder / "case.toml"), "--out", str(out(folder, default)), *extra]


def notes(folder: Path) -> None:
    """A user's file beside the scenario, to be named as --out (or as a folder above it)."""
    (folder / "notes.txt").write_text("my notes\n", encoding="utf-8")


def symlink(name: str, to: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).symlink_to(to)


def replace_by_symlink(name: str, to: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to(to)
    return apply


def fifo(name: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)
    return apply


def unreadable(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).chmod(0)


def read_only_folder(folder: Path) -> None:
    (folder / "locked").mkdir()
    (folder / "locked").chmod(0o555)


def finished_run(folder: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(folder / "case.toml"), "--out", str(folder / "done"),
                                       "--marginal", "none", "--no-reports"])
    assert result.exit_code == 0, result.output


CASES = [
    # NUL bytes: the operating system cannot take them in a path at all
    Case("paths-nul-out", lambda folder: None, 2, ("--out", "NUL byte"), argv=run_to(lambda f, o: f"{o}\0x")),
    Case("paths-nul-data", toml('regions = "regions.csv"', 'regions = "regi\\u0000ons.csv"'), 2,
         ("case.toml:6", "data.regions", "U+0000")),
    Case("paths-nul-extends", toml('name = "corpus base"', 'extends = "par\\u0000ent.toml"\nname = "corpus base"'), 2,
         ("case.toml:3", "extends", "U+0000")),
    Case("paths-nul-scenario", lambda folder: None, 2, ("NUL byte",),
         argv=lambda folder, out: ["run", f"{folder}/ca\0se.toml", "--out", str(out)]),
    Case("paths-nul-sweep-out", lambda folder: None, 2, ("--out", "NUL byte"),
         argv=lambda folder, out: ["sweep", str(folder / "case.toml"), "--vary", "sources.central.budget=500万,600万",
                                   "--workers", "1", "--out", f"{out}\0"]),
    # names and paths too long for the file system
    Case("paths-long-out-name", lambda folder: None, 2, ("--out", "bytes"), argv=run_to(lambda f, o: o.parent / LONG_NAME)),
    Case("paths-long-out-path", lambda folder: None, 2, ("--out", "bytes"),
         argv=run_to(lambda f, o: o.joinpath(*["d" * 200] * 25))),
    Case("paths-long-data-name", toml('regions = "regions.csv"', f'regions = "{LONG_NAME}.csv"'), 2,
         ("case.toml:6", "data.regions", "too long", "304 bytes")),
    Case("paths-long-scenario-name", lambda folder: None, 2, ("bytes",),
         argv=lambda folder, out: ["run", str(folder / f"{LONG_NAME}.toml"), "--out", str(out)]),
    # symbolic link loops and special files as data
    Case("paths-symlink-loop-data", both(replace_by_symlink("regions.csv", "loop.csv"), symlink("loop.csv", "regions.csv")), 2,
         ("case.toml:6", "data.regions", "regions.csv", "loop")),
    Case("paths-symlink-self-data", replace_by_symlink("projects.csv", "projects.csv"), 2,
         ("case.toml:7", "data.projects", "projects.csv", "loop")),
    Case("paths-symlink-loop-extends", both(symlink("parent.toml", "parent.toml"),
                                            toml('name = "corpus base"', 'extends = "parent.toml"\nname = "corpus base"')), 2,
         ("case.toml:3", "extends", "loop of symbolic links")),
    Case("paths-fifo-data", fifo("projects.csv"), 2, ("projects.csv", "not a regular file")),
    *([] if AS_ROOT else [Case("paths-unreadable-data", unreadable("projects.csv"), 2, ("projects.csv", "Permission denied"))]),
    # output folders that cannot be one
    Case("paths-out-is-file", notes, 2, ("notes.txt", "is a file"), argv=run_to(lambda f, o: f / "notes.txt")),
    Case("paths-out-under-file", notes, 2, ("notes.txt", "is a file"), argv=run_to(lambda f, o: f / "notes.txt" / "run")),
    Case("paths-out-dangling-symlink", symlink("link", "nowhere"), 2, ("link", "symbolic link"),
         argv=run_to(lambda f, o: f / "link")),
    Case("paths-out-symlink-to-folder", both(lambda folder: (folder / "mine").mkdir(), symlink("link", "mine")), 2,
         ("link", "symbolic link"), argv=run_to(lambda f, o: f / "link", "--force")),
    Case("paths-sweep-out-under-file", notes, 2, ("notes.txt", "is a file"),
         argv=lambda folder, out: ["sweep", str(folder / "case.toml"), "--vary", "sources.central.budget=500万,600万",
                                   "--workers", "1", "--out", str(folder / "notes.txt" / "sweep")]),
    Case("paths-simulate-out-is-file", both(notes, add_toml(UNCERTAINTY)), 2, ("notes.txt", "is a file"),
         argv=lambda folder, out: ["simulate", str(folder / "case.toml"), "--draws", "4", "--workers", "1",
                                   "--out", str(folder / "notes.txt")]),
    Case("paths-export-out-under-file", both(notes, finished_run), 2, ("notes.txt", "is a file"),
         argv=lambda folder, out: ["export", str(folder / "done"), "--out", str(folder / "notes.txt" / "reports")]),
    Case("paths-compare-out-symlink", both(finished_run, symlink("link", "done")), 2, ("link", "symbolic link"),
         argv=lambda folder, out: ["compare", str(folder / "done"), str(folder / "done"), "--out", str(folder / "link"), "--force"]),
    Case("paths-write-model-under-file", notes, 2, ("notes.txt", "is a file"),
         argv=lambda folder, out: ["validate", str(folder / "case.toml"), "--write-model", str(folder / "notes.txt" / "model.lp")]),
    # input paths of the commands that read runs
    Case("paths-nul-compare-run", finished_run, 2, ("RUNS", "NUL byte"),
         argv=lambda folder, out: ["compare", str(folder / "done"), f"{folder}/do\0ne", "--out", str(out)]),
    Case("paths-long-simulate-target", add_toml(UNCERTAINTY), 2, ("bytes",),
         argv=lambda folder, out: ["simulate", str(folder / LONG_NAME), "--draws", "4", "--workers", "1", "--out", str(out)]),
    Case("paths-nul-export-run", lambda folder: None, 2, ("RUN_DIR", "NUL byte"),
         argv=lambda folder, out: ["export", f"{folder}/do\0ne", "--out", str(out)]),
    *([] if AS_ROOT else [Case("paths-out-unwritable", read_only_folder, 2, ("locked", "Permission denied"),
                               argv=run_to(lambda f, o: f / "locked" / "run"))]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_paths_case(tmp_path, monkeypatch, case):
    check_case(case, tmp_path, monkeypatch)


def test_unreadable_data_file_even_as_root(tmp_path, monkeypatch):
    """chmod 000 does not stop root: the same refusal, with the read itself made to fail."""
    real_open = io.open

    def denying_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).name == "projects.csv":
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def deny(folder: Path) -> None:  # after the copy of the base, which reads projects.csv
        monkeypatch.setattr(io, "open", denying_open)
        monkeypatch.setattr("builtins.open", denying_open)

    check_case(Case("paths-unreadable-data-simulated", deny, 2, ("projects.csv", "Permission denied")), tmp_path, monkeypatch)
