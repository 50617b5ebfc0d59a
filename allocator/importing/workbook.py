"""One sheet of an application workbook as a grid: its title, its unit line, its header (one or two rows,
group cells merged over their columns), and the rows below it with merged cells filled in.

Formulas are read by their saved values (what Excel showed); a formula with none is kept as a
:class:`Formula` so that the row using it can be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allocator.errors import InputError
from allocator.importing.headers import DROPPED, FIELD_NAMES, header_key
from allocator.importing.numbers import plain

#: Rows searched for the header.
HEADER_SEARCH = 30
#: A unit stated for the whole sheet: 单位：万元 (also 金额单位, 资金单位).
_UNIT_LINE = re.compile(r"单位[:：]?\s*(?P<unit>亿元|万元|元)")
_KNOWN_HEADERS = {name for names in FIELD_NAMES.values() for name in names if "/" not in name} | set(DROPPED)


@dataclass(frozen=True)
class Formula:
    """A formula cell without a saved value."""

    cell: str
    text: str


@dataclass(frozen=True)
class Column:
    index: int  # 0-based
    letter: str
    header: str  # as written, a two-row header as 组/子
    unit: str | None = None  # the money unit its header's brackets give


@dataclass
class Sheet:
    name: str
    names: list[str]
    columns: list[Column]
    #: (sheet row number, cells) below the header.
    rows: list[tuple[int, list[Any]]]
    header_rows: tuple[int, ...]
    title: str = ""
    unit: str | None = None
    unit_line: tuple[int, str] | None = None
    #: Merged ranges below the header whose value was copied to every cell.
    filled: list[str] = field(default_factory=list)
    #: Per cell (sheet row, 1-based column) below the header that a merged range covers but does not start: the range.
    merged_into: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Rows below the header that hold something but are hidden in Excel (a withdrawn application often is): imported
    #: as any other row, and named in the report and on the terminal.
    hidden: list[int] = field(default_factory=list)


def read_sheet(path: Path, sheet: str | None, known: set[str]) -> Sheet:
    """The sheet named `sheet`, or the only one, or the only one with a recognisable header (two of the `known`
    header names, besides the built-in ones)."""
    values, formulas = _load(path)
    names = list(values.sheetnames)
    known = known | _KNOWN_HEADERS
    if sheet is not None:
        if sheet not in names:
            raise InputError(f"no sheet named '{sheet}'; the workbook has: {', '.join(names)}", source=str(path))
        chosen = sheet
    elif len(names) == 1:
        chosen = names[0]
    else:
        with_header = [name for name in names if _header_row(_grid(values[name], formulas[name]), known) is not None]
        if len(with_header) != 1:
            found = f"{len(with_header)} of them ({', '.join(with_header)}) have" if with_header else "none has"
            raise InputError(f"the workbook has {len(names)} sheets ({', '.join(names)}) and {found} a header of application "
                             "columns (项目名称, 总投资, …); name the sheet with --sheet", source=str(path))
        chosen = with_header[0]
    return _sheet(path, chosen, names, values[chosen], formulas[chosen], known)


def _load(path: Path) -> tuple[Any, Any]:
    import openpyxl

    if path.suffix.lower() != ".xlsx":
        raise InputError("not an .xlsx workbook; save it from Excel or WPS as 'Excel 工作簿 (*.xlsx)'", source=str(path))
    if not path.is_file():
        raise InputError("workbook not found", source=str(path))
    try:
        return openpyxl.load_workbook(path, data_only=True), openpyxl.load_workbook(path, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None


def _grid(values: Any, formulas: Any) -> list[list[Any]]:
    """The sheet's cells by row, merged ranges filled from their top-left cell, formulas without a value as Formula."""
    grid = [[cell.value for cell in row] for row in values.iter_rows()]
    for row in formulas.iter_rows():
        for cell in row:
            if cell.data_type == "f" and grid[cell.row - 1][cell.column - 1] is None:
                grid[cell.row - 1][cell.column - 1] = Formula(cell.coordinate, str(cell.value))
    for merged in values.merged_cells.ranges:
        value = grid[merged.min_row - 1][merged.min_col - 1]
        for r in range(merged.min_row, merged.max_row + 1):
            for c in range(merged.min_col, merged.max_col + 1):
                grid[r - 1][c - 1] = value
    return grid


