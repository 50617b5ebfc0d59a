"""Runs side by side: headline figures, money per zone and province, and projects funded in one run only.

Every comparison works on :class:`~allocator.runformat.run.Run`, a run read back from its directory. A
scenario file or an in-memory :class:`Result` is solved (or taken) and written to a run directory
first, then read back, so a run compared today and a run directory from last month go through the
same code. Tables are DataFrames with a scenario level named ``run``; the first run is the baseline
and the others show their difference (``Δ``) from it. Zones come in the report order, provinces in the
order of their region codes (the official division order). The CSVs keep machine keys; the pages, the
workbook and the terminal table a planner reads are drawn in :mod:`allocator.report.comparison`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError, SolveFailed
from allocator.outdir import Target, staged
from allocator.results import Result
from allocator.rundir import write_failure, write_run
from allocator.runformat.run import Run, read_run, zone_key
from allocator.runformat.tables import write_csv
from allocator.scenario import Scenario
from allocator.scenario_toml import load_scenario

RUN = "run"
DELTA = "Δ "
#: Figures the headline table shows for a run with no allocation (the others are blank).
_STATUS_FIGURES = ("status", "solver")
#: Beyond this many groups an indicator shows its count of groups met, not every group.
MAX_GROUPS_SHOWN = 8
#: A figure is read as a decimal of at most this many places (a run's money: its money_precision, at most 1e-6 万元).
MAX_DECIMALS = 9

RunLike = Run | Result | Scenario | str | Path


def headline(run: Run) -> pd.Series:
    """One run's figures, named in keys (no CJK): status, objective, money by source, projects by type, indicators."""
    figures: dict[str, object] = {"status": run.status, "solver": run.solver}
    if not run.has_allocation:
        return pd.Series(figures, dtype=object, name=run.name).rename_axis("figure")
    gap = run.manifest.objective.mip_gap if run.manifest.objective else None
    figures["objective"] = run.objective
    figures["mip_gap"] = np.nan if gap is None else float(gap)
    allocation = run.allocation
    figures["projects_funded"] = float(allocation["selected"].sum())
    figures["money_total"] = float(run.by_source["used"].sum())
    for row in run.by_source.itertuples():
        figures[f"used:{row.source}"] = float(row.used)
    for row in run.by_type.itertuples():
        figures[f"funded:{row.type}"] = float(row.funded)
    for row in run.by_type.itertuples():
        figures[f"money:{row.type}"] = float(row.total)
    indicators = run.indicators
    met = indicators["met"] if len(indicators) else pd.Series(dtype=object)
    measured = met.dropna().astype(bool)  # a group with no denominator has no value: neither met nor missed
    figures["targets_met"] = int(measured.sum())
    figures["targets_missed"] = int((~measured).sum())
    for name, rows in indicators.groupby("indicator", sort=False):
        figures[f"target:{name}"] = float(rows["target"].iloc[0])
        if len(rows) <= MAX_GROUPS_SHOWN:
            for row in rows.itertuples():
                suffix = "" if row.scope == "national" else f"@{row.group}"
                figures[f"achieved:{name}{suffix}"] = float(row.achieved)
        else:
            figures[f"groups_met:{name}"] = int(met[rows.index].dropna().astype(bool).sum())
            figures[f"achieved_mean:{name}"] = float(rows["achieved"].mean())
    return pd.Series(figures, dtype=object, name=run.name).rename_axis("figure")


