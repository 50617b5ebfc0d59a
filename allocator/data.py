"""Regions and projects tables: read (CSV, CSV.GZ, XLSX, Parquet; UTF-8, UTF-8 with BOM, GBK/GB18030) and validate.

Rows in messages are counted as a spreadsheet shows them: the header is row 1. Text columns hold the text
as typed (``None`` or ``NA`` is a name, not a missing value); ids and codes are compared in their plain
form (full-width forms and invisible characters normalised away), with a warning when any changes.
"""

from __future__ import annotations

import codecs
import difflib
import gzip
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click
import numpy as np
import pandas as pd

from allocator.checks import denominator_warnings, standard_warnings
from allocator.errors import InputError
from allocator.runformat.tables import sha256_of
from allocator.scenario import Scenario
from allocator.stability import ReferencePlan, load_reference
from allocator.units import describe_cell, parse_money_column, refuse_dates

REGION_COLUMNS = ("region_id", "name", "province", "zone")
PROJECT_COLUMNS = ("project_id", "region_id", "type", "cost")
TEXT_COLUMNS = ("region_id", "project_id", "name", "province", "zone", "type", "city")
#: Text columns matched as codes: read in their plain form before duplicates and references are checked.
ID_COLUMNS = ("region_id", "project_id", "type", "zone", "province")
#: Columns the projects table gains from its region; a scenario cannot use a column of that name.
DERIVED_COLUMNS = {"region": "row of the regions table", "zone": "zone", "province": "province"}
REQUEST_PREFIX = "request_"
COMMITTED_PREFIX = "committed_"
#: The ``status`` column: each accepted spelling -> its status ("" is a candidate the model may choose).
STATUS_ALIASES = {"": "", "candidate": "", "候选": "", "must_fund": "must_fund", "必须安排": "must_fund", "exclude": "exclude",
                  "不予安排": "exclude", "continuing": "continuing", "续建": "continuing"}
MAX_TABLE_BYTES = 1 << 30
_ENCODINGS = ("utf-8-sig", "gb18030")
_ACCEPTED_ENCODINGS = "the encodings read are UTF-8, UTF-8 with BOM and GBK/GB18030 (not Big5, Shift-JIS or Latin-1)"
#: A file read as GBK/GB18030 must have at least this share of its non-ASCII characters in GB2312 (the
#: common characters); Big5, Shift-JIS or Latin-1 bytes read as GBK give mostly rare ones.
GB2312_SHARE = 0.9
#: The only cell read as missing: an empty one. Spreadsheet error and "NA" texts (#N/A from a failed VLOOKUP, NULL,
#: nan) are refused where a number belongs, as #DIV/0! is, not read as an empty cell that counts 0.
_MISSING = ("",)
#: Yes/no values, which a spreadsheet would count as 1 and 0 where a number belongs.
_YES_NO = ("TRUE", "FALSE", "YES", "NO", "是", "否")
_INVISIBLE = r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
#: Control characters (a workbook cannot hold them); a tab is allowed.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
#: Money per cell, 万元: at most MAX_MONEY_WAN (10万亿元), and a cost at least one yuan.
MAX_MONEY_WAN = 1e9
MIN_COST_WAN = 1e-4
#: Other numbers (benefits, contributions, baselines, denominators, ratios): 0 or a size within these.
MAGNITUDE = (1e-9, 1e12)


@dataclass(frozen=True)
class TableFile:
    """Where a table came from, for the manifest; and what reading it changed."""

    path: Path
    sha256: str
    encoding: str
    rows: int
    #: Warnings for the user (ids read in their plain form).
    notes: tuple[str, ...] = ()
    #: (row of the frame, column) -> the id as typed, where its plain form differs.
    as_typed: dict[tuple[int, str], str] = field(default_factory=dict, compare=False)


#: The arrays of :class:`Data` with one entry per project, in the projects' order.
PER_PROJECT_ARRAYS = ("declared", "status")


@dataclass
class Data:
    """Validated tables. ``projects`` gains ``region`` (row of ``regions``), ``zone`` and ``province``;
    ``cost`` and ``request_<source>`` columns are in 万元."""

    regions: pd.DataFrame
    projects: pd.DataFrame
    files: dict[str, TableFile] = field(default_factory=dict)
    #: Per project: funded by the plan its request_<source> columns declare.
    declared: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Per project: its status ("must_fund", "exclude", "continuing", or "" for a candidate).
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    #: The plan of ``[stability] reference``, matched to these projects (None without one).
    reference: ReferencePlan | None = None
    #: Per project: its row in the projects file (0: the first row below the header), to name it in a message.
    file_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Warnings about the data, shown when it is loaded.
    notes: list[str] = field(default_factory=list)

    @property
    def zones(self) -> list[str]:
        return sorted(self.regions["zone"].unique())

    @property
    def provinces(self) -> list[str]:
        return sorted(self.regions["province"].unique())

    def request_columns(self) -> dict[str, str]:
        """Source key -> declared-plan column, for the sources the projects table declares."""
        return {c.removeprefix(REQUEST_PREFIX): c for c in self.projects.columns if c.startswith(REQUEST_PREFIX)}

    def committed_columns(self) -> dict[str, str]:
        """Source key -> committed-money column of continuing projects."""
        return {c.removeprefix(COMMITTED_PREFIX): c for c in self.projects.columns if c.startswith(COMMITTED_PREFIX)}


