"""One scenario solved at many values of one or two keys, the points side by side (local processes, or a Dask cluster).

``--vary sources.central.budget=4亿:10亿:7`` is a linear range (start:stop:count; money with units is
read into 万元), ``--vary key=a,b,c`` a list; two ``--vary`` make a grid. Every point is the scenario
with ``--set``-style overrides, checked once before anything is solved, then solved and written to its
own run directory, read back and summarised by :func:`allocator.compare.headline`, the same figures a
comparison shows. A point with no allocation (infeasible, no solution in time) is a row with its status,
and the sweep goes on.

sweep.csv keeps every figure under its key. The page (sweep.html, sweep.md), the chart (sweep.png) and
the terminal table speak the scenario's language: the varied key named by the scenario's own labels
("中央专项资金预算（亿元）"), money in 万元 with separators, counts whole, shares as percentages.
"""

from __future__ import annotations

import itertools
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.cluster import Engine, engine
from allocator.compare import RUN, headline
from allocator.errors import AllocatorError, InputError, SolveFailed
from allocator.outdir import Target, staged
from allocator.report import charts
from allocator.report.document import Block, render_html, render_markdown
from allocator.report.labels import LABELS, label, status_label, text_table, zone_label
from allocator.rundir import inputs_of, write_failure, write_run
from allocator.runformat.cells import finite_number, format_count, format_money, is_missing
from allocator.runformat.run import Run, read_run, zone_key
from allocator.runformat.tables import write_csv
from allocator.scenario import Scenario
from allocator.scenario_toml import with_overrides
from allocator.units import parse_money
from allocator.warm import feasible_start

#: Columns every sweep table has before the headline figures.
POINT_COLUMNS = ("status", "message")
#: At most this many columns (the varied values included) in one table of the page: a wider one is cut in several.
PAGE_COLUMNS = 8
#: 万元 in one 亿元.
WAN_PER_YI = 10_000


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

    @property
    def kind(self) -> str:
        """How its values read: yi (whole hundredths of 亿元, from 1亿 up), wan (万元), number or text."""
        if self.money:
            amounts = [abs(float(v)) for v in self.values]
            return "yi" if max(amounts) >= WAN_PER_YI and all(a % 100 == 0 for a in amounts) else "wan"
        return "number" if all(isinstance(v, float) for v in self.values) else "text"


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


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its overrides and the scenario they make, checked once and solved as it is."""

    overrides: dict[str, Any]
    scenario: Scenario


def checked_points(scenario: Scenario, axes: Sequence[Axis]) -> list[Point]:
    """:func:`points`, each applied to `scenario` (so that a bad key or value fails before anything starts)."""
    if not axes:
        raise InputError("a sweep needs at least one --vary")
    return [Point(overrides, with_overrides(scenario, overrides, label="--vary")) for overrides in points(axes)]


# -- what the outputs call things ------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """The scenario's own labels for what a sweep shows, and its language (zh when its name or labels are Chinese)."""

    lang: str
    scenario: str
    description: str
    sources: dict[str, str]
    types: dict[str, str]
    indicators: dict[str, str]
    displays: dict[str, str]  # indicator -> percent | number
    count_types: dict[str, str | None]  # count target -> the type it counts (None: every type)
    objective_unit: str

    def name(self, kind: str, key: str, lang: str) -> str:
        """The label of a source, type or indicator (`kind`: sources, types, indicators); in English, its key
        unless the label is ASCII."""
        text = str(getattr(self, kind).get(key, key))
        return text if lang == "zh" or text.isascii() else key


def names_of(scenario: Scenario) -> Names:
    texts = [scenario.name, scenario.description, *(s.label for s in scenario.sources.values()), *(t.label for t in scenario.types.values())]
    return Names(
        lang="zh" if any(_cjk(text) for text in texts) else "en", scenario=scenario.name, description=scenario.description,
        sources={k: s.label for k, s in scenario.sources.items()}, types={k: t.label for k, t in scenario.types.items()},
        indicators={k: i.label for k, i in scenario.indicators.items()},
        displays={k: str(getattr(i, "display", "number")) for k, i in scenario.indicators.items()},
        count_types={k: c.type for k, c in scenario.counts.items()}, objective_unit=scenario.objective_unit)


def _cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


