"""``allocate import``: an application workbook as counties send it (申报汇总表) made into a projects table.

:func:`import_workbook` reads one sheet (workbook), maps its columns (headers), reads its rows and resolves
places and types (table, places), and :func:`write_import` writes the clean table and the report beside
it (report) without ever replacing a user's file unasked. docs/import.md describes it all.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allocator.errors import InputError
from allocator.importing.headers import Mapping, load_mapping
from allocator.importing.places import gazetteer
from allocator.importing.table import OUTPUT_ORDER, Decision, RowReader, Rows, map_columns, require_fields
from allocator.importing.workbook import Sheet, read_sheet
from allocator.outdir import writable_file
from allocator.paths import resolved

if TYPE_CHECKING:
    import pandas as pd

#: Money columns are rounded to this many decimals of 万元 (0.01 元).
MONEY_DECIMALS = 6


@dataclass
class Imported:
    """A workbook read: the sheet, the column decisions, the rows and their problems, the table to write."""

    path: Path
    sheet: Sheet
    mapping: Mapping
    decisions: list[Decision]
    rows: Rows
    #: Rows left out because they have a problem (with --skip-bad).
    skipped: set[int] = field(default_factory=set)

    @property
    def good(self) -> list[dict[str, Any]]:
        return [r for r in self.rows.records if r["source_row"] not in self.skipped and r["source_row"] not in self.rows.bad_rows]

    @property
    def written(self) -> int:
        return len(self.good)

    @property
    def total_cost(self) -> float:
        return math.fsum(float(r["cost"]) for r in self.good)

    def frame(self) -> pd.DataFrame:
        """The projects table: the tool's columns first, then the other fields, the data columns, the source row."""
        import pandas as pd

        records = self.good
        present = [name for name in OUTPUT_ORDER if any(name in r for r in records)]
        others = [d.target for d in self.decisions if d.target and d.target not in present and d.target not in ("province", "city")]
        kept = [d.column.header for d in self.decisions if d.target is None]
        columns = [*present, *others, *kept, "source_row"]
        frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
        for name in ("cost", *[c for c in columns if c.startswith(("asked_", "request_", "committed_"))]):
            frame[name] = pd.to_numeric(frame[name]).round(MONEY_DECIMALS)
        return frame


def import_workbook(path: Path, *, sheet: str | None = None, mapping_file: Path | None = None, skip_bad: bool = False) -> Imported:
    """Read the application sheet of `path`; with `skip_bad`, rows with problems are left out (and listed)."""
    mapping = load_mapping(mapping_file)
    if mapping.province:
        province = gazetteer().province_of(mapping.province)
        if province is None:
            raise InputError(f"'{mapping.province}' is not a province of the county table", source=str(mapping_file), where="province")
        mapping.province = province
    chosen = read_sheet(path, sheet, set(mapping.columns))
    decisions = map_columns(chosen, mapping)
    require_fields(decisions, f"{path}: sheet '{chosen.name}'")
    rows = RowReader(chosen, decisions, mapping, gazetteer()).read()
    if not rows.records:
        raise InputError(f"sheet '{chosen.name}': no project rows below the header (rows {', '.join(map(str, chosen.header_rows))})",
                         source=str(path))
    return Imported(path, chosen, mapping, decisions, rows, skipped=rows.bad_rows if skip_bad else set())


def report_path(out: Path) -> Path:
    """The report beside the table: projects.csv -> projects.import.md."""
    return out.with_name(f"{out.name.removesuffix('.csv')}.import.md")


def check_outputs(out: Path, *, force: bool, inputs: tuple[Path, ...]) -> None:
    """Refuse, before reading anything, outputs that are not .csv, cover an input, or exist without --force."""
    if out.suffix.lower() != ".csv":
        raise InputError("the projects table is written as CSV: give a name ending in .csv", source=f"--out {out}")
    for target in (out, report_path(out)):
        writable_file(target, "--out")
        absolute = Path(os.path.abspath(target))
        if any(_same(absolute, path) for path in inputs):
            raise InputError("this is an input of the import; choose another name", source=f"--out {target}")
        if target.is_dir():
            raise InputError("is a folder; give the name of the CSV file to write", source=f"--out {target}")
        if os.path.lexists(target) and not force:
            raise InputError("already exists; pass --force to replace it, or choose another --out", source=f"--out {target}")


def write_import(imported: Imported, out: Path, text: str) -> list[Path]:
    """Write the table (UTF-8 with BOM) and the report, each to a hidden file first, then renamed into place."""
    from allocator.runformat.tables import write_csv

    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for target, write in ((out, lambda p: write_csv(imported.frame(), p)),
                          (report_path(out), lambda p: p.write_text(text, encoding="utf-8"))):
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        try:
            write(partial)
            os.replace(partial, target)
        except OSError as exc:
            raise InputError(f"cannot write the file: {exc.strerror or exc}", source=f"--out {target}") from None
        finally:
            if partial.exists():
                partial.unlink()
        written.append(target)
    return written


def _same(path: Path, other: Path) -> bool:
    try:
        return resolved(path) == resolved(other)
    except ValueError:
        return False
