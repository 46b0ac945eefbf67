"""`"WORKERS": N` (N > 1): a supervisor process and N worker processes serving on one shared listening socket.

**One inherited socket, not SO_REUSEPORT.** The supervisor binds the address once, by the rules of a single
process (`auth.bind_host`; every address HOST resolves to, as asyncio binds them), so a taken port fails the start
as it does today, and no other program can join the port: SO_REUSEPORT would let any socket of the same user bind
it too and take a share of the connections. The forked workers inherit the socket; the kernel gives each new
connection to whichever worker accepts it first, in practice a less busy one (a burst of new connections on idle
workers may still split unevenly: bench/README.md); and the connections queued when a worker dies are accepted by
the others (SO_REUSEPORT resets those of its socket).

**Fork, not spawn.** A worker starts from the config the supervisor loaded and checked, in milliseconds, with the
socket already open. The supervisor runs no thread and no event loop, so forking it is safe. Each worker then
builds its whole service with `build_app`: event loop, gateway, ledger writer thread, config watcher (so hot
reload works in each; a worker forked after the file changed loads it at its first poll). Each answer carries
`x-ccr-worker: <index>`.

**Supervision.** Each worker holds one end of a socket pair with the supervisor. Over it the worker says that its
service is built (or why not) and waits for the word to serve, so no worker serves before all are built and a
start where one fails fails whole, with its message. The end closing tells the supervisor that the worker died: it
is restarted after a back-off that doubles while it keeps dying young, with a log line each time. The supervisor's
end closing tells a worker that the supervisor is gone (killed): it stops as on SIGTERM. The supervisor's pid is
the one in the pid file: `ccr status` lists its workers, and `ccr stop`'s SIGTERM makes it stop every worker
(each stops as a single process does, within in_flight.STOP_BOUND_S: its requests in flight get DRAIN_S) before it
exits.

**Not shared between workers without STATE_URL** (each keeps its own, in memory): cool-downs; the budgets'
spend (each worker reads the shared spend from the ledger at its start and at each reload, then adds only its own
requests, so N workers may together overshoot a cap by up to N-1 workers' spend); users' rate-limit counts; the
dashboard's live feed. STATE_URL shares these through Redis (`shared_state.py`). Never shared: the sessions
`ccr statusline` asks about, turn pins and long-context stickiness, the key-guessing throttle, `/metrics` counters.
Rows are shared: each worker's ledger writer appends to the same SQLite file (WAL: SQLite serialises the writers,
its busy timeout covers the waits).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn

from ccrouter.config.model import Config
from ccrouter.errors import ConfigError
from ccrouter.gateway.auth import bind_host
from ccrouter.gateway.connections import raise_fd_limit
from ccrouter.gateway.in_flight import STOP_BOUND_S
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.reload import FileStamp, file_stamp
from ccrouter.gateway.runtime import secrets_of
from ccrouter.gateway.worker import GO, BuildApp, Seat, run_worker
from ccrouter.paths import LOG_DIR

# Workers still running then are killed: after their own bound (in_flight.STOP_BOUND_S), before `ccr stop`
# (service/control.py STOP_TIMEOUT_S, 15 s) kills the supervisor.
STOP_GRACE_S = STOP_BOUND_S + 2.0
START_TIMEOUT_S = 60.0  # every worker's service built within this, or the start fails
RESTART_FIRST_S = 0.5  # a dead worker's first restart waits this long; each quick death doubles it
RESTART_MAX_S = 30.0
STABLE_S = 60.0  # a worker that ran this long starts its back-off again from RESTART_FIRST_S
SWEEP_S = 1.0  # how often exits that no closed channel announced are looked for

Work = Callable[[Seat], int]  # what a forked worker runs: its exit code


@dataclass
class _Worker:
    """The supervisor's view of one worker slot."""

    index: int
    pid: int = 0  # 0: not running
    channel: socket.socket | None = None  # the supervisor's end
    started: float = 0.0
    said: bytes = b""
    announced: bool = False  # its "ready" was seen
    quick_deaths: int = 0
    restart_at: float | None = None

    def message(self) -> dict[str, Any]:
        """What the worker said (its first line): {"ready": true}, or {"failed": kind, "message": ...}; {} if none."""
        line = self.said.partition(b"\n")[0]
        try:
            said = json.loads(line) if line else {}
        except ValueError:
            return {}
        return said if isinstance(said, dict) else {}


