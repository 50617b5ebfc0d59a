"""A run in memory, as written to its directory or read back from it: the manifest and every table.

A run solved now (:func:`allocator.rundir.write_run`) and a run directory read back (:func:`read_run`)
are the same :class:`Run`, so the reports, comparisons, sweeps and simulations made from either are the
same. Yes/no columns (``met``, ``hard``, ``binding``) hold True, False or None (no value) either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from allocator.errors import InputError
from allocator.runformat.cells import parse_bool
from allocator.runformat.manifest import Manifest
from allocator.runformat.names import OPTIONAL_TABLES, TABLES, table_file
from allocator.runformat.tables import read_table, refuse_text_in_numbers, sha256_of

#: Zones in the order reports show them; any other zone follows, by name.
ZONE_ORDER = ("east", "northeast", "central", "west")
#: Decimals of 万元 in runs whose manifest states no money_precision (allocation.csv then kept 1e-6 万元).
LEGACY_MONEY_DECIMALS = 6
#: The yes/no columns of each table.
_BOOLEAN_COLUMNS = {"indicators": ("met", "hard"), "marginal": ("used_up", "binding")}


@dataclass
class Run:
    """A run's manifest and tables (``allocation``, ``by_source``, …; ``marginal`` and ``by_year`` None when
    it has none). A run that found no allocation has empty tables and its status in the manifest."""

    manifest: Manifest
    path: Path | None = None
    allocation: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_source: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_zone: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_province: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_region: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_type: pd.DataFrame = field(default_factory=pd.DataFrame)
    indicators: pd.DataFrame = field(default_factory=pd.DataFrame)
    marginal: pd.DataFrame | None = None
    by_year: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        for table, columns in _BOOLEAN_COLUMNS.items():
            frame = getattr(self, table)
            if frame is not None and any(c in frame for c in columns):
                setattr(self, table, frame.assign(**{c: [parse_bool(v) for v in frame[c]] for c in columns if c in frame}))

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table the run has, by name, in the order they are written."""
        found = {name: getattr(self, name) for name in (*TABLES, *OPTIONAL_TABLES)}
        return {name: frame for name, frame in found.items() if frame is not None}

    # -- what the manifest says -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The scenario's name (without one, the directory's)."""
        return self.manifest.scenario.name or (self.path.name if self.path else "")

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def solver(self) -> str:
        return self.manifest.solver.name if self.manifest.solver else ""

    @property
    def has_allocation(self) -> bool:
        return self.manifest.has_allocation

    @property
    def objective(self) -> float:
        """The objective in the scenario's own sense (NaN without an allocation)."""
        value = self.manifest.objective.value if self.manifest.objective else None
        return float("nan") if value is None else float(value)

    @property
    def description(self) -> str:
        return str(self.manifest.scenario.resolved.get("description", "") or "")

    @property
    def money_decimals(self) -> int:
        """Decimals of 万元 the run's money cells have (6 for runs written before money was rounded to a unit)."""
        precision = self.manifest.money_precision
        return max(0, -round(math.log10(precision))) if precision else LEGACY_MONEY_DECIMALS

    @property
    def binary(self) -> bool:
        """Whether projects are funded whole or not at all (else in part)."""
        return (self.manifest.selection or "binary") == "binary"

    # -- what the tables say --------------------------------------------------------------------

    @property
    def sources(self) -> list[tuple[str, str]]:
        """(key, label) of each funding source, in the scenario's order."""
        if "source" not in self.by_source:
            return []
        return [(str(r.source), _label(r.label, r.source)) for r in self.by_source.itertuples()]

    @property
    def source_keys(self) -> list[str]:
        return [key for key, _ in self.sources]

    @property
    def types(self) -> list[tuple[str, str]]:
        """(key, label) of each project type, in the scenario's order."""
        return [(str(r.type), _label(r.label, r.type)) for r in self.by_type.itertuples()]

    @property
    def region_names(self) -> dict[str, str]:
        if "name" not in self.by_region:
            return {}
        return dict(zip(self.by_region["region_id"].astype(str), self.by_region["name"].astype(str)))

    @cached_property
    def funded(self) -> pd.DataFrame:
        """The funded rows of the allocation (selected > 0), with a ``total`` money column."""
        allocation, keys = self.allocation, self.source_keys
        funded = allocation[allocation["selected"].astype(float) > 0].copy()
        funded["total"] = funded[keys].astype(float).sum(axis=1).round(self.money_decimals) if keys else 0.0
        return funded

    @cached_property
    def province_order(self) -> list[str]:
        """Provinces in the order of their smallest region code (the official order for real division codes)."""
        first = self.allocation.groupby("province", sort=False)["region_id"].agg(lambda ids: min(map(str, ids)))
        return list(first.sort_values(kind="stable").index.astype(str))

    @property
    def zone_order(self) -> list[str]:
        return sorted(self.allocation["zone"].astype(str).unique(), key=zone_key)

    def money_by(self, column: str, order: list[str]) -> pd.DataFrame:
        """Funded count, money by source and total per value of an allocation column, in `order` (money in the run's unit)."""
        frame, keys = self.allocation, self.source_keys
        money = frame[keys].astype(float) if keys else pd.DataFrame(index=frame.index)
        grouped = money.assign(funded=frame["selected"].astype(float)).groupby(frame[column].astype(str)).sum()
        grouped = grouped.reindex(order, fill_value=0.0)
        grouped[keys] = grouped[keys].round(self.money_decimals)
        grouped["total"] = grouped[keys].sum(axis=1).round(self.money_decimals) if keys else 0.0
        return grouped[["funded", *keys, "total"]]


