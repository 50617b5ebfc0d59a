"""Scenario files as documents: read TOML, follow ``extends``, apply ``--set`` overrides, locate keys.

This module knows nothing of what the keys mean; :mod:`allocator.scenario_toml` gives them meaning.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import sys
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allocator.errors import InputError
from allocator.paths import resolved, shown as shown_path

KeyPath = tuple[str, ...]

#: The top-level key naming the scenario file this one extends (read here, before the keys get their meaning).
EXTENDS = "extends"
#: A scenario file is a page or two of text; anything this large is a mistake (and would fill memory).
MAX_SCENARIO_BYTES = 1 << 20
#: Tables and lists nest a few levels in any scenario; deeper nesting is refused before it exhausts the stack.
MAX_DEPTH = 16
#: The longest key or text value, in characters.
MAX_TEXT = 2_000
#: Text that may hold tabs and line breaks; every other key and text must be free of control characters.
FREE_TEXT: frozenset[KeyPath] = frozenset({("description",)})
#: Unicode categories of characters that cannot be seen: controls, format (zero-width, bidi), line separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass
class Document:
    """A merged scenario document and, for every key, the file that set it (or the option, for overrides)."""

    values: dict[str, Any]
    origins: dict[KeyPath, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    overrides: list[tuple[str, Any, Any]] = field(default_factory=list)
    set_by: dict[KeyPath, str] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> Path:
        """The file that set `path` (or its nearest ancestor); the top file if none did."""
        for length in range(len(path), 0, -1):
            if path[:length] in self.origins:
                return self.origins[path[:length]]
        return self.files[-1]

    def option(self, path: KeyPath) -> str | None:
        """The option (``--set``) that gave the key at `path` (or the nearest ancestor a file did not give); None for a file's."""
        for length in range(len(path), 0, -1):
            if path[:length] in self.set_by:
                return self.set_by[path[:length]]
            if path[:length] in self.origins:
                return None
        return None

    def locate(self, path: KeyPath) -> str:
        """``file:line`` of the key at `path`, as precise as the text allows; the option (``--set``) for an override."""
        option = self.option(path)
        if option is not None:
            return option
        file = self.origin(path)
        line = _find_key_line(file, path)
        return f"{file}:{line}" if line else str(file)


def load_document(path: str | Path, *, allow_outside_paths: bool = False) -> Document:
    """Read a scenario file and everything it ``extends``, the later file winning key by key.

    Like a data path, the file a scenario extends must be in that scenario's folder (or below it) unless
    `allow_outside_paths`; one that is not is refused before anything is looked up there, so the message says
    nothing of whether it exists or what it holds."""
    try:
        path = resolved(Path(path))
    except ValueError as exc:
        raise InputError(str(exc), source=shown_path(path)) from None
    return _load(path, chain=(), allow_outside_paths=allow_outside_paths)


def extends_leaves(declared_in: Path, raw: str) -> bool:
    """Whether the path `raw` (an ``extends``), read relative to the folder `declared_in`, names a file outside
    that folder, by its text alone (absolute, or ``..`` past the folder); nothing on disk is looked at."""
    lexical = Path(os.path.normpath(declared_in / raw))
    return not lexical.is_relative_to(declared_in)