def load_data(scenario: Scenario, read: Callable[[Path], tuple[pd.DataFrame, TableFile]] | None = None) -> Data:
    """Read both tables named by the scenario (with `read`, default :func:`read_table`: the workbench's worker keeps the
    tables it has read), check them against it and show its warnings."""
    read = read or read_table
    regions, regions_file = read(scenario.data.regions)
    projects, projects_file = read(scenario.data.projects) if scenario.data.applications is None else _applications(scenario)
    data = Data(regions=regions, projects=projects, files={"regions": regions_file, "projects": projects_file},
                declared=np.zeros(len(projects), dtype=bool))
    _validate_regions(data, scenario)
    _validate_projects(data, scenario)
    _canonical_order(data)
    data.reference = load_reference(scenario.stability, data)
    data.notes = [*regions_file.notes, *projects_file.notes, *_split_provinces(data), *_province_spellings(data),
                  *denominator_warnings(scenario, data),
                  *standard_warnings(scenario, data),
                  *(data.reference.notes if data.reference else ())]
    for note in data.notes:
        click.echo(f"warning: {note}", err=True)
    return data


def _split_provinces(data: Data) -> list[str]:
    """A province whose regions lie in more than one zone (east, central, west go by province): a typo in the
    zone column, which would move money between zones' rules unsaid."""
    zones = data.regions.groupby("province", sort=True)["zone"].unique()
    found = []
    for province, names in zones[zones.map(len) > 1].items():
        rows = data.regions.index[data.regions["province"] == province]
        counts = data.regions.loc[rows, "zone"].value_counts()
        odd = data.regions.loc[rows][data.regions.loc[rows, "zone"] != counts.index[0]]
        found.append(f"province {province} has regions in {len(names)} zones ({', '.join(f'{z}: {n}' for z, n in counts.items())}), "
                     f"e.g. region {odd['region_id'].iloc[0]} in {odd['zone'].iloc[0]}; zones usually go by province: check "
                     f"the regions table's zone column")
    return found


#: Endings a province's name may be written with or without (浙江 / 浙江省, 内蒙古 / 内蒙古自治区), longest first.
_PROVINCE_ENDINGS = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def _province_spellings(data: Data) -> list[str]:
    """Province names that differ only by an ending (省, 市, 自治区) or spaces: one province written two ways, read as two,
    so that every by-province rule (capacity, shares, standards) splits it unsaid."""
    def stem(name: str) -> str:
        name = re.sub(r"\s+", "", str(name))
        return next((name[: -len(end)] for end in _PROVINCE_ENDINGS if name.endswith(end) and len(name) > len(end)), name)

    counts = data.regions["province"].value_counts(sort=False)
    groups: dict[str, list[str]] = {}
    for name in sorted(counts.index, key=str):
        groups.setdefault(stem(name), []).append(name)
    found = []
    for names in groups.values():
        if len(names) > 1:
            shown = ", ".join(f"'{name}' ({counts[name]} region{'s' if counts[name] > 1 else ''})" for name in names)
            found.append(f"provinces {shown} differ only by an ending (省, 市, 自治区) or spaces, and are read as "
                         f"{len(names)} provinces, each with its own by-province rules; write the province one way in the "
                         "regions table")
    return found


def _applications(scenario: Scenario) -> tuple[pd.DataFrame, TableFile]:
    """[data] import_projects: the projects of an application workbook, read as `allocate import` reads it."""
    import dataclasses
    import tempfile

    from allocator.importing.direct import write_applications

    path = scenario.data.projects
    with tempfile.TemporaryDirectory() as folder:
        table, notes = write_applications(scenario.data, Path(folder))
        projects, read = read_table(table)
    return projects, dataclasses.replace(read, path=path, sha256=_sha256(path), encoding="xlsx (application workbook)", notes=tuple(notes))


def _canonical_order(data: Data) -> None:
    """Projects in the order of their ids (digits compared as numbers: P2 before P10), whatever the file's order:
    the model, and so the plan, is then the same for any order of the rows (docs/formulation.md, Ties)."""
    projects = data.projects
    ids = projects["project_id"].astype(str).tolist()
    order = np.array(sorted(range(len(ids)), key=lambda row: id_order(ids[row])), dtype=np.int64)
    for name in PER_PROJECT_ARRAYS:  # each follows its project
        setattr(data, name, getattr(data, name)[order])
    data.projects = projects.iloc[order].reset_index(drop=True)
    data.file_row = order


