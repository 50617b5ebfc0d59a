"""The run directory of a result: its tables and ``manifest.json`` in the run format (:mod:`allocator.runformat`)
and, by default, its budget-proposal reports (:mod:`allocator.report`), written to a hidden staging directory
and renamed into place only when complete (:mod:`allocator.outdir`: which folder may be taken or replaced)."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from dataclasses import replace
from pathlib import Path

import pandas as pd

from allocator.equity import equity_table
from allocator.errors import SolveFailed
from allocator.outdir import Target, staged
from allocator.report import write_reports
from allocator.results import Result
from allocator.runformat.manifest import (MONEY_UNIT, InputFile, Manifest, ObjectiveRecord, Override, ScenarioRecord,
                                          SolverRecord)
from allocator.runformat.markdown import escape_markdown
from allocator.runformat.names import DIAGNOSIS, TABLES, table_file
from allocator.runformat.run import Run
from allocator.runformat.tables import sha256_of, write_tables
from allocator.scenario import Scenario

_PACKAGES = ("allocator", "numpy", "pandas", "scipy", "highspy", "pulp", "click")


def default_run_dir(scenario_path: Path, root: Path = Path("runs")) -> Path:
    return root / f"{scenario_path.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def inputs_of(scenario: Scenario) -> tuple[Path, ...]:
    """The files a run of `scenario` reads (its scenario files, tables, an application workbook's mapping and the run it
    keeps close to, ``stability.reference`` or ``--from``): no output may cover them."""
    applications = scenario.data.applications
    mapping = (applications.mapping,) if applications is not None and applications.mapping is not None else ()
    reference = (scenario.stability.reference,) if scenario.stability.reference is not None else ()
    return (*scenario.document.files, scenario.data.regions, scenario.data.projects, *mapping, *reference)


def run_target(scenario: Scenario, out: Path, *, force: bool = False, unique: bool = False) -> Target:
    """Where a run of `scenario` goes (see :mod:`allocator.outdir`): `out`, or with `unique` the first free of out, out-2, …"""
    return Target(Path(out), force=force, unique=unique, inputs=inputs_of(scenario))


def write_run(result: Result, out: Path, *, force: bool = False, unique: bool = False, reports: bool = True,
              extra: Mapping[str, pd.DataFrame] | None = None, runs: Mapping[str, Result] | None = None,
              failures: Mapping[str, tuple[Scenario, SolveFailed]] | None = None) -> Path:
    """Write every output into a new run directory at `out` (:func:`run_target`) all at once, and return it.

    `force` replaces a run already there (only a folder allocate wrote). With `reports` (the default) also
    budget_proposal.xlsx, report.md and report.html (allocator.report); `extra`: more tables, by name; `runs`: the runs
    this one was made of (``allocate cascade``: one per province), each written whole under ``runs/<name>``; `failures`:
    those of them that found no allocation, each written as :func:`write_failure` writes it, under ``runs/<name>``.
    The manifest is made once, after the tables are written: the reports show what manifest.json says."""
    with staged(run_target(result.scenario, out, force=force, unique=unique)) as slot:
        for name, part in (runs or {}).items():
            (slot.staging / "runs").mkdir(exist_ok=True)
            write_run(part, slot.staging / "runs" / name, reports=False)
        for name, (scenario, failure) in (failures or {}).items():
            (slot.staging / "runs").mkdir(exist_ok=True)
            write_failure(scenario, failure, slot.staging / "runs" / name)
        started = time.perf_counter()
        tables = tables_of(result)
        written = {**tables, **(extra or {})}
        write_tables(written, slot.staging)
        result.timings["write"] = time.perf_counter() - started
        checksums = {table_file(name): sha256_of(slot.staging / table_file(name)) for name in written}
        run = Run(replace(manifest_of(result), tables=checksums), **tables)
        if reports:
            write_reports(run, slot.staging)
        run.manifest.write(slot.staging)
    return slot.path


def tables_of(result: Result) -> dict[str, pd.DataFrame]:
    """The tables `result` writes, by name: all of :data:`TABLES`, marginal values when computed, by_year when phased,
    equity when the regions table counts residents."""
    tables = {name: getattr(result, name) for name in TABLES}
    if result.marginal is not None:
        tables["marginal"] = result.marginal
    if result.phasing.years:
        tables["by_year"] = result.by_year
    equity = equity_table(result)
    if equity is not None:
        tables["equity"] = equity
    return tables


def _rounded(values: dict[str, float] | None) -> dict[str, float] | None:
    """Figures for the manifest, to 4 decimals (the objective's own unit)."""
    return None if values is None else {key: round(value, 4) for key, value in values.items()}


def manifest_of(result: Result) -> Manifest:
    """What produced `result` and what came of it, as of now."""
    scenario, solution, options = result.scenario, result.solution, result.scenario.solver
    return Manifest(
        scenario=scenario_record(scenario),
        inputs={name: InputFile(str(f.path), f.sha256, f.encoding, f.rows) for name, f in result.data.files.items()},
        status=solution.status.value,
        solver=SolverRecord(name=solution.solver, version=solution.solver_version, message=solution.message,
                            time_limit_s=options.time_limit, mip_rel_gap_requested=options.mip_rel_gap, threads=options.threads,
                            seed=options.seed, strategy=options.strategy, details=dict(solution.details)),
        objective=ObjectiveRecord(sense=scenario.sense, value=result.objective, mip_gap=solution.mip_gap,
                                  dual_bound=None if solution.dual_bound is None else solution.dual_bound * result.model_sign,
                                  unit=result.objective_unit or None, by_type=_rounded(result.benefit_by_type)),
        selection=scenario.selection,
        model_size=result.model_size,
        seconds={k: round(v, 4) for k, v in result.timings.items()},
        cut_short=list(result.cut_short),
        money_unit=MONEY_UNIT,
        money_precision=result.precision.unit_wan,
        versions=versions(),
        created=_now(),
    )


def write_failure(scenario: Scenario, failure: SolveFailed, out: Path, *, force: bool = False, unique: bool = False) -> Path:
    """For a run with no allocation: ``diagnosis.md`` and a manifest saying why, and nothing else."""
    with staged(run_target(scenario, out, force=force, unique=unique)) as slot:
        (slot.staging / DIAGNOSIS).write_text(f"# {escape_markdown(scenario.name)}: {failure.status}\n\n```\n{failure.report}\n```\n",
                                              encoding="utf-8")
        Manifest(scenario=scenario_record(scenario), status=failure.status, message=str(failure), progress=failure.progress,
                 versions=versions(), created=_now()).write(slot.staging)
    return slot.path


def scenario_record(scenario: Scenario) -> ScenarioRecord:
    return ScenarioRecord(name=scenario.name, file=str(scenario.path), files=[str(f) for f in scenario.document.files],
                          overrides=[Override(key, old, new) for key, old, new in scenario.document.overrides],
                          resolved=scenario.resolved())


def versions() -> dict[str, str]:
    """Python's, the platform's and each package's version ("not installed" for one that is not)."""
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