def _with_unit(text: str, unit: str, lang: str) -> str:
    if not unit:
        return text
    return f"{text}（{unit}）" if lang == "zh" else f"{text} ({unit})"


def key_title(key: str, names: Names, lang: str) -> str:
    """A varied key in the planner's words: sources.central.budget -> 中央专项资金预算; the key itself when unknown."""
    parts = key.split(".")
    field = f"field.{parts[-1]}"
    word = label(field, lang) if field in LABELS else parts[-1]
    join = "" if lang == "zh" else " "
    if len(parts) == 3 and parts[0] == "sources" and parts[1] in names.sources:
        return names.name("sources", parts[1], lang) + join + word
    if len(parts) == 4 and parts[:2] == ["targets", "counts"] and parts[2] in names.count_types:
        counted = names.count_types[parts[2]]
        what = names.name("types", counted, lang) + join + label("field.count", lang) if counted else label("sweep.projects", lang)
        return what + join + word
    if len(parts) == 4 and parts[:2] == ["targets", "indicators"] and parts[2] in names.indicators:
        return names.name("indicators", parts[2], lang) + join + word
    return key


def axis_header(ax: Axis, names: Names, lang: str) -> str:
    """The varied key's title with its unit: 中央专项资金预算（亿元）."""
    unit = {"yi": label("unit.yi", lang), "wan": label("unit.wan", lang)}.get(ax.kind, "")
    return _with_unit(key_title(ax.key, names, lang), unit, lang)


