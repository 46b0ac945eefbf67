"""Overhead benchmark: direct mock vs ccrouter vs the Node CCR 1.0.73, measured in the same run.

    python bench/run.py                 # full run: 3 runs x 5 s per cell, about 7 minutes
    python bench/run.py --quick         # 1 run x 2 s per cell, about 2 minutes
    python bench/run.py --gateways direct,ccr-node --workloads small

The mock upstream and wrk share one CPU (--load-cpu, default 1); the gateways run on the other
(--gateway-cpu, default 0), all started at once and measured in turn, cell by cell (see harness.py).
Each gateway is started a few times to time start-until-/health, its idle RSS is read, every workload's
response is checked to be a valid translation, then it is warmed up; then wrk runs for every
run x workload x concurrency x gateway; finally c=64 runs give each gateway's peak RSS. Prints markdown
tables and writes bench/results/<time>.json, latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import report
import workloads
from gateways import BENCH_DIR, CCR_VERSION, REPO_DIR, Target, ccr_node_start, ccrouter_start, clean_env, ensure_ccr
from harness import Bench, Settings, cpu_set
from procs import HAVE_TASKSET, Proc, cpu_busy_seconds, free_port, pinned

RESULTS_DIR = BENCH_DIR / "results"


def _version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 run x 2 s per cell, 1 start, short warm-up")
    p.add_argument("--runs", type=int, default=None, help="runs per cell, median reported (default 3)")
    p.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 5)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up per workload (default 2)")
    p.add_argument("--starts", type=int, default=None, help="starts timed per gateway (default 3)")
    p.add_argument("--mem-duration", type=float, default=None, help="seconds per c=64 run (default 4)")
    p.add_argument("--gateways", default="direct,ccrouter,ccrouter-noledger,ccrouter-nodashboard,ccr-node")
    p.add_argument("--workloads", default=",".join(workloads.WORKLOADS))
    p.add_argument("--concurrency", default="1,16")
    p.add_argument("--mem-concurrency", type=int, default=64)
    p.add_argument("--gateway-cpu", default="0")
    p.add_argument("--load-cpu", default="1", help="CPU for wrk and the mock upstream")
    p.add_argument("--python", default=str(REPO_DIR / ".venv" / "bin" / "python"), help="ccrouter's python")
    p.add_argument("--ccr-version", default=CCR_VERSION)
    p.add_argument("--cache", type=Path, default=BENCH_DIR / ".cache")
    p.add_argument(
        "--stream-pause",
        action="store_true",
        help="mock yields between SSE events, so each leaves in its own packet (default: one write)",
    )
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (gateway logs, configs)")
    a = p.parse_args(argv)
    quick = a.quick
    a.runs = a.runs or (1 if quick else 3)
    a.duration = a.duration or (2.0 if quick else 5.0)
    a.warmup = a.warmup or (1.0 if quick else 2.0)
    a.starts = a.starts or (1 if quick else 3)
    a.mem_duration = a.mem_duration or (2.0 if quick else 4.0)
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    for tool in ("wrk", "node"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install -y wrk nodejs npm", file=sys.stderr)
            return 2
    if not HAVE_TASKSET:
        print("warning: taskset not found, processes are not pinned", file=sys.stderr)
    settings = Settings(
        runs=a.runs,
        duration=a.duration,
        warmup=a.warmup,
        starts=a.starts,
        mem_duration=a.mem_duration,
        concurrency=[int(c) for c in a.concurrency.split(",")],
        mem_concurrency=a.mem_concurrency,
        workloads=[w for w in a.workloads.split(",") if w],
        gateway_cpu=a.gateway_cpu or None,
        load_cpu=a.load_cpu or None,
    )
    gateways = [g for g in a.gateways.split(",") if g]
    known = (
        "direct",
        "ccrouter",
        "ccrouter-noledger",
        "ccrouter-nodashboard",
        "ccrouter-2workers",
        "ccrouter-unpinned",
        "ccr-node",
    )
    unknown = set(gateways) - set(known)
    if unknown:
        print(f"unknown gateway(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
        return 2
    bodies = workloads.write_all(a.cache / "workloads")
    cli_js = ensure_ccr(a.cache, a.ccr_version) if "ccr-node" in gateways else None

    all_cpus = set(range(os.cpu_count() or 1))
    b0 = cpu_busy_seconds(all_cpus)
    time.sleep(1.0)
    busy_before = (cpu_busy_seconds(all_cpus) - b0) / len(all_cpus)
    if busy_before > 0.05:
        print(f"warning: the machine is {busy_before:.0%} busy before the run; numbers will be noisy")
    if a.load_cpu:
        os.sched_setaffinity(0, cpu_set(a.load_cpu))  # keep this script's threads off the gateway's CPU
    # SIGTERM should unwind through the finally blocks that stop every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="ccrouter-bench-"))
    mock: Proc | None = None
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    res: dict[str, Any] = {
        "meta": {
            "started": started,
            "busy_before": busy_before,
            "runs": a.runs,
            "duration_s": a.duration,
            "warmup_s": a.warmup,
            "concurrency": settings.concurrency,
            "mem_concurrency": a.mem_concurrency,
            "mem_duration_s": a.mem_duration,
            "workloads": settings.workloads,
            "gateway_cpu": a.gateway_cpu,
            "load_cpu": a.load_cpu,
            "body_bytes": {w: {f: p.stat().st_size for f, p in e.items()} for w, e in bodies.items()},
            "ccr_version": a.ccr_version,
            "mock_stream_pause": a.stream_pause,
            "python": _version([a.python, "--version"]),
            "node": _version(["node", "--version"]),
            "wrk": _version(["wrk", "--version"]),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "git": _version(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"]),
        },
        "gateways": {},
    }
    try:
        mock_port = free_port()
        mock = Proc(
            "mock",
            pinned(
                [a.python, str(BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)]
                + (["--stream-pause"] if a.stream_pause else []),
                a.load_cpu,
            ),
            clean_env({}),
            tmp,
            tmp / "mock.log",
        )
        mock.wait_http(mock_port)
        targets = {
            "direct": Target("direct", "/v1/chat/completions", "openai"),
            "ccrouter": Target("ccrouter", "/v1/messages", "anthropic", ccrouter_start(mock_port, a.python)),
            "ccrouter-noledger": Target(
                "ccrouter-noledger", "/v1/messages", "anthropic", ccrouter_start(mock_port, a.python, LEDGER=False)
            ),
            "ccrouter-nodashboard": Target(
                "ccrouter-nodashboard",
                "/v1/messages",
                "anthropic",
                ccrouter_start(mock_port, a.python, DASHBOARD=False),
            ),
            # WORKERS 2 on both CPUs (wrk and the mock keep CPU 1, so they share it with a worker), and the fair
            # comparison for it: one worker, unpinned too.
            "ccrouter-2workers": Target(
                "ccrouter-2workers",
                "/v1/messages",
                "anthropic",
                ccrouter_start(mock_port, a.python, WORKERS=2),
                unpinned=True,
            ),
            "ccrouter-unpinned": Target(
                "ccrouter-unpinned", "/v1/messages", "anthropic", ccrouter_start(mock_port, a.python), unpinned=True
            ),
        }
        if cli_js is not None:
            targets["ccr-node"] = Target("ccr-node", "/v1/messages", "anthropic", ccr_node_start(mock_port, cli_js))
        res["gateways"] = Bench(settings, bodies, tmp, mock_port, mock.pid).run([targets[g] for g in gateways])
    finally:
        if mock is not None:
            mock.stop()
        if a.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    table = report.render(res)
    print()
    print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = json.dumps(res, indent=2)
    (RESULTS_DIR / f"{stamp}.json").write_text(data)
    (RESULTS_DIR / "latest.json").write_text(data)
    (RESULTS_DIR / "latest.md").write_text(table + "\n")
    print(f"\nresults: {RESULTS_DIR / (stamp + '.json')}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
