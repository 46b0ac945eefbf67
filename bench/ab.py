"""A/B of ccrouter variants: CPU per small request, rounds alternated, medians of the paired differences.

    python bench/ab.py --variant off=.:LEDGER=false --variant on=. --rounds 10
    python bench/ab.py --variant before=/tmp/old-tree --variant after=. --rounds 20 --seconds 4

Each variant is a source tree (its `src/` is put on PYTHONPATH) and optional config keys (KEY=JSON, ';'-separated).
All variants start at once on --gateway-cpu (the mock and wrk share --load-cpu, as in run.py); then, round after
round, wrk -c16 runs against each in turn (the order reversed every other round), and the CPU the service's process
used (all its threads, from /proc) is divided by the requests it answered. A core held at 100% serves 1 / (CPU per
request), so this is throughput's cost, read in µs; pairing each variant with the first one in the same round
cancels the machine's drift, which here is larger than the costs looked for (±5 µs between runs of 4 s).
Use it to find what a change costs; run.py gives the figures the targets are judged by.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import workloads
from gateways import BENCH_DIR, ccr_config
from procs import Proc, cpu_seconds, free_port, pinned
from wrk import run_wrk


@dataclass
class Variant:
    name: str
    tree: Path
    config: dict[str, object]
    port: int = 0
    proc: Proc | None = None
    cpu_us: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    name, _, rest = text.partition("=")
    tree, _, keys = rest.partition(":")
    config: dict[str, object] = {}
    for item in filter(None, keys.split(";")):
        key, _, value = item.partition("=")
        config[key] = json.loads(value)
    return Variant(name, Path(tree or ".").resolve(), config)


def url_of(variant: Variant) -> str:
    return f"http://127.0.0.1:{variant.port}/v1/messages"


def start(variant: Variant, mock_port: int, python: str, cpu: str, home: Path) -> None:
    variant.port = free_port()
    config = ccr_config(variant.port, mock_port, **variant.config)
    (home / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "CCR_HOME": str(home), "HOME": str(home), "PYTHONPATH": str(variant.tree / "src")}
    cmd = [python, "-m", "ccrouter.gateway.server", "--config", str(home / "config.json")]
    variant.proc = Proc(variant.name, pinned(cmd, cpu), env, home, home / "service.log")
    variant.proc.wait_http(variant.port, timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="NAME=TREE[:KEY=JSON;...]; 2 or more")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run (whole seconds)")
    parser.add_argument("--warmup", type=float, default=2.0, help="per variant, before the rounds (whole seconds)")
    parser.add_argument("--gateway-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--python", default=sys.executable)
    a = parser.parse_args()
    variants = [parse_variant(text) for text in a.variant]
    body = workloads.write_all()["small"]["anthropic"]
    with tempfile.TemporaryDirectory(prefix="ccr-ab-") as tmp:
        mock_port = free_port()
        mock_cmd = [a.python, str(BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)]
        mock = Proc("mock", pinned(mock_cmd, a.load_cpu), dict(os.environ), Path(tmp), Path(tmp) / "mock.log")
        try:
            for variant in variants:
                home = Path(tmp) / variant.name
                home.mkdir()
                start(variant, mock_port, a.python, a.gateway_cpu, home)
                run_wrk(url_of(variant), body, 16, a.warmup, a.load_cpu)
            for round_number in range(a.rounds):
                for variant in variants if round_number % 2 == 0 else variants[::-1]:
                    assert variant.proc is not None
                    before = cpu_seconds([variant.proc.pid])
                    answered = run_wrk(url_of(variant), body, 16, a.seconds, a.load_cpu)
                    time.sleep(0.3)  # the last answers' work, and the writer's batch
                    variant.cpu_us.append((cpu_seconds([variant.proc.pid]) - before) / answered.requests * 1e6)
                    variant.rps.append(answered.rps)
        finally:
            for proc in [variant.proc for variant in variants] + [mock]:
                if proc is not None:
                    proc.stop()
    base = variants[0]
    print(f"{a.rounds} rounds x {a.seconds:g} s, wrk -c16, small; paired with {base.name} round by round")
    for variant in variants:
        diff = statistics.median(x - y for x, y in zip(variant.cpu_us, base.cpu_us, strict=True))
        ratio = statistics.median(x / y for x, y in zip(variant.rps, base.rps, strict=True))
        print(
            f"{variant.name:>12}: CPU {statistics.median(variant.cpu_us):6.1f} µs/request (paired {diff:+5.1f})"
            f"   {statistics.median(variant.rps):7,.0f} r/s (paired ratio {ratio:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