def id_order(project_id: str) -> tuple[tuple[int | str, ...], str]:
    """The sort key of a project id: its runs of digits as numbers, the text between them as text; then the id itself."""
    parts = re.split(r"(\d+)", project_id)  # text, digits, text, ...: positions of one kind compare with their kind
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), project_id


def read_table(path: Path) -> tuple[pd.DataFrame, TableFile]:
    """Read one table with text id columns; refuse what cannot be read, naming the file."""
    if path.is_dir():
        raise InputError("this is a folder, not a data file", source=str(path))
    if not path.is_file():
        raise InputError("not a regular file (a pipe, socket or device); give a .csv, .csv.gz, .xlsx or .parquet file" if path.exists()
                         else "data file not found", source=str(path))
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise InputError(f"file is {_size(size)}, above the {_size(MAX_TABLE_BYTES)} limit for a table", source=str(path))
    digest = _sha256(path)
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith(".xlsx"):
        frame, encoding = _read_xlsx(path), "xlsx"
    elif suffixes.endswith((".csv", ".csv.gz")):
        frame, encoding = _read_csv(path)
    elif suffixes.endswith(".parquet"):
        frame, encoding = _read_parquet(path), "parquet"
    else:
        raise InputError("unsupported table format; use .csv, .csv.gz, .xlsx or .parquet", source=str(path))
    typed = [str(c).strip() for c in frame.columns]
    frame.columns = [plain_text(name) for name in typed]
    notes = [f"{path}: row 1: column header {old!r} read as {new!r}" for old, new in zip(typed, frame.columns) if old != new]
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise InputError(f"column '{duplicated[0]}' appears more than once in the header", source=str(path), where="row 1")
    _refuse_control_characters(frame, path)
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _trimmed(frame[column].astype("string"))
    as_typed = _plain_ids(frame)
    if as_typed:
        (row, column), old = min(as_typed.items())
        notes.append(f"{path}: {len(as_typed)} id{'s' if len(as_typed) > 1 else ''} normalised before matching (full-width forms, "
                     f"invisible characters and odd spaces); the first: row {row + 2}, column {column}: {old!r} → {frame[column].iloc[row]!r}")
    return frame, TableFile(path=path, sha256=digest, encoding=encoding, rows=len(frame), notes=tuple(notes), as_typed=as_typed)


def plain_text(text: str) -> str:
    """An id or code in its plain form: NFKC (full-width letters and digits to ASCII), invisible characters removed, trimmed."""
    return re.sub(_INVISIBLE, "", unicodedata.normalize("NFKC", text)).strip()


def _joined(values: pd.Series) -> str:
    """A text column in one string, cells separated by tabs: one search tells whether any cell needs work."""
    return "\t".join(values.dropna().tolist())


def _trimmed(values: pd.Series) -> pd.Series:
    return values.str.strip() if re.search(r"^\s|\s$|\s\t|\t\s", _joined(values)) else values


def _plain_ids(frame: pd.DataFrame) -> dict[tuple[int, str], str]:
    """Replace the id columns by their plain form; return the ids as typed where that changed them."""
    as_typed = {}
    for column in (c for c in ID_COLUMNS if c in frame.columns):
        typed = frame[column]
        text = _joined(typed)
        if unicodedata.is_normalized("NFKC", text) and not re.search(_INVISIBLE, text):
            continue
        plain = typed.str.normalize("NFKC").str.replace(_INVISIBLE, "", regex=True).str.strip()
        changed = np.flatnonzero((plain != typed).fillna(False).to_numpy())
        as_typed.update({(int(row), column): str(typed.iloc[row]) for row in changed})
        frame[column] = plain
    return as_typed


def _refuse_control_characters(frame: pd.DataFrame, source: Path) -> None:
    """Names and ids are one line of printable text (a tab is allowed); a workbook cannot hold control characters."""
    for column in TEXT_COLUMNS:
        if column not in frame.columns:
            continue
        text = frame[column].astype("string")
        if not _CONTROL.search(_joined(text)):
            continue
        found = np.flatnonzero(text.str.contains(_CONTROL).fillna(False).to_numpy())
        if found.size:
            row = int(found[0])
            value = str(text.iloc[row])
            match = _CONTROL.search(value)
            assert match is not None  # the same pattern found it just above
            char = match.group()
            what = "a line break" if char in "\n\r" else "the control character"
            raise InputError(f"{value!r} contains {what} (U+{ord(char):04X}); remove it: names and ids must be one line of "
                             f"printable text{f' ({found.size} such rows)' if found.size > 1 else ''}",
                             source=str(source), where=f"row {row + 2}, column {column}")


