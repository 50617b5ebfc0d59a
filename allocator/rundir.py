"""The run directory: every table of a result as CSV (UTF-8 with BOM, for Excel on Chinese Windows) plus
``manifest.json``, written to a hidden staging directory and renamed into place only when complete
(:mod:`allocator.outdir`: which folder may be taken or replaced)."""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError, SolveFailed
from allocator.outdir import Target, staged
from allocator.results import Result
from allocator.scenario import Scenario

CSV_ENCODING = "utf-8-sig"
#: A cell starting with one of these could run as a formula in a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A line starting, after any quotes, like a formula (to find a column's candidates in one search).
_FORMULA_LINE = re.compile("^'*[" + re.escape("".join(_FORMULA_START)) + "]", re.M)
_PACKAGES = ("allocator", "numpy", "pandas", "scipy", "highspy", "pulp", "click")


def default_run_dir(scenario_path: Path, root: Path = Path("runs")) -> Path:
    return root / f"{scenario_path.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


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


def read_csv(path: Path, **options: object) -> pd.DataFrame:
    """A table written by :func:`write_csv`, as it was before it was written."""
    return restore_formulas(pd.read_csv(path, encoding=CSV_ENCODING, **options))


def tables(result: Result) -> dict[str, pd.DataFrame]:
    written = {
        "allocation.csv": result.allocation,
        "by_source.csv": result.by_source,
        "by_zone.csv": result.by_zone,
        "by_province.csv": result.by_province,
        "by_region.csv": result.by_region,
        "by_type.csv": result.by_type,
        "indicators.csv": result.indicators,
    }
    if result.marginal is not None:
        written["marginal.csv"] = result.marginal
    if result.scenario.phasing.years:
        written["by_year.csv"] = result.by_year
    return written


