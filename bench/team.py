"""Team mode under load: three ccrouter instances behind nginx, sharing PostgreSQL (ledger) and Redis (state), with
1,000 concurrent streams and 5% provider faults.

    .venv/bin/python bench/team.py                      # 1,000 streams for 30 s, 5% faults
    .venv/bin/python bench/team.py --streams 200 --seconds 10

Starts a fresh PostgreSQL and Redis (temp folders, free loopback ports; team_services.py), the fault-injecting
upstream (fault_upstream.py: `primary` fails --fault-rate of its requests with its whole mix of 429, 500, 503, 529,
resets and stalls; `backup`, the fallback, never fails on its own), three `python -m ccrouter.gateway.server`
instances (each its own CCR_HOME, all with the same LEDGER_URL and STATE_URL) and nginx in front of them (the
docs/TEAM.md snippet). Then N connections each send streaming /v1/messages requests back to back through nginx for
--seconds. Every answer is classified as faults.py does (served / proper error / invalid), a connection that drops
or hangs without either is *broken*. The instances are stopped with SIGTERM (their ledger writers flush), and the
rows in PostgreSQL are compared, by request id, with the answers and with the instances' own request records.

Exit code: 0 all good; 1 a broken or invalid answer, or a ledger row missing or extra; 2 the run could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

import faults
from fault_upstream import LOOP_LAG, watch_loop_lag
from gateways import BENCH_DIR, REPO_DIR, clean_env
from procs import Proc, cpu_seconds, free_port, process_tree
from team_report import render, verdict
from team_services import Postgres, Redis, missing_binaries, start_nginx

RESULTS_DIR = BENCH_DIR / "results"
UNREACHABLE = "shared state (STATE_URL) unreachable"  # an instance's log line when Redis misses its time budget
STOP_GRACE_S = 15.0  # an instance stops within 10 s of its SIGTERM (gateway/in_flight.py STOP_BOUND_S)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=1000, help="concurrent connections, each streaming back to back")
    p.add_argument("--seconds", type=float, default=30.0, help="how long new requests are sent")
    p.add_argument("--max-requests", type=int, default=500_000, help="stop sending after this many")
    p.add_argument("--fault-rate", type=float, default=0.05, help="share of the primary's answers that are faults")
    p.add_argument("--doomed-rate", type=float, default=0.005, help="requests both upstreams refuse (an HTTP error)")
    p.add_argument("--instances", type=int, default=3)
    p.add_argument(
        "--attempt-timeout-ms",
        type=int,
        default=5000,
        help="RETRY.attempt_timeout_ms: above the queueing of 1,000 streams on 2 cores, below --stall-s",
    )
    p.add_argument("--stall-s", type=float, default=10.0, help="a stall before the headers lasts this long")
    p.add_argument("--chunk-interval-ms", type=float, default=2.0, help="the upstream's pause between SSE chunks")
    p.add_argument("--request-timeout", type=float, default=120.0, help="an answer not complete by then is broken")
    p.add_argument("--log-level", default="info", help="the instances' LOG_LEVEL (request records are counted)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--python", default=str(REPO_DIR / ".venv" / "bin" / "python"), help="ccrouter's python")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, configs, nginx.conf)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------------
# Processes


@dataclass
class Stack:
    """Everything started, in start order; `stop_all` stops what is still running, by pid, last first."""

    tmp: Path
    postgres: Postgres | None = None
    redis: Redis | None = None
    procs: list[Proc] = field(default_factory=list)
    instances: list[tuple[Proc, Path, int]] = field(default_factory=list)  # (process, CCR_HOME, port)
    stuck: dict[str, str] = field(default_factory=dict)  # instances still running STOP_GRACE_S after SIGTERM

    def stop_instances(self) -> list[int | None]:
        """SIGTERM every instance once, all at once (each flushes its ledger writer; a second SIGTERM would make
        uvicorn force its exit), then wait for them; their exit codes."""
        for proc, _, _ in self.instances:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc, _, _ in self.instances:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=STOP_GRACE_S)
            if proc.alive():  # what it said last, for the JSON: why it did not stop
                self.stuck[proc.name] = proc.log_tail(3000)
            proc.stop(grace=5.0)  # SIGKILL if it is still there; closes its log
        return [proc.popen.returncode for proc, _, _ in self.instances]

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.alive():
                proc.stop(grace=STOP_GRACE_S)
        for service in (self.redis, self.postgres):
            if service is not None:
                service.stop()


def start_mocks(a: argparse.Namespace, stack: Stack) -> tuple[Proc, int, int]:
    primary, backup = free_port(), free_port()
    command = [a.python, str(BENCH_DIR / "fault_upstream.py"), f"--primary-port={primary}", f"--backup-port={backup}"]
    command += [f"--primary-rate={a.fault_rate}", "--backup-rate=0", f"--stall-s={a.stall_s}"]
    command += [f"--chunk-interval-ms={a.chunk_interval_ms}", f"--seed={a.seed}"]
    mocks = Proc("mocks", command, clean_env({}), stack.tmp, stack.tmp / "mocks.log")
    stack.procs.append(mocks)
    mocks.wait_http(primary)
    mocks.wait_http(backup)
    return mocks, primary, backup


def start_instance(a: argparse.Namespace, stack: Stack, n: int, primary: int, backup: int) -> None:
    """One ccrouter with faults.py's router config (retries, fallback to the backup, cool-downs) plus the shared
    LEDGER_URL and STATE_URL."""
    assert stack.postgres is not None and stack.redis is not None
    home = stack.tmp / f"instance-{n}"
    home.mkdir()
    port = free_port()
    config = faults.router_config(a, port, primary, backup)
    config.update(LEDGER_URL=stack.postgres.url(), STATE_URL=stack.redis.url)
    (home / "config.json").write_text(json.dumps(config, indent=2))
    src = str(REPO_DIR / "src")
    env = clean_env({"CCR_HOME": str(home), "HOME": str(home), "PYTHONPATH": src})
    command = [a.python, "-m", "ccrouter.gateway.server", "--config", str(home / "config.json")]
    proc = Proc(f"ccrouter-{n}", command, env, stack.tmp, stack.tmp / f"instance-{n}.out")
    stack.procs.append(proc)
    stack.instances.append((proc, home, port))


def start_stack(a: argparse.Namespace, stack: Stack) -> tuple[int, int]:
    """PostgreSQL, Redis, the mocks, the instances (started together, then awaited), nginx; (nginx port, mocks port)."""
    stack.postgres = Postgres(stack.tmp)
    stack.postgres.start()
    stack.redis = Redis(stack.tmp)
    stack.redis.start()
    _, primary, backup = start_mocks(a, stack)
    for n in range(a.instances):
        start_instance(a, stack, n, primary, backup)
    for proc, _, port in stack.instances:
        proc.wait_http(port, timeout=60.0)
    nginx, nginx_port = start_nginx(stack.tmp, [port for _, _, port in stack.instances], clean_env({}))
    stack.procs.append(nginx)
    nginx.wait_http(nginx_port)
    return nginx_port, primary


# ---------------------------------------------------------------------------------------------------------------
# The load


@dataclass
class Load:
    a: argparse.Namespace
    url: str
    deadline: float
    results: list[faults.Result] = field(default_factory=list)
    request_ids: dict[int, str] = field(default_factory=dict)  # our id -> the router's `request-id` header
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def one(self, session: aiohttp.ClientSession, rid: int, doomed: bool) -> None:
        r = faults.Result(rid, "measured", doomed)
        session_id = f"bench-session-{rid % faults.SESSIONS:03d}"  # nginx hashes it (docs/TEAM.md)
        sent = {**faults.HEADERS, "x-claude-code-session-id": session_id}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.a.request_timeout):
                async with session.post(self.url, data=faults.request_body(rid, doomed), headers=sent) as resp:
                    r.ttfb_s = time.perf_counter() - started
                    data = await resp.read()
                    status, headers = resp.status, resp.headers
        except TimeoutError:
            r.outcome, r.detail = "broken", f"hung: no complete answer within {self.a.request_timeout:.0f} s"
        except aiohttp.ClientError as exc:
            r.outcome, r.detail = "broken", f"connection dropped: {type(exc).__name__}: {exc}"
        else:
            if "request-id" in headers:
                self.request_ids[rid] = headers["request-id"]
            try:
                faults.classify(r, status, headers, data)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                r.outcome, r.detail = "bad", f"malformed answer ({type(exc).__name__}: {exc}): {data[:300]!r}"
        r.latency_s = time.perf_counter() - started
        self.results.append(r)

    async def stream(self, session: aiohttp.ClientSession, rng: random.Random) -> None:
        """One client connection: requests back to back until the time or the request budget runs out."""
        while time.monotonic() < self.deadline:
            rid = next(self.ids)
            if rid >= self.a.max_requests:
                return
            await self.one(session, rid, rng.random() < self.a.doomed_rate)

    async def run(self) -> float:
        """The load; SIGINT or SIGTERM cancels it (a Python signal handler's exception would be swallowed by a
        transport callback under uvloop), and the caller stops every process."""
        main_task = asyncio.current_task()
        assert main_task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, main_task.cancel)
        connector = aiohttp.TCPConnector(limit=self.a.streams, limit_per_host=self.a.streams)
        rng = random.Random(self.a.seed)
        started = time.perf_counter()
        watcher = asyncio.create_task(watch_loop_lag())
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
            reporter = asyncio.create_task(self.progress(started))
            await asyncio.gather(*(self.stream(session, rng) for _ in range(self.a.streams)))
            reporter.cancel()
        watcher.cancel()
        return time.perf_counter() - started

    async def progress(self, started: float) -> None:
        while True:
            await asyncio.sleep(5.0)
            counts = Counter(r.outcome for r in self.results)
            print(
                f"  {time.perf_counter() - started:5.1f} s: {len(self.results):,} answered  ok {counts['ok']:,}  "
                f"error {counts['error']:,}  invalid {counts['bad']:,}  broken {counts['broken']:,}",
                flush=True,
            )


# ---------------------------------------------------------------------------------------------------------------
# Ledger and report


def ledger_check(stack: Stack, load: Load, answered: list[faults.Result]) -> dict[str, Any]:
    """Rows in PostgreSQL against the instances' request records (their logs) and the answers' request ids."""
    assert stack.postgres is not None
    rows = stack.postgres.execute("SELECT request_id, status FROM ccr_requests")
    row_ids = Counter(request_id for request_id, _ in rows)
    records = {f"instance-{n}": faults.router_log_summary(home) for n, (_, home, _) in enumerate(stack.instances)}
    recorded = sum(sum(s["request_records"].values()) for s in records.values())
    answer_ids = {load.request_ids[r.id] for r in answered if r.id in load.request_ids}
    return {
        "rows": len(rows),
        "rows_by_status": dict(Counter(str(status) for _, status in rows).most_common()),
        "request_records": recorded,
        "request_records_by_instance": {n: sum(s["request_records"].values()) for n, s in records.items()},
        "answered": len(answered),
        "answered_without_request_id": sum(1 for r in answered if r.id not in load.request_ids),
        "answered_without_row": len(answer_ids - set(row_ids)),
        "rows_without_answer": len(set(row_ids) - answer_ids),
        "duplicate_rows": sum(n - 1 for n in row_ids.values() if n > 1),
        "internal_errors": sum(s["internal_errors"] for s in records.values()),
        "state_fallbacks": sum(n for s in records.values() for w, n in s["other_warnings"].items() if UNREACHABLE in w),
        "cooldowns": {n: s["cooldowns"] for n, s in records.items()},
        "other_warnings": {n: s["other_warnings"] for n, s in records.items()},
    }


def summarize(load: Load, wall_s: float) -> dict[str, Any]:
    ok = [r for r in load.results if r.outcome == "ok"]
    errors = [r for r in load.results if r.outcome == "error"]
    invalid = [r for r in load.results if r.outcome == "bad"]
    broken = [r for r in load.results if r.outcome == "broken"]
    answered = [r for r in load.results if r.outcome != "broken"]
    latencies = [r.latency_s * 1000 for r in answered]
    return {
        "sent": len(load.results),
        "answered_200": sum(1 for r in ok),
        "proper_errors": len(errors),
        "proper_errors_by_kind": dict(Counter(r.detail for r in errors).most_common()),
        "invalid": len(invalid),
        "invalid_examples": [{"id": r.id, "status": r.status, "detail": r.detail} for r in invalid][:10],
        "broken": len(broken),
        "broken_examples": [{"id": r.id, "detail": r.detail} for r in broken][:10],
        "served_after_retry_or_fallback": sum(1 for r in ok if faults.path_of(r) != "first try"),
        "latency_ms": {"p50": faults.pct(latencies, 0.5), "p99": faults.pct(latencies, 0.99)},
        "ttfb_ms": {"p50": faults.pct([r.ttfb_s * 1000 for r in answered], 0.5)},
        "wall_s": round(wall_s, 1),
        "per_second": round(len(load.results) / wall_s, 1),
    }


def cpu_of(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes (read before they are stopped)."""
    return {name: cpu_seconds(group) for name, group in pids.items()}