def _text_dtypes(names: list[object]) -> dict[object, str]:
    return {name: "string" for name in names if isinstance(name, str) and plain_text(name) in TEXT_COLUMNS}


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    head = _head(path)
    if head.startswith(b"PK\x03\x04"):
        raise InputError("this is an Excel workbook (.xlsx, a zip file) named as a CSV: give it its .xlsx name, or save it "
                         "as 'CSV UTF-8'", source=str(path))
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in head:
        raise InputError("the file is UTF-16 (or another encoding with NUL bytes), not UTF-8 or GBK; save it as 'CSV UTF-8'", source=str(path))
    for encoding in _ENCODINGS:
        try:
            if encoding == "gb18030":
                _refuse_unlikely_gbk(path)
            options: dict[str, Any] = {"encoding": encoding, "skipinitialspace": True}
            # Text parsed into Python strings: pandas's pyarrow string path reads a trailing comma as an extra field.
            with warnings.catch_warnings(), pd.option_context("mode.string_storage", "python"):
                # index_col=False: rows longer than the header warn (made an error) instead of shifting every column.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                names = pd.read_csv(path, nrows=0, index_col=False, **options).columns.tolist()
                frame = pd.read_csv(path, dtype=_text_dtypes(names), index_col=False, keep_default_na=False, na_values=_MISSING, **options)
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **options)
            return _with_header(frame, header.iloc[0].tolist()), encoding
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputError("the file is empty (no header row)", source=str(path)) from None
        except pd.errors.ParserWarning:
            raise InputError("rows have more fields than the header (a stray separator?)", source=str(path), where="row 1") from None
        except pd.errors.ParserError as exc:
            # pandas counts lines from 0: say the line as an editor numbers it
            said = re.sub(r"starting at row (\d+)", lambda m: f"starting on line {int(m.group(1)) + 1} of the file", str(exc))
            raise InputError(f"not a well-formed CSV table: {said}", source=str(path)) from None
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read the file: {exc}", source=str(path)) from None
    raise InputError(f"cannot decode the file as UTF-8 or GBK/GB18030; {_ACCEPTED_ENCODINGS}: save it as UTF-8 ('CSV UTF-8' in Excel)",
                     source=str(path))


def _refuse_unlikely_gbk(path: Path) -> None:
    """A file that is not UTF-8 is read as GBK/GB18030 only if its text looks like Chinese in that encoding.

    Raises UnicodeDecodeError when the first MiB is not GB18030 at all."""
    text = codecs.getincrementaldecoder("gb18030")().decode(_head(path, 1 << 20))
    if _common_share(text) >= GB2312_SHARE:
        return
    number, line = next(((n, line) for n, line in enumerate(text.splitlines(), start=1) if _common_share(line) < GB2312_SHARE), (1, text))
    raise InputError(f"the file is not UTF-8, and read as GBK/GB18030 its text is mostly rare characters (line {number} reads "
                     f"{line[:40]!r}), so it is in another encoding; {_ACCEPTED_ENCODINGS}: save it as UTF-8 ('CSV UTF-8' in Excel)",
                     source=str(path))


def _common_share(text: str) -> float:
    """Of the non-ASCII characters of `text`, the share in GB2312 (1.0 when there are none)."""
    wide = len(text) - len(text.encode("ascii", errors="ignore"))
    common = (len(text.encode("gb2312", errors="ignore")) - (len(text) - wide)) / 2
    return common / wide if wide else 1.0


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


