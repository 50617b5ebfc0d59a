"""The interface language's switch: ``/language?to=en&back=/scenario?path=…`` sets the language cookie and returns to
the page it came from, which must be a path on this site (never another host: no open redirect)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from allocator.runformat.names import LANGUAGES
from allocator.serve.pages import LANGUAGE_COOKIE, problem

#: How long the browser keeps the choice, in seconds (a year).
KEEP = 365 * 24 * 3600


def same_site(back: str) -> bool:
    """Whether `back` is a path on this site: ``/`` then a path and query, with no host (``//evil``, ``http://…``), no
    backslash (``/\\evil``, which browsers read as ``//evil``) and no control characters."""
    if not back.startswith("/") or back.startswith("//") or "\\" in back or any(ord(c) < 0x20 or ord(c) == 0x7F for c in back):
        return False
    parts = urlsplit(back)
    return not parts.scheme and not parts.netloc


def switch(request: Request) -> Response:
    """Set the language cookie to ``to`` and go back to ``back`` (the index when none is given)."""
    chosen, back = request.query_params.get("to", ""), request.query_params.get("back", "/")
    if chosen not in LANGUAGES:
        return problem(request, 400, f"界面语言只能是 {' 或 '.join(LANGUAGES)} (the language is one of {', '.join(LANGUAGES)})")
    if not same_site(back):
        return problem(request, 400, "返回地址必须是本站的路径，如 /scenario?path=… (the return address must be a path on this site)")
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=KEEP, httponly=True, samesite="strict")
    return response
