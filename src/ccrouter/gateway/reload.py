"""Hot reload: watch the config file and swap in a new `Runtime` when a valid change lands.

Requests in flight keep the runtime they started with (the gateway reads it once per request). A new version is
loaded in a thread of its own, since loading runs the user's Python (transformer plugins, the custom router),
which may take its time or never end: meanwhile `/health` answers and the old config keeps serving, and a newer
save of the file supersedes a load still under way. An invalid change keeps the old config serving and logs the
exact error. Keys that only a restart can apply (where the service listens, dropping APIKEY, which would
leave a non-loopback listener without a key, the ledger's and the shared state's addresses) are refused the same
way, with `ccr restart` named as the fix, and never with the address itself (it may carry a password).
Whatever else goes wrong with one version of the file (a RecursionError, a MemoryError, a bug, a plugin that
calls `sys.exit()`) is logged once for that version too: the watcher itself never stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from ccrouter.config.loading import load_config
from ccrouter.config.model import Config
from ccrouter.config.state_section import StateSettings
from ccrouter.errors import ConfigError
from ccrouter.gateway.accounting import Ledger
from ccrouter.gateway.journey import Gateway
from ccrouter.gateway.logs import LEVELS, Logger, Redactor
from ccrouter.gateway.off_loop import in_daemon_thread
from ccrouter.gateway.runtime import Runtime

DEFAULT_POLL_S = 0.5
STATE_URL_REASON = "STATE_URL (the Redis the routers share their live state through)"

FileStamp = tuple[int, int, int]  # inode, size, mtime in ns


def file_stamp(path: Path) -> FileStamp | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """What in `new` cannot take effect without restarting the service."""
    reasons = []
    if (new.host, new.port) != (old.host, old.port):
        reasons.append("HOST/PORT (where the service listens)")
    if old.apikey and not new.apikey:
        reasons.append("removing APIKEY (the service may be listening beyond loopback)")
    if new.log != old.log:
        reasons.append("LOG (opening or closing the log file)")
    if new.dashboard != old.dashboard:
        reasons.append("DASHBOARD (serving `ccr ui` or not)")
    if new.workers != old.workers:
        reasons.append("WORKERS (how many server processes share the port)")
    if (new.ledger.url if new.ledger else None) != (old.ledger.url if old.ledger else None):
        reasons.append("LEDGER_URL (where the usage ledger is written)")
    reasons += shared_state_changes(old.state, new.state)
    return reasons


def shared_state_changes(old: StateSettings | None, new: StateSettings | None) -> list[str]:
    """The STATE_* keys that changed: the Redis client and the keys it uses are made once, at the service's start
    (gateway/server.py `share_state`), so a reload could only pretend to apply them. The URL itself is never put
    in the reason: it may carry Redis's password."""
    if old is None or new is None:
        return [] if old is new else [STATE_URL_REASON]
    reasons = []
    if new.url != old.url:
        reasons.append(STATE_URL_REASON)
    if new.prefix != old.prefix:
        reasons.append("STATE_PREFIX (what starts every key of the shared state in Redis)")
    if new.timeout_ms != old.timeout_ms:
        reasons.append("STATE_TIMEOUT_MS (how long a request may wait on Redis)")
    return reasons