@dataclass
class Comparison:
    """Several runs on one index. ``figures`` has one column per run (the column level is named ``run``)."""

    runs: dict[str, Run]
    figures: pd.DataFrame  # figure x run
    by_zone: pd.DataFrame  # zone x (figure, run), values then differences
    by_province: pd.DataFrame  # province x (figure, run)
    projects: pd.DataFrame  # projects whose selection differs from the baseline run's
    churn: pd.DataFrame = field(default_factory=pd.DataFrame)  # (run, level, group) x added, dropped, money moved
    out: Path | None = None  # the folder it was written to, if any

    @property
    def baseline(self) -> str:
        return next(iter(self.runs))

    @property
    def allocated(self) -> list[str]:
        """The runs with an allocation: projects and churn are compared between them, against the first of them."""
        return [key for key, run in self.runs.items() if len(run.allocation)]

    @property
    def differences(self) -> pd.DataFrame:
        """Numeric figures of every other run minus the baseline run's (columns level ``run``)."""
        numeric = self.figures.drop(index=[f for f in _STATUS_FIGURES if f in self.figures.index]).apply(pd.to_numeric, errors="coerce")
        return numeric.drop(columns=self.baseline).apply(lambda column: decimal_difference(column, numeric[self.baseline]))

    def table(self) -> pd.DataFrame:
        """The headline table: each run's figures, then each other run's difference from the baseline."""
        deltas = self.differences.rename(columns=lambda run: f"{DELTA}{run}")
        return pd.concat([self.figures, deltas], axis=1).rename_axis(columns=RUN)

    def column_run(self, column: str) -> tuple[str, bool]:
        """The run a column of :meth:`table` or of a side-by-side table shows, and whether it is its difference."""
        delta = column not in self.runs and column.startswith(DELTA) and column[len(DELTA):] in self.runs
        return (column[len(DELTA):] if delta else column), delta

    @property
    def objective_unit(self) -> str:
        """The objective's unit as the runs record it ([objective] unit), ' / ' between different ones; '' for none."""
        units = dict.fromkeys(r.manifest.objective.unit for r in self.runs.values() if r.manifest.objective and r.manifest.objective.unit)
        return " / ".join(units)

    def objective_gain(self, run: str) -> float:
        """How much `run`'s objective exceeds the baseline's (for min_cost, a negative gain saves money)."""
        return float(self.differences.loc["objective", run])

    def write(self, out: str | Path, *, force: bool = False) -> Path:
        """The CSVs (machine keys) and the pages a planner reads (comparison.md, .html, .xlsx) in `out`."""
        from allocator.report.comparison import write_pages

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if (out / "comparison.csv").exists() and not force:
            raise InputError(f"a comparison already exists in {out} (choose another --out or pass --force)")
        write_csv(self.table().reset_index(), out / "comparison.csv")
        write_csv(flatten(self.by_zone).reset_index(), out / "by_zone.csv")
        write_csv(flatten(self.by_province).reset_index(), out / "by_province.csv")
        write_csv(self.projects.reset_index(), out / "projects.csv")
        write_csv(self.churn.reset_index(), out / "churn.csv")
        write_pages(self, out)
        return out


def compare(runs: Iterable[RunLike] | Mapping[str, RunLike], *, out: str | Path | None = None, force: bool = False,
            unique: bool = False) -> Comparison:
    """Compare runs: run directories, scenario files or Scenarios (solved now), Results or Runs.

    A mapping names the runs; otherwise each is named by its scenario (or, if two share a name, by
    its directory). Runs solved here are written under ``out/runs/`` (a temporary folder when `out`
    is None). The first run is the baseline. The folder `out` appears whole when everything is written
    (allocator.outdir: `force` replaces a comparison already there, `unique` takes the first free of out, out-2, …).
    """
    items: list[tuple[str | None, RunLike]] = list(runs.items()) if isinstance(runs, Mapping) else [(None, item) for item in runs]
    if len(items) < 2:
        raise InputError("a comparison needs at least two runs")
    if out is None:
        with tempfile.TemporaryDirectory(prefix="allocator-compare-") as scratch:
            return _compared(items, Path(scratch))
    inputs = tuple(Path(item) for _, item in items if isinstance(item, (str, Path)))
    with staged(Target(Path(out), kind="compare", force=force, unique=unique, inputs=inputs)) as slot:
        comparison = _compared(items, slot.staging / "runs")
        comparison.write(slot.staging, force=True)
    comparison.out = slot.path
    for run in comparison.runs.values():
        if _folder(run).parent == slot.staging / "runs":
            run.path = slot.path / "runs" / _folder(run).name
    return comparison