def manifest(result: Result) -> dict[str, object]:
    scenario, solution = result.scenario, result.solution
    return {
        "scenario": {"name": scenario.name, "file": str(scenario.path), "files": [str(f) for f in scenario.document.files],
                     "overrides": [{"key": k, "old": o, "new": n} for k, o, n in scenario.document.overrides],
                     "resolved": scenario.resolved()},
        "inputs": {name: {"path": str(f.path), "sha256": f.sha256, "encoding": f.encoding, "rows": f.rows}
                   for name, f in result.data.files.items()},
        "status": solution.status.value,
        "solver": {"name": solution.solver, "version": solution.solver_version, "message": solution.message,
                   "time_limit_s": scenario.solver.time_limit, "mip_rel_gap_requested": scenario.solver.mip_rel_gap,
                   "threads": scenario.solver.threads, "seed": scenario.solver.seed, "strategy": scenario.solver.strategy,
                   "details": {k: v for k, v in solution.details.items() if k != "cut_short"}},
        "objective": {"sense": scenario.sense, "value": result.objective, "mip_gap": solution.mip_gap,
                      "dual_bound": None if solution.dual_bound is None else solution.dual_bound * result.model_sign},
        "selection": scenario.selection,
        "model_size": result.model_size,
        "seconds": {k: round(v, 4) for k, v in result.timings.items()},
        "cut_short": solution.details.get("cut_short", []),  # phases the time limit stopped or skipped (allocator.solve)
        "money_unit": "万元",
        "versions": {"python": sys.version.split()[0], "platform": platform.platform(), **_versions()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _versions() -> dict[str, str]:
    found = {}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def inputs_of(scenario: Scenario) -> tuple[Path, ...]:
    """The files a run of `scenario` reads (its scenario files and tables): no output may cover them."""
    return (*scenario.document.files, scenario.data.regions, scenario.data.projects)


def run_target(scenario: Scenario, out: Path, *, force: bool = False, unique: bool = False) -> Target:
    """Where a run of `scenario` goes (see :mod:`allocator.outdir`): `out`, or with `unique` the first free of out, out-2, …"""
    return Target(Path(out), force=force, unique=unique, inputs=inputs_of(scenario))


def _write_json(path: Path, content: dict[str, object]) -> None:
    path.write_text(json.dumps(content, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")


def write_run(result: Result, out: Path, *, force: bool = False, unique: bool = False, reports: bool = True,
              extra: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Write every output into a new run directory at `out` (:func:`run_target`) all at once, and return it.

    `force` replaces a run already there (only a folder allocate wrote). With `reports` (the default) also
    budget_proposal.xlsx, report.md and report.html (allocator.report); `extra`: more tables, by file name."""
    with staged(run_target(result.scenario, out, force=force, unique=unique)) as slot:
        staging = slot.staging
        started = time.perf_counter()
        for name, frame in {**tables(result), **(extra or {})}.items():
            write_csv(frame, staging / name)
        result.timings["write"] = time.perf_counter() - started
        if reports:
            from allocator.report import write_reports  # here: allocator.report reads this module's tables()

            started = time.perf_counter()
            write_reports(result, manifest(result), staging)
            result.timings["reports"] = time.perf_counter() - started
        _write_json(staging / "manifest.json", manifest(result))
    return slot.path


def write_failure(scenario: Scenario, failure: SolveFailed, out: Path, *, force: bool = False, unique: bool = False) -> Path:
    """For a run with no allocation: ``diagnosis.md`` and a manifest saying why, and nothing else."""
    with staged(run_target(scenario, out, force=force, unique=unique)) as slot:
        staging = slot.staging
        from allocator.report.document import escape_markdown  # here: allocator.report reads this module

        (staging / "diagnosis.md").write_text(f"# {escape_markdown(scenario.name)}: {failure.status}\n\n```\n{failure.report}\n```\n", encoding="utf-8")
        _write_json(staging / "manifest.json", {
            "scenario": {"name": scenario.name, "file": str(scenario.path), "resolved": scenario.resolved(),
                         "overrides": [{"key": k, "old": o, "new": n} for k, o, n in scenario.document.overrides]},
            "status": failure.status, "message": str(failure), "versions": _versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
    return slot.path


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


#: The tables of a run directory, by attribute name; read back as they were written.
TABLE_NAMES = ("allocation", "by_source", "by_zone", "by_province", "by_region", "by_type", "indicators")
#: Tables a run has only sometimes: marginal values (unless --marginal none) and phasing by year.
OPTIONAL_TABLE_NAMES = ("marginal", "by_year")
_TEXT_COLUMNS = dict.fromkeys(("project_id", "name", "region_id", "province", "zone", "type", "source", "label", "indicator",
                               "scope", "group", "rule", "key", "unit", "per", "method", "year"), "string")


@dataclass
class RunTables:
    """A run read back from its directory: the tables of ``write_run`` and the manifest.

    A run that found no allocation (``diagnosis.md``) has empty tables and its status in the manifest.
    Comparisons and sweeps work on this type only, whether the run was solved now or long ago.
    """

    path: Path
    manifest: dict[str, object]
    allocation: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_source: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_zone: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_province: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_region: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    indicators: pd.DataFrame = field(default_factory=pd.DataFrame)
    marginal: pd.DataFrame | None = None
    by_year: pd.DataFrame | None = None

    @property
    def name(self) -> str:
        return str(self.manifest.get("scenario", {}).get("name", self.path.name))

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "unknown"))

    @property
    def solver(self) -> str:
        return str(self.manifest.get("solver", {}).get("name", ""))

    @property
    def has_allocation(self) -> bool:
        return "objective" in self.manifest

    @property
    def objective(self) -> float:
        value = self.manifest.get("objective", {}).get("value")
        return float("nan") if value is None else float(value)

    @property
    def source_keys(self) -> list[str]:
        return self.by_source["source"].tolist() if "source" in self.by_source else []


def read_run(path: str | Path) -> RunTables:
    """Read a run directory written by :func:`write_run` (or :func:`write_failure`)."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise InputError("not a run directory (no manifest.json)", source=str(path))
    try:
        content = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read manifest.json: {exc}", source=str(path)) from None
    run = RunTables(path=path, manifest=content)
    if not (path / "allocation.csv").is_file():
        return run
    for name in (*TABLE_NAMES, *OPTIONAL_TABLE_NAMES):
        file = path / f"{name}.csv"
        if not file.is_file():
            if name in OPTIONAL_TABLE_NAMES:
                continue
            raise InputError(f"the run directory lacks {file.name}", source=str(path))
        header = pd.read_csv(file, nrows=0, encoding=CSV_ENCODING).columns
        dtypes = {column: kind for column, kind in _TEXT_COLUMNS.items() if column in header}
        # Only an empty cell is missing: a name typed as "None" or "NA" reads back as that text.
        setattr(run, name, read_csv(file, dtype=dtypes, keep_default_na=False, na_values={c: [""] for c in header}))
    return run
