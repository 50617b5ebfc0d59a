"""The run directory: every table of a result as CSV (UTF-8 with BOM, for Excel on Chinese Windows) plus
``manifest.json``, written to a temporary directory and renamed into place only when complete."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError
from allocator.results import Result

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
    return {
        "allocation.csv": result.allocation,
        "by_source.csv": result.by_source,
        "by_zone.csv": result.by_zone,
        "by_province.csv": result.by_province,
        "by_region.csv": result.by_region,
        "by_type.csv": result.by_type,
        "indicators.csv": result.indicators,
    }


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


def write_run(result: Result, out: Path, *, force: bool = False) -> Path:
    """Write every output into `out` atomically; refuse to replace an existing directory unless `force`."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(f"the run directory already exists: {out} (choose another --out or pass --force)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        started = datetime.now()
        for name, frame in tables(result).items():
            write_csv(frame, staging / name)
        result.timings["write"] = (datetime.now() - started).total_seconds()
        (staging / "manifest.json").write_text(json.dumps(manifest(result), ensure_ascii=False, indent=2, default=_json_default),
                                               encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
