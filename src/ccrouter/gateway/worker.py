"""One of WORKERS processes, forked by the supervisor (`workers.py`): its seat, and how it builds and serves.

A worker builds its whole service with the server's `build_app` (event loop, gateway, ledger writer thread,
config watcher), tells the supervisor over its channel that it is ready (or why it cannot be), waits there for the
word to serve, then runs uvicorn on the supervisor's listening sockets until SIGTERM, or until its channel closes
(the supervisor is gone). Each answer carries `x-ccr-worker: <index>`, so a client can tell which one served it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ccrouter.config.model import Config
from ccrouter.errors import ConfigError
from ccrouter.gateway.app import App
from ccrouter.gateway.connections import ConnectionGauge, connection_capacity, guarded_protocol
from ccrouter.gateway.reload import FileStamp
from ccrouter.gateway.shutdown import StoppingServer

WORKER_HEADER = "x-ccr-worker"  # on every answer: which worker (1..N) served it
GO = b"g"  # the supervisor's word to serve

BuildApp = Callable[[Config, ConnectionGauge], App]


@dataclass
class Seat:
    """What one worker process gets from the supervisor."""

    index: int  # 1..N
    channel: socket.socket  # the worker's end of its socket pair with the supervisor
    listeners: list[socket.socket]
    stamp: FileStamp | None  # the version of the config file the config was read from
    fd_limit: int

    def tell(self, **message: Any) -> None:
        """One line to the supervisor: {"ready": true}, or {"failed": "config" | "os", "message": ...}."""
        self.channel.sendall(json.dumps(message).encode() + b"\n")

    def wait_for_go(self) -> bool:
        """Block until the supervisor says serve (True), or is gone (False)."""
        try:
            return self.channel.recv(1) == GO
        except OSError:
            return False


def run_worker(seat: Seat, config: Config, build: BuildApp, options: Mapping[str, Any]) -> int:
    """Build this worker's service, tell the supervisor, and serve once it says so. The exit code.

    `options` are uvicorn's settings besides the app, its protocol and the sockets (the server's, for one process
    or many alike)."""
    import uvicorn

    gauge = ConnectionGauge(capacity=connection_capacity(config.limits, seat.fd_limit))
    try:
        app = build(config, gauge)
    except ConfigError as exc:
        seat.tell(failed="config", message=str(exc))
        return 2
    except OSError as exc:
        seat.tell(failed="os", message=str(exc))
        return 1
    if app.watcher is not None:  # a config file changed since the supervisor read it is loaded at the first poll
        app.watcher.changes_since(seat.stamp)
    seat.tell(ready=True)
    if not seat.wait_for_go():
        return 0
    settings = uvicorn.Config(
        app,
        http=guarded_protocol(config.limits, gauge),
        headers=[(WORKER_HEADER, str(seat.index))],
        **options,
    )
    server = StoppingServer(settings, app)  # stops within in_flight.STOP_BOUND_S, as a single process does
    with asyncio.Runner(loop_factory=settings.get_loop_factory()) as runner:
        runner.run(_serve(server, seat))
    return 0


async def _serve(server: Any, seat: Seat) -> None:
    """uvicorn's server on the shared sockets; if the supervisor goes away (killed), it stops as on SIGTERM."""
    loop = asyncio.get_running_loop()
    channel = seat.channel.fileno()
    seat.channel.setblocking(False)

    def supervisor_gone() -> None:  # the supervisor sends nothing after GO: readable means closed
        loop.remove_reader(channel)
        server.should_exit = True

    loop.add_reader(channel, supervisor_gone)
    await server.serve(sockets=seat.listeners)
