"""A stand-in for the service's read-only JSON endpoints: a stdlib HTTP server on loopback that answers GET paths
with fixed (status, JSON) replies and records the headers it was sent. For the clients of those endpoints
(`ccr status`, `ccr statusline`) tested at unit level; the real service is tested against its own endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonServer:
    """`routes`: path -> (status, body as a JSON-able value). Unknown paths get 404. `apikey`, when set, must come
    as `x-api-key` (else 401), as the service checks it."""

    def __init__(self, routes: dict[str, tuple[int, Any]], apikey: str | None = None) -> None:
        self.routes = routes
        self.apikey = apikey
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, headers) of every request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if server.apikey is not None and self.headers.get("x-api-key") != server.apikey:
                    status, body = 401, {"error": {"type": "authentication_error", "message": "no key"}}
                else:
                    status, body = server.routes.get(self.path, (404, {"error": {"type": "not_found_error"}}))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def json_server(routes: dict[str, tuple[int, Any]], apikey: str | None = None) -> Iterator[JsonServer]:
    server = JsonServer(routes, apikey)
    server._thread.start()
    try:
        yield server
    finally:
        server._server.shutdown()
        server._server.server_close()
        server._thread.join(timeout=10)
