"""How a table of a run is written to CSV and read back: UTF-8 with BOM (for Excel on Chinese Windows), and
every text a spreadsheet could run as a formula behind a quote, which reading takes off again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from allocator.errors import InputError
from allocator.runformat.names import table_file

CSV_ENCODING = "utf-8-sig"
#: A cell starting with one of these could run as a formula in a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A line starting, after any quotes, like a formula (to find a column's candidates in one search).
_FORMULA_LINE = re.compile("^'*[" + re.escape("".join(_FORMULA_START)) + "]", re.M)
#: Columns read back as text whatever they hold (an id of digits stays "110101", a name "NA" stays "NA").
_TEXT_COLUMNS = dict.fromkeys(("project_id", "name", "region_id", "province", "zone", "type", "source", "label", "indicator",
                               "scope", "group", "rule", "key", "unit", "per", "method", "year"), "string")


def neutralise_text(text: str) -> str:
    """`text` behind a quote if a spreadsheet could run it as a formula, so it arrives as inert text.

    Text that already starts with quotes before such a character gets one more, so that
    :func:`restore_text` gives back exactly what it was given."""
    return "'" + text if text.lstrip("'").startswith(_FORMULA_START) else text


def restore_text(text: str) -> str:
    """The text that :func:`neutralise_text` was given."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(_FORMULA_START) else text


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name that a spreadsheet could execute, behind a quote (:func:`neutralise_text`)."""
    return _each_text(frame, neutralise_text)


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read back from :func:`write_csv` as it was written: without the quotes it added."""
    return _each_text(frame, restore_text)


def _each_text(frame: pd.DataFrame, change: Callable[[str], str]) -> pd.DataFrame:
    """`frame` with `change` applied to its column names and to every text cell it could alter."""
    result = frame.rename(columns=lambda name: change(name) if isinstance(name, str) else name)
    for column in result.columns:
        if result[column].dtype == object or pd.api.types.is_string_dtype(result[column]):
            values = result[column].to_numpy(dtype=object)
            if _FORMULA_LINE.search("\n".join(v for v in values if isinstance(v, str))):  # one quick look at the whole column
                changed = [change(v) if isinstance(v, str) else v for v in values]
                result[column] = pd.Series(changed, index=result.index, dtype=result[column].dtype)
    return result


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    neutralise_formulas(frame).to_csv(path, index=False, encoding=CSV_ENCODING, lineterminator="\n")


def write_tables(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    """Each table in `folder` under its file name (``allocation`` -> ``allocation.csv``)."""
    for name, frame in tables.items():
        write_csv(frame, folder / table_file(name))


def read_table(path: Path) -> pd.DataFrame:
    """A table written by :func:`write_csv`, as it was before it was written.

    Only an empty cell is missing: a name typed as "None" or "NA" reads back as that text. A file that cannot be such a
    table (empty, cut short) is refused, naming it."""
    try:
        header = pd.read_csv(path, nrows=0, encoding=CSV_ENCODING).columns
        dtypes = {column: kind for column, kind in _TEXT_COLUMNS.items() if column in header}
        frame = pd.read_csv(path, encoding=CSV_ENCODING, dtype=dtypes, keep_default_na=False, na_values={c: [""] for c in header})
    except pd.errors.EmptyDataError:
        raise InputError("is empty, not the table the run wrote: run the scenario again", source=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read as the table the run wrote ({exc}): run the scenario again", source=str(path)) from None
    return restore_formulas(frame)


def refuse_text_in_numbers(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a table of numbers but for its text columns (the allocation) in which a number column holds text."""
    text = [column for column in frame.columns if column not in _TEXT_COLUMNS and not pd.api.types.is_numeric_dtype(frame[column])]
    if text:
        raise InputError(f"column {text[0]} holds text where the run wrote numbers (damaged or edited since): run the "
                         "scenario again", source=str(path))


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at `path`, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
