"""How a cell of a run's tables is read (a yes/no, a number or nothing) and shown to a reader."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: Texts that mean "no value" in a yes/no column (as pandas writes and reads missing values).
_NO_VALUE = ("", "nan", "<na>", "none")
_YES = ("true", "1", "yes")


def is_missing(value: object) -> bool:
    """Whether a cell holds no value: None, pandas' NA or NaN."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def parse_bool(value: object) -> bool | None:
    """A yes/no cell (``met``, ``hard``, ``binding``), in memory or read back: True, False, or None for no value."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        return None if text in _NO_VALUE else text in _YES
    return bool(value)


def finite_number(value: object) -> float | None:
    """The cell as a finite float, or None when it is no number (text, empty, NaN or infinite)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_money(value: object) -> str:
    """万元 with two decimals and thousands separators; nothing for no number."""
    number = finite_number(value)
    return "" if number is None else f"{number:,.2f}"


def format_count(value: object) -> str:
    """A count of projects: whole with separators, two decimals when part-funded; nothing for no number."""
    number = finite_number(value)
    return "" if number is None else (f"{number:,.0f}" if abs(number - round(number)) < 1e-9 else f"{number:,.2f}")


def format_value(value: object) -> str:
    """A figure in a report: whole numbers whole, large ones with two decimals, others to 4 significant digits."""
    number = finite_number(value)
    if number is None:
        return ""
    if number == round(number) and abs(number) < 1e15:
        return f"{number:,.0f}"
    return f"{number:,.2f}" if abs(number) >= 1000 else f"{number:.4g}"


def format_cell(value: object) -> str:
    """A cell of a Markdown table: booleans as true/false, whole numbers whole, others to 6 significant digits."""
    if is_missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.2f}"
        return f"{value:.6g}"
    return str(value)


def is_number(value: object) -> bool:
    """Whether a cell is a number (not a boolean)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
