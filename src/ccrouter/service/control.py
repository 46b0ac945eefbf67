"""The background service: pid file, spawn, wait for /health, stop, status.

One service per `$CCR_HOME`. Its pid file (`$CCR_HOME/ccr.pid`, JSON) says which process serves which URL, so
`ccr stop` and `ccr status` work without loading the config (which may be broken by then). A pid file whose
process is gone, or whose pid now belongs to another process, is stale and removed on sight.

Only the standard library is imported here: `ccr` commands that use this module must start fast.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ccrouter.service import code_sessions
from ccrouter.service.ports import port_holder

PID_FILE = "ccr.pid"
LOCK_FILE = "ccr.lock"
STDERR_LOG = "service-stderr.log"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "localhost", "127.0.0.1"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
OWNER_START = "ccr-start"  # started by `ccr start` (or `restart`, `start --foreground`): runs until `ccr stop`
OWNER_CODE = "ccr-code"  # started by `ccr code`: stops when the last `ccr code` session ends


class ServiceError(Exception):
    """The service could not be started or stopped. The message says why and what to do next."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class PidInfo:
    pid: int
    host: str  # the address clients use (never a wildcard)
    port: int
    config: str
    started_at: float
    proc_start: int | None = None  # the kernel's start time of `pid`, to tell pid reuse apart
    foreground: bool = False
    owner: str = OWNER_START  # who started it: OWNER_START or OWNER_CODE

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class Status:
    state: str  # "running", "unresponsive" (process alive, /health silent) or "stopped"
    info: PidInfo | None = None
    note: str | None = None  # e.g. that a stale pid file was removed

    @property
    def running(self) -> bool:
        return self.state == "running"


# ---------------------------------------------------------------------------------------------------------------
# Paths and the pid file


def pid_path(home: Path) -> Path:
    return home / PID_FILE


def stderr_log_path(home: Path) -> Path:
    return home / "logs" / STDERR_LOG


def client_host(host: str, apikey: str | None) -> str:
    """The address a local client reaches the service at, given the configured HOST."""
    if host in _WILDCARD_HOSTS or (not apikey and host not in _LOOPBACK_HOSTS):
        return "127.0.0.1"  # a wildcard bind, or one that auth.bind_host narrows to loopback
    return host


def read_pid_file(home: Path) -> PidInfo | None:
    """The pid file's contents; None when there is none. A corrupt file raises ValueError."""
    try:
        text = pid_path(home).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        return PidInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            config=str(data.get("config", "")),
            started_at=float(data.get("started_at", 0)),
            proc_start=int(data["proc_start"]) if data.get("proc_start") is not None else None,
            foreground=bool(data.get("foreground", False)),
            owner=OWNER_CODE if data.get("owner") == OWNER_CODE else OWNER_START,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"missing or bad field {exc}") from None


def write_pid_file(home: Path, info: PidInfo) -> None:
    home.mkdir(parents=True, exist_ok=True)
    data = {**asdict(info), "url": info.url}
    tmp = pid_path(home).with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(pid_path(home))


def remove_pid_file(home: Path, pid: int | None = None) -> None:
    """Remove the pid file; with `pid`, only if it still names that process."""
    if pid is not None:
        try:
            current = read_pid_file(home)
        except ValueError:
            current = None
        if current is not None and current.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        pid_path(home).unlink()


# ---------------------------------------------------------------------------------------------------------------
# Processes


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after its closing parenthesis.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, but belongs to someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: trust kill(0)
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


def is_alive(info: PidInfo) -> bool:
    """The process in the pid file is alive and is still the one that wrote it (not a reused pid)."""
    if not pid_alive(info.pid):
        return False
    return info.proc_start is None or proc_start_time(info.pid) in (None, info.proc_start)


def health_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """GET /health answers 200. Talks to the address directly: proxy settings must not get in the way."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------------------
# Status, start, stop


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
def _start_lock(home: Path) -> Iterator[None]:
    """Serialise concurrent starts (two `ccr code` at once) within one CCR_HOME."""
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

    `host` is the client address (see `client_host`). `owner` is recorded in the pid file; a service that
    `ccr code` started and `ccr start` then finds running becomes `ccr start`'s: it keeps running after the last
    `ccr code` session. Raises ServiceError when it cannot start.
    """
    with _start_lock(home):
        return _start_locked(home, config_path, host, port, timeout, owner)


def start_code_session(
    home: Path, config_path: Path, host: str, port: int, timeout: float = START_TIMEOUT_S
) -> tuple[PidInfo, bool, code_sessions.CodeSession]:
    """For `ccr code`: start the service if needed (owned by `ccr code` if this call starts it), and record the
    calling process as a running session, both under the service lock so that an ending session cannot stop
    the service in between. Call `end_code_session` when Claude Code has exited."""
    with _start_lock(home):
        info, started = _start_locked(home, config_path, host, port, timeout, OWNER_CODE)
        return info, started, code_sessions.register(home)


def end_code_session(home: Path, timeout: float = STOP_TIMEOUT_S) -> PidInfo | None:
    """Forget the calling `ccr code` session; when it was the last one (dead sessions do not count) and the
    service was started by `ccr code`, stop the service. Returns what was stopped, if anything."""
    with _start_lock(home):
        code_sessions.unregister(home)
        if code_sessions.live_sessions(home):
            return None
        info = _recorded(home)
        if info is None or info.owner != OWNER_CODE:
            return None
        try:
            _terminate(info.pid, timeout)
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
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
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
            raise ServiceError(_early_exit_message(child.returncode, _read_from(log_path, offset), port, log_path))
        if health_ok(host, port, timeout=0.5):
            child.returncode = 0  # detached on purpose: keep Popen from warning that it still runs
            return info
        time.sleep(_POLL_S)
    _terminate(child.pid, grace=5.0)
    child.wait(1)
    remove_pid_file(home, child.pid)
    raise ServiceError(
        f"ccrouter did not answer {info.url}/health within {timeout:g} s and was stopped. "
        f"Its errors, if any, are in {log_path}; check HOST and PORT in {config_path}."
    )


def _early_exit_message(code: int, stderr: str, port: int, log_path: Path) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("--- ccr start")]
    reason = "\n".join(lines[-10:]).strip()
    if "address already in use" in stderr.lower() or "errno 98" in stderr.lower():
        return port_in_use_message(port) + f"\n{reason}"
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
        time.sleep(_POLL_S)
    return False


def _terminate(pid: int, grace: float) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. True if it had to be killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


def stop(home: Path, timeout: float = STOP_TIMEOUT_S) -> tuple[Status, bool]:
    """Stop the service: (its status before, whether it had to be killed). Not running is not an error.

    Holds the service lock, so a `ccr code` that is starting the service meanwhile finishes first."""
    with _start_lock(home):
        before = status(home)
        if before.info is None:
            return before, False
        try:
            killed = _terminate(before.info.pid, timeout)
        except PermissionError:
            raise ServiceError(
                f"Not allowed to stop process {before.info.pid} (owned by another user). "
                f"Stop it as that user, or remove the pid file {pid_path(home)} if it is not ccrouter."
            ) from None
        remove_pid_file(home, before.info.pid)
        return before, killed


@contextlib.contextmanager
def foreground_pid_file(home: Path, host: str, port: int, config_path: Path) -> Iterator[PidInfo]:
    """Record this process as the service for as long as the block runs (`ccr start --foreground`)."""
    pid = os.getpid()
    info = PidInfo(pid, host, port, str(config_path), time.time(), proc_start_time(pid), foreground=True)
    write_pid_file(home, info)
    try:
        yield info
    finally:
        remove_pid_file(home, pid)
