"""Can idle and slow clients starve the router? A bounded load run (not a test; issue 13).

One ccrouter service on CPU 0, started with the usual soft open-files limit of 1,024, forwarding to the bench mock
upstream on CPU 1. From CPU 1 this script holds, at the same time:

- 2,000 idle sockets (connected, sending nothing),
- 200 slow-header sockets (a request line, then one header byte a second, never the end of the headers),
- 100 clients sending real `POST /v1/messages` requests back to back for `--seconds`,

while it asks `/health` every 200 ms. It reports what the real clients and `/health` got, the service's peak RSS,
and its open descriptors before and after (everything closed again). Two variants: `raised` (hard limit as the
machine has it: the service raises its soft limit) and `hard-1024` (soft = hard = 1,024: it cannot, so its
connection cap is 480 and the longest-idle sockets make room).

    .venv/bin/python bench/exhaustion.py [--seconds 20] [--variants raised,hard-1024]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateways import ccr_config, clean_env
from procs import Proc, RssSampler, free_port, pinned
from workloads import build_small

REPO = Path(__file__).resolve().parent.parent
IDLE, SLOW, CLIENTS = 2000, 200, 100  # the defaults; --idle, --slow, --clients change them


@dataclass
class Tally:
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failed[why] = self.failed.get(why, 0) + 1


async def hold_idle(port: int, count: int, opened: list[asyncio.StreamWriter]) -> int:
    failures = 0
    for _ in range(count):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            opened.append(writer)
        except OSError:
            failures += 1
    return failures


async def slow_headers(port: int, count: int, until: float, opened: list[asyncio.StreamWriter]) -> None:
    writers = []
    for _ in range(count):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        writer.write(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        writers.append(writer)
        opened.append(writer)
    while time.monotonic() < until:
        for writer in writers:
            if not writer.is_closing():
                writer.write(b"a")
        await asyncio.sleep(1.0)


async def timed(request: Any, tally: Tally) -> bool:
    """Send one request (an aiohttp request context) and tally its outcome and latency; False when it failed to
    get any answer."""
    start = time.perf_counter()
    try:
        async with request as response:
            await response.read()
            if response.status == 200:
                tally.ok += 1
                tally.latencies_ms.append((time.perf_counter() - start) * 1000)
            else:
                tally.fail(str(response.status))
    except (TimeoutError, aiohttp.ClientError) as exc:
        tally.fail(type(exc).__name__)
        return False
    return True


async def real_client(session: aiohttp.ClientSession, url: str, body: bytes, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        if not await timed(session.post(url, data=body, headers={"content-type": "application/json"}), tally):
            await asyncio.sleep(0.05)


async def poll_health(session: aiohttp.ClientSession, url: str, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        await timed(session.get(url, timeout=aiohttp.ClientTimeout(total=5)), tally)
        await asyncio.sleep(0.2)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def established(port: int) -> int:
    """Client connections the service at `port` holds now (its side of each: source port = `port`)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return len(out.splitlines())


async def load(port: int, seconds: float, idle: int, slow: int, clients: int) -> dict[str, object]:
    until = time.monotonic() + seconds
    opened: list[asyncio.StreamWriter] = []
    requests, health = Tally(), Tally()
    body = json.dumps(build_small(stream=False)).encode()
    base = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(limit=clients + 10)
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as health_session,
    ):
        idle_failures = await hold_idle(port, idle, opened)
        tasks = [asyncio.create_task(slow_headers(port, slow, until, opened))]
        tasks.append(asyncio.create_task(poll_health(health_session, base + "/health", until, health)))
        tasks += [
            asyncio.create_task(real_client(session, base + "/v1/messages", body, until, requests))
            for _ in range(clients)
        ]
        await asyncio.gather(*tasks)
        held_at_end = established(port)
        for writer in opened:
            writer.close()
    return {
        "idle_connect_failures": idle_failures,
        "requests": _summary(requests),
        "health": _summary(health),
        "client_connections_held_at_end": held_at_end,
    }


def _summary(tally: Tally) -> dict[str, object]:
    lat = sorted(tally.latencies_ms)
    return {
        "ok": tally.ok,
        "failed": tally.failed,
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "max_ms": round(lat[-1], 1) if lat else None,
    }


def run_variant(name: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    service_hard = 1024 if name == "hard-1024" else hard
    hard_text = "unlimited" if service_hard == resource.RLIM_INFINITY else str(service_hard)
    mock_port, port = free_port(), free_port()
    home = work / name
    home.mkdir()
    mock = Proc(
        "mock",
        pinned([sys.executable, str(REPO / "bench" / "mock_upstream.py"), "--port", str(mock_port)], "1"),
        clean_env({}),
        REPO,
        home / "mock.log",
    )
    config = ccr_config(port, mock_port)
    (home / "config.json").write_text(json.dumps(config))
    env = clean_env({"CCR_HOME": str(home), "HOME": str(home), "PYTHONPATH": str(REPO / "src")})
    cmd = [
        "prlimit",
        f"--nofile=1024:{hard_text}",
        "--",
        sys.executable,
        "-m",
        "ccrouter.gateway.server",
        "--config",
        str(home / "config.json"),
    ]
    service = Proc("ccrouter", pinned(cmd, "0"), env, REPO, home / "service.log")
    try:
        mock.wait_http(mock_port)
        service.wait_http(port)
        fds_before = open_fds(service.pid)
        with RssSampler(service.pid) as rss:
            result = asyncio.run(load(port, min(args.seconds, 120.0), args.idle, args.slow, args.clients))
        deadline = time.monotonic() + 10
        while established(port) > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        result |= {
            "variant": name,
            "service_nofile": f"soft 1024, hard {hard_text}",
            "peak_rss_mb": round(rss.peak_kb / 1024, 1),
            "service_fds_before": fds_before,
            "service_fds_after": open_fds(service.pid),  # + the pooled keep-alive connections to the mock
            "client_connections_held_after": established(port),
        }
        return result
    finally:
        service.stop()
        mock.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load lasts (bounded: max 120)")
    parser.add_argument("--variants", default="raised,hard-1024")
    parser.add_argument("--idle", type=int, default=IDLE, help="idle sockets held open")
    parser.add_argument("--slow", type=int, default=SLOW, help="sockets sending their headers a byte a second")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="clients sending real requests back to back")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this side holds 2,300+ sockets
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="ccr-exhaustion-") as tmp:
        for variant in args.variants.split(","):
            print(json.dumps(run_variant(variant, args, Path(tmp)), indent=2), flush=True)


if __name__ == "__main__":
    main()