class ConfigWatcher:
    def __init__(self, gateway: Gateway, log: Logger, poll_s: float = DEFAULT_POLL_S) -> None:
        self.gateway = gateway
        self.log = log
        self.poll_s = poll_s
        path = gateway.runtime.config.path
        self.path = path
        self._stamp = file_stamp(path) if path else None
        self._failed_on: FileStamp | None = None  # the file version an unexpected failure was last logged for
        self._loading: asyncio.Task[bool] | None = None  # the load of the latest version, while under way

    async def run(self) -> None:
        """Poll the file until cancelled; survives any failure of one poll (logged once per file version)."""
        if self.path is None:
            return
        try:
            while True:
                await asyncio.sleep(self.poll_s)
                try:
                    self.poll()
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:  # never let one bad poll end hot reload for good
                    self._failed(exc)
        finally:
            if self._loading is not None:
                self._loading.cancel()

    def poll(self) -> None:
        """Start loading the file if it changed since the last look (dropping the load of an older version)."""
        assert self.path is not None
        stamp = file_stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return  # unchanged, or mid-save (editors replace files): look again next time
        self._stamp = stamp
        if self._loading is not None:
            self._loading.cancel()  # its thread runs on, but what it loads is never used
        self._loading = asyncio.ensure_future(self.reload())
        self._loading.add_done_callback(self._loaded)

    def _loaded(self, task: asyncio.Task[bool]) -> None:
        if task is self._loading:
            self._loading = None
        error = None if task.cancelled() else task.exception()
        if error is not None:  # a bug of ours: reload() reports every failure of the config itself
            self._failed(error)

    def _failed(self, exc: BaseException) -> None:
        """Log an unexpected failure, once for the file version it happened on."""
        if self._failed_on == self._stamp:
            return
        self._failed_on = self._stamp
        with contextlib.suppress(Exception):  # the log itself may be what failed (a full disk): keep watching
            self.log.error("config watcher failed; still watching", error=f"{type(exc).__name__}: {exc}"[:1000])

    async def reload(self) -> bool:
        """Load the file off the event loop and swap it in; False (old config kept, error logged) when it cannot
        be used."""
        assert self.path is not None
        path, current = self.path, self.gateway.runtime.config
        ledger = self.gateway.runtime.ledger
        outcome = await in_daemon_thread(lambda: _prepared_runtime(path, current, ledger), name="ccr-config-reload")
        if outcome.error is not None:
            exc = outcome.error
            # not a ConfigError: not a config problem we know (user code may even raise SystemExit): say it
            error = str(exc) if isinstance(exc, ConfigError) else _short(exc)
            self.log.error("config change not applied; the previous config keeps serving", error=error)
            return False
        runtime: Runtime = outcome.value
        self._install(runtime)
        self.log.info(
            "config reloaded", config=str(path), routes={str(k): t.label for k, t in runtime.config.routes.items()}
        )
        return True

    async def reload_now(self) -> bool:
        """Load the file at once rather than at the next poll (the dashboard has just saved it): True when the new
        version serves from now on."""
        if self.path is None:
            return False
        self._stamp = file_stamp(self.path)
        if self._loading is not None:
            self._loading.cancel()
            self._loading = None
        return await self.reload()

    def changes_since(self, stamp: FileStamp | None) -> None:
        """Treat the file as last seen at `stamp`, the version the running config was read from: a worker forked
        after the file changed (gateway/workers.py) then loads it at the first poll, as the other workers did."""
        self._stamp = stamp

    def apply(self, config: Config) -> None:
        """Serve `config` from now on (a ConfigError, from loading its custom router, changes nothing)."""
        self._install(Runtime(config, self.gateway.runtime.ledger))

    def _install(self, runtime: Runtime) -> None:
        """Swap the runtime in, and take its log level and secrets."""
        self.gateway.runtime = runtime
        self.log.threshold = LEVELS[runtime.config.log_level]
        # Keep redacting the old keys too: requests in flight still use them, and so may their errors.
        self.log.redact = Redactor([*self.log.redact.secrets, *runtime.redact.secrets])


def _prepared_runtime(path: Path, current: Config, ledger: Ledger | None) -> Runtime:
    """The runtime of the config at `path`, its user code loaded (in a worker thread: this may take long)."""
    config = load_config(path)
    blocked = restart_only_changes(current, config)
    if blocked:
        raise ConfigError(f"{', '.join(blocked)} changed; run `ccr restart` to apply that.")
    return Runtime(config, ledger)


def _short(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:1000]
    except Exception:  # an exception whose str() raises
        return type(exc).__name__
