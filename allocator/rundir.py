"""The run directory: every table of a result as CSV (UTF-8 with BOM, for Excel on Chinese Windows) plus
``manifest.json``, written to a temporary directory and renamed into place only when complete."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError, SolveFailed
from allocator.results import Result
from allocator.scenario import Scenario

CSV_ENCODING = "utf-8-sig"
#: A cell starting with one of these could run as a formula in a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PACKAGES = ("allocator", "numpy", "pandas", "scipy", "highspy", "pulp", "click")


def default_run_dir(scenario_path: Path, root: Path = Path("runs")) -> Path:
    return root / f"{scenario_path.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would execute with a quote, so they arrive as inert text."""
    result = frame.copy()
    for column in result.columns:
        if result[column].dtype == object or pd.api.types.is_string_dtype(result[column]):
            text = result[column].astype("string")
            risky = text.str.startswith(_FORMULA_START).fillna(False)
            if risky.any():
                result[column] = text.where(~risky, "'" + text)
    return result


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    neutralise_formulas(frame).to_csv(path, index=False, encoding=CSV_ENCODING, lineterminator="\n")


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
                   "threads": scenario.solver.threads, "seed": scenario.solver.seed},
        "objective": {"sense": scenario.sense, "value": result.objective, "mip_gap": solution.mip_gap,
                      "dual_bound": None if solution.dual_bound is None else solution.dual_bound * result.model_sign},
        "selection": scenario.selection,
        "model_size": result.model_size,
        "seconds": {k: round(v, 4) for k, v in result.timings.items()},
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


def check_run_dir(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise InputError(f"the run directory already exists: {out} (choose another --out or pass --force)")


@contextmanager
def _staged(out: Path, force: bool) -> Iterator[Path]:
    """A staging directory beside `out`, renamed to `out` only if the block completes."""
    check_run_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_json(path: Path, content: dict[str, object]) -> None:
    path.write_text(json.dumps(content, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")


def write_run(result: Result, out: Path, *, force: bool = False) -> Path:
    """Write every output into `out` atomically; refuse to replace an existing directory unless `force`."""
    out = Path(out)
    with _staged(out, force) as staging:
        started = time.perf_counter()
        for name, frame in tables(result).items():
            write_csv(frame, staging / name)
        result.timings["write"] = time.perf_counter() - started
        _write_json(staging / "manifest.json", manifest(result))
    return out


def write_failure(scenario: Scenario, failure: SolveFailed, out: Path, *, force: bool = False) -> Path:
    """For a run with no allocation: ``diagnosis.md`` and a manifest saying why, and nothing else."""
    out = Path(out)
    with _staged(out, force) as staging:
        (staging / "diagnosis.md").write_text(f"# {scenario.name}: {failure.status}\n\n```\n{failure.report}\n```\n", encoding="utf-8")
        _write_json(staging / "manifest.json", {
            "scenario": {"name": scenario.name, "file": str(scenario.path), "resolved": scenario.resolved(),
                         "overrides": [{"key": k, "old": o, "new": n} for k, o, n in scenario.document.overrides]},
            "status": failure.status, "message": str(failure), "versions": _versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
    return out


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
