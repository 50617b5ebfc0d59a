"""What the budget-proposal outputs are made from: a run's tables and its manifest.

Built either from a :class:`~allocator.results.Result` being written (``from_result``) or read back
from a finished run directory (``read_run_dir``, for ``allocate export``, through
:func:`allocator.rundir.read_run`), so the workbook and the report come out the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError

_REQUIRED = ("allocation.csv", "by_source.csv", "by_zone.csv", "by_province.csv", "by_type.csv", "indicators.csv")


@dataclass
class RunData:
    """A run's tables by file name (``allocation.csv``, ``by_zone.csv``, …) and its manifest."""

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, object]
    path: Path | None = None
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        missing = [name for name in _REQUIRED if name not in self.tables]
        if missing:
            raise InputError(f"the run has no {', '.join(missing)}: is it a finished run with an allocation?")
        indicators = self.tables["indicators.csv"]
        if "met" in indicators:
            indicators = indicators.copy()
            indicators["met"] = [_boolean(v) for v in indicators["met"]]
            self.tables["indicators.csv"] = indicators

    @classmethod
    def from_result(cls, result: object, manifest: dict[str, object]) -> RunData:
        from allocator.rundir import tables  # here, not at import time: rundir imports this package

        return cls(tables=dict(tables(result)), manifest=manifest)

    # -- the pieces every output needs ---------------------------------------------------------

    @property
    def allocation(self) -> pd.DataFrame:
        return self.tables["allocation.csv"]

    @property
    def marginal(self) -> pd.DataFrame | None:
        return self.tables.get("marginal.csv")

    @property
    def sources(self) -> list[tuple[str, str]]:
        """(key, label) of each funding source, in the scenario's order."""
        frame = self.tables["by_source.csv"]
        return [(str(r.source), str(r.label) if isinstance(r.label, str) and r.label else str(r.source)) for r in frame.itertuples()]

    @property
    def source_keys(self) -> list[str]:
        return [key for key, _ in self.sources]

    @property
    def types(self) -> list[tuple[str, str]]:
        frame = self.tables["by_type.csv"]
        return [(str(r.type), str(r.label) if isinstance(r.label, str) and r.label else str(r.type)) for r in frame.itertuples()]

    @property
    def scenario_name(self) -> str:
        scenario = self.manifest.get("scenario", {})
        return str(scenario.get("name", "")) if isinstance(scenario, dict) else ""

    @property
    def description(self) -> str:
        resolved = self.resolved
        return str(resolved.get("description", "") or "")

    @property
    def resolved(self) -> dict[str, object]:
        scenario = self.manifest.get("scenario", {})
        resolved = scenario.get("resolved", {}) if isinstance(scenario, dict) else {}
        return resolved if isinstance(resolved, dict) else {}

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", ""))

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", ""))

    @property
    def binary(self) -> bool:
        return self.manifest.get("selection", "binary") == "binary"

    @property
    def funded(self) -> pd.DataFrame:
        """The funded rows of the allocation (selected > 0), with a ``total`` money column."""
        if "funded" not in self._cache:
            allocation = self.allocation
            funded = allocation[allocation["selected"].astype(float) > 0].copy()
            funded["total"] = funded[self.source_keys].astype(float).sum(axis=1) if self.source_keys else 0.0
            self._cache["funded"] = funded
        return self._cache["funded"]  # type: ignore[return-value]

    @property
    def province_order(self) -> list[str]:
        """Provinces in the order of their smallest region code (the official order for real division codes)."""
        if "province_order" not in self._cache:
            allocation = self.allocation
            first = allocation.groupby("province", sort=False)["region_id"].agg(lambda ids: min(map(str, ids)))
            self._cache["province_order"] = list(first.sort_values(kind="stable").index.astype(str))
        return self._cache["province_order"]  # type: ignore[return-value]

    @property
    def zone_order(self) -> list[str]:
        return sorted(self.allocation["zone"].astype(str).unique(), key=zone_key)

    def money_by(self, column: str, order: list[str]) -> pd.DataFrame:
        """Funded count, money by source and total per value of an allocation column, in `order`."""
        frame, keys = self.allocation, self.source_keys
        money = frame[keys].astype(float) if keys else pd.DataFrame(index=frame.index)
        grouped = money.assign(funded=frame["selected"].astype(float)).groupby(frame[column].astype(str)).sum()
        grouped = grouped.reindex(order, fill_value=0.0)
        grouped["total"] = grouped[keys].sum(axis=1) if keys else 0.0
        return grouped[["funded", *keys, "total"]]

    @property
    def region_names(self) -> dict[str, str]:
        frame = self.tables.get("by_region.csv")
        if frame is None or "name" not in frame:
            return {}
        return dict(zip(frame["region_id"].astype(str), frame["name"].astype(str)))


def zone_key(zone: str) -> tuple[int, str]:
    """East, northeast, central, west, then any other zone by name."""
    known = ["east", "northeast", "central", "west"]
    return (known.index(zone) if zone in known else len(known), zone)


def _boolean(value: object) -> bool | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "nan", "<na>", "none"):
            return None
        return text in ("true", "1", "yes")
    return bool(value)


def read_run_dir(path: Path) -> RunData:
    """A finished run directory as RunData, read by :func:`allocator.rundir.read_run`."""
    from allocator.rundir import OPTIONAL_TABLE_NAMES, TABLE_NAMES, read_run

    run = read_run(path)
    if not run.has_allocation or not len(run.allocation.columns):
        raise InputError(f"{path} holds no allocation (status {run.status}): see its diagnosis.md")
    tables = {f"{name}.csv": getattr(run, name) for name in (*TABLE_NAMES, *OPTIONAL_TABLE_NAMES) if getattr(run, name) is not None}
    return RunData(tables=tables, manifest=run.manifest, path=Path(path))
