"""The workbench's routes (Starlette): the index, a scenario as a form, 求解 (a solve in a worker process writing an
ordinary run directory), a run beside the previous one, an infeasible run's fixes as buttons, and the run's files.

Every page is rendered by Jinja with autoescape; every path comes through :class:`Workspace`; every POST carries the
CSRF token of its session. The GET routes are plain functions (Starlette runs them in its thread pool, so reading runs
does not hold up other sessions); the solve awaits its worker process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from concurrent.futures import BrokenExecutor, Executor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from allocator.errors import AllocatorError, InputError
from allocator.runformat.names import WORKBOOK
from allocator.serve import forms, views
from allocator.serve.cache import RunCache
from allocator.serve.jobs import GRACE
from allocator.serve.pages import posted_scenario, language, page, problem, scenario_file, workbench
from allocator.serve.workspace import OutsideWorkspace, Workspace

#: Everything from this server, nothing inline, no frames.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

STATIC = Path(__file__).parent / "static"


class Workbench:
    """The app's state: its workspace, the key its CSRF tokens are made with, and the worker pool (made at start-up)."""

    def __init__(self, workspace: Workspace, pool: Callable[[], Executor]):
        self.workspace = workspace
        self.key = secrets.token_bytes(32)
        self.make_pool = pool
        self.pool: Executor | None = None
        self.runs = RunCache()  # runs read for their pages: a re-solve's page compares with the run read last time

    def token(self, session: str) -> str:
        return hmac.new(self.key, session.encode(), hashlib.sha256).hexdigest()


