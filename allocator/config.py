"""Scenario files as documents: read TOML, follow ``extends``, apply ``--set`` overrides, locate keys.

This module knows nothing of what the keys mean; :mod:`allocator.scenario` gives them meaning.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from allocator.errors import InputError

KeyPath = tuple[str, ...]


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

    def locate(self, path: KeyPath) -> str:
        """``file:line`` of the key at `path`, as precise as the text allows; the option (``--set``) for an override."""
        for length in range(len(path), 0, -1):
            if path[:length] in self.set_by:
                return self.set_by[path[:length]]
            if path[:length] in self.origins:
                break
        file = self.origin(path)
        line = _find_key_line(file, path)
        return f"{file}:{line}" if line else str(file)


def load_document(path: str | Path) -> Document:
    """Read a scenario file and everything it ``extends``, the later file winning key by key."""
    return _load(Path(path).resolve(), chain=())


def _load(path: Path, chain: tuple[Path, ...]) -> Document:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise InputError(f"'extends' goes round in a cycle: {cycle}", source=str(chain[-1]), where="extends")
    values = _read_toml(path)
    document = Document(values={}, files=[])
    parent = values.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise InputError("'extends' must be the path of another scenario file", source=str(path), where="extends")
        parent_path = (path.parent / parent).resolve()
        if not parent_path.is_file():
            raise InputError(f"the file it extends does not exist: {parent_path}", source=str(path), where="extends")
        document = _load(parent_path, chain=(*chain, path))
    _merge(document.values, values, document.origins, path, ())
    document.files.append(path)
    return document


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("scenario file not found", source=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); save the scenario as UTF-8", source=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"TOML syntax error: {exc}", source=str(path)) from None


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
    return path, value


def apply_overrides(document: Document, assignments: list[tuple[KeyPath, Any]], label: str = "--set") -> Document:
    """A copy of `document` with each assignment applied; every changed value is recorded."""
    result = copy.deepcopy(document)
    for path, value in assignments:
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


def _find_key_line(file: Path, path: KeyPath) -> int | None:
    """Best-effort line number of the key `path` in `file` (after its table header if there is one)."""
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    start = 0
    for cut in range(len(path) - 1, 0, -1):
        header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(re.escape(p) for p in path[:cut]) + r"\s*\]+\s*(#.*)?$")
        found = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if found is not None:
            start = found
            break
    key = re.compile(r"(^|[\s{,.])[\"']?" + re.escape(path[-1]) + r"[\"']?\s*=")
    for i in range(start, len(lines)):
        if key.search(lines[i]):
            return i + 1
    return start + 1 if start else None
