"""The province tile map of a run, a province's funded and unfunded candidates, and locking (锁定, must_fund) or excluding
(排除, exclude) a project. A lock is not a second rule: it becomes the carried override ``projects.must_fund=[...]`` (or
``projects.exclude``) of the next 求解, which goes through the command line's own path (docs/scenarios.md, [projects])."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from allocator.data import Data
from allocator.errors import AllocatorError, InputError
from allocator.runformat.run import Run
from allocator.scenario import Scenario
from allocator.serve import forms, tilemap
from allocator.serve.cache import Recent, stamp
from allocator.serve.pages import workbench, scenario_file, language, page, problem, token_ok
from allocator.serve.views import money
from allocator.serve.workspace import OutsideWorkspace, Workspace

#: A button's name on the province page -> the status it sets ("clear": back to the projects table's own).
ACTIONS = {"lock": "must_fund", "exclude": "exclude", "clear": ""}
#: The overrides that carry the statuses.
STATUS_KEYS = ("projects.must_fund", "projects.exclude")
#: What the status column shows: (Chinese, English).
STATUS_LABELS = {"must_fund": ("锁定（必须安排）", "locked (must fund)"), "exclude": ("排除（不予安排）", "excluded"),
                 "continuing": ("续建", "continuing"), "": ("", "")}


#: The scenarios and tables read for maps and province pages, by the stamps of every file they were read from.
_READ: Recent[tuple[Scenario, Data]] = Recent(4)


def inputs(path: Path, overrides: list[str]) -> tuple[Scenario, Data]:
    """The scenario `path` with `overrides` and its tables, read again whenever the scenario file or a table changes."""
    from allocator.data import load_data
    from allocator.scenario_toml import load_scenario

    scenario = load_scenario(path, overrides)
    key = (str(path), tuple(overrides), stamp(path), stamp(scenario.data.regions), stamp(scenario.data.projects))
    found = _READ.get(key)
    if found is None:
        found = (scenario, load_data(scenario))
        _READ.put(key, found)
    return found


def run_overrides(run: Run) -> list[str]:
    """The overrides a run was solved with, as typed after ``--set``."""
    return [forms.as_override(o.key, o.new) for o in run.manifest.scenario.overrides]


# -- the map ----------------------------------------------------------------------------------------------------------


def map_context(request: Request, run: Run, path: Path, overrides: list[str]) -> dict[str, Any]:
    """The run page's map: the measure chosen by ``?measure=`` (money per resident by default) and the choices."""
    english = language(request) == "en"
    choices = tilemap.measures(run, english)
    measure = next((m for m in choices if m.key == request.query_params.get("measure")), choices[0])
    context: dict[str, Any] = {"measures": choices}
    try:
        measure, values = _values(run, measure, path, overrides)
    except AllocatorError as exc:
        measure, values = choices[0], _values(run, choices[0], path, overrides)[1]
        context["map_error"] = " ".join(str(exc).split())
    context["tilemap"] = tilemap.draw(run, measure, values, english)
    return context


def _values(run: Run, measure: tilemap.Measure, path: Path, overrides: list[str]) -> tuple[tilemap.Measure, pd.Series]:
    """Per province name, the value of `measure` (an indicator's reads the scenario's tables; the others the run's)."""
    if not measure.key.startswith("indicator:"):
        return measure, tilemap.figures(run)[measure.key]
    scenario, data = inputs(path, overrides)
    indicator = scenario.indicators.get(measure.key.split(":", 1)[1])
    if indicator is None:
        raise InputError(f"the scenario has no indicator '{measure.key.split(':', 1)[1]}' (any more)", source=str(path))
    return replace(measure, percent=indicator.display == "percent"), indicator_by_province(scenario, data, run, indicator.name)


