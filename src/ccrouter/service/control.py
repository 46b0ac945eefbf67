"""Starting, stopping and checking the background service, and the `ccr code` sessions that keep it running.

One service per `$CCR_HOME`, recorded in its pid file (`service.pidfile`). `start` spawns
`python -m ccrouter.gateway.server` in a new session and waits for /health; `stop` ends it; `status` checks the
pid file against the process table and /health, removing stale pid files on sight; a start that fails says why
on stderr and in the service's JSON log (for `ccr logs`), and a start whose config shows keys to other users
warns there (`exposed_keys`). A background service's own output goes to `service-stderr.log`, private to its owner;
a start that finds it over `STDERR_LOG_MAX_BYTES` moves it aside as `service-stderr.1.log` (one old copy).
Starts, stops and the `ccr code` sessions (`service.code_sessions`) are serialised by a lock file, so that two
`ccr code` starting at once share one service and an ending session never stops a service another is starting.

Standard library only: the `ccr` commands that use this module must start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ccrouter.config.light import read_config_dict
from ccrouter.errors import ServiceError
from ccrouter.files import open_private_append, private_directory
from ccrouter.paths import LOCK_FILE, LOG_DIR, LOG_FILE, SERVICE_STDERR_LOG, SERVICE_STDERR_OLD_LOG, log_dir_of
from ccrouter.service import code_sessions
from ccrouter.service.client import health_ok
from ccrouter.service.exposed_keys import exposed_keys_warning
from ccrouter.service.pidfile import (
    OWNER_CODE,
    OWNER_START,
    PidInfo,
    is_alive,
    pid_path,
    read_pid_file,
    remove_pid_file,
    write_pid_file,
)
from ccrouter.service.ports import port_holder
from ccrouter.service.processes import POLL_S, is_running, proc_start_time, terminate

START_TIMEOUT_S = 15.0
# A service stops within 10 s of SIGTERM (gateway/in_flight.py's STOP_BOUND_S; a supervisor's workers within 12 s):
# only past this is it killed, which loses the ledger rows still in its memory.
STOP_TIMEOUT_S = 15.0
STDERR_LOG_MAX_BYTES = 1024 * 1024  # a start that finds service-stderr.log larger begins a new one


@dataclass(frozen=True)
class Status:
    state: str  # "running", "unresponsive" (process alive, /health silent) or "stopped"
    info: PidInfo | None = None
    note: str | None = None  # e.g. that a stale pid file was removed

    @property
    def running(self) -> bool:
        return self.state == "running"


def stderr_log_path(home: Path) -> Path:
    """Where a background service's own output goes (what it printed before it could log)."""
    return home / LOG_DIR / SERVICE_STDERR_LOG


def status(home: Path) -> Status:
    """What the pid file says, checked against the process table and /health; stale pid files are removed."""
    try:
        info = read_pid_file(home)
    except (OSError, ValueError) as exc:
        remove_pid_file(home)
        return Status("stopped", note=f"removed an unreadable pid file {pid_path(home)} ({exc})")
    if info is None:
        return Status("stopped")
    if not is_alive(info):
        remove_pid_file(home, info.pid)
        return Status("stopped", note=f"removed a stale pid file (process {info.pid} is gone)")
    if health_ok(info.host, info.port):
        return Status("running", info)
    return Status("unresponsive", info)