def _compared(items: list[tuple[str | None, RunLike]], root: Path) -> Comparison:
    """The comparison of `items`; those not yet in a run directory are solved and written under `root`."""
    tables = [as_run(item, root / f"{i + 1:02d}-{_slug(label or _label_hint(item))}") for i, (label, item) in enumerate(items)]
    return compare_runs(dict(zip(_labels([label for label, _ in items], tables), tables)))


def compare_runs(runs: Mapping[str, Run]) -> Comparison:
    """The comparison tables of runs already read back; the first is the baseline."""
    runs = dict(runs)
    figures = pd.concat([headline(run) for run in runs.values()], axis=1, keys=list(runs), names=[RUN], sort=False)
    figures = figures.reindex(_figure_order(figures.index))
    return Comparison(
        runs=runs, figures=figures,
        by_zone=side_by_side({k: r.by_zone for k, r in runs.items()}, "zone", zone_order(runs.values())),
        by_province=side_by_side({k: r.by_province for k, r in runs.items()}, "province", province_order(runs.values())),
        projects=changed_projects(runs),
        churn=churn(runs),
    )


def province_order(runs: Iterable[Run]) -> list[str]:
    """The provinces of all `runs` in the order of their smallest region code (for real division codes, whose
    first two digits number the provinces, the official order: 北京, 天津, 河北 …), then by name."""
    first: dict[str, str] = {}
    for run in runs:
        if len(run.allocation):
            ids = run.allocation.groupby(run.allocation["province"].astype(str))["region_id"].agg(lambda ids: min(map(str, ids)))
            for province, region in ids.items():
                first[str(province)] = min(first.get(str(province), region), region)
    return sorted(first, key=lambda province: (first[province], province))


def zone_order(runs: Iterable[Run]) -> list[str]:
    """The zones of all `runs`: east, northeast, central, west, then any other by name."""
    return sorted({zone for run in runs if len(run.allocation) for zone in run.zone_order}, key=zone_key)


def as_run(item: RunLike, directory: Path, *, force: bool = False) -> Run:
    """`item` as a run read back from a directory; scenario files and Scenarios are solved, Results written first."""
    if isinstance(item, Run):
        return item
    if isinstance(item, (str, Path)) and Path(item).is_dir():
        return read_run(item)
    if isinstance(item, (str, Path)):
        item = load_scenario(item)
    if isinstance(item, Scenario):
        from allocator.solve import solve  # late: the solver is only needed for scenarios not yet solved
        try:
            return read_run(write_run(solve(item), directory, force=force, reports=False))
        except SolveFailed as failure:  # compared by its status, as a run directory with no allocation is
            return read_run(write_failure(item, failure, directory, force=force))
    return read_run(write_run(item, directory, force=force, reports=False))


def decimal_difference(after: pd.Series, before: pd.Series) -> pd.Series:
    """`after - before` as the decimals the tables print: each difference rounded to the places of the finer of its two
    figures, so that 18,182.2 - 0 is not written 18182.199999999983 (binary noise) in a CSV a planner opens."""
    places = np.maximum(_decimal_places(after.to_numpy(dtype=float)), _decimal_places(before.to_numpy(dtype=float)))
    difference = after.to_numpy(dtype=float) - before.to_numpy(dtype=float)
    rounded = np.array([round(value, int(d)) if np.isfinite(value) else value for value, d in zip(difference, places, strict=True)])
    return pd.Series(rounded, index=after.index, name=after.name)


def _decimal_places(values: np.ndarray) -> np.ndarray:
    """Per value, the fewest decimal places (at most MAX_DECIMALS) that write it exactly as the float it is."""
    places = np.full(len(values), MAX_DECIMALS)
    for d in range(MAX_DECIMALS - 1, -1, -1):
        with np.errstate(invalid="ignore"):
            exact = np.round(values, d) == values
        places = np.where(exact | ~np.isfinite(values), d, places)
    return places


