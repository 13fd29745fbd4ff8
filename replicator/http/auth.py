"""Who may use the HTTP endpoint: the bearer token, the console's login cookie, CSRF tokens.

With a token (``[http] token_env``), every path but ``/healthz``, ``/hooks/*`` and the
login form needs ``Authorization: Bearer <token>`` or the session cookie the login form
sets (HttpOnly, SameSite=Strict; it holds a signed time, never the token). A request
that fails gets 401 before any handler runs, so it changes nothing; a browser asking
for a console page is sent to the login form instead.

Without a token the endpoint listens on loopback only (the config refuses anything
else), and only ``Host`` names of this machine are answered, so a web page elsewhere
cannot reach it through DNS rebinding. Console forms carry ``csrf_token(request)`` in a
hidden ``csrf`` field; ``check_csrf(request, form)`` refuses a form without it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from html import escape
from urllib.parse import parse_qsl, quote

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .limits import TooLarge, read_body

SESSION_COOKIE = "replicator_session"
SESSION_S = 12 * 3600
OPEN_PATHS = frozenset({"/healthz", "/login"})
OPEN_PREFIX = "/hooks/"
MACHINE_PATHS = ("/api/", "/metrics", "/fragments/")
"""Paths for programs (and the console's htmx fragments, which must not swap the login
form into a page): a refused request gets 401, never the login form."""
FORM_LIMIT = 64 * 1024


class Guard:
    """What the app knows to authenticate: the token (None: open, on loopback) and a key
    of this process's own for CSRF tokens and session cookies."""

    def __init__(self, token: str | None, secret: bytes, *, secure_cookie: bool) -> None:
        self.token = token
        self.secret = secret
        self.secure_cookie = secure_cookie

    def bearer_ok(self, headers: Headers) -> bool:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        return (
            self.token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), self.token.encode())
        )

    def session_value(self, now: float | None = None) -> str:
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self.sign('session', issued)}"

    def session_ok(self, value: str | None) -> bool:
        issued, _, signature = (value or "").partition(".")
        if not issued.isdigit() or not signature:
            return False
        fresh = time.time() - int(issued) < SESSION_S
        return fresh and hmac.compare_digest(signature, self.sign("session", issued))

    def allowed(self, headers: Headers, cookies: Mapping[str, str]) -> bool:
        """Whether a request is authenticated (always, without a token)."""
        if self.token is None:
            return True
        return self.bearer_ok(headers) or self.session_ok(cookies.get(SESSION_COOKIE))

    def sign(self, purpose: str, text: str) -> str:
        # the session is signed with the token too: a new token ends every session
        key = self.secret + (self.token or "").encode()
        return hmac.new(key, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


def guard_of(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


class TokenGate:
    """ASGI middleware: a request that is not authenticated never reaches the app."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.guard.allowed(request.headers, request.cookies):
            await self.app(scope, receive, send)
            return
        await refusal(request)(scope, receive, send)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)


def refusal(request: Request) -> Response:
    """401 for a program (and for any form post); the login form for a browser's GET."""
    path = request.url.path
    machine = any(path.startswith(p) for p in MACHINE_PATHS)
    if machine or request.method != "GET":
        return JSONResponse(
            {"error": "authentication required: send Authorization: Bearer <token>"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="replicator"'},
        )
    target = path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def local_target(raw: str | None) -> str:
    """Where to go after login: a path of this site only (never ``//elsewhere``)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw if raw.isprintable() else "/"


# -- forms and CSRF -------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (up to 64 KiB) as a dict (last wins)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "a form must be sent as application/x-www-form-urlencoded")
    try:
        body = await read_body(request, FORM_LIMIT)
    except TooLarge as exc:
        raise HTTPException(413, str(exc)) from exc
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on a page served for ``request`` (a hidden ``csrf`` field):
    bound to the session cookie when there is one, to this process otherwise."""
    guard = guard_of(request)
    return guard.sign("csrf", request.cookies.get(SESSION_COOKIE, "-"))


def check_csrf(request: Request, form: Mapping[str, str]) -> None:
    """Refuse (403) a form whose ``csrf`` field is not ``csrf_token(request)``."""
    given = form.get("csrf", "")
    if not hmac.compare_digest(given.encode(), csrf_token(request).encode()):
        raise HTTPException(403, "the form is out of date or not from this console: reload it")


# -- the console's login form -----------------------------------------------------------------

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>replicator: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1b1f24; }}
  main {{ max-width: 24rem; margin: 4rem auto; padding: 1.5rem; }}
  main {{ background: #fff; border: 1px solid #dde1e6; }}
  label, input, button {{ display: block; font: inherit; margin: .3rem 0; }}
  input {{ width: 100%; box-sizing: border-box; padding: .3rem; }}
  [role=alert] {{ background: #ffebe9; border: 1px solid #ff8182; padding: .4rem .6rem; }}
  :focus-visible {{ outline: 3px solid #0969da; outline-offset: 2px; }}
</style></head>
<body><main><h1>replicator</h1>{notice}
<form method="post" action="/login">
<input type="hidden" name="next" value="{target}">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button>
</form></main></body></html>
"""


def login_page(target: str, notice: str = "", status_code: int = 200) -> HTMLResponse:
    shown = f'<p role="alert">{escape(notice)}</p>' if notice else ""
    page = LOGIN_PAGE.format(notice=shown, target=escape(target, quote=True))
    return HTMLResponse(page, status_code=status_code)


async def login(request: Request) -> Response:
    """GET: the form; POST: the token checked, the session cookie set, back to ``next``."""
    guard = guard_of(request)
    if request.method == "GET":
        return login_page(local_target(request.query_params.get("next")))
    form = await read_form(request)
    target = local_target(form.get("next"))
    token = form.get("token", "").strip()
    if guard.token is None or not hmac.compare_digest(token.encode(), guard.token.encode()):
        notice = "That token is not right." if guard.token else "This endpoint has no token."
        return login_page(target, notice, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        guard.session_value(),
        max_age=SESSION_S,
        httponly=True,
        samesite="strict",
        secure=guard.secure_cookie,
    )
    return response


async def logout(request: Request) -> Response:
    """End the console session (a form post with its CSRF token)."""
    check_csrf(request, await read_form(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response