def indicator_by_province(scenario: Scenario, data: Data, run: Run, name: str) -> pd.Series:
    """Indicator `name` measured per province after the run's plan (its projects completed by the indicator's deadline),
    by the rules' own reading of an indicator (allocator.rules)."""
    from allocator.rules import Rules
    from allocator.simulate import plan_from_run

    groups = Rules(scenario, data).indicator_groups_for(replace(scenario.indicators[name], scope="province"))
    plan = plan_from_run(run, scenario, data)
    counted = plan.selected * ((plan.start >= 0) & (plan.start < scenario.phasing.starts_done_by(groups.deadline)))
    return pd.Series(groups.achieved(counted), index=groups.labels.astype(str))


# -- a province's projects ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    project_id: str
    cells: list[str]  # what the table shows after the id
    funded: bool
    status: str  # must_fund, exclude, continuing or ""
    by_scenario: bool  # the status comes from [projects] (so it can be cleared here)


def province_page(request: Request) -> Response:
    workspace = workbench(request).workspace
    query = request.query_params
    try:
        folder, run, path = _run_of(workspace, query.get("run", ""))
    except (OutsideWorkspace, AllocatorError, ValueError, TypeError):
        return problem(request, 404, "工作区中没有这个运行结果 (no such run in the workspace)")
    names = [name for name, code in tilemap.province_codes(run.allocation).items() if code == query.get("code")]
    if not names:
        return problem(request, 404, "这个运行中没有该省份的候选项目 (no candidates of that province in the run)")
    try:
        carried = forms.carried(query.getlist("set")) if query.get("carried") else forms.carried(run_overrides(run))
    except forms.BadOverride as exc:
        return problem(request, 400, str(exc))
    english, error = language(request) == "en", ""
    try:
        scenario, data = inputs(path, carried)
    except AllocatorError as exc:  # a status naming no project: say so, show the run's own statuses
        error = " ".join(str(exc).split())
        scenario, data = inputs(path, run_overrides(run))
    columns, rows, totals = _table(run, scenario, data, names, english)
    return page(request, "province.html", run_name=folder.name, path=workspace.name(path), code=query.get("code"), province=names[0],
                columns=columns, rows=rows, totals=totals, carried=carried, pending=carried != run_overrides(run), error=error,
                statuses=scenario.statuses)


def _run_of(workspace: Workspace, name: str) -> tuple[Path, Run, Path]:
    """The run directory `name`, the run (with an allocation) and its scenario file, all inside the workspace."""
    from allocator.runformat.run import read_run

    folder = workspace.run(name)
    run = read_run(folder)
    if not run.has_allocation:
        raise OutsideWorkspace(name)
    return folder, run, scenario_file(workspace, workspace.name(Path(run.manifest.scenario.file)))


