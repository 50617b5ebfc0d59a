"""What ``manifest.json`` holds: what produced a run (scenario, inputs, solver, versions) and what came of it.

A run with an allocation records its inputs, solver, objective, model size, seconds per phase and the
phases the time limit cut short; a run without one records why (``message``). :meth:`Manifest.to_json`
gives the keys in the order of the file; :meth:`Manifest.from_json` reads any manifest allocate wrote,
refusing one whose parts are not the objects and lists they should be.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from allocator.errors import InputError
from allocator.runformat.names import MANIFEST, MANIFEST_REQUIRED

MONEY_UNIT = "万元"
_Record = TypeVar("_Record", "InputFile", "SolverRecord", "ObjectiveRecord")


@dataclass(frozen=True)
class Override:
    """A ``--set KEY=VALUE``: the value it replaced (None for a new key) and the new one."""

    key: str
    old: object
    new: object


@dataclass(frozen=True)
class ScenarioRecord:
    """The scenario solved: its name, its file and the files it extends, the overrides and every value as resolved."""

    name: str
    file: str
    files: list[str] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    resolved: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InputFile:
    """A data table read: where, its SHA-256, the encoding it was read in and its rows."""

    path: str
    sha256: str
    encoding: str
    rows: int


@dataclass(frozen=True)
class SolverRecord:
    """The solver, its answer and the settings it was given; ``details``: how the solve was obtained."""

    name: str
    version: str
    message: str
    time_limit_s: float
    mip_rel_gap_requested: float
    threads: int | None
    seed: int | None
    strategy: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectiveRecord:
    """The objective in the scenario's own sense; gap and dual bound None when the solver measures none."""

    sense: str
    value: float | None
    mip_gap: float | None
    dual_bound: float | None
    unit: str | None = None  # what the objective counts ([objective] unit); None: an older run
    by_type: dict[str, float] | None = None  # max_benefit: each type's benefit in the objective (before penalties)


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """``manifest.json``, field by field in the order of the file; None: absent from the file."""

    scenario: ScenarioRecord
    inputs: dict[str, InputFile] | None = None
    status: str
    message: str | None = None  # a run without an allocation: why
    solver: SolverRecord | None = None
    objective: ObjectiveRecord | None = None
    selection: str | None = None
    model_size: dict[str, int] | None = None
    seconds: dict[str, float] | None = None
    cut_short: list[str] | None = None  # the phases solver.time_limit stopped or skipped
    progress: dict[str, Any] | None = None  # a run with no allocation: how far the solve got (allocator.solve.progress)
    money_unit: str | None = None
    money_precision: float | None = None  # every money cell is a whole number of this many money_unit (None: older runs)
    tables: dict[str, str] | None = None  # per table file the run wrote, its SHA-256 (None: older runs)
    versions: dict[str, str]
    created: str  # UTC, ISO 8601 to the second

    @property
    def has_allocation(self) -> bool:
        return self.objective is not None

    @property
    def sense(self) -> str:
        """The objective's sense (``max_benefit`` or ``min_cost``); a run without an allocation has none, and reads as
        ``max_benefit``."""
        return self.objective.sense if self.objective is not None else "max_benefit"

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object of the file (absent parts left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, content: object, source: str = MANIFEST) -> Manifest:
        """A manifest from its JSON object; `source` names it in a refusal."""
        read = _Reader(source)
        top = read.mapping(content, "manifest")
        missing = [key for key in MANIFEST_REQUIRED if top.get(key) is None]
        if missing:
            raise InputError(f"{MANIFEST} lacks {', '.join(repr(k) for k in missing)}: not the manifest of a run allocate "
                             "wrote (damaged or edited since)", source=source)
        given = lambda key: top.get(key) is not None  # noqa: E731
        return cls(
            scenario=read.scenario(top.get("scenario")),
            inputs={name: read.record(InputFile, f, f"inputs.{name}") for name, f in read.mapping(top["inputs"], "inputs").items()}
            if given("inputs") else None,
            status=str(top.get("status", "unknown")),
            message=top.get("message"),
            solver=read.record(SolverRecord, top["solver"], "solver") if given("solver") else None,
            objective=read.record(ObjectiveRecord, top["objective"], "objective") if given("objective") else None,
            selection=top.get("selection"),
            model_size=read.mapping(top["model_size"], "model_size") if given("model_size") else None,
            seconds=read.mapping(top["seconds"], "seconds") if given("seconds") else None,
            cut_short=read.sequence(top["cut_short"], "cut_short") if given("cut_short") else None,
            progress=read.mapping(top["progress"], "progress") if given("progress") else None,
            money_unit=top.get("money_unit"),
            money_precision=top.get("money_precision"),
            tables={str(name): str(digest) for name, digest in read.mapping(top["tables"], "tables").items()} if given("tables") else None,
            versions=read.mapping(top.get("versions"), "versions"),
            created=str(top.get("created", "")),
        )

    def write(self, folder: Path) -> None:
        """``manifest.json`` in `folder`."""
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=2, default=_json_default)
        (Path(folder) / MANIFEST).write_text(text, encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the run directory `folder`; refused when there is none or it cannot be read."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise InputError(f"not a run directory (no {MANIFEST})", source=str(folder))
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {MANIFEST}: {exc}", source=str(folder)) from None
        return cls.from_json(content, source=str(folder))


@dataclass(frozen=True)
class _Reader:
    """Reads the parts of one manifest, refusing (naming `source`) a part that is not the object or list it should be."""

    source: str

    def mapping(self, value: object, key: str) -> dict[str, Any]:
        """A JSON object (absent: empty)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._refusal(key, "an object", value)
        return value

    def sequence(self, value: object, key: str) -> list[Any]:
        """A JSON list (absent: empty)."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._refusal(key, "a list", value)
        return value

    def record(self, kind: type[_Record], value: object, key: str) -> _Record:
        """A record from a JSON object: each of its fields, None when absent (``details`` must be an object)."""
        content = self.mapping(value, key)
        found: dict[str, Any] = {f.name: content.get(f.name) for f in fields(kind)}
        if "details" in found:
            found["details"] = self.mapping(found["details"], f"{key}.details")
        return kind(**found)

    def scenario(self, value: object) -> ScenarioRecord:
        content = self.mapping(value, "scenario")
        overrides = [self.mapping(o, "scenario.overrides") for o in self.sequence(content.get("overrides"), "scenario.overrides")]
        return ScenarioRecord(name=str(content.get("name", "")), file=str(content.get("file", "")),
                              files=[str(f) for f in self.sequence(content.get("files"), "scenario.files")],
                              overrides=[Override(str(o.get("key", "")), o.get("old"), o.get("new")) for o in overrides],
                              resolved=self.mapping(content.get("resolved"), "scenario.resolved"))

    def _refusal(self, key: str, kind: str, value: object) -> InputError:
        return InputError(f"{MANIFEST}: '{key}' should be {kind}, not {json.dumps(value, ensure_ascii=False)[:60]}", source=self.source)


def _json_default(value: object) -> object:
    """Numbers of numpy as Python numbers; anything else JSON cannot hold (a path, a table) as its text."""
    return value.item() if isinstance(value, np.generic) else str(value)
