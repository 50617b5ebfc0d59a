"""Regions and projects tables: read (CSV, CSV.GZ, XLSX; UTF-8, UTF-8 with BOM, GBK) and validate.

Rows in messages are counted as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from allocator.errors import InputError
from allocator.scenario import Scenario
from allocator.units import describe_cell, parse_money_column

REGION_COLUMNS = ("region_id", "name", "province", "zone")
PROJECT_COLUMNS = ("project_id", "region_id", "type", "cost")
TEXT_COLUMNS = ("region_id", "project_id", "name", "province", "zone", "type", "city")
REQUEST_PREFIX = "request_"
MAX_TABLE_BYTES = 1 << 30
_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class TableFile:
    """Where a table came from, for the manifest."""

    path: Path
    sha256: str
    encoding: str
    rows: int


@dataclass
class Data:
    """Validated tables. ``projects`` gains ``region`` (row of ``regions``), ``zone`` and ``province``;
    ``cost`` and ``request_<source>`` columns are in 万元."""

    regions: pd.DataFrame
    projects: pd.DataFrame
    files: dict[str, TableFile] = field(default_factory=dict)

    @property
    def zones(self) -> list[str]:
        return sorted(self.regions["zone"].unique())

    @property
    def provinces(self) -> list[str]:
        return sorted(self.regions["province"].unique())

    def request_columns(self) -> dict[str, str]:
        """Source key -> declared-plan column, for the sources the projects table declares."""
        return {c.removeprefix(REQUEST_PREFIX): c for c in self.projects.columns if c.startswith(REQUEST_PREFIX)}


def load_data(scenario: Scenario) -> Data:
    """Read both tables named by the scenario and check them against it."""
    regions, regions_file = read_table(scenario.data.regions)
    projects, projects_file = read_table(scenario.data.projects)
    data = Data(regions=regions, projects=projects, files={"regions": regions_file, "projects": projects_file})
    _validate_regions(data, scenario)
    _validate_projects(data, scenario)
    return data


def read_table(path: Path) -> tuple[pd.DataFrame, TableFile]:
    """Read one table with text id columns; refuse what cannot be read, naming the file."""
    if path.is_dir():
        raise InputError("this is a folder, not a data file", source=str(path))
    if not path.is_file():
        raise InputError("data file not found", source=str(path))
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise InputError(f"file is {_size(size)}, above the {_size(MAX_TABLE_BYTES)} limit for a table", source=str(path))
    digest = _sha256(path)
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith(".xlsx"):
        frame, encoding = _read_xlsx(path), "xlsx"
    elif suffixes.endswith((".csv", ".csv.gz")):
        frame, encoding = _read_csv(path)
    else:
        raise InputError("unsupported table format; use .csv, .csv.gz or .xlsx", source=str(path))
    frame.columns = [str(c).strip() for c in frame.columns]
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise InputError(f"column '{duplicated[0]}' appears more than once in the header", source=str(path), where="row 1")
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype("string").str.strip()
    return frame, TableFile(path=path, sha256=digest, encoding=encoding, rows=len(frame))


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    head = _head(path)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in head:
        raise InputError("the file is UTF-16 (or another encoding with NUL bytes), not UTF-8 or GBK; save it as 'CSV UTF-8'", source=str(path))
    text_dtypes = dict.fromkeys(TEXT_COLUMNS, "string")
    for encoding in _ENCODINGS:
        try:
            with warnings.catch_warnings():
                # index_col=False: rows longer than the header warn (made an error) instead of shifting every column.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, dtype=text_dtypes, encoding=encoding, skipinitialspace=True, index_col=False)
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding, skipinitialspace=True)
            return _with_header(frame, header.iloc[0].tolist()), encoding
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputError("the file is empty (no header row)", source=str(path)) from None
        except pd.errors.ParserWarning:
            raise InputError("rows have more fields than the header (a stray separator?)", source=str(path), where="row 1") from None
        except pd.errors.ParserError as exc:
            raise InputError(f"not a well-formed CSV table: {exc}", source=str(path)) from None
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read the file: {exc}", source=str(path)) from None
    raise InputError("cannot decode the file as UTF-8 or GBK/GB18030; save it as UTF-8", source=str(path))


def _head(path: Path, size: int = 1 << 16) -> bytes:
    """The first bytes of the file's content, uncompressed for ``.gz``."""
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read the file: {exc}", source=str(path)) from None


def _with_header(frame: pd.DataFrame, header: list[object]) -> pd.DataFrame:
    """`frame` with the names its file gives (pandas renames a repeated 'cost' to 'cost.1'); blank ones keep pandas's name."""
    names = [header[i] if i < len(header) else None for i in range(len(frame.columns))]
    frame.columns = [str(name) if isinstance(name, str) and name.strip() else str(column) for column, name in zip(frame.columns, names)]
    return frame


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=dict.fromkeys(TEXT_COLUMNS, "string"), engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None
    if len(sheets) != 1:
        raise InputError(f"the workbook has {len(sheets)} sheets ({', '.join(sheets)}); keep the table alone on one sheet", source=str(path))
    return _with_header(next(iter(sheets.values())), _xlsx_header(path))


