"""One scenario solved at many values of one or two keys, each point in its own process.

``--vary sources.central.budget=4亿:10亿:7`` is a linear range (start:stop:count; money with units is
read into 万元), ``--vary key=a,b,c`` a list; two ``--vary`` make a grid. Every point is the scenario
with ``--set``-style overrides, solved and written to its own run directory, then read back and
summarised by :func:`allocator.compare.headline`, the same figures a comparison shows. A point with no
allocation (infeasible, no solution in time) is a row with its status, and the sweep goes on.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.compare import RUN, headline
from allocator.errors import AllocatorError, InputError, SolveFailed
from allocator.report.charts import PLAIN_TEXT
from allocator.report.document import Block, frame_block, render_html
from allocator.outdir import Target, staged
from allocator.rundir import inputs_of, write_failure, write_run
from allocator.runformat.markdown import escape_markdown, markdown_table
from allocator.runformat.run import Run, read_run
from allocator.runformat.tables import write_csv
from allocator.scenario import Scenario
from allocator.scenario_toml import with_overrides
from allocator.units import parse_money

#: Columns every sweep table has before the headline figures.
POINT_COLUMNS = ("status", "message")


@dataclass(frozen=True)
class Axis:
    """One varied key: the values written into the scenario, and the numbers (or labels) plotted."""

    key: str
    settings: tuple[Any, ...]  # what the scenario receives, e.g. "40000万"
    values: tuple[float | str, ...]  # what the table and chart show (万元 for money)
    money: bool = False

    @property
    def column(self) -> str:
        return f"{self.key} (万元)" if self.money else self.key


def parse_vary(text: str) -> Axis:
    """``key=start:stop:count`` (linear, money units allowed) or ``key=a,b,c`` (a list)."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise InputError(f"--vary must look like key=start:stop:count or key=a,b,c, got '{text}'", where="--vary")
    if ":" in spec and "," not in spec:
        return _linear(key, spec, text)
    return axis(key, [_toml_value(item.strip()) for item in spec.split(",") if item.strip()])


def axis(key: str, settings: Sequence[Any]) -> Axis:
    """An axis from the values a key takes (numbers, money strings such as "6亿", or any other value)."""
    if not settings:
        raise InputError(f"--vary {key} has no values", where="--vary")
    numbers = [_number(v) for v in settings]
    money = [_money(v) for v in settings]
    if all(n is not None for n in numbers):
        values: tuple[float | str, ...] = tuple(numbers)  # type: ignore[arg-type]
        is_money = False
    elif all(m is not None for m in money):
        values, is_money = tuple(money), True  # type: ignore[arg-type]
    else:
        values, is_money = tuple(str(v) for v in settings), False
    return Axis(key=key, settings=tuple(settings), values=values, money=is_money)