def _refuse_nested(path: Path) -> None:
    """A Parquet column of lists, maps or records: a table cell holds one value (a list read as text would make a
    province named "[1 2]")."""
    import pyarrow.parquet as pq
    import pyarrow.types as pa_types

    for column in pq.read_schema(path):
        if pa_types.is_nested(column.type):
            raise InputError(f"holds {column.type} values, not one value per cell; write each value in "
                             "a cell of its own", source=str(path), where=f"column {column.name}")


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet table as a CSV of the same data reads: a whole-number id column as text ("110101", not "110101.0"),
    an empty text cell as missing; a named index (a table saved from pandas with its ids as index) is a column.
    Rows in messages are counted as in that CSV (row 2 is the first record, index 0)."""
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(f"reading a .parquet table needs pyarrow ({exc}); pip install pyarrow", source=str(path)) from None
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet or is damaged
        raise InputError(f"cannot read the Parquet file: {exc}", source=str(path)) from None
    _refuse_nested(path)
    frame = frame.reset_index(drop=all(name is None for name in frame.index.names))
    for column in frame.columns:
        values = frame[column]
        text = isinstance(column, str) and plain_text(column) in TEXT_COLUMNS
        if text and values.dtype.kind == "f":
            fractional = np.flatnonzero((values % 1 != 0).fillna(False).to_numpy())
            if fractional.size:  # a code kept as a decimal number: its fraction cannot be part of an id
                row = int(fractional[0])
                raise InputError(f"{column} {float(values.iloc[row])!r} is not a whole number: the column holds numbers, and a code "
                                 "is text; store it as text", source=str(path), where=f"row {row + 2}, column {column}")
            frame[column] = values.astype("Int64")
        elif values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            frame[column] = values.mask(values.astype("string").eq("").fillna(False).to_numpy(dtype=bool))
    return frame


def _read_xlsx(path: Path) -> pd.DataFrame:
    header, booleans, errors = _scan_xlsx(path)
    try:
        frame = pd.read_excel(path, dtype=_text_dtypes(header), keep_default_na=False, na_values=_MISSING, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None
    frame = _with_header(frame, header)
    # pandas reads TRUE as 1 in a column of numbers, and an error cell (#DIV/0!, #N/A) as an empty one, which counts 0:
    # put back what the cell holds, so that both are refused where a number belongs, as the same text in a CSV is.
    cells: dict[tuple[int, int], bool | str] = {**booleans, **errors}
    for (row, column), value in cells.items():
        if (row, column) in booleans and column <= len(frame.columns) and plain_text(frame.columns[column - 1]) in TEXT_COLUMNS:
            continue
        if 2 <= row < len(frame) + 2 and column <= len(frame.columns):
            dtype = frame.dtypes.iloc[column - 1]
            if dtype != object and not isinstance(dtype, pd.StringDtype):  # noqa: E721 (a dtype, not a type)
                frame[frame.columns[column - 1]] = frame.iloc[:, column - 1].astype(object)
            frame.iat[row - 2, column - 1] = value
    return frame


def _scan_xlsx(path: Path) -> tuple[list[object], dict[tuple[int, int], bool], dict[tuple[int, int], str]]:
    """What pandas does not tell: the workbook's first row as written, its TRUE/FALSE cells and its error cells
    (#DIV/0!, #N/A, … as typed or as a formula's saved value) by (row, column).
    Refuses several sheets, merged cells and a formula with no saved value (a workbook written by a script, not
    saved by Excel), which pandas would read as an empty cell."""
    from openpyxl.utils import get_column_letter

    header: list[object] = []
    formulas: dict[tuple[int, int], str] = {}
    booleans: dict[tuple[int, int], bool] = {}
    errors: dict[tuple[int, int], str] = {}
    for number, cells in enumerate(_xlsx_rows(path, data_only=False), start=1):
        header = [cell.value for cell in cells] if number == 1 else header
        for column, cell in enumerate(cells, start=1):
            if cell.data_type == "f":
                formulas[number, column] = cell.value
            elif cell.data_type == "b":
                booleans[number, column] = bool(cell.value)
            elif cell.data_type == "e":
                errors[number, column] = str(cell.value)
    _refuse_merged_cells(path, header)
    if formulas:  # a second pass, over the saved values, only for a workbook with formulas
        for number, cells in enumerate(_xlsx_rows(path, data_only=True), start=1):
            booleans.update({(number, c): cell.value for c, cell in enumerate(cells, start=1)
                             if (number, c) in formulas and isinstance(cell.value, bool)})
            errors.update({(number, c): str(cell.value) for c, cell in enumerate(cells, start=1)
                           if (number, c) in formulas and cell.data_type == "e"})
            blank = next((c for c, cell in enumerate(cells, start=1) if (number, c) in formulas and cell.value is None), None)
            if blank is not None:
                name = header[blank - 1] if blank <= len(header) else None
                raise InputError(f"cell {get_column_letter(blank)}{number} holds the formula '{formulas[number, blank]}' with no saved "
                                 "value; open and save the workbook in Excel, or paste the values", source=str(path),
                                 where=f"row {number}, column {name}")
    return header, booleans, errors


def _xlsx_rows(path: Path, *, data_only: bool) -> Iterator[tuple[Any, ...]]:
    """The cells of the only sheet, row by row (formulas as written, or their saved values if `data_only`)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None
    try:
        if len(book.sheetnames) != 1:
            raise InputError(f"the workbook has {len(book.sheetnames)} sheets ({', '.join(book.sheetnames)}); keep the table alone "
                             "on one sheet", source=str(path))
        yield from book.worksheets[0].iter_rows()
    except InputError:
        raise
    except Exception as exc:  # a damaged sheet
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None
    finally:
        book.close()


def _refuse_merged_cells(path: Path, header: list[object]) -> None:
    """A merged range keeps its value in the top-left cell only: the rows below it would read as empty (or 0)."""
    try:
        ranges = _merged_ranges(path)
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError) as exc:
        raise InputError(f"cannot read the workbook: {exc}", source=str(path)) from None
    if ranges:
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.cell_range import CellRange

        first = CellRange(ranges[0])
        names = [str(header[c - 1]) if c <= len(header) else get_column_letter(c) for c in range(first.min_col, first.max_col + 1)]
        raise InputError(f"cells {ranges[0]} are merged{f' (and {len(ranges) - 1} more ranges)' if len(ranges) > 1 else ''}; "
                         "unmerge them and fill every row with its own value (a merged cell leaves the rows below it empty)",
                         source=str(path), where=f"column{'s' if len(names) > 1 else ''} {', '.join(names)}")


