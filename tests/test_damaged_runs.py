"""A run directory damaged after it was written (a copy cut short, a table emptied, edited or deleted) is refused by
every command that reads one, naming the file, never read as a smaller plan nor crashing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from allocator.cli import main
from helpers import as_older_run

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo" / "demo.toml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    result = CliRunner().invoke(main, ["run", str(DEMO), "--out", str(out), "--no-reports", "--marginal", "none"])
    assert result.exit_code == 0, result.output
    return out


def _cut_short(run: Path) -> None:
    path = run / "allocation.csv"
    path.write_bytes(path.read_bytes()[:600])


def _emptied(run: Path) -> None:
    (run / "allocation.csv").write_bytes(b"")


def _header_only(run: Path) -> None:
    path = run / "allocation.csv"
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])


def _deleted(run: Path) -> None:
    (run / "allocation.csv").unlink()


def _text_in_money(run: Path) -> None:
    path = run / "allocation.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    cells = lines[1].rstrip("\n").split(",")
    lines[1] = ",".join([*cells[:-1], "见附件"]) + "\n"
    path.write_text("".join(lines), encoding="utf-8-sig")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "cut short": (_cut_short, "allocation.csv is not the file the run wrote"),
    "emptied": (_emptied, "allocation.csv is not the file the run wrote"),
    "header only": (_header_only, "allocation.csv is not the file the run wrote"),
    "deleted": (_deleted, "lacks allocation.csv"),
    "text in money": (_text_in_money, "allocation.csv is not the file the run wrote"),
}
#: The same damage in a run written before runs recorded their tables' checksums: caught as the tables are read.
OLDER = {
    "emptied": "allocation.csv: is empty",
    "deleted": "lacks allocation.csv",
    "text in money": "holds text where the run wrote numbers",
}


def _commands(run: Path, out: Path) -> dict[str, list[str]]:
    return {
        "export": ["export", str(run), "--format", "md"],
        "compare": ["compare", str(run), str(DEMO), "--out", str(out / "cmp")],
        "simulate": ["simulate", str(run), "--draws", "2", "--workers", "1", "--out", str(out / "sim")],
        "run --from": ["run", str(DEMO), "--from", str(run), "--out", str(out / "again"), "--no-reports", "--marginal", "none"],
    }


def _refused(run: Path, out: Path, command: str, says: str) -> None:
    before = sorted(p.name for p in out.iterdir())
    result = CliRunner().invoke(main, _commands(run, out)[command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and says in result.output, result.output
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


@pytest.mark.parametrize("command", ["export", "compare", "simulate", "run --from"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_is_refused_naming_the_file(finished, tmp_path, command, damage):
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    spoil, says = DAMAGE[damage]
    spoil(run)
    out = tmp_path / "out"
    out.mkdir()
    _refused(run, out, command, says)


@pytest.mark.parametrize("command", ["export", "compare", "simulate"])
@pytest.mark.parametrize("damage", list(OLDER))
def test_a_damaged_older_run_is_refused_as_its_tables_are_read(finished, tmp_path, command, damage):
    run = as_older_run(Path(shutil.copytree(finished, tmp_path / "run")))
    DAMAGE[damage][0](run)
    out = tmp_path / "out"
    out.mkdir()
    _refused(run, out, command, OLDER[damage])


@pytest.mark.parametrize("manifest", ["{}", '{"scenario": {}, "status": "optimal", "created": "2026-11-30"}'],
                         ids=["empty", "no versions"])
@pytest.mark.parametrize("command", ["export", "compare"])
def test_a_run_whose_manifest_lacks_what_every_run_has_is_refused(finished, tmp_path, command, manifest):
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    (run / "manifest.json").write_text(manifest, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    _refused(run, out, command, "not the manifest of a run allocate wrote")


def test_an_untouched_run_is_read(finished, tmp_path):
    # The checks refuse only damage: a run as written (and a copy of it) exports.
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    result = CliRunner().invoke(main, ["export", str(run), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert (run / "report.md").is_file()