def supervise(config: Config, host: str | None, port: int | None, build: BuildApp, options: Mapping[str, Any]) -> None:
    """Serve `config` with `config.workers` processes until SIGTERM or SIGINT. `build` makes one worker's app,
    `options` are uvicorn's settings besides the app, its protocol and the sockets. Raises ConfigError or OSError
    (nothing left running) when the address cannot be bound or a worker cannot start."""
    listen_host, warning = bind_host(host or config.host, config.apikey)
    port = port or config.port
    stamp = file_stamp(config.path) if config.path else None
    listeners = listening_sockets(listen_host, port)
    try:
        fd_limit = raise_fd_limit()
        log = Logger(
            config.home / LOG_DIR if config.log else None,
            config.log_level,
            Redactor(secrets_of(config)),
            echo=sys.stderr,
        )
        if warning:
            log.warn(warning)
        log.info("starting", host=listen_host, port=port, config=str(config.path), workers=config.workers)
        supervisor = Supervisor(config, listeners, stamp, fd_limit, log)
        supervisor.run(lambda seat: run_worker(seat, config, build, options))
    finally:
        for listener in listeners:
            listener.close()


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for every address `host` resolves to, as asyncio's `create_server` binds them for a single
    process (SO_REUSEADDR, IPv6 ones v6-only); each worker's server listens on them."""
    infos = dict.fromkeys(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE))
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: {reason}") from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Supervisor:
    """The workers of one service: started together, restarted one by one, stopped together."""

    def __init__(
        self, config: Config, listeners: list[socket.socket], stamp: FileStamp | None, fd_limit: int, log: Logger
    ) -> None:
        self.listeners = listeners
        self.stamp = stamp
        self.fd_limit = fd_limit
        self.log = log
        self.workers = [_Worker(index) for index in range(1, config.workers + 1)]
        self.stop_signal: int | None = None
        self._wake = (-1, -1)

    def run(self, work: Work) -> None:
        """Start every worker, keep them running until a stop signal, then stop them all."""
        with self._stop_signals():
            try:
                self._start_all(work)
                if self.stop_signal is None:
                    self.log.info("workers serving", pids=[w.pid for w in self.workers])
                self._keep_running(work)
            finally:
                self._stop_all()
            caught = self.stop_signal
        if caught is not None:  # as uvicorn does: the signal's own effect now (SIGINT: KeyboardInterrupt)
            signal.raise_signal(caught)

    # -- starting and restarting -------------------------------------------------------------------------------

    def _start_all(self, work: Work) -> None:
        for worker in self.workers:
            self._fork(worker, work)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(w.message().get("ready") for w in self.workers):
            remaining = deadline - time.monotonic()
            if self.stop_signal is not None:
                return
            if remaining <= 0:
                raise OSError(f"the workers did not start within {START_TIMEOUT_S:g} s; see service-stderr.log")
            for worker in self._wait(remaining):
                if not self._hear(worker):
                    status = self._reap(worker)
                    raise _start_failure(worker, status)
        for worker in self.workers:
            worker.announced = True
            self._send_go(worker)

    def _fork(self, worker: _Worker, work: Work) -> None:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._be_worker(Seat(worker.index, theirs, self.listeners, self.stamp, self.fd_limit), work)
        theirs.close()
        ours.setblocking(False)
        worker.pid, worker.channel, worker.started = pid, ours, time.monotonic()
        worker.said, worker.announced = b"", False

    def _be_worker(self, seat: Seat, work: Work) -> NoReturn:
        """In the forked child: drop the supervisor's signal handling and its ends of the other channels, then
        serve. Never returns (nor runs the parent's cleanup: os._exit)."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for fd in self._wake:
                os.close(fd)
            for other in self.workers:
                if other.channel is not None:
                    other.channel.close()
            self.log.close()
            code = work(seat)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _send_go(self, worker: _Worker) -> None:
        if worker.channel is not None:
            with contextlib.suppress(OSError):  # it died meanwhile: its closed channel says so
                worker.channel.send(GO)

    def _keep_running(self, work: Work) -> None:
        while self.stop_signal is None:
            for worker in self._wait(self._until_next_restart()):
                if not self._hear(worker):
                    pid = worker.pid
                    self._died(worker, pid, self._reap(worker))
                elif not worker.announced and worker.message().get("ready"):
                    worker.announced = True
                    self.log.info("worker restarted", worker=worker.index, pid=worker.pid)
            for worker, pid, status in self._exited():
                self._died(worker, pid, status)
            now = time.monotonic()
            for worker in self.workers:
                if worker.restart_at is not None and worker.restart_at <= now and self.stop_signal is None:
                    worker.restart_at = None
                    self._fork(worker, work)
                    self._send_go(worker)  # read once its service is built; no other worker waits for it

    def _until_next_restart(self) -> float:
        due = [w.restart_at for w in self.workers if w.restart_at is not None]
        return max(0.0, min([SWEEP_S, *(at - time.monotonic() for at in due)]))

    def _died(self, worker: _Worker, pid: int, status: int) -> None:
        """Schedule the restart of a worker that exited on its own, and say so."""
        now = time.monotonic()
        young = now - worker.started < STABLE_S
        worker.quick_deaths = worker.quick_deaths + 1 if young else 1
        delay = min(RESTART_MAX_S, RESTART_FIRST_S * 2 ** (worker.quick_deaths - 1))
        worker.restart_at = now + delay
        reason = worker.message().get("message")  # what a worker that could not start said
        self.log.error(
            "worker exited; restarting it",
            worker=worker.index,
            pid=pid,
            exit=exit_description(status),
            restart_in_s=delay,
            **({"reason": str(reason)} if reason else {}),
        )

    def _exited(self) -> list[tuple[_Worker, int, int]]:
        """Reap the workers that exited without their channel closing (a process they started still holds it):
        each with its pid and wait status."""
        exited = []
        for worker in self.workers:
            if worker.pid:
                with contextlib.suppress(ChildProcessError):
                    pid, status = os.waitpid(worker.pid, os.WNOHANG)
                    if pid:
                        self._forget(worker)
                        exited.append((worker, pid, status))
        return exited

    # -- stopping ----------------------------------------------------------------------------------------------

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait up to STOP_GRACE_S for them to finish, then SIGKILL the rest."""
        for worker in self.workers:
            worker.restart_at = None
            if worker.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while any(w.pid for w in self.workers) and (remaining := deadline - time.monotonic()) > 0:
            for worker in self._wait(min(remaining, SWEEP_S)):
                if not self._hear(worker):
                    self._reap(worker)
            self._exited()
        for worker in self.workers:
            if worker.pid:
                self.log.error("worker did not stop in time; killed", worker=worker.index, pid=worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                self._reap(worker)

    # -- waiting -----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT noted (and the wait woken) instead of acting at once; the old handlers back after."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._wake = (wake_r, wake_w)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous_fd = signal.set_wakeup_fd(wake_w)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum

    def _wait(self, timeout: float) -> list[_Worker]:
        """Wait up to `timeout` seconds for a worker's channel to be readable or a signal; those workers."""
        poller = select.poll()
        poller.register(self._wake[0], select.POLLIN)
        by_fd = {}
        for worker in self.workers:
            if worker.channel is not None:
                by_fd[worker.channel.fileno()] = worker
                poller.register(worker.channel, select.POLLIN)
        events = poller.poll(max(0, int(timeout * 1000)))
        with contextlib.suppress(OSError):
            while os.read(self._wake[0], 512):
                pass
        return [by_fd[fd] for fd, _ in events if fd in by_fd]

    def _hear(self, worker: _Worker) -> bool:
        """Read what the worker sent; False when its channel closed (it exited)."""
        assert worker.channel is not None
        try:
            data = worker.channel.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        worker.said += data
        return bool(data)

    def _reap(self, worker: _Worker) -> int:
        """Wait for the worker's exit (its channel closed: it is exiting); its wait status."""
        status = 0
        with contextlib.suppress(ChildProcessError):
            status = os.waitpid(worker.pid, 0)[1]
        self._forget(worker)
        return status

    def _forget(self, worker: _Worker) -> None:
        if worker.channel is not None:
            worker.channel.close()
            worker.channel = None
        worker.pid = 0


def _start_failure(worker: _Worker, status: int) -> Exception:
    """The error a start ends with when `worker` exited before its service was built."""
    said = worker.message()
    if said.get("failed") == "config":
        return ConfigError(str(said.get("message")))
    if said.get("failed"):
        return OSError(str(said.get("message")))
    return OSError(
        f"worker {worker.index} of WORKERS exited while starting ({exit_description(status)}); "
        "its output is just above in service-stderr.log."
    )


def exit_description(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