def _merged_ranges(path: Path) -> list[str]:
    """The merged ranges of the workbook's sheets (``<mergeCell ref="C4:C7"/>`` in a sheet's XML)."""
    ranges = []
    with zipfile.ZipFile(path) as book:
        for part in book.namelist():
            if part.startswith("xl/worksheets/") and part.endswith(".xml"):
                with book.open(part) as sheet:
                    for _, element in ElementTree.iterparse(sheet):
                        if element.tag.endswith("}mergeCell"):
                            ranges.append(element.get("ref", ""))
                        element.clear()
    return ranges


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
    try:
        return sha256_of(path)
    except OSError as exc:  # the first read of a table: unreadable (permissions) or gone
        raise InputError(f"cannot read the file: {exc.strerror or exc}", source=str(path)) from None


def _require_columns(frame: pd.DataFrame, columns: list[str], source: Path, why: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        separator = next((s for s in (";", "\t", "|") if any(s in str(c) for c in frame.columns)), None)
        hint = (f"; the header is split by {'a tab' if separator == chr(9) else repr(separator)}, not by commas: save the table as "
                "'CSV UTF-8 (comma delimited)'") if separator and len(frame.columns) <= 2 else ""
        raise InputError(f"missing column '{missing[0]}' ({why}); the header has: {', '.join(map(str, frame.columns))}{hint}",
                         source=str(source), where="row 1")


def _require_text(frame: pd.DataFrame, column: str, source: Path) -> None:
    empty = np.flatnonzero(frame[column].isna().to_numpy() | (frame[column] == "").fillna(True).to_numpy())
    if empty.size:
        raise InputError(f"'{column}' is empty", source=str(source), where=f"row {empty[0] + 2}, column {column}")


def _require_unique(frame: pd.DataFrame, column: str, table: TableFile) -> None:
    repeated = frame[column].duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(repeated)
        value = frame[column].iloc[rows[0]]
        others = np.flatnonzero((frame[column] == value).to_numpy())
        typed = [(r, table.as_typed[r, column]) for r in others.tolist() if (r, column) in table.as_typed]
        hint = (f"; row {typed[0][0] + 2} reads {typed[0][1]!r}, the same id once full-width forms and invisible characters are "
                "normalised") if typed else ""
        raise InputError(f"{column} '{value}' appears more than once (rows {', '.join(str(r + 2) for r in others[:5])}){hint}",
                         source=str(table.path), where=f"column {column}")


def numeric_column(frame: pd.DataFrame, column: str, source: Path, *, fill_empty: float | None = None) -> np.ndarray:
    """A column as floats; non-numbers are an error naming the first bad row; empties become `fill_empty`."""
    _refuse_yes_no(frame, column, source, "write the number (1 or 0 if that is what it means)")
    refuse_dates(frame[column], where=f"column {column}", source=str(source))
    values = np.array(pd.to_numeric(frame[column], errors="coerce"), dtype=float)
    empty = frame[column].isna().to_numpy()
    if fill_empty is not None:
        values[empty] = fill_empty
    bad = np.flatnonzero(~np.isfinite(values) & ~(empty & (fill_empty is not None)))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"expected a number, got {describe_cell(frame[column].iloc[row])}", source=str(source), where=f"row {row + 2}, column {column}")
    return values


def _refuse_yes_no(frame: pd.DataFrame, column: str, source: Path, fix: str) -> None:
    """TRUE/FALSE (or 是/否) where a number belongs, which a spreadsheet counts as 1 or 0."""
    values = frame[column]
    if values.dtype.kind in "iuf":
        return
    found = np.flatnonzero(values.astype("string").str.strip().str.upper().isin(_YES_NO).fillna(False).to_numpy())
    if found.size:
        from openpyxl.utils import get_column_letter

        row = int(found[0])
        value = values.iloc[row]
        shown = str(value).upper() if isinstance(value, bool | np.bool_) else repr(value)
        cell = f"{get_column_letter(frame.columns.get_loc(column) + 1)}{row + 2}"
        raise InputError(f"cell {cell} holds {shown}, a yes/no value where a number belongs (a spreadsheet counts TRUE "
                         f"as 1); {fix}", source=str(source), where=f"row {row + 2}, column {column}")


def _refuse_magnitude(values: np.ndarray, column: str, source: Path) -> None:
    """Numbers the solver cannot weigh against each other (1e308 would make the objective infinite)."""
    low, high = MAGNITUDE
    size = np.abs(values)
    bad = np.flatnonzero((size > high) | ((size > 0) & (size < low)))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{values[row]:g} is beyond what the solver can use (0, or a size from {low:g} to {high:g}); check the unit and "
                         "the decimal point", source=str(source), where=f"row {row + 2}, column {column}")


def _refuse_money_above(values: np.ndarray, column: str, source: Path, unit: str) -> None:
    above = np.flatnonzero(values > MAX_MONEY_WAN)
    if above.size:
        row = int(above[0])
        raise InputError(f"{column} {values[row]:g}万元 is above {MAX_MONEY_WAN:g}万元 (10万亿元), more than one row can hold; check "
                         f"the unit (money_unit = {unit})", source=str(source), where=f"row {row + 2}, column {column}")


