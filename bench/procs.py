"""Processes under test: start pinned to a core, wait for the port, read RSS and CPU time, stop by pid."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
HAVE_TASKSET = shutil.which("taskset") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cmd: Sequence[str], cpu: str | None) -> list[str]:
    """Prefix cmd with `taskset -c CPU` (taskset execs, so the pid stays the program's own)."""
    if cpu is None or not HAVE_TASKSET:
        return list(cmd)
    return ["taskset", "-c", cpu, *cmd]


def http_get_status(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


class Proc:
    """A child process with its output in a log file; stopped by its own pid (and its descendants' pids)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_http(self, port: int, path: str = "/health", timeout: float = 20.0) -> float:
        """Seconds from spawn until GET path answers 200. Raises RuntimeError if it dies or times out."""
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.log_tail()}")
            if http_get_status("127.0.0.1", port, path, timeout=0.5) == 200:
                return time.perf_counter() - self.started_at
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer {path} on port {port} within {timeout:.0f}s")

    def log_tail(self, n: int = 1500) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode(errors="replace").strip()

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process and the descendants it spawned, by pid; SIGKILL whatever outlives grace."""
        pids = self.tree() if self.alive() else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace)
        for pid in pids[1:]:
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def process_tree(root: int) -> list[int]:
    """root and all its live descendants, root first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out = [root]
    i = 0
    while i < len(out):
        out.extend(children.get(out[i], []))
        i += 1
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids: Sequence[int]) -> int:
    """Current resident set size summed over pids."""
    return sum(_status_kb(pid, "VmRSS") for pid in pids)


def hwm_kb(pids: Sequence[int]) -> int:
    """Peak resident set size (VmHWM) summed over pids."""
    return sum(_status_kb(pid, "VmHWM") for pid in pids)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time summed over pids."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def cpu_busy_seconds(cpus: set[int]) -> float:
    """Non-idle time of the given CPUs from /proc/stat (all processes, interrupts included)."""
    total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        v = [int(x) for x in rest.split()]
        total += sum(v[:8]) - v[3] - v[4]  # user..steal, minus idle and iowait
    return total / CLK_TCK


class RssSampler:
    """Polls the summed VmRSS of a process tree in a thread; `peak_kb` is the highest value seen."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = process_tree(self.root)
        n = 0
        while not self._stop.is_set():
            if n % 20 == 0:
                pids = process_tree(self.root)
            self.peak_kb = max(self.peak_kb, rss_kb(pids))
            n += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
