"""The router's ASGI app served in the test process: uvicorn in a daemon thread, once per test module.

`InProcessServer` is one uvicorn server on a free loopback port. It serves whichever app is mounted: each test
mounts a fresh app (`ccrouter.gateway.server.build_app`, the one `ccr start` serves) built from its own config in
its own temporary CCR_HOME, and unmounts it when it ends. A fresh app per test, rather than one app whose runtime
is swapped, because a test must not see what an earlier one left behind: the gateway's cool-downs, session usage
and activity, token-count caches and request ids live beside the runtime, not in it, and the log file and the
ping interval are fixed when the app is built. Mounting runs the app's own lifespan (upstream pool, config
watcher) on the server's loop, as uvicorn would.

Tests that check the process itself (start-up, signals, what it prints, reload from the file on disk) start a
`RouterProcess` instead.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from ccrouter.config.loading import load_config
from ccrouter.gateway.app import App
from ccrouter.gateway.server import build_app
from tests.support.served_router import ServedRouter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

START_TIMEOUT_S = 15.0


class InProcessRouter(ServedRouter):
    """A router app mounted on an `InProcessServer`, with the config file and logs of its own home."""

    def __init__(self, home: Path, port: int, config: dict[str, Any]) -> None:
        super().__init__(home, port)
        self.write_config(config)
        loaded = load_config(self.config_path)
        # The garbage-collector tuning is for a service alone in its process; this one hosts a test run.
        self.app: App = build_app(loaded, tune_gc=False)


ServeRouter = Callable[..., InProcessRouter]  # serve(config, home=None): the test's router


class InProcessServer:
    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._switch = _AppSwitch()
        self._server = _Server(
            uvicorn.Config(
                self._switch,
                lifespan="on",
                loop="asyncio",
                http="httptools",  # as the service runs
                access_log=False,
                log_level="warning",
                timeout_keep_alive=75,
                server_header=False,
                date_header=False,
                proxy_headers=False,
            )
        )
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._mounted: _Lifespan | None = None

    def start(self) -> InProcessServer:
        self._thread.start()
        if not self._server.ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the in-process uvicorn server did not start")
        return self

    def stop(self) -> None:
        self.unmount()
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def serve(self, home: Path, config: dict[str, Any]) -> InProcessRouter:
        """Build the app of `config` (written to `home`'s config file) and serve it in place of the last one."""
        self.unmount()
        router = InProcessRouter(home, self.port, config)
        self._mounted = self._call(_Lifespan.start(router.app))
        self._switch.app = router.app
        return router

    def serving(self, router: InProcessRouter) -> bool:
        """Whether the server still runs and serves `router`'s app."""
        return self._thread.is_alive() and not self._server.should_exit and self._switch.app is router.app

    def unmount(self) -> None:
        """Stop serving the mounted app (if any) and run its shutdown."""
        mounted, self._mounted = self._mounted, None
        self._switch.app = None
        if mounted is not None:
            self._call(mounted.shutdown())

    def _call(self, work: Any) -> Any:
        loop = self._server.loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(work, loop).result(START_TIMEOUT_S)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the test thread when it listens and on which loop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.loop = asyncio.get_running_loop()
        self.ready.set()


class _AppSwitch:
    """The ASGI app uvicorn serves: it hands every request to the mounted router app (503 when none is)."""

    def __init__(self) -> None:
        self.app: App | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the server's own; each mounted app gets its lifespan from `_Lifespan`
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        app = self.app
        if app is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"no router app mounted"})
            return
        await app(scope, receive, send)


class _Lifespan:
    """An app's ASGI lifespan, driven as uvicorn drives it: startup when mounted, shutdown when unmounted."""

    def __init__(self, app: App) -> None:
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = asyncio.create_task(app(scope, self._inbox.get, self._outbox.put))

    @classmethod
    async def start(cls, app: App) -> _Lifespan:
        lifespan = cls(app)
        await lifespan._step("lifespan.startup")
        return lifespan

    async def shutdown(self) -> None:
        await self._step("lifespan.shutdown")
        await self._task

    async def _step(self, event: str) -> None:
        await self._inbox.put({"type": event})
        reply = await self._outbox.get()
        if reply["type"] != f"{event}.complete":
            raise RuntimeError(f"the router app answered {event} with {reply}")