def _validate_regions(data: Data, scenario: Scenario) -> None:
    regions, source = data.regions, data.files["regions"].path
    _require_columns(regions, list(REGION_COLUMNS), source, "every regions table needs region_id, name, province, zone")
    for column in ("region_id", "province", "zone"):
        _require_text(regions, column, source)
    _require_unique(regions, "region_id", data.files["regions"])
    if regions.empty:
        raise InputError("the regions table has no rows", source=str(source))
    needed = {}
    for indicator in scenario.indicators.values():
        for named in (indicator.baseline, indicator.denominator):
            if named:
                needed[named] = f"indicator '{indicator.name}'"
    for name, benefit in scenario.benefit_by_type.items():
        if benefit.cap:
            needed[benefit.cap] = f"benefit cap of type '{name}'"
    for src in scenario.sources.values():
        if src.capacity:
            needed[src.capacity.column] = f"capacity of source '{src.key}'"
        if src.matching and src.matching.ratio_column:
            needed[src.matching.ratio_column] = f"matching ratio of source '{src.key}'"
    _require_columns(regions, list(needed), source, "named by " + ", ".join(f"{c}: {w}" for c, w in needed.items()))
    money = {src.capacity.column for src in scenario.sources.values() if src.capacity}
    unit = scenario.data.money_unit
    for column in needed:
        values = numeric_column(regions, column, source)
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise InputError(f"must not be negative, got {values[negative[0]]:g}", source=str(source), where=f"row {negative[0] + 2}, column {column}")
        if column in money:
            regions[column] = parse_money_column(regions[column], where=f"{source}: column {column}", default_unit=unit)
            _refuse_money_above(regions[column].to_numpy(), column, source, unit)
        else:
            _refuse_magnitude(values, column, source)
            regions[column] = values
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
    for src in scenario.sources.values():
        if src.standard is None:
            continue
        for kind, table in (("share", src.standard.share), ("amount", src.standard.amount)):
            for type_key, by_place in table.items():
                for place in by_place:
                    if place != "default" and place not in provinces and place not in zones:
                        where: tuple[str, ...] = ("sources", src.key, "standard", kind, type_key, place)
                        near = difflib.get_close_matches(place.strip(), [*provinces, *zones], n=1, cutoff=0.5)
                        raise InputError(f"'{place}' is neither a province nor a zone of the regions table"
                                         f"{f'; did you mean {near[0]!r}?' if near else ''} (provinces: {', '.join(provinces[:12])}"
                                         f"{' …' if len(provinces) > 12 else ''}; zones: {', '.join(zones)}); a project in a "
                                         "province the standard does not name gets its zone's or the default value",
                                         source=document.locate(where), where=".".join(where))


def _validate_projects(data: Data, scenario: Scenario) -> None:
    projects, source = data.projects, data.files["projects"].path
    _require_columns(projects, list(PROJECT_COLUMNS), source, "every projects table needs project_id, region_id, type, cost")
    if projects.empty:
        raise InputError("the projects table has no rows", source=str(source))
    for column in ("project_id", "region_id", "type"):
        _require_text(projects, column, source)
    _require_unique(projects, "project_id", data.files["projects"])

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

    _validate_cost(projects, source, scenario.data.money_unit)

    needed = {c: "objective benefit" for c in scenario.benefit}
    needed.update({b.column: f"objective benefit of type '{t}'" for t, b in scenario.benefit_by_type.items()})
    needed.update({ind.contribution: f"indicator '{ind.name}'" for ind in scenario.indicators.values()})
    derived = [c for c in needed if c in DERIVED_COLUMNS]
    if derived:
        raise InputError(f"the scenario uses a column named '{derived[0]}' ({needed[derived[0]]}), but that name is the project's "
                         f"{DERIVED_COLUMNS[derived[0]]}, which the tool adds; rename the column, in the table and in the scenario",
                         source=str(source), where=f"row 1, column {derived[0]}")
    _require_columns(projects, list(needed), source, "named by " + ", ".join(f"{c}: {w}" for c, w in needed.items()))
    for column in needed:
        projects[column] = numeric_column(projects, column, source, fill_empty=0.0)
        _refuse_magnitude(projects[column].to_numpy(), column, source)
        negative = np.flatnonzero(projects[column].to_numpy() < 0)
        if negative.size:  # a benefit or a contribution that funding would take away: a typo, not a plan
            row = int(negative[0])
            raise InputError(f"{column} must be at least 0 ({needed[column]}), got {projects[column].iloc[row]:g}"
                             + (f" ({negative.size} such rows)" if negative.size > 1 else ""),
                             source=str(source), where=f"row {row + 2}, column {column}")

    projects["region"] = region_row
    projects["zone"] = data.regions["zone"].to_numpy()[region_row]
    projects["province"] = data.regions["province"].to_numpy()[region_row]
    projects["type"] = pd.Categorical(projects["type"], categories=list(scenario.types))
    _validate_requests(data, scenario)
    _validate_status(data, scenario)