def _load(path: Path, chain: tuple[Path, ...], *, allow_outside_paths: bool = False) -> Document:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise InputError(f"'extends' goes round in a cycle: {cycle}", source=str(chain[-1]), where="extends")
    values = _read_toml(path)
    check_tree(values, (), lambda keys: _located(path, keys))
    document = Document(values={}, files=[])
    parent = values.pop(EXTENDS, None)
    if parent is not None:
        if not isinstance(parent, str):
            raise InputError("'extends' must be the path of another scenario file", source=str(path), where="extends")
        outside = (f"the path it extends, '{shown_path(parent)}', leaves the scenario's folder {path.parent}; "
                   "move the file there or pass --allow-outside-paths")
        if not allow_outside_paths and extends_leaves(path.parent, parent):
            raise InputError(outside, source=_located(path, ("extends",)), where="extends")
        try:
            parent_path = resolved(path.parent / parent)
        except ValueError as exc:
            raise InputError(f"the path it extends: {exc}", source=_located(path, ("extends",)), where="extends") from None
        if not allow_outside_paths and not parent_path.is_relative_to(path.parent):  # a link inside leading out
            raise InputError(outside, source=_located(path, ("extends",)), where="extends")
        if not parent_path.is_file():
            raise InputError(f"the file it extends does not exist: {parent_path}", source=str(path), where="extends")
        document = _load(parent_path, chain=(*chain, path), allow_outside_paths=allow_outside_paths)
    _merge(document.values, values, document.origins, path, ())
    document.files.append(path)
    return document


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.toml"))[:5]
        raise InputError("is a folder, not a scenario file" + (f"; it holds {', '.join(found)}" if found else ""), source=str(path))
    if not path.is_file():
        raise InputError("scenario file not found", source=str(path))
    size = path.stat().st_size
    if size > MAX_SCENARIO_BYTES:
        raise InputError(f"the file is {size:,} bytes, above the {MAX_SCENARIO_BYTES >> 20} MiB a scenario may have; "
                         "is it the right file?", source=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); save the scenario as UTF-8", source=str(path)) from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"TOML syntax error: {exc}", source=source) from None
    except ValueError:  # an integer beyond Python's limit on digits, which tomllib does not catch
        line = too_long_number_line(text)
        raise InputError(TOO_LONG_NUMBER, source=f"{source}:{line}" if line else source) from None
    except RecursionError:
        raise InputError(f"arrays or tables are nested too deeply (a scenario needs at most {MAX_DEPTH} levels)",
                         source=source) from None


#: Why a TOML text with an integer of more digits than Python converts (4,300) is refused (tomllib raises ValueError).
TOO_LONG_NUMBER = (f"a number of more than {sys.get_int_max_str_digits() or 4300:,} digits; no value of a scenario is "
                   "anywhere near that large: check the number")