@contextlib.contextmanager
def _service_lock(home: Path) -> Iterator[None]:
    """Serialise starts, stops and `ccr code` sessions (two `ccr code` at once) within one CCR_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with (home / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start(
    home: Path,
    config_path: Path,
    host: str,
    port: int,
    timeout: float = START_TIMEOUT_S,
    owner: str = OWNER_START,
) -> tuple[PidInfo, bool]:
    """Start the service in the background unless it runs already: (its pid info, whether this call started it).

    `host` is the client address (see `client.client_host`). `owner` is recorded in the pid file; a service that
    `ccr code` started and `ccr start` then finds running becomes `ccr start`'s: it keeps running after the last
    `ccr code` session. Raises ServiceError when it cannot start.
    """
    with _service_lock(home):
        return _start_locked(home, config_path, host, port, timeout, owner)


def start_code_session(
    home: Path, config_path: Path, host: str, port: int, timeout: float = START_TIMEOUT_S
) -> tuple[PidInfo, bool, code_sessions.CodeSession]:
    """For `ccr code`: start the service if needed (owned by `ccr code` if this call starts it), and record the
    calling process as a running session, both under the service lock so that an ending session cannot stop
    the service in between. Call `end_code_session` when Claude Code has exited."""
    with _service_lock(home):
        info, started = _start_locked(home, config_path, host, port, timeout, OWNER_CODE)
        return info, started, code_sessions.register(home)


def end_code_session(home: Path, timeout: float = STOP_TIMEOUT_S) -> PidInfo | None:
    """Forget the calling `ccr code` session; when it was the last one (dead sessions do not count) and the
    service was started by `ccr code`, stop the service. Returns what was stopped, if anything."""
    with _service_lock(home):
        code_sessions.unregister(home)
        if code_sessions.live_sessions(home):
            return None
        info = _recorded(home)
        if info is None or info.owner != OWNER_CODE:
            return None
        try:
            _terminate_service(info.pid, timeout)
        except PermissionError:
            return None
        remove_pid_file(home, info.pid)
        return info


def _recorded(home: Path) -> PidInfo | None:
    """The pid file's service if its process is alive (no /health check); stale pid files are removed."""
    try:
        info = read_pid_file(home)
    except (OSError, ValueError):
        return None
    if info is not None and not is_alive(info):
        remove_pid_file(home, info.pid)
        return None
    return info


def _start_locked(
    home: Path, config_path: Path, host: str, port: int, timeout: float, owner: str
) -> tuple[PidInfo, bool]:
    current = status(home)
    if current.info is None:
        return _spawn(home, config_path, host, port, timeout, owner), True
    if not (current.running or _wait_healthy(current.info, timeout)):
        raise ServiceError(
            f"ccrouter (pid {current.info.pid}) is running but {current.info.url}/health does not answer. "
            f"Run `ccr stop`, then start it again; its errors are in {stderr_log_path(home)}."
        )
    info = current.info
    if owner == OWNER_START and info.owner == OWNER_CODE:
        info = replace(info, owner=OWNER_START)  # asked for explicitly now: keep it after `ccr code` ends
        write_pid_file(home, info)
    return info, False