def _table(run: Run, scenario: Scenario, data: Data, provinces: list[str], english: bool) -> tuple[list[str], list[Row], list[list[str]]]:
    """The province's candidates, funded first (then by id), and two totals rows (the funded ones, every candidate) that add
    up the figures as printed (each rounded to 0.01 first)."""
    from allocator.rules import Rules

    allocation = run.allocation[run.allocation["province"].astype(str).isin(provinces)]
    allocation = allocation.assign(order=np.arange(len(allocation)))
    allocation = allocation.sort_values(["selected", "order"], ascending=[False, True], kind="stable")
    keys, labels, types = run.source_keys, dict(run.sources), dict(run.types)
    ids = data.projects["project_id"].astype(str).to_numpy()
    benefit = pd.Series(Rules(scenario, data).benefit, index=ids)
    status = pd.Series(data.status if len(data.status) else np.full(len(ids), ""), index=ids)
    listed = set(scenario.statuses.must_fund) | set(scenario.statuses.exclude)
    counties = run.region_names
    unit = run.manifest.objective.unit if run.manifest.objective and run.manifest.objective.unit else ""
    columns = (["project id", "name", "county", "type", "funded", "status", "cost (万元)"] if english else
               ["项目编号", "名称", "县（市、区）", "类型", "资助", "状态", "投资（万元）"])
    bracket = "{} ({})" if english else "{}（{}）"
    columns += [bracket.format(labels[k], "万元") for k in keys] + [bracket.format("benefit" if english else "效益", unit) if unit else
                                                                   ("benefit" if english else "效益")]
    rows, printed = [], []
    for record in allocation.itertuples(index=False):
        project = str(record.project_id)
        figures = np.round([float(record.cost), *(float(getattr(record, k)) for k in keys), float(benefit.get(project, np.nan))], 2)
        printed.append(np.nan_to_num(figures))
        selected = float(record.selected)
        funded = ("yes" if english else "是") if selected >= 1 else (f"{selected:.0%}" if selected > 0 else ("no" if english else "否"))
        state = str(status.get(project, ""))
        cells = [str(getattr(record, "name", "") or ""), counties.get(str(record.region_id), str(record.region_id)),
                 types.get(str(record.type), str(record.type)), funded, STATUS_LABELS.get(state, (state, state))[english],
                 *(money(v) for v in figures)]
        rows.append(Row(project, cells, selected > 0, state, project in listed))
    funded_rows = np.array([row.funded for row in rows], dtype=bool)
    figures_of = np.array(printed).reshape(len(rows), len(keys) + 2)
    everyone = np.ones(len(rows), dtype=bool)
    totals = [[name, "", "", "", count, "", *(money(round(v, 2)) for v in figures_of[members].sum(axis=0))]
              for name, count, members in (("funded projects" if english else "资助项目合计", f"{int(funded_rows.sum()):,}", funded_rows),
                                           ("all candidates" if english else "全部候选合计", f"{int(funded_rows.sum()):,} / {len(rows):,}", everyone))]
    return columns, rows, totals


# -- locking and excluding ---------------------------------------------------------------------------------------------


async def set_status(request: Request) -> Response:
    """锁定 / 排除 / 解除 a project on the province page: the page again, its carried overrides with the project's status
    changed. Nothing is solved until 求解."""
    form = await request.form()
    if not token_ok(request, form):
        return problem(request, 403, "表单已过期或来源不明，请刷新页面后重试 (missing or wrong CSRF token)")
    workspace = workbench(request).workspace
    try:
        path = scenario_file(workspace, str(form.get("path", "")))
    except OutsideWorkspace:
        return problem(request, 404, "工作区中没有这个情景文件 (no such scenario in the workspace)")
    action = next((a for a in ACTIONS if form.get(a)), None)
    if action is None:
        return problem(request, 400, "没有指定项目 (no project to lock, exclude or clear)")
    try:
        overrides = with_status(path, forms.carried(str(v) for v in form.getlist("set")), str(form[action]), ACTIONS[action])
    except (AllocatorError, forms.BadOverride) as exc:
        return problem(request, 400, " ".join(str(exc).split()))
    query = [("run", str(form.get("run", ""))), ("code", str(form.get("code", ""))), ("carried", "1"), *(("set", o) for o in overrides)]
    return RedirectResponse(f"/province?{urlencode(query)}", status_code=303)


def with_status(path: Path, carried: list[str], project: str, status: str) -> list[str]:
    """`carried` with `project`'s status set to `status` (must_fund, exclude, or "" to clear) in ``projects.must_fund``
    and ``projects.exclude``; a list the same as the scenario file's own is not carried."""
    from allocator.scenario_toml import load_scenario

    given, current = load_scenario(path).statuses, load_scenario(path, carried).statuses
    lists = {key: [p for p in getattr(current, key) if p != project] for key in ("must_fund", "exclude")}
    if status:
        lists[status].append(project)
    kept = [o for o in carried if o.partition("=")[0].strip() not in STATUS_KEYS]
    return kept + [forms.as_override(f"projects.{key}", ids) for key, ids in lists.items() if tuple(ids) != getattr(given, key)]
