"""The "what binds" view of a run: ``allocate explain`` on the run's scenario and overrides, re-solved in the warm
worker pool (every marginal value re-solved), shown as the binding rules ranked by the gain of their step, each fix a
button that solves again with it (as a diagnosis's fixes are), and what one more 亿 of each budget is worth."""

from __future__ import annotations

import asyncio
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from allocator.errors import AllocatorError
from allocator.serve import forms
from allocator.serve.jobs import GRACE, Budget, Rule
from allocator.serve.pages import workbench, scenario_file, page, problem
from allocator.serve.workspace import OutsideWorkspace

#: How a rule's fix reads when it is a ``--set`` change (a table cell to edit is shown as text, not as a button).
SET = "--set "


@dataclass(frozen=True)
class Shown:
    """A rule or budget as the page shows it: the row, and its fix as a button's override ('' for none)."""

    row: Rule | Budget
    button: str


def button(fix: str) -> str:
    """The override a fix button applies: the ``--set`` change of `fix` when the workbench may set its key, else ''."""
    if not fix.startswith(SET):
        return ""
    try:
        (override,) = forms.carried([fix.removeprefix(SET)])
    except forms.BadOverride:
        return ""
    return override


async def explain_page(request: Request) -> Response:
    """GET /explain?name=RUN: the rules that shape the plan of RUN's scenario and overrides."""
    from allocator.runformat.manifest import Manifest

    bench = workbench(request)
    name = request.query_params.get("name", "")
    try:
        folder = bench.workspace.run(name)
        manifest = Manifest.read(folder)
        path = scenario_file(bench.workspace, bench.workspace.name(Path(manifest.scenario.file)))
        overrides = forms.carried(forms.as_override(o.key, o.new) for o in manifest.scenario.overrides)
    except (OutsideWorkspace, AllocatorError, ValueError, TypeError, forms.BadOverride):
        return problem(request, 404, "工作区中没有这个运行结果 (no such run in the workspace)")
    from allocator.scenario_toml import load_scenario
    from allocator.serve.jobs import explain_job

    try:
        time_limit = load_scenario(path, overrides).solver.time_limit
    except AllocatorError as exc:
        return problem(request, 400, " ".join(str(exc).split()))
    assert bench.pool is not None
    future = bench.pool.submit(explain_job, path, overrides)
    try:
        explained = await asyncio.wait_for(asyncio.wrap_future(future), timeout=2 * time_limit + GRACE)
    except (TimeoutError, BrokenExecutor):
        return problem(request, 503, "求解进程没有按时返回，请重试 (the worker did not answer in time)")
    return page(request, "explain.html", status=400 if explained.error else 200, run_name=folder.name, path=bench.workspace.name(path),
                overrides=overrides, explained=explained, binding=[Shown(r, button(r.fix)) for r in explained.binding],
                budgets=[Shown(b, button(b.fix)) for b in explained.budgets])

