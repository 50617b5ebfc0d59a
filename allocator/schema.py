"""Strict reading of one TOML table: typed keys, defaults, and unknown keys refused with a suggestion."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any, Literal, NoReturn, TypeVar, overload

from allocator.config import Document, KeyPath
from allocator.errors import InputError

#: The default of a key that must be given (typed Any so that it stands in for a default of any type).
REQUIRED: Any = object()
#: A closed choice: a ``Literal`` of strings, or plain strings.
Choice = TypeVar("Choice", bound=str)
#: Every number in a scenario lies within ±MAX_NUMBER unless its key says otherwise: beyond it a weight,
#: penalty, ratio or target is a typo, and the solver's numerics break down.
MAX_NUMBER = 1e9


class Table:
    """A view on one table of a :class:`Document` that records which keys were read.

    Read keys with :meth:`take` (or the typed helpers), then call :meth:`close`: any key present but
    never asked for is an error that names it, its file and line, and the closest valid key.
    """

    def __init__(self, document: Document, path: KeyPath, values: dict[str, Any] | None = None):
        self.document = document
        self.path = path
        self.values = document_get(document, path) if values is None else values
        if not isinstance(self.values, dict):
            self.fail(f"'{self.name}' must be a table", path)
        self.allowed: set[str] = set()

    @property
    def name(self) -> str:
        return ".".join(self.path) or "(top level)"

    def fail(self, message: str, path: KeyPath | None = None) -> NoReturn:
        path = self.path if path is None else path
        raise InputError(message, source=self.document.locate(path), where=".".join(path) or None)

    def fail_together(self, message: str, keys: Sequence[str]) -> NoReturn:
        """Fail on `keys` of this table that do not go together (a min above its max), located at the first of them an
        option (``--set``) gave: the change that broke the rule; at the first key when the files gave them all."""
        paths = [(*self.path, key) for key in keys]
        self.fail(message, next((path for path in paths if self.document.option(path) is not None), paths[0]))

    def missing(self, key: str) -> NoReturn:
        """Fail for a required `key`; if a present key looks like a misspelling of it, name that one."""
        typo = difflib.get_close_matches(key, [k for k in self.values if k not in self.allowed or k == key], n=1, cutoff=0.6)
        if typo and typo[0] != key:
            self.fail(f"unknown key '{typo[0]}' in [{self.name}] (did you mean '{key}'?)", (*self.path, typo[0]))
        self.fail(f"missing required key '{key}' in [{self.name}]", self.path)

    def has(self, key: str) -> bool:
        self.allowed.add(key)
        return key in self.values

    def take(self, key: str, kinds: type | tuple[type, ...], default: Any = REQUIRED, what: str = "") -> Any:
        """The value at `key`, checked to be of `kinds` (bool is never a number)."""
        self.allowed.add(key)
        if key not in self.values:
            if default is REQUIRED:
                self.missing(key)
            return default
        value = self.values[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = what or " or ".join(_kind_name(k) for k in kinds)
            self.fail(f"'{key}' must be {expected}, got {_describe(value)}", (*self.path, key))
        return value

    @overload
    def number(self, key: str, default: float = ..., *, low: float | None = ..., high: float | None = ...) -> float: ...
    @overload
    def number(self, key: str, default: None, *, low: float | None = ..., high: float | None = ...) -> float | None: ...

    def number(self, key: str, default: float | None = REQUIRED, *, low: float | None = None, high: float | None = None) -> float | None:
        """A finite number within [low, high] (each ±MAX_NUMBER when not given)."""
        value = self.take(key, (int, float), default, what="a number")
        if value is None or value is default:
            return value
        value = float(value)
        where = (*self.path, key)
        low = -MAX_NUMBER if low is None else low
        high = MAX_NUMBER if high is None else high
        if not math.isfinite(value):
            self.fail(f"'{key}' must be finite, got {value}", where)
        if value < low:
            self.fail(f"'{key}' must be at least {_number_text(low)}, got {_number_text(value)}", where)
        if value > high:
            self.fail(f"'{key}' must be at most {_number_text(high)}, got {_number_text(value)}", where)
        return value

    @overload
    def whole(self, key: str, default: int = ..., *, low: int, high: int, what: str = ...) -> int: ...
    @overload
    def whole(self, key: str, default: None, *, low: int, high: int, what: str = ...) -> int | None: ...

    def whole(self, key: str, default: int | None = REQUIRED, *, low: int, high: int, what: str = "") -> int | None:
        """A whole number within [low, high]; `what` says what it counts (e.g. " of projects")."""
        value = self.number(key, default, low=low, high=high)
        if value is None or value is default:
            return default if value is default else None
        if not value.is_integer():
            self.fail(f"'{key}' must be a whole number{what}, got {value:g}", (*self.path, key))
        return int(value)

    @overload
    def text(self, key: str, default: str = ...) -> str: ...
    @overload
    def text(self, key: str, default: None) -> str | None: ...

    def text(self, key: str, default: str | None = REQUIRED) -> str | None:
        return self.take(key, str, default, what="a string")

    @overload
    def choice(self, key: str, options: Sequence[Choice], default: Choice = ...) -> Choice: ...
    @overload
    def choice(self, key: str, options: Sequence[Choice], default: None) -> Choice | None: ...

    def choice(self, key: str, options: Sequence[Choice], default: Choice | None = REQUIRED) -> Choice | None:
        """The text at `key`, which must be one of `options` (a misspelling is told the closest one)."""
        value = self.text(key, default)
        if value is default:
            return default
        for option in options:
            if value == option:
                return option
        self.fail(f"'{key}' is '{value}', which is not one of {', '.join(options)}{_suggest(str(value), list(options))}",
                  (*self.path, key))

    @overload
    def strings(self, key: str, default: tuple[str, ...] = ...) -> tuple[str, ...]: ...
    @overload
    def strings(self, key: str, default: None) -> tuple[str, ...] | None: ...

    def strings(self, key: str, default: tuple[str, ...] | None = REQUIRED) -> tuple[str, ...] | None:
        value = self.take(key, (list, str), default, what="a list of strings")
        if value is default:
            return value
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(item, str) for item in items):
            self.fail(f"'{key}' must be a list of strings", (*self.path, key))
        return tuple(items)

    @overload
    def subtable(self, key: str, *, required: Literal[True]) -> Table: ...
    @overload
    def subtable(self, key: str, *, required: bool = False) -> Table | None: ...

    def subtable(self, key: str, *, required: bool = False) -> Table | None:
        if not self.has(key):
            if required:
                self.fail(f"missing required table [{'.'.join((*self.path, key))}]", self.path)
            return None
        return Table(self.document, (*self.path, key))

    def named_subtables(self, key: str) -> dict[str, Table]:
        """The tables under `key` (``[key.<name>]``), in file order."""
        parent = self.subtable(key)
        if parent is None:
            return {}
        parent.allowed.update(parent.values)
        return {name: Table(self.document, (*parent.path, name)) for name in parent.values}

    def close(self) -> None:
        unknown = [key for key in self.values if key not in self.allowed]
        if unknown:
            key = unknown[0]
            self.fail(f"unknown key '{key}' in [{self.name}]{_suggest(key, sorted(self.allowed))}", (*self.path, key))


def document_get(document: Document, path: KeyPath) -> Any:
    node: Any = document.values
    for part in path:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def check_choice(table: Table, key: str, value: str, options: list[str]) -> None:
    """Fail on `table`'s `key` unless `value` is one of `options`."""
    if value not in options:
        table.fail(f"'{value}' is not one of {', '.join(options) or '(none)'}{_suggest(value, options)}", (*table.path, key))


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _number_text(value: float) -> str:
    """A bound or value for a message: whole numbers in full (2006, 2147483647), others as 0.5 or 1e+300."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e12 else f"{value:g}"


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}.get(kind, kind.__name__)


def _describe(value: Any) -> str:
    """`value` as a message names what was given: ``string 'x'``, ``integer 3``, ``true`` (as TOML writes it), ``a table``."""
    if isinstance(value, bool):  # "true or false" is no kind to take a word from: it read "got or false True"
        return "true" if value else "false"
    return f"{_kind_name(type(value)).split(' ', 1)[-1]} {value!r}" if not isinstance(value, dict) else "a table"
