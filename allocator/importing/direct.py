"""``[data] import_projects = true``: a scenario's projects read straight from an application workbook.

The workbook is read as ``allocate import`` reads it (docs/import.md), with ``projects_mapping`` and
``projects_sheet``; a row with a problem stops the run, naming the first and counting the others, since
bad rows are never dropped silently. The table is then read as any projects table is, with its money in
the scenario's ``money_unit``; subtotal mismatches and what the import did are warnings of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from allocator.errors import InputError
from allocator.importing import Imported, import_workbook
from allocator.importing.headers import is_money
from allocator.units import UNITS_IN_WAN

if TYPE_CHECKING:
    from allocator.scenario import DataSpec


def write_applications(spec: DataSpec, folder: Path) -> tuple[Path, list[str]]:
    """The projects of the application workbook `spec.projects` as a CSV table in `folder`, its money in the
    scenario's unit, for the data reader to read as any projects table; and the warnings of the import."""
    from allocator.runformat.tables import write_csv

    assert spec.applications is not None
    imported = import_workbook(spec.projects, sheet=spec.applications.sheet, mapping_file=spec.applications.mapping)
    _refuse_problems(imported, spec)
    frame = imported.frame()
    for column in frame.columns:
        if is_money(column):
            frame[column] = frame[column] / UNITS_IN_WAN[spec.money_unit]
    table = folder / "projects.csv"
    write_csv(frame, table)
    return table, _notes(imported, spec)


def _refuse_problems(imported: Imported, spec: DataSpec) -> None:
    problems = imported.rows.problems
    if problems:
        first, more = problems[0], len(problems) - 1
        others = f" (and {more} more problem{'s' if more > 1 else ''}; `allocate import {spec.projects} --out check.csv` lists them all)" \
            if more else ""
        raise InputError(f"{first.where(imported.sheet.name)}: {first.message}{others}", source=str(spec.projects))


def _notes(imported: Imported, spec: DataSpec) -> list[str]:
    """What the import did, and each subtotal or total its detail rows do not add up to."""
    rows = imported.rows
    mapping = f" with {spec.applications.mapping}" if spec.applications and spec.applications.mapping else ""
    notes = [f"{spec.projects}: sheet {imported.sheet.name} read as an application workbook{mapping}: {imported.written} projects, "
             f"{len(rows.excluded)} rows excluded (`allocate import` writes the full report)"]
    for check in rows.checks:
        if not check.agrees:
            notes.append(f"{spec.projects}: sheet {imported.sheet.name}, row {check.row} ({check.label}), column {check.column}: "
                         f"stated {check.stated:,.2f}, the detail rows add up to {check.summed:,.2f} "
                         f"(difference {check.difference:+,.2f}{'万元' if check.money else ''})")
    return notes