def _validate_status(data: Data, scenario: Scenario) -> None:
    """The ``status`` column (English or Chinese names) and the committed money of continuing projects, which
    becomes their declared plan: it must add up to the cost, like a ``request_<source>`` plan."""
    projects, source = data.projects, data.files["projects"].path
    data.status = np.full(len(projects), "", dtype=object)
    if "status" in projects.columns:
        typed = projects["status"].astype("string").fillna("").str.strip()
        status = typed.str.lower().map(lambda text: STATUS_ALIASES.get(text, STATUS_ALIASES.get(text.replace(" ", "_"))))
        unknown = np.flatnonzero(status.isna().to_numpy())
        if unknown.size:
            row = int(unknown[0])
            raise InputError(f"status {typed.iloc[row]!r} is not one of must_fund (必须安排), exclude (不予安排), continuing (续建) "
                             "or empty (a candidate)", source=str(source), where=f"row {row + 2}, column status")
        data.status = status.to_numpy(dtype=object)
    continuing = data.status == "continuing"
    columns = data.committed_columns()
    for key, column in columns.items():
        if key not in scenario.sources:
            raise InputError(f"'{column}' names no funding source of the scenario ({', '.join(scenario.sources)})", source=str(source), where=f"row 1, column {column}")
        _refuse_yes_no(projects, column, source, "write the amount")
        projects[column] = parse_money_column(projects[column].astype(object).fillna(0), where=f"{source}: column {column}", default_unit=scenario.data.money_unit)
    committed = projects[list(columns.values())].to_numpy(dtype=float).sum(axis=1) if columns else np.zeros(len(projects))
    where = f"columns {', '.join(columns.values())}" if columns else "column status"
    for problem, bad in (("committed money on a project whose status is not continuing", ~continuing & (committed != 0)),
                         ("a continuing project cannot also have a request_<source> plan", continuing & data.declared),
                         ("the committed money of a continuing project must add up to its cost",
                          continuing & ~np.isclose(committed, projects["cost"].to_numpy(), rtol=1e-6, atol=1e-4))):
        found = np.flatnonzero(bad)
        if found.size:
            row = int(found[0])
            raise InputError(f"{problem} (committed {committed[row]:,.4f}万元, cost {projects['cost'].iloc[row]:,.4f}万元)",
                             source=str(source), where=f"row {row + 2}, {where}")
    data.declared = data.declared | continuing
    _apply_scenario_statuses(data, scenario)


def _apply_scenario_statuses(data: Data, scenario: Scenario) -> None:
    """``[projects] must_fund`` / ``exclude``: statuses set by project_id, which win over the ``status`` column. Each id
    must name a project of the table; a continuing (续建) project keeps its committed money and is refused."""
    ids = pd.Index(data.projects["project_id"].astype(str))
    for key in ("must_fund", "exclude"):
        listed = list(getattr(scenario.statuses, key))
        if not listed:
            continue
        rows = ids.get_indexer(listed)
        where = scenario.document.locate(("projects", key))
        if (rows < 0).any():
            unknown = listed[int(np.flatnonzero(rows < 0)[0])]
            raise InputError(f"'{unknown}' is not a project_id of {data.files['projects'].path.name}", source=where, where=f"projects.{key}")
        continuing = rows[data.status[rows] == "continuing"]
        if continuing.size:
            raise InputError(f"'{ids[continuing[0]]}' is a continuing project (续建) with committed money; change its status in the "
                             "projects table instead", source=where, where=f"projects.{key}")
        data.status = data.status.copy()
        data.status[rows] = key


def _validate_cost(projects: pd.DataFrame, source: Path, unit: str) -> None:
    """Costs in 万元: positive, at least one yuan and at most MAX_MONEY_WAN."""
    _refuse_yes_no(projects, "cost", source, "write the amount")
    projects["cost"] = parse_money_column(projects["cost"], where=f"{source}: column cost", default_unit=unit)
    cost = projects["cost"].to_numpy()
    not_positive = np.flatnonzero(cost <= 0)
    if not_positive.size:
        row = int(not_positive[0])
        raise InputError(f"cost must be positive, got {cost[row]:g}", source=str(source), where=f"row {row + 2}, column cost")
    tiny = np.flatnonzero(cost < MIN_COST_WAN)
    if tiny.size:
        row = int(tiny[0])
        raise InputError(f"cost {cost[row]:g}万元 is below 1 元; check the unit (money_unit = {unit}) and the decimal point",
                         source=str(source), where=f"row {row + 2}, column cost")
    _refuse_money_above(cost, "cost", source, unit)


def _validate_requests(data: Data, scenario: Scenario) -> None:
    """Declared funding plans: known sources, amounts in 万元, adding up to the cost where declared."""
    projects, source = data.projects, data.files["projects"].path
    columns = data.request_columns()
    for key, column in columns.items():
        if key not in scenario.sources:
            raise InputError(f"'{column}' names no funding source of the scenario ({', '.join(scenario.sources)})", source=str(source), where=f"row 1, column {column}")
    if not columns:
        return
    for column in columns.values():
        _refuse_yes_no(projects, column, source, "write the amount")
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
    data.declared = ~blank
