"""`/api/ui/*`: what each dashboard endpoint answers, once `mount.py` has let the request in.

Reads of files and of the ledger run in a worker thread (`asyncio.to_thread`): a large ledger or a slow disk must
not hold up the requests the router is serving. A saved config is applied at once (`ConfigWatcher.reload_now`),
so the response can say whether the running service took it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ccrouter import __version__
from ccrouter.dashboard.config_save import InvalidChanges, check_changes, parse_changes, save_changes
from ccrouter.dashboard.config_view import config_view
from ccrouter.dashboard.live import LiveFeed, stream_events
from ccrouter.dashboard.overview import overview
from ccrouter.dashboard.statusline_preview import preview
from ccrouter.dashboard.try_route import try_route
from ccrouter.errors import GatewayError
from ccrouter.gateway.app import App
from ccrouter.gateway.responses import Receive, Send, send_json

Query = dict[str, str]
Endpoint = Callable[[Query, Any, Receive, Send], Awaitable[None]]


class DashboardApi:
    def __init__(self, app: App, feed: LiveFeed) -> None:
        self.app = app
        self.feed = feed
        self._endpoints: dict[tuple[str, str], Endpoint] = {
            ("GET", "whoami"): self._whoami,
            ("GET", "overview"): self._overview,
            ("GET", "requests"): self._requests,
            ("GET", "logs"): self._logs,
            ("GET", "events"): self._events,
            ("GET", "config"): self._config,
            ("POST", "config/check"): self._check,
            ("PUT", "config"): self._save,
            ("POST", "statusline-preview"): self._statusline_preview,
            ("POST", "try"): self._try,
        }

    async def answer(self, method: str, route: str, query: Query, body: Any, receive: Receive, send: Send) -> None:
        endpoint = self._endpoints.get(("GET" if method == "HEAD" else method, route))
        if endpoint is not None:
            await endpoint(query, body, receive, send)
        elif method == "GET" and route.startswith("requests/"):
            await self._request(route[len("requests/") :], send)
        else:
            raise GatewayError(
                404, f"{method} /api/ui/{route[:200]} is not an endpoint of the dashboard.", "not_found_error"
            )

    @property
    def _config_path(self) -> Any:
        path = self.app.gateway.runtime.config.path
        if path is None:
            raise GatewayError(409, "This service was started without a config file; nothing to show.", "conflict")
        return path

    async def _whoami(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        runtime = self.app.gateway.runtime
        await send_json(
            send,
            200,
            {
                "signed_in": True,
                "port": runtime.config.port,
                "version": __version__,
                "config_path": str(runtime.config.path) if runtime.config.path else None,
                "ledger": runtime.accounts.keeps_rows,
            },
        )

    async def _overview(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        gateway = self.app.gateway
        ledger = gateway.runtime.ledger
        store = ledger.store if ledger is not None else None
        cooling = gateway.cooldowns.all_cooling(time.monotonic())  # read on the loop; overview redacts the reasons
        budgets = gateway.runtime.accounts.budget_status()
        data = await asyncio.to_thread(
            overview,
            store,
            query.get("since", "24h"),
            query.get("bucket", "hour"),
            query.get("by", "provider"),
            feed=self.feed,
            cooling=cooling,
            budgets=budgets,
            now=time.time(),
        )
        await send_json(send, 200, data)

    async def _requests(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        limit = _limit(query)
        rows = self.feed.requests(limit, query.get("session"), query.get("route"), query.get("status"))
        await send_json(send, 200, {"requests": rows})

    async def _request(self, request_id: str, send: Send) -> None:
        found = self.feed.request(request_id)
        if found is None:
            raise GatewayError(
                404,
                "That request is no longer in the dashboard's memory (it keeps the latest 1000); `ccr logs` has it.",
                "not_found_error",
            )
        await send_json(send, 200, found)

    async def _logs(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"logs": self.feed.logs(_limit(query))})

    async def _events(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        await self.app.until_disconnect(stream_events(self.feed, send), receive)

    async def _config(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        await send_json(send, 200, await asyncio.to_thread(config_view, self._config_path))

    async def _check(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        version, changes = parse_changes(body)
        checked = await asyncio.to_thread(check_changes, self._config_path, version, changes, dict(os.environ))
        await send_json(send, 200, {"ok": checked.ok, "errors": checked.errors, "diff": checked.diff})

    async def _save(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        version, changes = parse_changes(body)
        try:
            saved = await asyncio.to_thread(save_changes, self._config_path, version, changes, dict(os.environ))
        except InvalidChanges as invalid:
            await send_json(send, 422, {**_error_body(invalid), "errors": invalid.errors})
            return
        watcher = self.app.watcher
        applied = await watcher.reload_now() if watcher is not None else False
        await send_json(send, 200, {"version": saved.version, "backup": saved.backup_name, "applied": applied})

    async def _statusline_preview(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        status_line = body.get("StatusLine") if isinstance(body, dict) else None
        if status_line is None:
            status_line = self.app.gateway.runtime.config.status_line
        await send_json(send, 200, preview(status_line))

    async def _try(self, query: Query, body: Any, receive: Receive, send: Send) -> None:
        await self.app.until_disconnect(try_route(self.app.gateway, self.feed, body, send), receive)


def _limit(query: Query) -> int:
    text = query.get("limit", "200")
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise GatewayError(400, f"limit is {text[:20]!r}; give a whole number from 1 to 1000.", "invalid_request_error")
    return int(text)


def _error_body(error: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error.error_type, "message": error.message}}