def zone_key(zone: str) -> tuple[int, str]:
    """East, northeast, central, west, then any other zone by name."""
    return (ZONE_ORDER.index(zone) if zone in ZONE_ORDER else len(ZONE_ORDER), zone)


def _label(label: object, key: object) -> str:
    """A label as written, or the key when it has none."""
    return str(label) if isinstance(label, str) and label else str(key)


def read_run(path: str | Path) -> Run:
    """The run directory at `path` (written by :func:`allocator.rundir.write_run` or ``write_failure``)."""
    path = Path(path)
    if not path.exists():
        raise InputError("does not exist (no run directory there)", source=str(path))
    if not path.is_dir():
        raise InputError("is a file, not a run directory", source=str(path))
    manifest = Manifest.read(path)
    if not (path / table_file("allocation")).is_file():
        if manifest.has_allocation:
            raise InputError(f"the run directory lacks {table_file('allocation')}, which its manifest says the run wrote",
                             source=str(path))
        return Run(manifest, path)
    _refuse_changed_tables(path, manifest)
    tables = {}
    for name in (*TABLES, *OPTIONAL_TABLES):
        file = path / table_file(name)
        if file.is_file():
            tables[name] = read_table(file)
        elif name not in OPTIONAL_TABLES:
            raise InputError(f"the run directory lacks {file.name}", source=str(path))
    refuse_text_in_numbers(tables["allocation"], path / table_file("allocation"))
    return Run(manifest, path, **tables)


def _refuse_changed_tables(path: Path, manifest: Manifest) -> None:
    """Refuse a run whose tables are not the files it wrote (cut short by a copy, edited, deleted), by the checksums of
    its manifest (an older run has none: its tables are only checked as they are read)."""
    for name, digest in (manifest.tables or {}).items():
        file = path / name
        if not file.is_file():
            raise InputError(f"the run directory lacks {name}, which its manifest says the run wrote", source=str(path))
        if sha256_of(file) != digest:
            raise InputError(f"{name} is not the file the run wrote (damaged, cut short or edited since: its SHA-256 differs "
                             "from manifest.json's); run the scenario again", source=str(path))