def too_long_number_line(text: str) -> int | None:
    """The line of `text` holding the first integer of more digits than Python converts; None if there is none."""
    limit = sys.get_int_max_str_digits() or 4300
    found = re.search(r"\d(?:_?\d){" + str(limit) + ",}", text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def check_tree(values: Any, keys: KeyPath, locate: Callable[[KeyPath], str]) -> None:
    """Refuse nesting deeper than MAX_DEPTH, and keys or texts that are too long or hold invisible characters.

    `keys` is where `values` sits in the document; ``locate(keys)`` names the file and line (or the option).
    """
    stack: list[tuple[KeyPath, str, Any, int]] = [(keys, ".".join(keys), values, len(keys))]
    while stack:
        path, shown, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"nested more than {MAX_DEPTH} levels deep; a scenario needs only a few",
                             source=locate(path), where=visible(shown))
        if isinstance(value, dict):
            for key, child in value.items():
                name = f"{shown}.{key}" if shown else key
                _check_text(key, "the key", (*path, key), name, locate, free=False)
                stack.append(((*path, key), name, child, depth + 1))
        elif isinstance(value, list):
            stack.extend((path, f"{shown}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, "the text", path, shown, locate, free=path in FREE_TEXT)


def _check_text(text: str, what: str, path: KeyPath, shown: str, locate: Callable[[KeyPath], str], *, free: bool) -> None:
    if len(text) > MAX_TEXT:
        raise InputError(f"{what} is too long ({len(text):,} characters; at most {MAX_TEXT:,})",
                         source=locate(path), where=visible(shown))
    hidden = next((ch for ch in text if unicodedata.category(ch) in _INVISIBLE and not (free and ch in "\t\n\r")), None)
    if hidden is not None:
        name = unicodedata.name(hidden, "a control character")
        raise InputError(f"{what} holds the invisible character U+{ord(hidden):04X} ({name}); retype it without that character",
                         source=locate(path), where=visible(shown))


def visible(text: str) -> str:
    """`text` with every invisible character written as ``\\uXXXX``, safe to print in a message."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)


def _located(file: Path, keys: KeyPath) -> str:
    """``file:line`` of the key `keys` in one file (just the file when the line cannot be found)."""
    line = _find_key_line(file, keys)
    return f"{file}:{line}" if line else str(file)


def _merge(base: dict[str, Any], top: dict[str, Any], origins: dict[KeyPath, Path], file: Path, prefix: KeyPath) -> None:
    for key, value in top.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            origins.setdefault(path, file)
            _merge(base[key], value, origins, file, path)
        else:
            base[key] = copy.deepcopy(value)
            for stale in [p for p in origins if p[: len(path)] == path]:
                del origins[stale]
            origins[path] = file


def parse_assignment(text: str) -> tuple[KeyPath, Any]:
    """Split ``a.b.c=value`` into a key path and a value (TOML if it parses as TOML, else a string)."""
    key, sep, raw = text.partition("=")
    path = tuple(part.strip() for part in key.strip().split("."))
    if not sep or not all(path):
        raise InputError(f"an override must look like key.path=value, got '{text}'", where="--set")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except ValueError:  # an integer beyond Python's limit on digits
        raise InputError(f"{key.strip()}: {TOO_LONG_NUMBER}", where="--set") from None
    except RecursionError:
        raise InputError(f"the value of '{key.strip()}' is nested too deeply (at most {MAX_DEPTH} levels)", where="--set") from None
    return path, value


def apply_overrides(document: Document, assignments: list[tuple[KeyPath, Any]], label: str = "--set",
                    collections: Mapping[KeyPath, str] | None = None) -> Document:
    """A copy of `document` with each assignment applied; every changed value is recorded.

    `collections` maps tables of named objects (``("sources",)``) to what one is called ("source"):
    an assignment may change an object of these but not create one, unless it gives its whole table.
    """
    result = copy.deepcopy(document)
    for path, value in assignments:
        tree = value
        for part in reversed(path):
            tree = {part: tree}
        check_tree(tree, (), lambda keys: label)
        for prefix, noun in (collections or {}).items():
            _check_named(result.values, path, value, prefix, noun, label)
        node = result.values
        for depth, part in enumerate(path[:-1]):
            if part not in node:
                result.set_by[path[: depth + 1]] = label
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise InputError(f"cannot set '{'.'.join(path)}': '{where}' is a value, not a table", where=label)
            node = child
        old = node.get(path[-1])
        node[path[-1]] = value
        result.set_by[path] = label
        result.overrides.append((".".join(path), old, value))
    return result


def _check_named(values: dict[str, Any], path: KeyPath, value: Any, prefix: KeyPath, noun: str, label: str) -> None:
    """Refuse an assignment under ``prefix.<name>`` when no such object exists (it would be created by a typo)."""
    if len(path) <= len(prefix) or path[: len(prefix)] != prefix:
        return
    node: Any = values
    for part in prefix:
        node = node.get(part) if isinstance(node, dict) else None
    names = list(node) if isinstance(node, dict) else []
    name = path[len(prefix)]
    if name in names or (len(path) == len(prefix) + 1 and isinstance(value, dict)):
        return
    table = ".".join(prefix)
    same = [n for n in names if n.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (there are: {', '.join(names)})" if names else ""
    raise InputError(f"cannot set '{visible('.'.join(path))}': there is no {noun} '{visible(name)}' in [{table}]{hint}; "
                     f"to add one, give its whole table: {label} '{table}.{visible(name)}={{ ... }}'", where=label)


def _find_key_line(file: Path, path: KeyPath) -> int | None:
    """Best-effort line number of the key `path` in `file` (after its table header if there is one)."""
    if not path:
        return None
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    own = _header_line(lines, path)
    if own is not None:
        return own + 1
    start = 0
    for cut in range(len(path) - 1, 0, -1):
        found = _header_line(lines, path[:cut])
        if found is not None:
            start = found
            break
    key = re.compile(r"(^|[\s{,.])[\"']?" + re.escape(path[-1]) + r"[\"']?\s*=")
    for i in range(start, len(lines)):
        if key.search(lines[i]):
            return i + 1
    return start + 1 if start else None


def _header_line(lines: list[str], path: KeyPath) -> int | None:
    """The index of the line ``[a.b]`` (or ``[[a.b]]``, parts quoted or not) that opens the table `path`."""
    parts = (r"[\"']?" + re.escape(p) + r"[\"']?" for p in path)
    header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(parts) + r"\s*\]+\s*(#.*)?$")
    return next((i for i, line in enumerate(lines) if header.match(line)), None)