# -- the planner's tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of the planner's tables: the sweep.csv column it shows, its header, and how its values read
    (yi, wan, number, text: a varied value; status; money; count; percent; value: an indicator's number)."""

    source: str
    header: str
    kind: str

    @property
    def numeric(self) -> bool:
        return self.kind not in ("status", "text")


def _trim(number: float) -> str:
    """At most two decimals, none when whole: 4, 4.5, 1,234.25."""
    text = f"{number:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def cell(value: object, kind: str, lang: str) -> str:
    """One value as the page, the Markdown and the terminal show it; nothing for no value."""
    if kind in ("status", "text"):
        return "" if is_missing(value) else status_label(str(value), lang) if kind == "status" else str(value)
    number = finite_number(value)
    if number is None:
        return ""
    formats: dict[str, Callable[[float], str]] = {
        "yi": lambda v: _trim(v / WAN_PER_YI), "wan": _trim, "number": _trim, "money": format_money, "count": format_count,
        "percent": lambda v: f"{v:.2%}", "value": lambda v: f"{v:,.2f}"}
    return formats[kind](number)


@dataclass
class SweepResult:
    """``table``: one row per point (index level ``run``): varied values, status, then headline figures."""

    axes: list[Axis]
    table: pd.DataFrame
    runs: dict[str, Run]
    names: Names
    out: Path | None = None

    @property
    def lang(self) -> str:
        return self.names.lang

    @property
    def failed(self) -> list[str]:
        """The points that found no allocation."""
        return [label_ for label_, run in self.runs.items() if not run.has_allocation]

    def axis_columns(self, lang: str | None = None) -> list[Column]:
        lang = lang or self.lang
        return [Column(a.column, axis_header(a, self.names, lang), a.kind) for a in self.axes]

    def main_columns(self, lang: str | None = None, *, technical: bool = False) -> list[Column]:
        """What a planner reads first: status, objective, projects funded, money allocated, the money of each
        varied source and the targets missed (`technical`: the relative gap too)."""
        lang = lang or self.lang
        t = lambda key: label(key, lang)  # noqa: E731
        wan, unit = t("unit.wan"), self.names.objective_unit
        unit = unit if lang == "zh" or unit.isascii() else ""  # an English chart cannot draw 万人
        varied = [a.key.split(".")[1] for a in self.axes if a.key.startswith("sources.") and a.key.endswith(".budget")]
        columns = [Column("status", t("report.status"), "status"),
                   Column("objective", _with_unit(t("sweep.objective"), unit, lang), "value"),
                   Column("projects_funded", t("sweep.projects"), "count"),
                   Column("money_total", _with_unit(t("sweep.money"), wan, lang), "money"),
                   *[Column(f"used:{s}", _with_unit(t("sweep.used").format(name=self.names.name("sources", s, lang)), wan, lang), "money")
                     for s in varied],
                   Column("targets_missed", t("sweep.missed"), "count")]
        if technical:
            columns.append(Column("mip_gap", t("report.gap"), "percent"))
        return [c for c in columns if c.source in self.table and (c.source != "targets_missed" or self.names.indicators)]

    def source_columns(self, lang: str | None = None) -> list[Column]:
        lang = lang or self.lang
        columns = [*(Column(f"used:{key}", self.names.name("sources", key, lang), "money") for key in self.names.sources),
                   Column("money_total", label("col.total", lang), "money")]
        return [c for c in columns if c.source in self.table]

    def type_columns(self, lang: str | None = None) -> list[Column]:
        lang = lang or self.lang
        columns = []
        for key in self.names.types:
            name = self.names.name("types", key, lang)
            columns += [Column(f"funded:{key}", label("sweep.type_funded", lang).format(name=name), "count"),
                        Column(f"money:{key}", _with_unit(label("sweep.type_money", lang).format(name=name), label("unit.wan", lang), lang), "money")]
        return [c for c in columns if c.source in self.table]

    def indicator_columns(self, lang: str | None = None) -> list[Column]:
        """Per indicator, its value in each group (zones in their usual order; with many groups, the groups met and the
        mean), its target in the header when every point has the same one, else in a column of its own."""
        lang = lang or self.lang
        comma, columns = ("，" if lang == "zh" else ", "), []
        for key in self.names.indicators:
            name, kind = self.names.name("indicators", key, lang), _indicator_kind(self.names, key)
            targets = pd.to_numeric(self.table[f"target:{key}"], errors="coerce").dropna().unique() if f"target:{key}" in self.table else []
            goal = [label("sweep.target_of", lang).format(value=cell(targets[0], kind, lang))] if len(targets) == 1 else []
            if len(targets) > 1:
                columns.append(Column(f"target:{key}", f"{name}{'' if lang == 'zh' else ' '}{label('sweep.target', lang)}", kind))
            for source in indicator_sources(self.table, key):
                group = [_group(source, lang)] if "@" in source or source.startswith("achieved_mean:") else []
                columns.append(Column(source, _with_unit(name, comma.join([*group, *goal]), lang), kind))
            if f"groups_met:{key}" in self.table:
                columns.append(Column(f"groups_met:{key}", label("sweep.groups_met", lang).format(name=name), "count"))
        return columns

    def rows(self, columns: Sequence[Column], lang: str | None = None) -> list[list[str]]:
        lang = lang or self.lang
        return [[cell(row[c.source], c.kind, lang) for c in columns] for _, row in self.table.iterrows()]

    def text(self) -> str:
        """The terminal's table: the varied values and the main figures, aligned for Chinese (wide) characters."""
        columns = [*self.axis_columns(), *self.main_columns()]
        return text_table([c.header for c in columns], self.rows(columns), [c.numeric for c in columns])

    def blocks(self, chart: bytes | None = None, font: charts.FontChoice | None = None) -> list[Block]:
        """The page: title, what the numbers are, the main figures, money by source, projects by type, the
        indicators, the points with no allocation and (when given) the chart."""
        lang, t = self.lang, lambda key: label(key, self.lang)
        axes = self.axis_columns()
        titles = ("、" if lang == "zh" else ", ").join(key_title(a.key, self.names, lang) for a in self.axes)
        blocks = [Block("h1", t("sweep.title").format(axes=titles)),
                  Block("p", ("：" if lang == "zh" else ": ").join(filter(None, [self.names.scenario, self.names.description]))),
                  Block("p", t("sweep.intro").format(points=len(self.table), solved=len(self.table) - len(self.failed)))]
        if font is not None and lang == "zh" and not font.cjk:
            blocks.append(Block("note", t("report.font_note")))
        sections = [("sweep.main", self.main_columns(technical=True)), ("sweep.by_source", self.source_columns()),
                    ("sweep.by_type", self.type_columns()), ("sweep.indicators", self.indicator_columns())]
        for heading, columns in sections:
            if columns:
                blocks.append(Block("h2", t(heading)))
                blocks += [self._table(part) for part in _parts(axes, columns)]
            if heading == "sweep.main" and chart:
                blocks += [Block("h2", t("sweep.chart")), Block("chart", t("sweep.chart"), png=chart)]
        if self.failed:
            columns = [Column(RUN, t("sweep.point"), "text"), *axes, Column("status", t("report.status"), "status"),
                       Column("message", t("sweep.message"), "text")]
            table = self.table.reset_index().set_index(RUN, drop=False).loc[self.failed]
            blocks += [Block("h2", t("sweep.failed")),
                       Block("table", headers=[c.header for c in columns], numeric=[c.numeric for c in columns],
                             rows=[[cell(row[c.source], c.kind, lang) for c in columns] for _, row in table.iterrows()])]
        return blocks

    def _table(self, columns: Sequence[Column]) -> Block:
        return Block("table", headers=[c.header for c in columns], rows=self.rows(columns), numeric=[c.numeric for c in columns])

    def markdown(self) -> str:
        return render_markdown(self.blocks(), self.lang).rstrip() + f"\n\n![{label('sweep.image', self.lang)}](sweep.png)\n"

    def chart(self, path: str | Path, font: charts.FontChoice | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sweep_chart(self, font))
        return path

    def write(self, out: str | Path) -> Path:
        """sweep.csv (every figure, by key), sweep.md, sweep.png and sweep.html (the page, self-contained) in `out`."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.table.reset_index(), out / "sweep.csv")
        (out / "sweep.md").write_text(self.markdown(), encoding="utf-8")
        font = charts.cjk_font()
        png = self.chart(out / "sweep.png", font).read_bytes()
        (out / "sweep.html").write_text(render_html(self.blocks(png, font), lang=self.lang), encoding="utf-8")
        return out


def indicator_sources(table: pd.DataFrame, key: str) -> list[str]:
    """The sweep.csv columns of one indicator's values: one per group (zones in their usual order), or the mean of many."""
    found = [str(c) for c in table.columns if str(c).partition("@")[0] in (f"achieved:{key}", f"achieved_mean:{key}")]
    return sorted(found, key=lambda c: zone_key(c.partition("@")[2]))


def _indicator_kind(names: Names, key: str) -> str:
    return "percent" if names.displays.get(key) == "percent" else "value"


def _parts(axes: list[Column], columns: list[Column]) -> Iterator[list[Column]]:
    """`columns` in tables of at most PAGE_COLUMNS, each starting with the varied values."""
    width = max(1, PAGE_COLUMNS - len(axes))
    for start in range(0, len(columns), width):
        yield [*axes, *columns[start:start + width]]


def sweep(scenario: Scenario, vary: Mapping[str, Sequence[Any] | str] | Sequence[Axis], *, out: str | Path | None = None,
          force: bool = False, unique: bool = False, workers: int | None = None, scheduler: str | None = None,
          client: Any = None, warm: bool = True, on_done: Callable[[int, str], None] | None = None,
          checked: Sequence[Point] | None = None) -> SweepResult:
    """Solve `scenario` at every point of `vary` ({key: [values]} or {key: "start:stop:count"}), in parallel.

    The points run on a local process pool (``workers``: default one per CPU) in chains, each point of a chain
    started from the plan of the one before when that plan is feasible for it (`warm`; see :func:`chains`), or,
    with a Dask `scheduler` address or `client`, each on the cluster on its own (no warm starts). Each point
    writes its run directory under ``out/runs/`` (a temporary folder when `out` is None); ``on_done(i, status)``
    is called as each finishes. `checked`: the points of ``checked_points(scenario, axes)`` when the caller has made
    them already (each point is checked once). The sweep directory appears whole when every point is done
    (allocator.outdir: `force` replaces a sweep already there, `unique` takes the first free of out, out-2, …). The
    result holds the table, every run read back, and writes the chart on request.
    """
    axes = list(vary) if not isinstance(vary, Mapping) else [
        parse_vary(f"{k}={v}") if isinstance(v, str) else axis(k, list(v)) for k, v in vary.items()]
    grid = list(checked) if checked is not None else checked_points(scenario, axes)
    names = names_of(scenario)
    where = Where(workers=workers, scheduler=scheduler, client=client, warm=warm)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="allocator-sweep-") as scratch:
            return _solve_points(axes, grid, names, Path(scratch), where, on_done)
    with staged(Target(Path(out), kind="sweep", force=force, unique=unique, inputs=inputs_of(scenario))) as slot:
        result = _solve_points(axes, grid, names, slot.staging, where, on_done)
        result.write(slot.staging)
    result.out = slot.path
    for run in result.runs.values():
        assert run.path is not None  # every point is read back from its folder
        run.path = slot.path / "runs" / run.path.name
    return result


