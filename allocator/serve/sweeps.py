"""The sweep view: a source's budget over a range, solved point by point in the warm worker pool as ``allocate sweep``
solves it, written as an ordinary sweep directory under the workspace's runs/, shown as the curve (benefit and projects
funded against the budget, inline SVG) and the terminal's table of the sweep (the varied value and the main figures)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from allocator.errors import AllocatorError
from allocator.runformat.cells import finite_number
from allocator.scenario import Scenario
from allocator.serve import curve, forms
from allocator.serve.jobs import GRACE
from allocator.serve.pages import posted_scenario, workbench, scenario_file, language, page, problem
from allocator.serve.workspace import RUNS, OutsideWorkspace, Workspace

if TYPE_CHECKING:
    from allocator.sweep import SweepResult

#: The most points one sweep of the workbench solves.
MAX_POINTS = 12
#: Points a new sweep form proposes, and its range around the budget (half to one and a half times it).
DEFAULT_POINTS, DEFAULT_SPAN = 5, (0.5, 1.5)
#: The sweep directory's table, and the column of the varied value's suffix when it is money.
TABLE, MONEY_SUFFIX = "sweep.csv", " (万元)"


class BadRange(ValueError):
    """A range the sweep form cannot run, in the planner's words (both languages)."""


@dataclass(frozen=True)
class Range:
    """What the sweep form asks for: a source, from and to (in `unit`, 亿 or 万) and the number of points."""

    source: str
    start: str
    stop: str
    unit: str
    steps: str

    def vary(self, scenario: Scenario) -> str:
        """The ``--vary`` text of this range (sources.central.budget=4亿:8亿:3), checked: raises BadRange."""
        if self.source not in scenario.sources:
            raise BadRange(f"情景中没有资金来源 '{self.source}' (no such source)")
        if self.unit not in forms.MONEY_UNITS:
            raise BadRange(f"金额单位须为 亿 或 万 (the unit must be 亿 or 万), got '{self.unit}'")
        start, stop = _amount(self.start, "起点 (from)"), _amount(self.stop, "终点 (to)")
        try:
            steps = int(self.steps.strip())
        except ValueError:
            raise BadRange(f"点数须为整数 (the number of points must be a whole number), got '{self.steps}'") from None
        if not 2 <= steps <= MAX_POINTS:
            raise BadRange(f"点数须在 2 到 {MAX_POINTS} 之间 (the number of points must be 2 to {MAX_POINTS}), got {steps}")
        if stop <= start:
            raise BadRange(f"终点须大于起点 (to must be above from): {start:g}{self.unit} → {stop:g}{self.unit}")
        return f"sources.{self.source}.budget={start:.10g}{self.unit}:{stop:.10g}{self.unit}:{steps}"


def _amount(text: str, what: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise BadRange(f"{what} 须为数字 (must be a number), got '{text}'") from None
    if not math.isfinite(number) or number < 0:
        raise BadRange(f"{what} 须为非负数 (must be zero or more), got '{text}'")
    return number


def default_range(scenario: Scenario, source: str | None = None) -> Range:
    """Half to one and a half times the first source's budget (or `source`'s), in its form unit, 5 points."""
    key = source if source in scenario.sources else next(iter(scenario.sources))
    budget = scenario.sources[key].budget
    unit = "亿" if abs(budget) >= forms.MONEY_UNITS["亿"] else "万"
    low, high = (f"{budget * share / forms.MONEY_UNITS[unit]:.4g}" for share in DEFAULT_SPAN)
    return Range(key, low, high, unit, str(DEFAULT_POINTS))


# -- the routes --------------------------------------------------------------------------------------


def sweep_page(request: Request) -> Response:
    """GET /sweep?path=SCENARIO[&run=RUN]: the form (with the run's overrides); ?name=SWEEP: a sweep and its form."""
    workspace = workbench(request).workspace
    name = request.query_params.get("name", "")
    try:
        if name:
            shown = read_sweep(workspace, name, language(request))
            return _form(request, workspace, shown.scenario_file, shown.overrides, shown.range, shown=shown)
        path = scenario_file(workspace, request.query_params.get("path", ""))
        overrides = _run_overrides(workspace, request.query_params.get("run", ""), path)
    except (OutsideWorkspace, AllocatorError, ValueError, KeyError):
        return problem(request, 404, "工作区中没有这个情景或扫描结果 (no such scenario or sweep in the workspace)")
    return _form(request, workspace, path, overrides, None)


async def run_sweep(request: Request) -> Response:
    """POST /sweep: check the token and the range, solve the points in the worker pool, show the sweep (303)."""
    bench = workbench(request)
    form = await request.form()
    posted = posted_scenario(request, form)
    if isinstance(posted, Response):
        return posted
    path, runs = posted
    asked = _asked(form)
    from allocator.scenario_toml import load_scenario

    try:
        overrides = forms.carried(str(v) for v in form.getlist("set"))
        scenario = load_scenario(path, overrides)
    except (AllocatorError, forms.BadOverride) as exc:
        return problem(request, 400, " ".join(str(exc).split()))
    try:
        vary = asked.vary(scenario)
    except BadRange as exc:
        return _form(request, bench.workspace, path, overrides, asked, status=400, error=str(exc))
    from allocator.serve.jobs import sweep_job

    assert bench.pool is not None
    future = bench.pool.submit(sweep_job, path, overrides, vary, runs)
    wait = int(asked.steps) * scenario.solver.time_limit + GRACE
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout=wait)
    except (TimeoutError, BrokenExecutor):
        return problem(request, 503, "求解进程没有按时返回，请重试 (the worker did not answer in time)")
    if outcome.folder is None:
        return _form(request, bench.workspace, path, overrides, asked, status=400, error=outcome.error)
    return RedirectResponse(f"/sweep?{urlencode({'name': outcome.folder.name})}", status_code=303)


