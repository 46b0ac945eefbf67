"""Run wrk with the POST script and parse its report."""

from __future__ import annotations

import re
import resource
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from procs import pinned

LUA_POST = Path(__file__).resolve().parent / "lua" / "post.lua"

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RPS_RE = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL_RE = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")
_PCT_RE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: int
    timeouts: int
    wrk_cpu_s: float | None = None  # wrk's own CPU time (user + system) over the run; None when not measured

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def parse_wrk(output: str) -> WrkResult:
    rps = _RPS_RE.search(output)
    if rps is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    pct = {int(p): float(v) * _UNITS_MS[u] for p, v, u in _PCT_RE.findall(output)}
    total = _TOTAL_RE.search(output)
    non2xx = _NON2XX_RE.search(output)
    sock = _SOCKET_RE.search(output)
    connect, read, write, timeout = (int(x) for x in sock.groups()) if sock else (0, 0, 0, 0)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=pct.get(50, float("nan")),
        p90_ms=pct.get(90, float("nan")),
        p99_ms=pct.get(99, float("nan")),
        requests=int(total.group(1)) if total else 0,
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        # A read error is how wrk counts a connection the server closed; timeouts are reported apart.
        socket_errors=connect + read + write,
        timeouts=timeout,
    )


def run_wrk(
    url: str,
    body: Path,
    connections: int,
    duration: float,
    cpu: str | None,
    timeout_s: float = 10.0,
) -> WrkResult:
    """One bounded wrk run (-t1, --latency) POSTing body to url, with the CPU time wrk used."""
    cmd = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={timeout_s:g}s",
            "--latency",
            "-s",
            str(LUA_POST),
            url,
            "--",
            str(body),
        ],
        cpu,
    )
    before = _children_cpu_s()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 30, check=False)
    wrk_cpu_s = _children_cpu_s() - before
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return replace(parse_wrk(proc.stdout), wrk_cpu_s=wrk_cpu_s)


def _children_cpu_s() -> float:
    """User + system CPU of this process's children that have ended and been waited for.

    The difference around `subprocess.run` is wrk's own CPU (taskset execs wrk, so it is one process): the runner
    waits for no other child meanwhile (the gateways and the mock are polled before and after a run, not during).
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