def run(a: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    nginx_port, mocks_port = start_stack(a, stack)
    print(f"up: {a.instances} instances, nginx on {nginx_port}, PostgreSQL, Redis; load for {a.seconds:.0f} s")
    groups = {
        "instances": [p.pid for p, _, _ in stack.instances],
        "nginx": stack.procs[-1].tree(),
        "mocks": [stack.procs[0].pid],
        "load generator": [os.getpid()],
        "postgres": process_tree(stack.postgres.proc.pid) if stack.postgres and stack.postgres.proc else [],
        "redis": [stack.redis.proc.pid] if stack.redis and stack.redis.proc else [],
    }
    load = Load(a, f"http://127.0.0.1:{nginx_port}/v1/messages", time.monotonic() + a.seconds)
    try:
        wall_s = uvloop.run(load.run())  # uvloop: a project dependency on Linux, and 1,000 streams need its speed
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # a signal during the load
    cpu = cpu_of(groups)
    faults.cross_check(load.results, faults.http_json(mocks_port, "/log"))
    injected = faults.http_json(mocks_port, "/stats")
    exit_codes = stack.stop_instances()
    answered = [r for r in load.results if r.outcome != "broken"]
    return {
        "load": summarize(load, wall_s),
        "ledger": ledger_check(stack, load, answered),
        "instance_exit_codes": exit_codes,
        "instances_killed_log_tails": stack.stuck,
        "injected": injected,
        "load_generator_loop_lag": dict(LOOP_LAG),
        "cpu_s": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    missing = missing_binaries()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the finally that stops everything
    stack = Stack(Path(tempfile.mkdtemp(prefix="ccrouter-team-")))
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        **{k: v for k, v in vars(a).items() if k != "python"},
    }
    try:
        res = {"meta": meta, **run(a, stack)}
    except RuntimeError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: stopping every process", file=sys.stderr)
        return 130
    finally:
        stack.stop_all()
        if a.keep_tmp:
            print(f"temp dir kept: {stack.tmp}")
        else:
            shutil.rmtree(stack.tmp, ignore_errors=True)
    print()
    print(render(res))
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"team-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    print(f"\nresults: {path}")
    problems = verdict(res)
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("PASS: no broken answer; every answer has exactly one ledger row")
    return 1 if problems else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
