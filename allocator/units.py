"""Money at the edges: parse 亿 / 万 / 元 / ¥ amounts into 万元, the one internal unit, and format them."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping

import numpy as np
import pandas as pd

from allocator.errors import InputError

#: How many 万元 one unit is worth.
UNITS_IN_WAN: dict[str, float] = {
    "亿元": 10_000.0,
    "亿": 10_000.0,
    "万元": 1.0,
    "万": 1.0,
    "元": 1e-4,
    "yuan": 1e-4,
    "wan": 1.0,
    "yi": 10_000.0,
}

#: Characters that are easy to type instead of a unit; used only to suggest a fix.
_LOOKALIKES = {"忆": "亿", "乙": "亿", "意": "亿", "億": "亿", "萬": "万", "方": "万", "圆": "元", "园": "元"}

#: The most any amount may be (万元), 10^16 yuan: far above any public budget, so a larger one has a mistyped unit.
MAX_WAN = 1e12

_AMOUNT = re.compile(
    r"^\s*(?P<yen>¥?)\s*(?P<number>[+-]?(?P<mantissa>\d[\d,]*(\.[\d,]*)?|\.[\d,]+)([eE][+-]?\d+)?)\s*(?P<unit>[^\d\s]*)\s*$", re.ASCII)
#: A comma is a thousands separator only in groups of three after a first group of 1-3 digits: 1,234,567.5
_GROUPED = re.compile(r"^[1-9]\d{0,2}(,\d{3})+(\.\d*)?$", re.ASCII)


def unit_factor(unit: str, *, where: str = "") -> float:
    """万元 per one `unit`; raise naming `where` if the unit is unknown."""
    if unit in UNITS_IN_WAN:
        return UNITS_IN_WAN[unit]
    hint = "".join(_LOOKALIKES.get(ch, ch) for ch in unit)
    suggestion = f" (did you mean '{hint}'?)" if hint in UNITS_IN_WAN else ""
    raise InputError(f"unknown money unit '{unit}'{suggestion}; use 亿, 万 or 元", where=where)


def parse_money(value: object, *, where: str = "", default_unit: str | None = "元") -> float:
    """Parse one amount into 万元.

    Accepts ``"6亿"``, ``"1.3亿"``, ``"2615万"``, ``"¥14.5亿"``, ``"¥3000"`` (yuan), ``"1,500万"``, full-width ``"６亿"``,
    ``600000000`` (plain numbers are in ``default_unit``, yuan unless a table says otherwise; with
    ``default_unit=None`` a plain number other than 0 is refused) and ``{amount = 6, unit = "亿"}``.
    Negative, non-finite, too large or malformed amounts raise an :class:`InputError` naming ``where``.
    """
    if isinstance(value, Mapping):
        unknown = set(value) - {"amount", "unit"}
        if unknown or "amount" not in value:
            raise InputError("a money table needs exactly 'amount' and optionally 'unit'", where=where)
        amount = value["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise InputError(f"'amount' must be a number, got {amount!r}", where=where)
        unit = value.get("unit", default_unit)
        return _to_wan(float(amount), None if unit is None else str(unit), value, where)
    if isinstance(value, bool):
        raise InputError(f"expected an amount of money, got {value!r}", where=where)
    if isinstance(value, int | float | np.integer | np.floating):
        return _to_wan(float(value), default_unit, value, where)
    if isinstance(value, str):
        number, unit = _split_amount(value, where)
        return _to_wan(number, unit or default_unit, value, where)
    raise InputError(f"expected an amount of money, got {type(value).__name__}", where=where)


def _split_amount(value: str, where: str) -> tuple[float, str]:
    """The number and the unit of a money text, after NFKC (full-width digits, commas, points).

    The unit is '' when the text has none, and 元 for an amount with only a yuan sign (``¥600``).
    """
    text = unicodedata.normalize("NFKC", value)
    match = _AMOUNT.match(text)
    # NFKC reads full-width digits as digits, but also superscripts, fractions and circled numbers ('¹', '①'): not amounts
    if not match or any(unicodedata.category(c) == "No" for c in value):
        raise InputError(f"cannot read '{value}' as an amount of money (e.g. '6亿', '2615万', '¥14.5亿')", where=where)
    number = match["number"]
    if "," in number and not _GROUPED.match(match["mantissa"]):
        raise InputError(_comma_advice(value, number, match["unit"]), where=where)
    return float(number.replace(",", "")), match["unit"] or ("元" if match["yen"] else "")


def _comma_advice(value: str, number: str, unit: str) -> str:
    """Why a comma in `number` is refused, and the decimal-point spelling when there is one comma."""
    advice = f"'{value}' has a comma that is not a thousands separator (groups of three, as in 1,234,567)"
    if number.count(",") == 1 and "." not in number:
        return f"{advice}; for a decimal write a point: '{number.replace(',', '.')}{unit}'"
    return f"{advice}; write the number with a decimal point and no other commas"


def _to_wan(amount: float, unit: str | None, value: object, where: str) -> float:
    """`amount` `unit`s in 万元, checked; no unit (None) is allowed only for 0."""
    if not math.isfinite(amount):
        raise InputError(f"amount must be finite, got {value!r}", where=where)
    if unit is None and amount != 0:
        plain = str(int(amount)) if amount.is_integer() and abs(amount) < 1e15 else repr(amount)
        raise InputError(f"{plain} has no unit; write the unit: '{plain}万', '{plain}亿' or '{plain}元'", where=where)
    wan = amount * unit_factor(unit, where=where) if unit is not None else 0.0
    if not math.isfinite(wan):
        raise InputError(f"amount must be finite, got {value!r}", where=where)
    if wan < 0:
        raise InputError(f"amount must not be negative, got {value!r}", where=where)
    if wan > MAX_WAN:
        raise InputError(f"amount must be at most {MAX_WAN:g}万元 (10^16 yuan), got {value!r}; check the unit", where=where)
    return wan


def refuse_dates(column: pd.Series, *, where: str, source: str = "") -> None:
    """A column of dates (a Parquet or spreadsheet date type) where numbers belong: read as numbers they would be
    nanoseconds."""
    if pd.api.types.is_datetime64_any_dtype(column) or isinstance(column.dtype, pd.PeriodDtype):
        raise InputError(f"holds dates ({column.dtype}), not numbers: check the column", source=source, where=where)


def parse_money_column(column: pd.Series, *, where: str, default_unit: str) -> pd.Series:
    """Parse a table column of amounts into 万元, vectorised for numbers, per cell for text with units.

    Raises naming the first bad row as a spreadsheet numbers it (the header is row 1).
    """
    refuse_dates(column, where=where)
    numeric = pd.to_numeric(column, errors="coerce")
    values = numeric.to_numpy(dtype=float) * unit_factor(default_unit, where=where)
    text_rows = np.flatnonzero(numeric.isna().to_numpy() & column.notna().to_numpy())
    for row in text_rows.tolist():
        values[row] = parse_money(str(column.iloc[row]), where=f"{where}, row {row + 2}", default_unit=default_unit)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"amount must be a finite, non-negative number, got {describe_cell(column.iloc[row])}"
            + (f" ({bad.size} bad rows in all)" if bad.size > 1 else ""),
            where=f"{where}, row {row + 2}",
        )
    return pd.Series(values, index=column.index, name=column.name)


def describe_cell(value: object) -> str:
    """A table cell for a message: ``'abc'``, ``-80`` or ``an empty or NaN cell`` (pandas reads both as NaN)."""
    if pd.isna(value):
        return "an empty or NaN cell"
    return repr(value.item() if isinstance(value, np.generic) else value)


def format_wan(amount_wan: float) -> str:
    """Format 万元 for a person: ``218,000.00万元 (21.80亿)`` above one 亿, else ``2,615.00万元``."""
    text = f"{amount_wan:,.2f}万元"
    return f"{text} ({amount_wan / 10_000:,.2f}亿)" if abs(amount_wan) >= 10_000 else text