def side_by_side(frames: Mapping[str, pd.DataFrame], key: str, order: list[str] | None = None) -> pd.DataFrame:
    """Tables keyed by `key`, one per run, as `key` x (figure, run); then each figure's difference from the first run.
    Rows in `order` (those it lacks follow, by name)."""
    present = {run: frame.set_index(key) for run, frame in frames.items() if len(frame)}
    if not present:
        return pd.DataFrame(index=pd.Index([], name=key))
    long = pd.concat(present, names=[RUN, key], sort=False)
    numeric = long.select_dtypes(include="number")
    wide = numeric.rename_axis(columns="figure").unstack(RUN)  # columns: (figure, run)
    first = next(iter(present))
    parts = [wide]
    for run in list(present)[1:]:
        delta = wide.xs(run, axis=1, level=RUN).combine(wide.xs(first, axis=1, level=RUN), decimal_difference)
        delta.columns = pd.MultiIndex.from_product([delta.columns, [f"{DELTA}{run}"]], names=wide.columns.names)
        parts.append(delta)
    table = pd.concat(parts, axis=1)
    figures = list(dict.fromkeys(wide.columns.get_level_values(0)))
    rows = [k for k in order or [] if k in table.index] + sorted(k for k in table.index if k not in set(order or []))
    return table.reindex(columns=figures, level=0).reindex(rows).rename_axis(key)


def changed_projects(runs: Mapping[str, Run]) -> pd.DataFrame:
    """Projects whose selection differs between the baseline and any other run, with each run's selection and money."""
    present = {run: r.allocation.set_index("project_id") for run, r in runs.items() if len(r.allocation)}
    if len(present) < 2:
        return pd.DataFrame(index=pd.Index([], name="project_id"))
    selected = pd.concat({run: frame["selected"] for run, frame in present.items()}, axis=1, names=[RUN]).fillna(0)
    money = pd.concat({run: frame[runs[run].source_keys].sum(axis=1) for run, frame in present.items()}, axis=1, names=[RUN]).fillna(0)
    first = next(iter(present))
    changed = selected.ne(selected[first], axis=0).any(axis=1)
    info_columns = [c for c in ("name", "province", "zone", "type", "cost") if c in present[first]]
    info = pd.concat([frame[info_columns] for frame in present.values()]).groupby(level=0).first()
    table = info.loc[changed[changed].index].copy()
    for run in present:
        table[f"selected[{run}]"] = selected.loc[changed, run]
    for run in present:
        table[f"money[{run}]"] = money.loc[changed, run].round(4)
    funded_in = selected.loc[changed].gt(0)
    table["funded_in"] = [", ".join(funded_in.columns[row]) or "none" for row in funded_in.to_numpy(dtype=bool)]
    return table.sort_values(["funded_in", "cost"], ascending=[True, False], kind="stable").rename_axis("project_id")


def churn(runs: Mapping[str, Run]) -> pd.DataFrame:
    """For each run after the baseline, nationally, per zone and per province: projects added (funded here, not in the
    baseline), dropped (the reverse) and kept, money of the added and dropped projects, and money moved (the sum
    over projects and sources of the absolute change, 万元). Projects are matched by project_id."""
    present = {run: r for run, r in runs.items() if len(r.allocation)}
    if len(present) < 2:
        return pd.DataFrame(columns=list(CHURN_COLUMNS), index=pd.MultiIndex.from_tuples([], names=[RUN, "level", "group"]))
    first = next(iter(present))
    base = _funded_money(present[first])
    rank = {("zone", z): i for i, z in enumerate(zone_order(present.values()))}
    rank |= {("province", p): i for i, p in enumerate(province_order(present.values()))}
    parts = []
    for run in list(present)[1:]:
        table = _churn_of(base, _funded_money(present[run]), run)
        keys = [(_LEVELS.index(level), rank.get((level, group), len(rank)), group) for _, level, group in table.index]
        parts.append(table.iloc[sorted(range(len(table)), key=keys.__getitem__)])
    return pd.concat(parts)