def _header_row(grid: list[list[Any]], known: set[str]) -> int | None:
    """The 0-based row with at least two known column names."""
    for number, row in enumerate(grid[:HEADER_SEARCH]):
        if sum(isinstance(v, str) and header_key(v)[0] in known for v in row) >= 2:
            return number
    return None


def _sheet(path: Path, name: str, names: list[str], values: Any, formulas: Any, known: set[str]) -> Sheet:
    from openpyxl.utils import get_column_letter

    grid = _grid(values, formulas)
    top = _header_row(grid, known)
    if top is None:
        raise InputError(f"sheet '{name}': no header row found in the first {HEADER_SEARCH} rows (a row naming at least two "
                         "of 项目名称, 建设地点, 项目类型, 总投资, 序号, …); map other names in a mapping.toml [columns]",
                         source=str(path))
    second = _second_header_row(values, grid, top)
    headers = _headers(grid, top, second)
    columns = [Column(i, get_column_letter(i + 1), text, header_key(text)[1]) for i, text in enumerate(headers) if text]
    body_start = (second if second is not None else top) + 1
    sheet = Sheet(name=name, names=names, columns=columns, header_rows=tuple(r + 1 for r in (top, second) if r is not None),
                  rows=[(number + 1, grid[number]) for number in range(body_start, len(grid))])
    _title_and_unit(sheet, grid[:top])
    sheet.filled = [str(m.coord) for m in values.merged_cells.ranges if m.min_row > body_start and m.max_row > m.min_row]
    sheet.merged_into = {(r, c): str(m.coord) for m in values.merged_cells.ranges if m.max_row > body_start
                         for r in range(max(m.min_row, body_start + 1), m.max_row + 1) for c in range(m.min_col, m.max_col + 1)
                         if (r, c) != (m.min_row, m.min_col)}
    sheet.hidden = [number for number, cells in sheet.rows if values.row_dimensions[number].hidden
                    and any(value not in (None, "") for value in cells)]
    return sheet


def _second_header_row(values: Any, grid: list[list[Any]], top: int) -> int | None:
    """The row below the header if it completes it: a group cell merged across columns above it, or a cell
    merged down into it, or (unmerged) sub-names under an empty header cell and no number in it."""
    if top + 1 >= len(grid):
        return None
    for merged in values.merged_cells.ranges:
        if merged.min_row == top + 1 and (merged.max_col > merged.min_col and merged.max_row == top + 1 or merged.max_row == top + 2):
            return top + 1
    below, above = grid[top + 1], grid[top]
    texts = [i for i, v in enumerate(below) if isinstance(v, str) and v.strip()]
    numbers = [v for v in below if isinstance(v, int | float) and not isinstance(v, bool)]
    if texts and not numbers and any(above[i] in (None, "") for i in texts):
        return top + 1
    return None


def _headers(grid: list[list[Any]], top: int, second: int | None) -> list[str]:
    """Each column's header text; a two-row header as 组/子 (the group carried over its empty cells)."""
    upper = [_text(v) for v in grid[top]]
    if second is None:
        return upper
    lower = [_text(v) for v in grid[second]]
    headers, group = [], ""
    for up, low in zip(upper, lower + [""] * (len(upper) - len(lower))):
        group = up or (group if low else "")
        headers.append(f"{group}/{low}" if group and low and low != group else group or low)
    return headers


def _text(value: Any) -> str:
    return re.sub(r"\s+", "", str(value)) if value is not None and not isinstance(value, Formula) else ""


def _title_and_unit(sheet: Sheet, above: list[list[Any]]) -> None:
    """The first text above the header is the title; a 单位：万元 line gives the unit."""
    for number, row in enumerate(above, start=1):
        texts = list(dict.fromkeys(str(v).strip() for v in row if isinstance(v, str) and v.strip()))
        line = "  ".join(texts)
        match = _UNIT_LINE.search(plain(line))
        if match and sheet.unit is None:
            sheet.unit, sheet.unit_line = match["unit"], (number, line)
        elif texts and not sheet.title:
            sheet.title = line