@dataclass(frozen=True)
class Where:
    """Where and how a sweep's points run: a local pool of `workers` with warm starts (`warm`), or a Dask cluster."""

    workers: int | None = None
    scheduler: str | None = None
    client: Any = None
    warm: bool = True


def _solve_points(axes: list[Axis], grid: list[Point], names: Names, folder: Path, where: Where,
                  on_done: Callable[[int, str], None] | None) -> SweepResult:
    """Every point solved, its run written to ``folder/runs/`` and read back; the table of them all."""
    root = folder / "runs"
    labels = [f"run-{i + 1:0{len(str(len(grid)))}d}" for i in range(len(grid))]
    with engine(workers=where.workers, scheduler=where.scheduler, client=where.client, tasks=len(grid)) as eng:
        order = warm_order(axes, grid)
        lines = [[i] for i in order] if eng.remote or not where.warm else chains(order, eng.slots)
        outcomes = _run_chains(eng, grid, lines, [root / name for name in labels], on_done)
    runs = {name: read_run(root / name) for name in labels}
    rows = []
    for i, (name, point) in enumerate(zip(labels, grid)):
        row = {a.column: a.values[a.settings.index(point.overrides[a.key])] for a in axes}
        figures = headline(runs[name]).drop(["status"])
        row.update({"status": runs[name].status, "message": outcomes[i].get("message", "")})
        row.update(figures.to_dict())
        rows.append(row)
    return SweepResult(axes=axes, table=pd.DataFrame(rows, index=pd.Index(labels, name=RUN)), runs=runs, names=names)