def create_app(folder: Path, pool: Callable[[], Executor] | None = None) -> Starlette:
    """The workbench of the workspace `folder`; `pool` makes the worker pool (default: two warm worker processes)."""
    from allocator.serve.worker import pool as worker_pool, warm

    bench = Workbench(Workspace.at(folder), pool or worker_pool)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bench.pool = bench.make_pool()
        bench.pool.submit(warm)
        try:
            yield
        finally:
            bench.pool.shutdown(wait=True, cancel_futures=True)  # a solve under way ends within its time limit

    from allocator.serve import explains, language as language_switch, provinces, sweeps, uploads

    routes = [Route("/", index), Route("/scenario", scenario_page), Route("/solve", solve, methods=["POST"]),
              Route("/run", run_page), Route("/download", download),
              Route("/province", provinces.province_page), Route("/project-status", provinces.set_status, methods=["POST"]),
              Route("/sweep", sweeps.sweep_page), Route("/sweep", sweeps.run_sweep, methods=["POST"]),
              Route("/explain", explains.explain_page), Route("/language", language_switch.switch),
              Route("/upload/scenario", uploads.scenario_upload, methods=["POST"]),
              Route("/upload/workbook", uploads.workbook_upload, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.bench = bench
    return app


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def index(request: Request) -> Response:
    workspace = workbench(request).workspace
    return page(request, "index.html", root=str(workspace.root), scenarios=workspace.scenarios(), runs=workspace.recent_runs())


def scenario_page(request: Request) -> Response:
    workspace = workbench(request).workspace
    try:
        path = scenario_file(workspace, request.query_params.get("path", ""))
    except OutsideWorkspace:
        return problem(request, 404, "工作区中没有这个情景文件 (no such scenario in the workspace)")
    return _form_page(request, workspace, path, [], previous=_latest_run(workspace, path))


def _form_page(request: Request, workspace: Workspace, path: Path, overrides: list[str], *, status: int = 200, error: str = "",
               submitted: FormData | None = None, **context: Any) -> Response:
    """The scenario `path` as a form, showing its values with `overrides` applied (or `submitted` ones after an error)."""
    from allocator.scenario_toml import load_scenario

    try:
        scenario = load_scenario(path, overrides)
    except AllocatorError as exc:
        return page(request, "scenario.html", status=400, path=workspace.name(path), scenario=None,
                    error=error or " ".join(str(exc).split()))
    form_fields = forms.fields(scenario)
    keys = {f.key for f in form_fields}
    carried = [o for o in overrides if o.partition("=")[0].strip() not in keys]
    shown = {f.key: _shown(f, submitted) for f in form_fields}
    return page(request, "scenario.html", status=status, path=workspace.name(path), scenario=scenario, fields=form_fields, shown=shown,
                units=forms.MONEY_UNITS, submitted=submitted, carried=carried, error=error, **context)


def _shown(field: forms.Field, submitted: FormData | None) -> str | bool:
    """What a field's input shows: the value submitted (after an error), else the scenario's; a checkbox's state."""
    if field.kind == "bool":
        return submitted.get(field.name) == "on" if submitted else bool(field.value)
    return str(submitted.get(field.name, field.shown)) if submitted else field.shown


async def solve(request: Request) -> Response:
    bench = workbench(request)
    form = await request.form()
    posted = posted_scenario(request, form)
    if isinstance(posted, Response):
        return posted
    path, runs = posted
    from allocator.scenario_toml import load_scenario

    try:
        base = load_scenario(path)
        overrides = forms.merged(forms.changed(forms.fields(base), {k: str(v) for k, v in form.items()}),
                                 forms.carried(str(v) for v in form.getlist("set")),
                                 forms.carried([str(form["fix"])] if form.get("fix") else []))
    except (AllocatorError, forms.BadOverride) as exc:
        return problem(request, 400, " ".join(str(exc).split()))
    from allocator.serve.worker import solve_run

    assert bench.pool is not None
    future = bench.pool.submit(solve_run, path, overrides, runs)
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout=base.solver.time_limit + GRACE)
    except (TimeoutError, BrokenExecutor):
        return problem(request, 503, "求解进程没有按时返回，请重试 (the worker did not answer in time)")
    if outcome.run is None:
        carried = forms.carried(str(v) for v in form.getlist("set"))
        return _form_page(request, bench.workspace, path, carried, status=400, error=outcome.error, submitted=form)
    previous = str(form.get("previous", ""))
    query = {"name": outcome.run.name, **({"previous": previous} if previous and _is_run(bench.workspace, previous) else {})}
    return RedirectResponse(f"/run?{urlencode(query)}", status_code=303)


def _is_run(workspace: Workspace, name: str) -> bool:
    try:
        workspace.run(name)
    except OutsideWorkspace:
        return False
    return True


def _latest_run(workspace: Workspace, path: Path) -> str:
    """The newest run of the scenario `path` with an allocation, or ''."""
    from allocator.runformat.manifest import Manifest

    for name in workspace.recent_runs():
        try:
            manifest = Manifest.read(workspace.runs / name)
        except (AllocatorError, ValueError, OSError):
            continue
        if manifest.scenario.file == str(path) and manifest.has_allocation:
            return name
    return ""


def run_page(request: Request) -> Response:
    bench = workbench(request)
    workspace = bench.workspace
    try:
        folder = workspace.run(request.query_params.get("name", ""))
    except (OutsideWorkspace, ValueError):
        return problem(request, 404, "工作区中没有这个运行结果 (no such run in the workspace)")
    try:
        run = bench.runs.read(folder)
    except InputError as damaged:  # its tables are not what the run wrote: say so, not that it is missing
        return problem(request, 422, f"这个运行结果无法读取 (this run cannot be read): {damaged}")
    try:
        path = scenario_file(workspace, workspace.name(Path(run.manifest.scenario.file)))
    except (OutsideWorkspace, AllocatorError, ValueError, TypeError):
        return problem(request, 404, "工作区中没有这个运行结果 (no such run in the workspace)")
    overrides = [forms.as_override(o.key, o.new) for o in run.manifest.scenario.overrides]
    context: dict[str, Any] = {"run_name": folder.name, "run": run}
    if run.has_allocation:
        context["tables"] = views.tables(run, language(request))
        context["files"] = sorted(p.name for p in folder.iterdir() if p.suffix == ".csv") + [WORKBOOK]
        from allocator.serve.provinces import map_context
        context.update(map_context(request, run, path, overrides))
        previous_name = request.query_params.get("previous", "")
        if previous_name and previous_name != folder.name and _is_run(workspace, previous_name):
            previous = bench.runs.read(workspace.run(previous_name))
            if previous.has_allocation:
                context["previous"], context["differences"] = previous_name, views.differences(previous, run, language(request))
    else:
        context["diagnosis"], context["fixes"] = views.diagnosis(run)
    return _form_page(request, workspace, path, overrides, **context)


def download(request: Request) -> Response:
    workspace = workbench(request).workspace
    name = request.query_params.get("file", "")
    try:
        folder = workspace.run(request.query_params.get("run", ""))
        if name != WORKBOOK and (not name.endswith(".csv") or "/" in name):
            raise OutsideWorkspace(name)
        if name == WORKBOOK and not (folder / WORKBOOK).exists():
            from allocator.report import export
            export(folder, "xlsx")
        path = workspace.inside(folder / name)
        if path.parent != folder or not path.is_file():
            raise OutsideWorkspace(name)
    except (OutsideWorkspace, AllocatorError):
        return problem(request, 404, "没有这个文件 (no such file in the run)")
    return FileResponse(path, filename=name)


def serve(folder: Path, *, host: str = "127.0.0.1", port: int = 8765, announce: Callable[[str], None] = print) -> None:
    """Run the workbench of `folder` at http://host:port until interrupted. The address is taken before the page is
    announced: one that cannot be resolved or bound is an :class:`InputError` (exit 2), not a server that never starts."""
    import uvicorn

    app = create_app(folder)
    listening = _listen(host, port)
    announce(f"http://{host}:{listening.getsockname()[1]}/")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"'{host}' is not an address this machine can listen on ({exc})", where="--host") from None
    listening = socket.socket(family, kind, protocol)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as exc:
        listening.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--host, --port") from None
    return listening
