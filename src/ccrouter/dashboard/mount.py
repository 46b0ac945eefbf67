"""The dashboard's HTTP side: `/ui` (pages, sign-in) and `/api/ui/*` (its API), behind `security.py`'s checks.

The gateway's `App` hands every request whose path starts with `/ui` or `/api/ui/` to `Dashboard.__call__`; the
request path of the router never comes here. Every answer carries the page headers (CSP, nosniff, no framing,
no referrer) and `cache-control: no-store`. The API's work lives beside this module: `overview.py`, `live.py`,
`config_view.py` / `config_save.py`, `try_route.py`, `statusline_preview.py`; slow reads (the ledger, the config
file) run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson

from ccrouter.dashboard import security
from ccrouter.dashboard.api import DashboardApi
from ccrouter.dashboard.static_files import StaticFiles
from ccrouter.errors import GatewayError
from ccrouter.gateway.app import App
from ccrouter.gateway.responses import Receive, Send, send_bytes, send_error

UI_PREFIX = "/ui"
API_PREFIX = "/api/ui/"
DASHBOARD_PREFIXES = (UI_PREFIX, API_PREFIX)  # what the App hands to the dashboard
MAX_BODY_BYTES = 1024 * 1024  # a config change or a prompt to try; the config file itself is at most 10 MB


class Dashboard:
    """The `/ui` pages and `/api/ui/*`, for one service (sessions live as long as the process)."""

    def __init__(self, app: App, api: DashboardApi, home: Path | None) -> None:
        """`home`: where to write the sign-in secret for `ccr ui` (the config's folder); None for a service built
        without a config file, whose dashboard only scripts with the APIKEY can use."""
        self.app = app
        self.api = api
        secret = security.write_secret(home) if home is not None else security.unwritten_secret()
        self.sessions = security.UiSessions(secret)
        self.static = StaticFiles()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        send = _with_page_headers(send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refused = security.check_host(headers, self.app.gateway.runtime.config.ui_hosts)
        if refused is not None:
            await send_error(send, refused)
            return
        method, path = scope["method"], scope["path"]
        if path.startswith(API_PREFIX):
            await self._api(method, path[len(API_PREFIX) :], scope, headers, receive, send)
        elif method in ("GET", "HEAD"):
            await self._page(path, scope, headers, send)
        elif method == "POST" and path == "/ui/sign-out":
            await self._sign_out(scope, headers, send)
        else:
            await send_error(send, _not_here(method, path))

    # -- pages -----------------------------------------------------------------------------------------------

    async def _page(self, path: str, scope: MutableMapping[str, Any], headers: dict[str, str], send: Send) -> None:
        if path.startswith("/ui/static/"):
            found = self.static.get(path[len("/ui/static/") :])
            if found is None:
                await send_error(send, _not_here("GET", path))
                return
            body, content_type = found
            await send_bytes(send, 200, body, [("content-type", content_type)], content_type=False)
        elif path == "/ui/sign-in":
            await self._sign_in(scope, send)
        elif path in (UI_PREFIX, "/ui/"):
            signed_in = self.sessions.valid(security.cookie_of(headers, _port(scope)))
            await self._static_page(send, "index.html" if signed_in else "signin.html", 200)
        else:
            await send_error(send, _not_here("GET", path))

    async def _static_page(self, send: Send, name: str, status: int) -> None:
        found = self.static.get(name)
        if found is None:  # the package was installed without its pages
            raise GatewayError(500, f"The dashboard's {name} is missing: reinstall ccrouter.", "api_error")
        body, content_type = found
        await send_bytes(send, status, body, [("content-type", content_type)], content_type=False)

    async def _sign_in(self, scope: MutableMapping[str, Any], send: Send) -> None:
        """`/ui/sign-in?token=T`: a valid one-time token becomes a session cookie; then to the dashboard."""
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        session = self.sessions.redeem(token) if token else None
        if session is None:
            await self._static_page(send, "signin.html", 401)
            return
        cookie = security.session_cookie(_port(scope), session)
        await send_bytes(send, 303, b"", [("location", UI_PREFIX), ("set-cookie", cookie)], content_type=False)

    async def _sign_out(self, scope: MutableMapping[str, Any], headers: dict[str, str], send: Send) -> None:
        refused = security.check_same_origin(headers, scope.get("scheme", "http"))
        if refused is not None:
            await send_error(send, refused)
            return
        self.sessions.end(security.cookie_of(headers, _port(scope)))
        ended = security.ended_cookie(_port(scope))
        await send_bytes(send, 303, b"", [("location", UI_PREFIX), ("set-cookie", ended)], content_type=False)

    # -- API -------------------------------------------------------------------------------------------------

    async def _api(
        self,
        method: str,
        route: str,
        scope: MutableMapping[str, Any],
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        if method == "POST" and route == "sign-in-tokens":
            await self._issue_token(headers, send)
            return
        how = await self._signed_in(scope, headers, send)
        if how is None:
            return
        if method not in ("GET", "HEAD") and how == "cookie":
            refused = security.check_same_origin(headers, scope.get("scheme", "http"))
            if refused is not None:
                await send_error(send, refused)
                return
        body: Any = None
        if method in ("POST", "PUT"):
            body = await _read_json(receive, send)
            if body is _UNREADABLE:
                return
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            await self.api.answer(method, route, query, body, receive, send)
        except GatewayError as error:
            await send_error(send, error)

    async def _signed_in(self, scope: MutableMapping[str, Any], headers: dict[str, str], send: Send) -> str | None:
        """ "cookie" or "apikey" when the request is signed in; None after answering it otherwise."""
        if self.sessions.valid(security.cookie_of(headers, _port(scope))):
            return "cookie"
        has_key = "x-api-key" in headers or "authorization" in headers
        if self.app.gateway.runtime.config.apikey and has_key:
            return None if await self.app.refused(scope, headers, send) else "apikey"
        await send_error(send, GatewayError(401, security.NOT_SIGNED_IN, "authentication_error"))
        return None

    async def _issue_token(self, headers: dict[str, str], send: Send) -> None:
        """`ccr ui` proves it runs as this service's user by the secret file, and gets a one-time sign-in link."""
        if not self.sessions.secret_matches(headers.get(security.SECRET_HEADER)):
            await asyncio.sleep(0.25)  # a guesser waits; `ccr ui` never does
            await send_error(
                send,
                GatewayError(
                    403,
                    "Wrong or missing sign-in secret. Run `ccr ui` as the user who started the service.",
                    "permission_error",
                ),
            )
            return
        token = self.sessions.issue_token()
        await send_bytes(
            send,
            200,
            orjson.dumps({"path": f"{UI_PREFIX}/sign-in?token={token}", "expires_in_s": security.SIGN_IN_TOKEN_TTL_S}),
        )


_UNREADABLE = object()


async def _read_json(receive: Receive, send: Send) -> Any:
    """The request's JSON body (None when empty); `_UNREADABLE` after answering a body too large or not JSON."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _UNREADABLE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            await send_error(
                send, GatewayError(413, "The request body is over 1 MB; send a smaller change.", "request_too_large")
            )
            return _UNREADABLE
        parts.append(chunk)
        if not message.get("more_body"):
            break
    raw = b"".join(parts)
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        await send_error(
            send,
            GatewayError(400, f"The request body is not JSON ({exc}); send a JSON object.", "invalid_request_error"),
        )
        return _UNREADABLE


def _with_page_headers(send: Send) -> Send:
    """`send` adding the page headers (and no-store) to the response's start."""
    extra = [(k.encode(), v.encode()) for k, v in (*security.PAGE_HEADERS, ("cache-control", "no-store"))]

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            names = {name for name, _ in message.get("headers", [])}
            message = {**message, "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in names)]}
        await send(message)

    return sending


def _port(scope: MutableMapping[str, Any]) -> int:
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else 0


def _not_here(method: str, path: str) -> GatewayError:
    return GatewayError(
        404, f"{method} {path[:200]} is not a page of the ccrouter dashboard; open /ui.", "not_found_error"
    )
