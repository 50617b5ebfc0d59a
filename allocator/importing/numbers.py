"""Numbers as counties type them: text with thousands separators, full-width digits, a unit in the cell.

Money goes through :func:`allocator.units.parse_money` (``120万``, ``1,500万``, ``¥3000``); other numbers
(floor area, residents, households) may carry 万 or 亿 as a multiplier and their own unit word (㎡, 人, 户).
Each function returns the number and whether it was read from text, or raises ValueError saying why not.
"""

from __future__ import annotations

import re
import unicodedata

from allocator.errors import InputError
from allocator.units import parse_money

#: Unit words of counts and areas, dropped after the number (NFKC turns ㎡ into "m2").
_COUNT_UNITS = ("平方米", "m2", "人", "户", "个", "处", "平米")
_MULTIPLIERS = {"": 1.0, "万": 1e4, "亿": 1e8}
_NUMBER = re.compile(r"^(?P<number>[+-]?(\d[\d,]*(\.\d*)?|\.\d+))(?P<multiplier>万|亿)?$", re.ASCII)
_GROUPED = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$", re.ASCII)


def plain(text: str) -> str:
    """`text` in NFKC (full-width digits, commas and points to ASCII) without spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


#: Digits with spaces between them, and the one form of it that is a number: thousands in groups of three (1 300).
_SPACED = re.compile(r"\d+(?:\s+\d+)+", re.ASCII)
_SPACE_GROUPED = re.compile(r"[1-9]\d{0,2}(?:\s\d{3})+", re.ASCII)


def _number_text(value: str) -> str:
    """:func:`plain` of a number's cell, refusing spaces inside the number other than a thousands separator in groups
    of three ('1 300'): '80 5' was read as 805, '0 50' as 50."""
    text = unicodedata.normalize("NFKC", value)
    for found in _SPACED.finditer(text):
        after_point = found.start() > 0 and text[found.start() - 1] in ".,"
        if after_point or not _SPACE_GROUPED.fullmatch(found.group()):
            raise ValueError(f"{value!r} has a space inside the number that is not a thousands separator (groups of three, "
                             "as in 12 000); write the number without it")
    return plain(text)


def read_money(value: object, unit: str | None) -> tuple[float, bool]:
    """A money cell in 万元: a plain number is in `unit` (元, 万元 or 亿元), text may carry its own unit; with no
    `unit` (the sheet states none) a plain number is refused."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).upper()} is a yes/no value, not an amount")
    try:
        return parse_money(_number_text(value) if isinstance(value, str) else value, default_unit=unit), isinstance(value, str)
    except InputError as exc:
        if unit is None and "has no unit" in str(exc):
            raise ValueError(f"{value!r} has no money unit, and neither has the sheet (a line such as '单位：万元') nor the column "
                             "header (总投资（万元）); add one, or unit = \"万元\" to a mapping.toml (--map)") from None
        raise ValueError(str(exc)) from None


def read_count(value: object) -> tuple[float, bool]:
    """A number that is not money (area, residents, households): ``12,000``, ``１２０００``, ``1.2万人``, ``800㎡``."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).upper()} is a yes/no value, not a number")
    if isinstance(value, int | float):
        return _checked(float(value), value), False
    text = _number_text(str(value))
    for word in _COUNT_UNITS:
        if text.endswith(word) and len(text) > len(word):
            text = text[: -len(word)]
            break
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(f"cannot read {value!r} as a number")
    number = match["number"]
    if "," in number and not _GROUPED.match(number):
        raise ValueError(f"{value!r} has a comma that is not a thousands separator (groups of three, as in 12,000)")
    return _checked(float(number.replace(",", "")) * _MULTIPLIERS[match["multiplier"] or ""], value), True


def _checked(number: float, value: object) -> float:
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number