def _xlsx_header(path: Path) -> list[object]:
    """The workbook's first row as written. Refuses a formula with no saved value (a workbook written by a
    script, not saved by Excel), which pandas would read as an empty cell."""
    header: list[object] = []
    formulas: dict[tuple[int, int], str] = {}
    for number, cells in enumerate(_xlsx_rows(path, data_only=False), start=1):
        header = [cell.value for cell in cells] if number == 1 else header
        formulas.update({(number, column): cell.value for column, cell in enumerate(cells, start=1) if cell.data_type == "f"})
    if formulas:  # a second pass, over the saved values, only for a workbook with formulas
        for number, cells in enumerate(_xlsx_rows(path, data_only=True), start=1):
            column = next((c for c, cell in enumerate(cells, start=1) if (number, c) in formulas and cell.value is None), None)
            if column is not None:
                name = header[column - 1] if column <= len(header) else None
                raise InputError(f"cell {get_column_letter(column)}{number} holds the formula '{formulas[number, column]}' with no saved "
                                 "value; open and save the workbook in Excel, or paste the values", source=str(path),
                                 where=f"row {number}, column {name}")
    return header


def _xlsx_rows(path: Path, *, data_only: bool) -> Iterator[tuple[Any, ...]]:
    """The cells of the first sheet, row by row (formulas as written, or their saved values if `data_only`)."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    try:
        yield from book.worksheets[0].iter_rows()
    finally:
        book.close()


def _size(size: float) -> str:
    """A file size for a person: ``512 bytes``, ``3.5 KiB``, ``1.2 GiB``."""
    if size < 1024:
        return f"{size:,.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:,.1f} {unit}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _require_columns(frame: pd.DataFrame, columns: list[str], source: Path, why: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"missing column '{missing[0]}' ({why}); the header has: {', '.join(frame.columns)}", source=str(source), where="row 1")


def _require_text(frame: pd.DataFrame, column: str, source: Path) -> None:
    empty = np.flatnonzero(frame[column].isna().to_numpy() | (frame[column] == "").fillna(True).to_numpy())
    if empty.size:
        raise InputError(f"'{column}' is empty", source=str(source), where=f"row {empty[0] + 2}, column {column}")


def _require_unique(frame: pd.DataFrame, column: str, source: Path) -> None:
    repeated = frame[column].duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(repeated)
        value = frame[column].iloc[rows[0]]
        others = np.flatnonzero((frame[column] == value).to_numpy())
        raise InputError(f"{column} '{value}' appears more than once (rows {', '.join(str(r + 2) for r in others[:5])})", source=str(source), where=f"column {column}")


def numeric_column(frame: pd.DataFrame, column: str, source: Path, *, fill_empty: float | None = None) -> np.ndarray:
    """A column as floats; non-numbers are an error naming the first bad row; empties become `fill_empty`."""
    values = np.array(pd.to_numeric(frame[column], errors="coerce"), dtype=float)
    empty = frame[column].isna().to_numpy()
    if fill_empty is not None:
        values[empty] = fill_empty
    bad = np.flatnonzero(~np.isfinite(values) & ~(empty & (fill_empty is not None)))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"expected a number, got {describe_cell(frame[column].iloc[row])}", source=str(source), where=f"row {row + 2}, column {column}")
    return values


def _validate_regions(data: Data, scenario: Scenario) -> None:
    regions, source = data.regions, data.files["regions"].path
    _require_columns(regions, list(REGION_COLUMNS), source, "every regions table needs region_id, name, province, zone")
    for column in ("region_id", "province", "zone"):
        _require_text(regions, column, source)
    _require_unique(regions, "region_id", source)
    if regions.empty:
        raise InputError("the regions table has no rows", source=str(source))
    needed = {}
    for indicator in scenario.indicators.values():
        for column in (indicator.baseline, indicator.denominator):
            if column:
                needed[column] = f"indicator '{indicator.name}'"
    for src in scenario.sources.values():
        if src.capacity:
            needed[src.capacity.column] = f"capacity of source '{src.key}'"
        if src.matching and src.matching.ratio_column:
            needed[src.matching.ratio_column] = f"matching ratio of source '{src.key}'"
    _require_columns(regions, list(needed), source, "named by " + ", ".join(f"{c}: {w}" for c, w in needed.items()))
    for column in needed:
        values = numeric_column(regions, column, source)
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise InputError(f"must not be negative, got {values[negative[0]]:g}", source=str(source), where=f"row {negative[0] + 2}, column {column}")
    for src in scenario.sources.values():
        if src.capacity:
            column = src.capacity.column
            regions[column] = parse_money_column(regions[column], where=f"{source}: column {column}", default_unit=scenario.data.money_unit)
    _check_scenario_names(data, scenario)


def _check_scenario_names(data: Data, scenario: Scenario) -> None:
    """Zones and provinces the scenario names must exist in the regions table."""
    zones, provinces = data.zones, data.provinces
    document = scenario.document

    def check(value: str, known: list[str], path: tuple[str, ...], what: str) -> None:
        if value not in known:
            raise InputError(f"{what} '{value}' is not in the regions table (it has: {', '.join(known[:12])}{' …' if len(known) > 12 else ''})",
                             source=document.locate(path), where=".".join(path))

    for src in scenario.sources.values():
        for zone in src.zones or ():
            check(zone, zones, ("sources", src.key, "zones"), "zone")
        if src.matching and src.matching.ratio_by_zone:
            for zone in src.matching.ratio_by_zone:
                check(zone, zones, ("sources", src.key, "matching", "ratio", zone), "zone")
            missing = [z for z in zones if z not in src.matching.ratio_by_zone]
            if missing:
                path = ("sources", src.key, "matching", "ratio")
                raise InputError(f"no matching ratio for zone '{missing[0]}'", source=document.locate(path), where=".".join(path))
        for type_key, by_zone in src.cap_per_project.items():
            for zone in by_zone:
                if zone != "default":
                    check(zone, zones, ("sources", src.key, "cap_per_project", type_key, zone), "zone")
    for count in scenario.counts.values():
        if count.zone:
            check(count.zone, zones, ("targets", "counts", count.name, "zone"), "zone")
    for rule in scenario.shares.values():
        known = zones if rule.level == "zone" else provinces
        for member in rule.members:
            check(member, known, ("balance", "shares", rule.name, rule.level), rule.level)


def _validate_projects(data: Data, scenario: Scenario) -> None:
    projects, source = data.projects, data.files["projects"].path
    _require_columns(projects, list(PROJECT_COLUMNS), source, "every projects table needs project_id, region_id, type, cost")
    if projects.empty:
        raise InputError("the projects table has no rows", source=str(source))
    for column in ("project_id", "region_id", "type"):
        _require_text(projects, column, source)
    _require_unique(projects, "project_id", source)

    region_row = pd.Index(data.regions["region_id"]).get_indexer(projects["region_id"])
    unknown = np.flatnonzero(region_row < 0)
    if unknown.size:
        row = int(unknown[0])
        raise InputError(f"region_id '{projects['region_id'].iloc[row]}' is not in the regions table ({unknown.size} such rows)",
                         source=str(source), where=f"row {row + 2}, column region_id")
    unknown_type = np.flatnonzero(~projects["type"].isin(list(scenario.types)).to_numpy())
    if unknown_type.size:
        row = int(unknown_type[0])
        raise InputError(f"type '{projects['type'].iloc[row]}' is not a project type of the scenario ({', '.join(scenario.types)})",
                         source=str(source), where=f"row {row + 2}, column type")

    unit = scenario.data.money_unit
    projects["cost"] = parse_money_column(projects["cost"], where=f"{source}: column cost", default_unit=unit)
    not_positive = np.flatnonzero(projects["cost"].to_numpy() <= 0)
    if not_positive.size:
        row = int(not_positive[0])
        raise InputError(f"cost must be positive, got {projects['cost'].iloc[row]:g}", source=str(source), where=f"row {row + 2}, column cost")

    needed = {c: "objective benefit" for c in scenario.benefit}
    needed.update({ind.contribution: f"indicator '{ind.name}'" for ind in scenario.indicators.values()})
    _require_columns(projects, list(needed), source, "named by " + ", ".join(f"{c}: {w}" for c, w in needed.items()))
    for column in needed:
        projects[column] = numeric_column(projects, column, source, fill_empty=0.0)

    projects["region"] = region_row
    projects["zone"] = data.regions["zone"].to_numpy()[region_row]
    projects["province"] = data.regions["province"].to_numpy()[region_row]
    projects["type"] = pd.Categorical(projects["type"], categories=list(scenario.types))
    _validate_requests(data, scenario)


def _validate_requests(data: Data, scenario: Scenario) -> None:
    """Declared funding plans: known sources, amounts in 万元, adding up to the cost where declared."""
    projects, source = data.projects, data.files["projects"].path
    columns = data.request_columns()
    for key, column in columns.items():
        if key not in scenario.sources:
            raise InputError(f"'{column}' names no funding source of the scenario ({', '.join(scenario.sources)})", source=str(source), where=f"row 1, column {column}")
    if not columns:
        return
    blank = projects[list(columns.values())].isna().all(axis=1).to_numpy()
    for column in columns.values():
        filled = projects[column].where(~blank, 0).fillna(0)
        projects[column] = parse_money_column(filled, where=f"{source}: column {column}", default_unit=scenario.data.money_unit)
    declared = projects[list(columns.values())].to_numpy().sum(axis=1)
    mismatch = np.flatnonzero(~blank & ~np.isclose(declared, projects["cost"].to_numpy(), rtol=1e-6, atol=1e-4))
    if mismatch.size:
        row = int(mismatch[0])
        raise InputError(f"the declared plan adds up to {declared[row]:,.4f}万元 but the cost is {projects['cost'].iloc[row]:,.4f}万元",
                         source=str(source), where=f"row {row + 2}, columns {', '.join(columns.values())}")
    projects["declared"] = ~blank
