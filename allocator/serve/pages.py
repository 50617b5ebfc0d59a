"""What every page of the workbench shares: rendering a template in the session's language with its CSRF token, the
problem page, the token check of a POST, the session's workbench and a scenario file named by a request. The route
modules (allocator.serve.app and the others) import these from here, so that none of them imports another back."""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse

from allocator.serve.workspace import OutsideWorkspace, Workspace

if TYPE_CHECKING:
    from allocator.serve.app import Workbench

COOKIE = "allocate_session"
#: The interface language's cookie: "en" for English, anything else (or none) for Chinese.
LANGUAGE_COOKIE = "allocate_lang"
templates = Environment(loader=PackageLoader("allocator.serve", "templates"), autoescape=select_autoescape(default=True))


def workbench(request: Request) -> Workbench:
    bench: Workbench = request.app.state.bench
    return bench


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """`template` rendered with `context` and the session's CSRF token (a new session gets its cookie)."""
    bench = workbench(request)
    session = request.cookies.get(COOKIE)
    fresh = not session
    session = session or secrets.token_urlsafe(32)
    english = language(request) == "en"

    def t(chinese: str, english_text: str) -> str:
        """A template's text in the session's language: every template writes both, ``t("求解", "Solve")``."""
        return english_text if english else chinese

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "") if request.method == "GET" else "/"
    html = templates.get_template(template).render(csrf=bench.token(session), t=t, lang="en" if english else "zh", here=here, **context)
    response = HTMLResponse(html, status_code=status)
    if fresh:
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict")
    return response


def language(request: Request) -> str:
    """The session's interface language: "en" when its cookie says so, else "zh"."""
    return "en" if request.cookies.get(LANGUAGE_COOKIE) == "en" else "zh"


#: A problem written in both languages, "中文 (english)": the English page shows the part in brackets.
_BOTH = re.compile(r".*[\u3000-\u9fff\uff00-\uffef].*? \((?P<en>[^()\u3000-\u9fff]+)\)", re.S)


def problem(request: Request, status: int, message: str) -> HTMLResponse:
    """The problem page; a `message` written "中文 (english)" shows only its English part to an English session."""
    both = _BOTH.fullmatch(message)
    if both and language(request) == "en":
        message = both["en"][:1].upper() + both["en"][1:]
    return page(request, "problem.html", status=status, message=message)


def scenario_file(workspace: Workspace, relative: str) -> Path:
    path = workspace.path(relative)
    if path.suffix != ".toml" or not path.is_file():
        raise OutsideWorkspace(relative)
    return path


def token_ok(request: Request, form: FormData) -> bool:
    """Does `form` carry the CSRF token of the request's session?"""
    session = request.cookies.get(COOKIE, "")
    return bool(session) and hmac.compare_digest(str(form.get("csrf", "")), workbench(request).token(session))


def posted_scenario(request: Request, form: FormData) -> tuple[Path, Path] | HTMLResponse:
    """A POST's scenario file and the runs folder its solves write to, or the problem page when its CSRF token is wrong
    (403) or either path is not in the workspace (404)."""
    if not token_ok(request, form):
        return problem(request, 403, "表单已过期或来源不明，请刷新页面后重试 (missing or wrong CSRF token)")
    workspace = workbench(request).workspace
    try:
        return scenario_file(workspace, str(form.get("path", ""))), workspace.runs_to_write()
    except OutsideWorkspace:
        return problem(request, 404, "工作区中没有这个情景文件，或 runs/ 指向工作区之外 (no such scenario, or runs/ leads outside the workspace)")