#: The levels of the churn table, in the order they are listed.
_LEVELS = ("national", "zone", "province")


#: The columns of the churn table.
CHURN_COLUMNS = ("added", "dropped", "kept", "money_added", "money_dropped", "money_moved")


def _funded_money(run: Run) -> pd.DataFrame:
    """project_id -> zone, province, funded (selected above one half) and money per source (万元)."""
    frame = run.allocation.set_index("project_id")
    money = frame[run.source_keys].astype(float).rename(columns=lambda key: f"money:{key}")
    return pd.concat([frame[["zone", "province"]], (frame["selected"].astype(float) > 0.5).rename("funded"), money], axis=1)


def _churn_of(base: pd.DataFrame, other: pd.DataFrame, run: str) -> pd.DataFrame:
    """The churn of `other` against `base`, national, per zone and per province."""
    ids = base.index.union(other.index)
    places = pd.concat([base[["zone", "province"]], other[["zone", "province"]]]).groupby(level=0).first().reindex(ids)
    was = base["funded"].reindex(ids, fill_value=False).astype(bool)
    now = other["funded"].reindex(ids, fill_value=False).astype(bool)
    money_columns = sorted(set(base.columns[base.columns.str.startswith("money:")]) | set(other.columns[other.columns.str.startswith("money:")]))
    before = base.reindex(index=ids, columns=money_columns).fillna(0.0)
    after = other.reindex(index=ids, columns=money_columns).fillna(0.0)
    per_project = pd.DataFrame({
        "added": now & ~was, "dropped": was & ~now, "kept": was & now,
        "money_added": after.sum(axis=1).where(now & ~was, 0.0), "money_dropped": before.sum(axis=1).where(was & ~now, 0.0),
        "money_moved": (after - before).abs().sum(axis=1),
    }, index=ids)
    frames = [per_project.sum().to_frame().T.assign(level="national", group="national")]
    for level in ("zone", "province"):
        frames.append(per_project.groupby(places[level].to_numpy()).sum().rename_axis("group").reset_index().assign(level=level))
    table = pd.concat(frames, ignore_index=True).assign(**{RUN: run})
    for column in ("added", "dropped", "kept"):
        table[column] = table[column].astype(int)
    for column in ("money_added", "money_dropped", "money_moved"):
        table[column] = table[column].astype(float).round(4)
    return table.set_index([RUN, "level", "group"])[list(CHURN_COLUMNS)]


def flatten(frame: pd.DataFrame) -> pd.DataFrame:
    """(figure, run) columns as ``figure[run]`` (and ``figure[Δ run]``), for CSV and Markdown."""
    if not isinstance(frame.columns, pd.MultiIndex):
        return frame
    result = frame.copy()
    result.columns = [f"{figure}[{run}]" for figure, run in frame.columns]
    return result


def default_compare_dir(root: Path = Path("runs")) -> Path:
    return root / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _figure_order(index: pd.Index) -> list[str]:
    """Figures in the order of the first run that has them (pandas' concat may sort the union)."""
    return list(dict.fromkeys(index))


def _labels(given: list[str | None], tables: list[Run]) -> list[str]:
    names = [label or table.name for label, table in zip(given, tables)]
    if len(set(names)) < len(names):
        names = [label or f"{table.name} [{table.solver}]" for label, table in zip(given, tables)]
    if len(set(names)) < len(names):
        names = [label or f"{table.name} ({_folder(table).name})" for label, table in zip(given, tables)]
    if len(set(names)) < len(names):
        names = [f"{i + 1}:{name}" for i, name in enumerate(names)]
    return names


def _folder(run: Run) -> Path:
    """The folder a compared run was read from (each is read back from one)."""
    assert run.path is not None, run.name
    return run.path


def _label_hint(item: RunLike) -> str:
    if isinstance(item, Result):
        return f"{item.scenario.name}-{item.solution.solver}"
    if isinstance(item, Scenario):
        return item.name
    if isinstance(item, Run):
        return item.path.name if item.path else item.name
    return Path(item).stem


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)[:60] or "run"