def _asked(form: FormData) -> Range:
    return Range(*(str(form.get(key, "")) for key in ("source", "from", "to", "unit", "steps")))


def _run_overrides(workspace: Workspace, run: str, path: Path) -> list[str]:
    """The overrides of the run `run` of the scenario `path` (none without a run), as a page carries them."""
    if not run:
        return []
    from allocator.runformat.manifest import Manifest

    manifest = Manifest.read(workspace.run(run))
    if workspace.inside(Path(manifest.scenario.file)) != path:
        raise OutsideWorkspace(run)
    return forms.carried(forms.as_override(o.key, o.new) for o in manifest.scenario.overrides)


def _form(request: Request, workspace: Workspace, path: Path, overrides: list[str], asked: Range | None, *, status: int = 200,
          error: str = "", shown: Shown | None = None) -> Response:
    """The sweep page of the scenario `path` with `overrides`: the form (`asked`, else the default range) and `shown`."""
    from allocator.scenario_toml import load_scenario

    try:
        scenario = load_scenario(path, overrides)
    except AllocatorError as exc:
        return problem(request, 400, " ".join(str(exc).split()))
    sources = [(key, source.label or key) for key, source in scenario.sources.items()]
    return page(request, "sweep.html", status=status, path=workspace.name(path), scenario=scenario, sources=sources,
                asked=asked or default_range(scenario), units=forms.MONEY_UNITS, carried=overrides,
                error=error, shown=shown, max_points=MAX_POINTS)


# -- a sweep directory read back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A sweep as its page shows it: its folder's name, the table's headers and rows, and the two panels of the curve."""

    name: str
    scenario_file: Path
    overrides: list[str]
    range: Range
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    panels: list[curve.Panel]


def sweep_folder(workspace: Workspace, name: str) -> Path:
    """The sweep directory `name` directly under runs/ (written by ``allocate sweep`` or the workbench)."""
    from allocator.outdir import kind_of

    if not name or "/" in name:
        raise OutsideWorkspace(name)
    folder = workspace.path(f"{RUNS}/{name}")
    if folder.parent != workspace.inside(workspace.runs) or kind_of(folder) != "sweep" or not (folder / TABLE).is_file():
        raise OutsideWorkspace(name)
    return folder


def read_sweep(workspace: Workspace, name: str, lang: str) -> Shown:
    """The sweep `name` of one source's budget: its scenario and overrides (from its first point's manifest), its table
    in the sweep terminal table's columns, and its curve."""
    from allocator.runformat.manifest import Manifest
    from allocator.runformat.tables import read_table
    from allocator.scenario_toml import load_scenario
    from allocator.sweep import Axis, SweepResult, names_of

    folder = sweep_folder(workspace, name)
    table = read_table(folder / TABLE).set_index("run")
    column = str(table.columns[0])
    key = column.removesuffix(MONEY_SUFFIX)
    if list(table.columns).index("status") != 1 or not column.endswith(MONEY_SUFFIX) or not key.endswith(".budget"):
        raise OutsideWorkspace(name)  # not a sweep of one budget
    manifest = Manifest.read(folder / "runs" / str(table.index[0]))
    path = scenario_file(workspace, workspace.name(Path(manifest.scenario.file)))
    overrides = forms.carried(forms.as_override(o.key, o.new) for o in manifest.scenario.overrides if o.key != key)
    values = tuple(float(v) for v in table[column])
    result = SweepResult(axes=[Axis(key, values, values, money=True)], table=table, runs={},
                         names=names_of(load_scenario(path, overrides)))
    columns = [*result.axis_columns(lang), *result.main_columns(lang)]
    return Shown(name=folder.name, scenario_file=path, overrides=overrides, range=_range_of(key, values),
                 headers=[c.header for c in columns], numeric=[c.numeric for c in columns], rows=result.rows(columns, lang),
                 panels=panels(result, lang))


def _range_of(key: str, values: tuple[float, ...]) -> Range:
    """The form's range for a sweep of `key` over `values` (万元)."""
    unit = "亿" if max(abs(v) for v in values) >= forms.MONEY_UNITS["亿"] else "万"
    low, high = (f"{v / forms.MONEY_UNITS[unit]:.10g}" for v in (min(values), max(values)))
    return Range(key.split(".")[1], low, high, unit, str(len(values)))


def panels(result: SweepResult, lang: str) -> list[curve.Panel]:
    """The curve: the objective and the projects funded against the budget, x ticks in 亿 or 万 as the table reads."""
    from allocator.sweep import axis_header, cell

    axis = result.axes[0]
    unit = "亿" if axis.kind == "yi" else "万"
    xs = [float(v) for v in axis.values]
    ticks = [cell(v, axis.kind, lang) + unit for v in xs]
    title = axis_header(axis, result.names, lang)
    headers = {c.source: c.header for c in result.main_columns(lang)}
    figures: list[tuple[str, Callable[[float], str]]] = [("objective", lambda v: f"{v:,.6g}"), ("projects_funded", lambda v: f"{v:,.0f}")]
    return [curve.panel(headers[source], title, xs, ticks, [_float(v) for v in result.table[source]], text)
            for source, text in figures if source in headers]


def _float(value: object) -> float:
    """A figure of sweep.csv, NaN when missing (a point with no allocation)."""
    number = finite_number(value)
    return math.nan if number is None else number