def warm_order(axes: Sequence[Axis], grid: Sequence[Point]) -> list[int]:
    """The points in the order in which a plan is most often feasible for the next point: each numeric axis from its
    tightest value to its loosest (an upper limit such as a budget rising, a lower limit such as a ``min`` or a
    ``target`` falling), the first axis slowest; other values in their given order. Any order gives the same
    answers: a plan that is not feasible for the next point is simply not used as its start."""
    def position(i: int) -> tuple[float, ...]:
        key = []
        for a in axes:
            setting = a.settings.index(grid[i].overrides[a.key])
            value = a.values[setting]
            key.append(float(value) * (-1 if _lower_limit(a.key) else 1) if isinstance(value, float) else float(setting))
        return tuple(key)

    return sorted(range(len(grid)), key=position)


def _lower_limit(key: str) -> bool:
    """A key whose larger values are harder to meet: ``min``, ``min_spend``, ``min_projects_per_region``, ``target``."""
    return key.rsplit(".", 1)[-1].startswith(("min", "target"))


def chains(order: Sequence[int], count: int) -> list[list[int]]:
    """`order` cut into `count` (at most one per point) consecutive chains of nearly equal length, solved side by side,
    the points of each one after another."""
    count = max(1, min(count, len(order)))
    return [list(part) for part in np.array_split(np.asarray(order, dtype=np.int64), count) if len(part)]


def _run_chains(eng: Engine, grid: Sequence[Point], lines: list[list[int]], folders: list[Path],
                on_done: Callable[[int, str], None] | None) -> dict[int, dict[str, Any]]:
    """Solve every chain's points one after another (the chains side by side), each from the last plan found in its
    chain; on a cluster each point returns its run's files, written here. The outcome of each point by its index."""
    task = run_point_files if eng.remote else run_point
    outcomes: dict[int, dict[str, Any]] = {}
    starts: list[np.ndarray | None] = [None] * len(lines)
    pending: dict[Any, tuple[int, int]] = {}

    def submit(line: int, step: int) -> None:
        i = lines[line][step]
        args = (grid[i],) if eng.remote else (grid[i], folders[i], starts[line])
        pending[eng.submit(task, *args)] = (line, step)

    for line in range(len(lines)):
        submit(line, 0)
    while pending:
        for future in eng.first_done(set(pending)):
            line, step = pending.pop(future)
            i = lines[line][step]
            outcome = future.result()
            if "files" in outcome:
                _write_files(folders[i], outcome.pop("files"))
            values = outcome.pop("values", None)
            starts[line] = values if values is not None else starts[line]
            outcomes[i] = outcome
            if on_done:
                on_done(i, outcome["status"])
            if step + 1 < len(lines[line]):
                submit(line, step + 1)
    return outcomes