def _spawn(home: Path, config_path: Path, host: str, port: int, timeout: float, owner: str) -> PidInfo:
    log_path = stderr_log_path(home)
    private_directory(log_path.parent)
    _rotate_if_large(log_path)
    note_exposed_keys(config_path)
    with open_private_append(log_path) as log:
        offset = log.tell()
        log.write(f"--- ccr start {time.strftime('%Y-%m-%d %H:%M:%S')}: {config_path}\n".encode())
        log.flush()
        child = subprocess.Popen(
            [sys.executable, "-m", "ccrouter.gateway.server", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    info = PidInfo(
        pid=child.pid,
        host=host,
        port=port,
        config=str(config_path),
        started_at=time.time(),
        proc_start=proc_start_time(child.pid),
        owner=owner,
    )
    write_pid_file(home, info)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            remove_pid_file(home, child.pid)
            message = _early_exit_message(child.returncode, _read_from(log_path, offset), port, log_path)
            note_failed_start(config_path, message, log_path)
            raise ServiceError(message)
        if health_ok(host, port, timeout=0.5):
            child.returncode = 0  # detached on purpose: keep Popen from warning that it still runs
            return info
        time.sleep(POLL_S)
    terminate(child.pid, grace=5.0)
    child.wait(1)
    remove_pid_file(home, child.pid)
    message = (
        f"ccrouter did not answer {info.url}/health within {timeout:g} s and was stopped. "
        f"Its errors, if any, are in {log_path}; check HOST and PORT in {config_path}."
    )
    note_failed_start(config_path, message, log_path)
    raise ServiceError(message)


def _rotate_if_large(log_path: Path) -> None:
    """Move a large `service-stderr.log` aside (replacing the previous old copy), so that it never grows forever."""
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > STDERR_LOG_MAX_BYTES:
            log_path.replace(log_path.with_name(SERVICE_STDERR_OLD_LOG))


def note_exposed_keys(config_path: Path) -> str | None:
    """At a start: a warning line in the service's JSON log when the config shows keys to other users (the
    service's stderr is a file nobody reads). Returns the warning, for a terminal that is watching."""
    warning = exposed_keys_warning(config_path)
    if warning is not None:
        append_log_line(config_path, "warn", "the config shows keys to other users", {"reason": warning})
    return warning


def note_failed_start(config_path: Path, message: str, output: Path) -> None:
    """Append an error line to the service's JSON log (unless LOG is false), so that `ccr logs` shows why the
    latest background start failed: the service itself may have died before it could log anything."""
    append_log_line(config_path, "error", "start failed", {"reason": " ".join(message.split()), "output": str(output)})


def append_log_line(config_path: Path, level: str, msg: str, fields: dict[str, str]) -> None:
    """Append one line to the JSON log of the service started with `config_path` (unless LOG is false there),
    for what is known before the service itself logs (or when it cannot)."""
    if read_config_dict(config_path).get("LOG") in (False, "false", "0"):
        return
    record = {"ts": round(time.time(), 3), "level": level, "msg": msg, **fields}
    directory = Path(log_dir_of(config_path))
    with contextlib.suppress(OSError):
        private_directory(directory)
        with open_private_append(directory / LOG_FILE) as log:
            log.write((json.dumps(record, ensure_ascii=False) + "\n").encode())


def _early_exit_message(code: int, stderr: str, port: int, log_path: Path) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("--- ccr start")]
    # The service's own JSON log lines (a start-up warning, "starting") are in its log already; the reason is in
    # what else it printed (uvicorn's error, a traceback), when there is any.
    plain = [line for line in lines if not line.startswith('{"ts":')]
    reason = "\n".join((plain or lines)[-10:]).strip()
    if "address already in use" in stderr.lower() or "errno 98" in stderr.lower():
        return port_in_use_message(port)  # uvicorn's own "[Errno 98] ..." line says no more than this
    if code == 2 and reason:
        return reason.removeprefix("ccrouter: ")  # the server's config error, already phrased for people
    detail = f":\n{reason}" if reason else " without saying why."
    return (
        f"ccrouter exited with code {code} while starting{detail}\n"
        f"Fix the cause and run `ccr start` again; the full output is in {log_path}."
    )


def port_in_use_message(port: int) -> str:
    """Says who holds `port`, where /proc can tell, and what to do."""
    holder = port_holder(port)
    who = holder.describe() if holder is not None else "another program"
    return (
        f"ccrouter could not start: port {port} is already in use by {who}. "
        f"Stop that program, or set PORT in the config to a free port."
    )


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(64_000).decode("utf-8", "replace")
    except OSError:
        return ""


def _wait_healthy(info: PidInfo, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(info):
            return False
        if health_ok(info.host, info.port, timeout=0.5):
            return True
        time.sleep(POLL_S)
    return False


def worker_pids(pid: int) -> list[int]:
    """The worker processes of the service `pid` (WORKERS > 1: its children serving the same command), from /proc;
    none for a single process."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []
    workers = []
    for entry in entries:
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if (
                int(stat[stat.rfind(")") + 2 :].split()[1]) == pid
                and Path(f"/proc/{entry}/cmdline").read_bytes() == command
            ):
                workers.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(workers)


def _terminate_service(pid: int, timeout: float) -> bool:
    """End the service `pid` (SIGTERM, SIGKILL after `timeout`) and any worker of it that outlives it (a supervisor
    killed before its workers stopped); whether something had to be killed. PermissionError: another user's."""
    workers = [(worker, proc_start_time(worker)) for worker in worker_pids(pid)]
    killed = terminate(pid, timeout)
    for worker, started in workers:
        if is_running(worker, started):
            killed = terminate(worker, STOP_TIMEOUT_S / 2) or killed
    return killed


def stop(home: Path, timeout: float = STOP_TIMEOUT_S) -> tuple[Status, bool]:
    """Stop the service: (its status before, whether it had to be killed). Not running is not an error.

    Holds the service lock, so a `ccr code` that is starting the service meanwhile finishes first."""
    with _service_lock(home):
        before = status(home)
        if before.info is None:
            return before, False
        try:
            killed = _terminate_service(before.info.pid, timeout)
        except PermissionError:
            raise ServiceError(
                f"Not allowed to stop process {before.info.pid} (owned by another user). "
                f"Stop it as that user, or remove the pid file {pid_path(home)} if it is not ccrouter."
            ) from None
        remove_pid_file(home, before.info.pid)
        return before, killed
