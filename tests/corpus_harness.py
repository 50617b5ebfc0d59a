"""The bad-input corpus's harness: a valid scenario folder (tests/corpus/base), ways to break one thing in
a copy of it, and :func:`check_case`, which runs the command and checks the exit code, the one clear line
and that nothing was left behind. Each family of cases lives in its own ``test_corpus_*.py``."""


from __future__ import annotations

import csv
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import allocator.data
from allocator.cli import main

BASE = Path(__file__).parent / "corpus" / "base"
Break = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """Break the base with `breaks`, run `command` (``allocate run CASE --out OUT`` unless `argv` says
    otherwise) and expect exit `code` and every text of `says` in the output (for exit 0: warnings)."""

    id: str
    breaks: Break
    code: int
    says: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    max_table_bytes: int | None = None
    #: The whole command line after ``allocate``, from the case folder and the run directory to write.
    argv: Callable[[Path, Path], list[str]] | None = None


# How to break the base: each helper returns a function of the copied folder.

def toml(old: str, new: str) -> Break:
    def apply(folder: Path) -> None:
        path = folder / "case.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return apply


def add_toml(extra: str) -> Break:
    return toml("\n[objective]", f"\n{extra}\n[objective]")


def rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def table(name: str, edit: Callable[[list[list[str]]], list[list[str]]]) -> Break:
    """Rewrite `name` (a CSV of the base) as ``edit(rows)``; rows[0] is the header."""
    def apply(folder: Path) -> None:
        write_rows(folder / name, edit(rows_of(folder / name)))
    return apply


def cell(name: str, row: int, column: str, value: str) -> Break:
    """Set one cell; `row` is counted as a spreadsheet shows it (the header is row 1)."""
    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[row - 1][rows[0].index(column)] = value
        return rows
    return table(name, edit)


def add_column(name: str, header: str, values: list[str]) -> Break:
    return table(name, lambda rows: [rows[0] + [header]] + [r + [v] for r, v in zip(rows[1:], values, strict=True)])


def drop_column(name: str, column: str) -> Break:
    def edit(rows: list[list[str]]) -> list[list[str]]:
        at = rows[0].index(column)
        return [r[:at] + r[at + 1:] for r in rows]
    return table(name, edit)


def reencode(name: str, encoding: str) -> Break:
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    return apply


def write_bytes(name: str, data: bytes) -> Break:
    return lambda folder: (folder / name).write_bytes(data)


def move(name: str, to: str) -> Break:
    return lambda folder: shutil.move(folder / name, folder / to)


def projects_as_xlsx(edit: Callable[[openpyxl.Workbook], None] = lambda book: None) -> Break:
    """Replace projects.csv by projects.xlsx (numbers as numbers), then ``edit`` the workbook."""
    def apply(folder: Path) -> None:
        book = openpyxl.Workbook()
        for row in rows_of(folder / "projects.csv"):
            book.active.append([float(v) if v.replace(".", "", 1).isdigit() else v for v in row])
        edit(book)
        book.save(folder / "projects.xlsx")
        (folder / "projects.csv").unlink()
        toml('projects = "projects.csv"', 'projects = "projects.xlsx"')(folder)
    return apply


def formula(book: openpyxl.Workbook) -> None:
    book.active["E3"] = "=E2/3"  # cost of P02; openpyxl saves no cached value, as a script would


def save_value(folder: Path) -> None:
    """Give the formula of :func:`formula` the value Excel would have saved with it (100, the cost it replaces)."""
    path = folder / "projects.xlsx"
    with zipfile.ZipFile(path) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    assert b"<f>E2/3</f><v />" in parts[sheet]
    parts[sheet] = parts[sheet].replace(b"<f>E2/3</f><v />", b"<f>E2/3</f><v>100</v>")
    with zipfile.ZipFile(path, "w") as book:
        for name, data in parts.items():
            book.writestr(name, data)


def second_sheet(book: openpyxl.Workbook) -> None:
    book.create_sheet("notes").append(["draft, do not use"])


def duplicate_xlsx_header(book: openpyxl.Workbook) -> None:
    book.active["F1"] = "cost"


def both(*steps: Break) -> Break:
    def apply(folder: Path) -> None:
        for step in steps:
            step(folder)
    return apply


def extends_cycle(folder: Path) -> None:
    (folder / "parent.toml").write_text('extends = "case.toml"\n', encoding="utf-8")
    text = (folder / "case.toml").read_text(encoding="utf-8")
    (folder / "case.toml").write_text('extends = "parent.toml"\n' + text, encoding="utf-8")


def absolute_path(folder: Path) -> None:
    shutil.move(folder / "regions.csv", folder.parent / "shared_regions.csv")
    toml('regions = "regions.csv"', f'regions = "{(folder.parent / "shared_regions.csv").as_posix()}"')(folder)


def nothing(folder: Path) -> None:
    """The base itself."""


PLAN = ["request_central", "request_lottery", "request_local"]
PLAN_ROWS = ["120,30,150", "", "100,25,125", "", "112,28,140", "", "104,26,130", ""]


def plan(rows: list[str], header: list[str] = PLAN) -> Break:
    """Declare funding plans: one comma-separated row of amounts per project ('' for none)."""
    def edit(table_rows: list[list[str]]) -> list[list[str]]:
        cells = [r.split(",") if r else [""] * len(header) for r in rows]
        return [table_rows[0] + header] + [r + c for r, c in zip(table_rows[1:], cells, strict=True)]
    return table("projects.csv", edit)




def check_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one case in a fresh copy of the base and check what it promises."""
    folder = tmp_path / "case"
    shutil.copytree(BASE, folder)
    case.breaks(folder)
    if case.max_table_bytes is not None:
        monkeypatch.setattr(allocator.data, "MAX_TABLE_BYTES", case.max_table_bytes)
    before = set(tmp_path.iterdir())
    out = tmp_path / "run"
    argv = case.argv(folder, out) if case.argv else ["run", str(folder / "case.toml"), "--out", str(out)]
    result = CliRunner().invoke(main, [*argv, *case.args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == case.code, result.output
    for expected in case.says:
        assert expected in result.output, result.output
    if case.code == 0:
        if case.argv is None:
            assert (out / "allocation.csv").is_file()
        return
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert set(tmp_path.iterdir()) == before, "a run directory (or its staging directory) was left behind"
