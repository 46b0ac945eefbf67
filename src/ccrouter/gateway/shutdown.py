"""Serving with uvicorn and stopping within a bound: the server that tells the app when the stop begins, and the
watchdog that ends the process should the stop hang anyway.

uvicorn alone waits for every open connection to close before it lets the app close (and with no deadline set,
forever): a stream held open by a provider that stopped sending, or the dashboard's live view in a browser tab,
kept a stopped router running until it was killed, and the ledger rows still in memory were lost with it.
`StoppingServer` follows `in_flight.py`'s timeline instead: the app hears of the stop when uvicorn stops
accepting connections (`App.begin_stop`: the requests in flight get DRAIN_S, then are ended with an error their
clients retry), uvicorn's own deadline (`timeout_graceful_shutdown`, DRAIN_S + ABORT_S in server.py's options)
drops whatever still holds a connection, and the lifespan closes the ledger, the provider pool and Redis within
CLOSE_S. The watchdog, armed from the signal handler itself (so also when the event loop is stuck in someone's
code), ends the process with status 1 at STOP_BOUND_S, after one log line saying what the stop was stuck on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from ccrouter.gateway.app import App
from ccrouter.gateway.in_flight import STOP_BOUND_S

LAST_WORDS_S = 0.5  # the watchdog's log line gets this long (a blocked log file must not keep the process alive)
EXIT_STUCK = 1


class Watchdog:
    """A daemon thread, waiting from the start for the stop to begin; `STOP_BOUND_S` later, unless the stop is
    `done`, it logs `last_words()` and ends the process. Told through a pipe: a write is safe in a signal handler,
    where taking a lock the interrupted code may hold is not."""

    def __init__(self, last_words: Callable[[], None]) -> None:
        self._last_words = last_words
        self._began_r, self._began_w = os.pipe()
        self._told = False
        self._done = threading.Event()
        threading.Thread(target=self._watch, name="ccr-stop-watchdog", daemon=True).start()

    def stop_began(self) -> None:
        if not self._told:
            self._told = True
            with contextlib.suppress(OSError):
                os.write(self._began_w, b"!")

    def done(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        os.read(self._began_r, 1)
        if self._done.wait(STOP_BOUND_S):
            return
        speaking = threading.Thread(target=self._last_words, name="ccr-stop-last-words", daemon=True)
        speaking.start()
        speaking.join(LAST_WORDS_S)
        os._exit(EXIT_STUCK)


class StoppingServer(uvicorn.Server):
    """uvicorn's server for `app`, stopping within STOP_BOUND_S of SIGTERM or SIGINT (`in_flight.py`)."""

    def __init__(self, config: uvicorn.Config, app: App) -> None:
        super().__init__(config)
        self.app = app
        self.watchdog = Watchdog(self._last_words)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.watchdog.stop_began()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.watchdog.stop_began()  # also a stop without a signal (workers.py: the supervisor is gone)
        self.app.begin_stop()
        await super().shutdown(sockets)
        self.watchdog.done()

    def _last_words(self) -> None:
        state = self.server_state
        self.app.log.error(
            f"ccrouter did not stop within {STOP_BOUND_S:g} s of being told to; ending it now",
            stuck_at=self.app.stop_phase,
            open_connections=len(state.connections),
            requests_in_flight=len(self.app.in_flight),
            ledger_rows_waiting=self.app.ledger_rows_waiting(),
        )


def run_server(settings: uvicorn.Config, app: App) -> None:
    """`uvicorn.run` for one process, with a `StoppingServer`."""
    server = StoppingServer(settings, app)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stops as on SIGTERM, then raises it again
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
