"""The import report, in Markdown (written beside the table and shown on the terminal): what was read, what
was left out and why, the subtotal checks, every decision taken on a column, a place, a type or a text
number, and every problem with its sheet, row and column."""

from __future__ import annotations

from typing import TYPE_CHECKING

from allocator.units import format_wan

if TYPE_CHECKING:
    from allocator.importing import Imported
    from allocator.importing.table import Check


def report(imported: Imported) -> str:
    """The whole report, one Markdown document."""
    parts = [_summary(imported, bool(imported.rows.bad_rows) and not imported.skipped), _columns(imported), _checks(imported), _resolved(imported, "place", "Places"),
             _resolved(imported, "type", "Types"), _from_text(imported), _problems(imported)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _summary(imported: Imported, refused: bool) -> str:
    sheet, rows = imported.sheet, imported.rows
    unit = "none stated"
    if sheet.unit_line:
        unit = f"{sheet.unit} (row {sheet.unit_line[0]}: {sheet.unit_line[1]})"
    elif imported.mapping.unit:
        unit = f"{imported.mapping.unit} ({imported.mapping.source})"
    headers = "–".join(str(r) for r in sheet.header_rows)
    first, last = (sheet.rows[0][0], sheet.rows[-1][0]) if sheet.rows else (0, 0)
    lines = [f"# Import report: {imported.path.name}", "",
             f"- sheet: {sheet.name}" + (f" (of {', '.join(sheet.names)})" if len(sheet.names) > 1 else ""),
             *([f"- title: {sheet.title}"] if sheet.title else []),
             f"- money unit: {unit}",
             f"- header: row{'s' if len(sheet.header_rows) > 1 else ''} {headers}",
             f"- rows below the header: {len(sheet.rows)} (rows {first}–{last})",
             f"- projects read: {len(rows.records)}",
             *([f"- nothing written: {_rows(len(imported.rows.bad_rows))} with problems (listed below)"] if refused else
               [f"- projects written: {imported.written}", f"- total cost written: {format_wan(imported.total_cost)}"])]
    if sheet.filled:
        lines.append(f"- merged cells filled down: {', '.join(sheet.filled)}")
    if sheet.hidden:
        lines.append(f"- {hidden_rows(sheet.hidden)}")
    excluded = [*rows.excluded, *((number, "has a problem (--skip-bad), listed below") for number in sorted(imported.skipped))]
    lines += ["", "## Rows excluded", ""]
    lines += ["| row | why |", "| --- | --- |", *(f"| {number} | {why} |" for number, why in excluded)] if excluded else ["None."]
    return "\n".join(lines)


def hidden_rows(numbers: list[int]) -> str:
    """What the report and the terminal say of rows hidden in Excel."""
    shown = ", ".join(map(str, numbers[:20])) + (" …" if len(numbers) > 20 else "")
    return (f"hidden in Excel, read and imported like the others: {_rows(len(numbers))} ({shown}); a withdrawn application is "
            "often hidden rather than deleted: delete the rows that are not candidates")


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def _columns(imported: Imported) -> str:
    lines = ["## Columns", "", "| column | header | read as | why |", "| --- | --- | --- | --- |"]
    for decision in imported.decisions:
        column = decision.column
        target = decision.target if decision.target else ("dropped" if decision.target == "" else "data column")
        unit = f", unit {column.unit} from the header" if column.unit else ""
        lines.append(f"| {column.letter} | {column.header} | {target} | {decision.why}{unit} |")
    kept = [d.column.header for d in imported.decisions if d.target is None]
    if kept:
        lines += ["", f"Kept as data columns (not used by the model unless a scenario names them): {', '.join(kept)}"]
    return "\n".join(lines)


def _checks(imported: Imported) -> str:
    checks = imported.rows.checks
    if not checks:
        return "## Subtotal checks\n\nThe sheet has no subtotal or total row."
    lines = ["## Subtotal checks", "", "| row | label | column | stated | detail rows | difference | |", "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    lines += [_check_line(check) for check in checks]
    return "\n".join(lines)


def _check_line(check: Check) -> str:
    def shown(value: float) -> str:
        return f"{value:,.2f}万元" if check.money else f"{value:,.2f}".removesuffix(".00")

    span = f"{check.rows[0]}–{check.rows[-1]}" if len(check.rows) > 1 else "".join(map(str, check.rows))
    rows = _rows(len(check.rows)) + (f" ({span})" if span else "")
    difference = f"{'+' if check.difference > 0 else ''}{shown(check.difference)}"
    return (f"| {check.row} | {check.label} | {check.column} | {shown(check.stated)} | {shown(check.summed)}, {rows} | "
            f"{difference if not check.agrees else '0'} | {'ok' if check.agrees else 'MISMATCH'} |")


def _resolved(imported: Imported, kind: str, title: str) -> str:
    entries = [(text, result, rows) for (k, text), (result, rows) in imported.rows.resolved.items() if k == kind]
    if not entries:
        return ""
    lines = [f"## {title}", "", "| as written | read as | rows |", "| --- | --- | --- |"]
    lines += [f"| {text} | {result} | {', '.join(map(str, rows))} |" for text, result, rows in entries]
    return "\n".join(lines)


def _from_text(imported: Imported) -> str:
    found = imported.rows.from_text
    if not found:
        return ""
    lines = ["## Numbers read from text", "", "| row | column | as written | read as |", "| --- | --- | --- | ---: |"]
    lines += [f"| {row} | {column} | {text} | {value} |" for row, column, text, value in found]
    return "\n".join(lines)


def _problems(imported: Imported) -> str:
    problems = imported.rows.problems
    if not problems:
        return "## Problems\n\nNone."
    lines = ["## Problems", ""]
    lines += [f"- {problem.where(imported.sheet.name)}: {problem.message}" for problem in problems]
    return "\n".join(lines)