def points(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' settings (the first axis varies slowest), as override dicts."""
    return [dict(zip((a.key for a in axes), combo)) for combo in itertools.product(*(a.settings for a in axes))]


@dataclass
class SweepResult:
    """``table``: one row per point (index level ``run``): varied values, status, then headline figures."""

    axes: list[Axis]
    table: pd.DataFrame
    runs: dict[str, Run]
    out: Path | None = None

    def markdown(self) -> str:
        return markdown_table(self.table.reset_index())

    def chart(self, path: str | Path) -> Path:
        return sweep_chart(self, Path(path))

    def write(self, out: str | Path) -> Path:
        """sweep.csv, sweep.md, sweep.png and sweep.html (table and chart, self-contained) in `out`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.table.reset_index(), out / "sweep.csv")
        keys = ", ".join(a.key for a in self.axes)
        intro = "Money in 万元; `status` says whether the point found an allocation."
        (out / "sweep.md").write_text(f"# Sweep over {escape_markdown(keys)}\n\n{intro}\n\n{self.markdown()}\n\n![objective and indicators](sweep.png)\n",
                                      encoding="utf-8")
        self.chart(out / "sweep.png")
        blocks = [Block("h1", f"Sweep over {keys}"), Block("p", intro), frame_block(self.table.reset_index()),
                  Block("chart", "objective and indicators", png=(out / "sweep.png").read_bytes())]
        (out / "sweep.html").write_text(render_html(blocks, lang="en"), encoding="utf-8")
        return out


def checked_points(scenario: Scenario, axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """:func:`points`, each applied to `scenario` once so that a bad key or value fails before anything starts."""
    if not axes:
        raise InputError("a sweep needs at least one --vary")
    grid = points(axes)
    for overrides in grid:
        with_overrides(scenario, overrides, label="--vary")
    return grid


def sweep(scenario: Scenario, vary: Mapping[str, Sequence[Any] | str] | Sequence[Axis], *, out: str | Path | None = None,
          force: bool = False, unique: bool = False, workers: int | None = None,
          on_done: Callable[[int, str], None] | None = None) -> SweepResult:
    """Solve `scenario` at every point of `vary` ({key: [values]} or {key: "start:stop:count"}), in parallel.

    Each point runs in its own process (``workers``: default one per CPU) and writes its run directory
    under ``out/runs/`` (a temporary folder when `out` is None); ``on_done(i, status)`` is called as
    each finishes. The sweep directory appears whole when every point is done (allocator.outdir: `force`
    replaces a sweep already there, `unique` takes the first free of out, out-2, …). The result holds the
    table, every run read back, and writes the chart on request.
    """
    axes = list(vary) if not isinstance(vary, Mapping) else [
        parse_vary(f"{k}={v}") if isinstance(v, str) else axis(k, list(v)) for k, v in vary.items()]
    grid = checked_points(scenario, axes)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="allocator-sweep-") as scratch:
            return _solve_points(scenario, axes, grid, Path(scratch), workers, on_done)
    with staged(Target(Path(out), kind="sweep", force=force, unique=unique, inputs=inputs_of(scenario))) as slot:
        result = _solve_points(scenario, axes, grid, slot.staging, workers, on_done)
        result.write(slot.staging)
    result.out = slot.path
    for run in result.runs.values():
        assert run.path is not None  # every point is read back from its folder
        run.path = slot.path / "runs" / run.path.name
    return result


def _solve_points(scenario: Scenario, axes: list[Axis], grid: list[dict[str, Any]], folder: Path, workers: int | None,
                  on_done: Callable[[int, str], None] | None) -> SweepResult:
    """Every point solved in its own process, its run written to ``folder/runs/`` and read back; the table of them all."""
    root = folder / "runs"
    labels = [f"run-{i + 1:0{len(str(len(grid)))}d}" for i in range(len(grid))]
    outcomes: dict[int, dict[str, Any]] = {}
    workers = max(1, min(workers or os.cpu_count() or 1, len(grid)))
    with ProcessPoolExecutor(max_workers=workers) as pool:  # the platform's default start method
        futures = {pool.submit(run_point, scenario, overrides, root / label): i for i, (label, overrides) in enumerate(zip(labels, grid))}
        for future in as_completed(futures):
            i = futures[future]
            outcomes[i] = future.result()
            if on_done:
                on_done(i, outcomes[i]["status"])
    runs = {label: read_run(root / label) for label in labels}
    rows = []
    for i, (label, overrides) in enumerate(zip(labels, grid)):
        row = {a.column: a.values[a.settings.index(overrides[a.key])] for a in axes}
        figures = headline(runs[label]).drop(["status"])
        row.update({"status": runs[label].status, "message": outcomes[i].get("message", "")})
        row.update(figures.to_dict())
        rows.append(row)
    return SweepResult(axes=axes, table=pd.DataFrame(rows, index=pd.Index(labels, name=RUN)), runs=runs)


def run_point(scenario: Scenario, overrides: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Solve one point and write its run directory (in a worker process); never raises for a failed solve."""
    from allocator.solve import solve

    point = with_overrides(scenario, overrides, label="--vary")
    try:
        result = solve(point, marginal="none")  # a sweep reports headline figures; marginal values would cost a re-solve each
    except SolveFailed as failure:
        write_failure(point, failure, directory, force=True)
        return {"status": failure.status, "message": " ".join(str(failure).split())[:300]}
    except AllocatorError as error:  # e.g. a failed verification: recorded, the sweep goes on
        write_failure(point, SolveFailed(str(error), status="error"), directory, force=True)
        return {"status": "error", "message": " ".join(str(error).split())[:300]}
    write_run(result, directory, force=True, reports=False)
    return {"status": result.status.value, "message": ""}


def default_sweep_dir(scenario_path: Path, root: Path = Path("runs")) -> Path:
    return root / f"sweep-{scenario_path.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def sweep_chart(result: SweepResult, path: Path) -> Path:
    """Objective and each indicator (achieved, with its target dashed) against the first varied key.

    Labels use keys (English/pinyin), never the scenario's Chinese labels, so no CJK font is needed; a `$`
    in a key is drawn as itself, not read as mathematics.
    """
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(PLAIN_TEXT):
        return _draw_sweep_chart(result, path)


def _draw_sweep_chart(result: SweepResult, path: Path) -> Path:
    import matplotlib.pyplot as plt

    table = result.table
    first, series_axis = result.axes[0], (result.axes[1] if len(result.axes) > 1 else None)
    achieved = [c for c in table.columns if str(c).startswith(("achieved:", "achieved_mean:"))]
    indicators = list(dict.fromkeys(c.split(":", 1)[1].split("@")[0] for c in achieved))
    panels = ["objective", "projects_funded", *indicators]
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(6.0 * columns, 3.2 * rows), squeeze=False)
    numeric_x = all(isinstance(v, (int, float)) for v in first.values)
    x_of = {v: (v if numeric_x else i) for i, v in enumerate(first.values)}
    groups = [(None, table)] if series_axis is None else [(v, table[table[series_axis.column] == v]) for v in series_axis.values]
    for panel, ax in zip(panels, grid.flat):
        if panel in ("objective", "projects_funded"):
            lines = [(panel, panel)]
            target = None
        else:
            lines = [(c, c.split(":", 1)[1]) for c in achieved if c.split(":", 1)[1].split("@")[0] == panel]
            target = f"target:{panel}"
        for series_value, rows_of in groups:
            x = [x_of[v] for v in rows_of[first.column]]
            for column, label in lines:
                name = label if series_value is None or series_axis is None else f"{label}, {series_axis.key}={series_value}"
                y = pd.to_numeric(rows_of[column], errors="coerce")
                ax.plot(x, y, marker="o", label=name if len(lines) > 1 or series_value is not None else None)
                failed = y.isna().to_numpy()
                if failed.any():  # points with no allocation: marked on the axis
                    ax.plot(np.asarray(x)[failed], np.zeros(failed.sum()), "rx", label=None)
        if target and target in table:
            values = pd.to_numeric(table[target], errors="coerce").dropna()
            if len(values):
                ax.axhline(float(values.iloc[0]), color="grey", linestyle="--", linewidth=1, label="target")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel(first.column.replace("万元", "10k yuan"))
        if not numeric_x:
            ax.set_xticks(list(x_of.values()), [str(v) for v in x_of])
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(grid.flat)[len(panels):]:
        ax.set_visible(False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _linear(key: str, spec: str, text: str) -> Axis:
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) != 3:
        raise InputError(f"a range must be start:stop:count, got '{text}'", where="--vary")
    try:
        count = int(parts[2])
    except ValueError:
        raise InputError(f"the count in '{text}' must be a whole number", where="--vary") from None
    if count < 1:
        raise InputError(f"the count in '{text}' must be at least 1", where="--vary")
    start, stop = _number(_toml_value(parts[0])), _number(_toml_value(parts[1]))
    if start is not None and stop is not None:
        values = np.linspace(start, stop, count)
        integral = all(float(v).is_integer() for v in values) and all(float(x).is_integer() for x in (start, stop))
        settings = tuple(int(v) if integral else float(v) for v in values)
        return Axis(key=key, settings=settings, values=tuple(float(v) for v in values))
    low, high = _money(parts[0]), _money(parts[1])
    if low is None or high is None:
        raise InputError(f"cannot read the range '{spec}' as numbers or amounts of money (e.g. 4亿:10亿:7)", where="--vary")
    values = np.linspace(low, high, count)
    return Axis(key=key, settings=tuple(f"{v:.10g}万" for v in values), values=tuple(float(f"{v:.10g}") for v in values), money=True)


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _money(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_money(value)
    except InputError:
        return None