def run_point(point: Point, directory: Path, start: np.ndarray | None = None) -> dict[str, Any]:
    """Solve one point and write its run directory (in a worker process), from `start` (the plan of a point solved
    before) when it is feasible for this point's model; never raises for a failed solve. The outcome: status,
    message and, when solved, ``values`` (the plan as the model's columns, the next point's start)."""
    from allocator.backends import Deadline
    from allocator.solve import build

    try:
        deadline = Deadline(point.scenario.solver.time_limit)
        model = build(point.scenario)
        # A sweep reports headline figures; marginal values would cost a re-solve each.
        result = model.solve(marginal="none", deadline=deadline, start=feasible_start(model.linear, start))
    except SolveFailed as failure:
        write_failure(point.scenario, failure, directory, force=True)
        return {"status": failure.status, "message": " ".join(str(failure).split())[:300]}
    except AllocatorError as error:  # e.g. a failed verification: recorded, the sweep goes on
        write_failure(point.scenario, SolveFailed(str(error), status="error"), directory, force=True)
        return {"status": "error", "message": " ".join(str(error).split())[:300]}
    write_run(result, directory, force=True, reports=False)
    return {"status": result.status.value, "message": "", "values": result.solution.values}


def run_point_files(point: Point) -> dict[str, Any]:
    """:func:`run_point` on a cluster's worker, in a folder of its own: the outcome with ``files``, the run directory's
    files (path inside it -> bytes), for the caller to write (the worker need not see the caller's disk)."""
    with tempfile.TemporaryDirectory(prefix="allocator-point-") as scratch:
        folder = Path(scratch) / "run"
        outcome = run_point(point, folder)
        outcome.pop("values", None)
        outcome["files"] = {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    return outcome


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def default_sweep_dir(scenario_path: Path, root: Path = Path("runs")) -> Path:
    return root / f"sweep-{scenario_path.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


# -- the chart ---------------------------------------------------------------------------------------


def sweep_chart(result: SweepResult, font: charts.FontChoice | None = None) -> bytes:
    """sweep.png: objective, projects funded, money allocated and each indicator against the first varied key,
    one line per value of the second. Labels are the scenario's language when the fonts can draw them, else
    English (no tofu): each text is drawn in Chinese only when every character of it has a glyph."""
    font = charts.cjk_font() if font is None else font
    if len(result.failed) == len(result.table):
        return charts.notice(_pick(result, ("没有一个点找到分配方案", "No point found an allocation"), font), font)
    x, ticks, x_title = chart_axis(result, font)
    return charts.line_panels(x, ticks, x_title, chart_panels(result, font), font)


#: A chart text in the sweep's language and in English: the English one is drawn when the fonts lack a glyph.
Both = tuple[str, str]


def _both(result: SweepResult, text: Callable[[str], str]) -> Both:
    return text(result.lang), text("en")


def _pick(result: SweepResult, text: Both, font: charts.FontChoice) -> str:
    """A chart text in the sweep's language when every character of it is drawable, else in English."""
    return charts.pick(text[0], text[1], font) if result.lang == "zh" else text[1]


def chart_axis(result: SweepResult, font: charts.FontChoice) -> tuple[list[float], list[str], str]:
    """The x positions, their tick labels (4亿 … 10亿, or 万元 with separators) and the axis title."""
    first = result.axes[0]
    title = _pick(result, _both(result, lambda lang: axis_header(first, result.names, lang)), font)
    if first.kind == "text":
        return list(range(len(first.values))), [str(v) for v in first.values], title
    numbers = [float(v) for v in first.values]
    if first.kind == "yi":
        ticks = [_pick(result, (f"{_trim(v / WAN_PER_YI)}亿", _trim(v / WAN_PER_YI)), font) for v in numbers]
        return [v / WAN_PER_YI for v in numbers], ticks, title
    return numbers, [_trim(v) for v in numbers], title


#: A panel of sweep.png: its title, its lines (a name, or None for the only one; a sweep.csv column), kind, target column.
PanelSpec = tuple[Both, list[tuple[Both | None, str]], str, str | None]


def panel_specs(result: SweepResult) -> list[PanelSpec]:
    """What sweep.png shows: the objective, the projects funded, the money by source and each indicator."""
    names, table = result.names, result.table
    both = lambda text: _both(result, text)  # noqa: E731
    main = {lang: {c.source: c.header for c in result.main_columns(lang)} for lang in (result.lang, "en")}
    specs: list[PanelSpec] = [((main[result.lang][c], main["en"][c]), [(None, c)], kind, None)
                              for c, kind in (("objective", "money"), ("projects_funded", "count")) if c in table]
    if "money_total" in table:
        sources = [(both(partial(names.name, "sources", s)), f"used:{s}") for s in names.sources if f"used:{s}" in table]
        money: list[tuple[Both | None, str]] = [*(sources if len(result.axes) == 1 else []), (both(partial(label, "col.total")), "money_total")]
        specs.append((both(lambda lang: _with_unit(label("sweep.money", lang), label("unit.wan", lang), lang)), money, "money", None))
    for key in names.indicators:
        lines: list[tuple[Both | None, str]] = [(both(partial(_group, c)), c) for c in indicator_sources(table, key)]
        if lines:
            specs.append((both(partial(names.name, "indicators", key)), lines, _indicator_kind(names, key), f"target:{key}"))
    return specs


def chart_panels(result: SweepResult, font: charts.FontChoice) -> list[charts.Panel]:
    """The panels of sweep.png, each text picked by :func:`_pick`."""
    return [_panel(result, font, *spec) for spec in panel_specs(result)]


def _group(source: str, lang: str) -> str:
    """The line of one indicator column: the group (a zone's name), the mean of many groups, or the value itself."""
    figure, _, group = source.partition("@")
    if figure.startswith("achieved_mean:"):
        return label("sweep.mean", lang)
    return zone_label(group, lang) if group else label("col.achieved", lang)


def _panel(result: SweepResult, font: charts.FontChoice, title: Both, lines: list[tuple[Both | None, str]], kind: str,
           target: str | None) -> charts.Panel:
    """One panel: each line's column against the first axis, once per value of the second axis (if any)."""
    first, second, table = result.axes[0], (result.axes[1] if len(result.axes) > 1 else None), result.table
    series = [(None, table)] if second is None else [(v, table[table[second.column] == v]) for v in second.values]
    drawn: list[tuple[str, list[float]]] = []
    for value, rows in series:
        ordered = rows.set_index(first.column).reindex(list(first.values))
        for name, column in lines:
            parts = [_pick(result, name, font)] if name else []
            if second is not None:
                header = _pick(result, _both(result, partial(axis_header, second, result.names)), font)
                parts.append(f"{header}={cell(value, second.kind, 'en')}")
            drawn.append((", ".join(parts), [_float(v) for v in ordered[column]]))
    goals = pd.to_numeric(table[target], errors="coerce").dropna() if target and target in table else pd.Series(dtype=float)
    return charts.Panel(title=_pick(result, title, font), lines=drawn, kind=kind, target=float(goals.iloc[0]) if len(goals) else None,
                        target_name=_pick(result, _both(result, partial(label, "sweep.target")), font))


def _float(value: object) -> float:
    number = finite_number(value)
    return float("nan") if number is None else number


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
    if _money(parts[0]) is None and _money(parts[1]) is None:
        raise InputError(f"cannot read the range '{spec}' as numbers or amounts of money (e.g. 4亿:10亿:7)", where="--vary")
    # Both ends carry their unit: a bare number next to 1000万 is refused, as --set refuses it, not read as yuan.
    low, high = (parse_money(part, where=f"--vary {key}, range '{spec}'", default_unit=None) for part in parts[:2])
    values = np.linspace(low, high, count)
    return Axis(key=key, settings=tuple(f"{v:.10g}万" for v in values), values=tuple(float(f"{v:.10g}") for v in values), money=True)


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except ValueError:  # TOMLDecodeError, or an integer beyond Python's limit on digits: the text, as --set keeps it
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
