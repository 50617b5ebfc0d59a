"""Money at the edges: parse 亿 / 万 / 元 / ¥ amounts into 万元, the one internal unit, and format them."""

from __future__ import annotations

import math
import re
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

_AMOUNT = re.compile(r"^\s*[¥￥]?\s*(?P<number>[+-]?(\d[\d,]*\.?\d*|\.\d+)([eE][+-]?\d+)?)\s*(?P<unit>\S*)\s*$")


def unit_factor(unit: str, *, where: str = "") -> float:
    """万元 per one `unit`; raise naming `where` if the unit is unknown."""
    if unit in UNITS_IN_WAN:
        return UNITS_IN_WAN[unit]
    hint = "".join(_LOOKALIKES.get(ch, ch) for ch in unit)
    suggestion = f" (did you mean '{hint}'?)" if hint in UNITS_IN_WAN else ""
    raise InputError(f"unknown money unit '{unit}'{suggestion}; use 亿, 万, 元 or a plain number of yuan", where=where)


def parse_money(value: object, *, where: str = "", default_unit: str = "元") -> float:
    """Parse one amount into 万元.

    Accepts ``"6亿"``, ``"1.3亿"``, ``"2615万"``, ``"¥14.5亿"``, ``600000000`` (plain numbers are in
    ``default_unit``, yuan unless a table says otherwise) and ``{amount = 6, unit = "亿"}``.
    Negative, non-finite or malformed amounts raise an :class:`InputError` naming ``where``.
    """
    if isinstance(value, Mapping):
        unknown = set(value) - {"amount", "unit"}
        if unknown or "amount" not in value:
            raise InputError("a money table needs exactly 'amount' and optionally 'unit'", where=where)
        amount = value["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise InputError(f"'amount' must be a number, got {amount!r}", where=where)
        wan = float(amount) * unit_factor(str(value.get("unit", default_unit)), where=where)
    elif isinstance(value, bool):
        raise InputError(f"expected an amount of money, got {value!r}", where=where)
    elif isinstance(value, int | float | np.integer | np.floating):
        wan = float(value) * unit_factor(default_unit, where=where)
    elif isinstance(value, str):
        match = _AMOUNT.match(value)
        if not match:
            raise InputError(f"cannot read '{value}' as an amount of money (e.g. '6亿', '2615万', '¥14.5亿')", where=where)
        unit = match["unit"] or default_unit
        wan = float(match["number"].replace(",", "")) * unit_factor(unit, where=where)
    else:
        raise InputError(f"expected an amount of money, got {type(value).__name__}", where=where)
    if not math.isfinite(wan):
        raise InputError(f"amount must be finite, got {value!r}", where=where)
    if wan < 0:
        raise InputError(f"amount must not be negative, got {value!r}", where=where)
    return wan


def parse_money_column(column: pd.Series, *, where: str, default_unit: str) -> pd.Series:
    """Parse a table column of amounts into 万元, vectorised for numbers, per cell for text with units.

    Raises naming the first bad row as a spreadsheet numbers it (the header is row 1).
    """
    numeric = pd.to_numeric(column, errors="coerce")
    values = numeric.to_numpy(dtype=float) * unit_factor(default_unit, where=where)
    text_rows = np.flatnonzero(numeric.isna().to_numpy() & column.notna().to_numpy())
    for row in text_rows:
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
