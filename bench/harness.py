"""The measurement loop: all gateways up at once on the gateway CPU, cells interleaved across them.

Interleaving (direct, ccrouter, CCR, then the next cell, rotating who goes first each run) makes drift on a
shared machine hit every gateway alike, so their ratios stay honest. Idle gateways cost nothing, and before
each cell every gateway is left to finish work that wrk abandoned at the end of the previous one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ceiling
from gateways import Target, clean_env, post, validate, warm_up
from procs import Proc, RssSampler, cpu_busy_seconds, cpu_seconds, free_port, hwm_kb, pinned, process_tree, rss_kb
from wrk import run_wrk


def cpu_set(spec: str) -> set[int]:
    """`1`, `0,2` or `2-3` as a set of CPU numbers."""
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


@dataclass
class Settings:
    runs: int
    duration: float
    warmup: float
    starts: int
    mem_duration: float
    concurrency: list[int]
    mem_concurrency: int
    workloads: list[str]
    gateway_cpu: str | None
    load_cpu: str | None


@dataclass
class Gateway:
    """One system under test while the bench runs, and what was measured of it."""

    target: Target
    proc: Proc | None = None
    valid: list[str] = field(default_factory=list)
    failed: bool = False
    spawns: int = 0
    out: dict[str, Any] = field(
        default_factory=lambda: {"runs": {}, "summary": {}, "invalid": {}, "c64": {}, "crashes": 0}
    )

    @property
    def name(self) -> str:
        return self.target.name


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass
class CpuClock:
    """CPU seconds used so far by the gateway's process tree, the mock's, the gateway's own core (all processes;
    0 for an unpinned gateway) and the whole machine (all processes and interrupts). Read before and after a wrk
    run, the differences say where the run's CPU went."""

    gateway: float
    mock: float
    core: float
    machine: float

    @classmethod
    def read(cls, gateway_pids: list[int], mock_pids: list[int], core: set[int] | None, cpus: set[int]) -> CpuClock:
        busy_core = cpu_busy_seconds(core) if core else 0.0
        return cls(cpu_seconds(gateway_pids), cpu_seconds(mock_pids), busy_core, cpu_busy_seconds(cpus))


def cpu_use(
    before: CpuClock, after: CpuClock, elapsed: float, gateway: bool, mock: bool, pinned: bool
) -> dict[str, Any]:
    """A wrk run's CPU fields: `cpu` (the gateway's share of one core) and `core_other` (the share of its core
    other processes took, pinned gateways only), as before; and the CPU seconds of the gateway's whole process
    tree (supervisor and workers), the mock and the machine, for the ceiling (ceiling.py; wrk's own is wrk.py's)."""
    own_s = after.gateway - before.gateway if gateway else None
    own = own_s / elapsed if own_s is not None else None
    busy = (after.core - before.core) / elapsed if pinned else None
    return {
        "cpu": own,
        "core_other": max(0.0, busy - (own or 0.0)) if busy is not None else None,
        "cpu_s": own_s,
        "mock_cpu_s": after.mock - before.mock if mock else None,
        "machine_busy_s": after.machine - before.machine,
        "elapsed_s": elapsed,
    }


class Bench:
    def __init__(
        self,
        settings: Settings,
        bodies: dict[str, dict[str, Path]],
        tmp: Path,
        mock_port: int,
        mock_pid: int | None = None,
    ):
        self.s = settings
        self.bodies = bodies
        self.tmp = tmp
        self.mock_port = mock_port
        self.mock_pid = mock_pid  # its CPU per request counts towards the machine's ceiling (ceiling.py)
        self.cores = cpu_set(settings.gateway_cpu) if settings.gateway_cpu else None
        self.all_cpus = set(range(os.cpu_count() or 1))
        self._all: list[Gateway] = []

    def run(self, targets: list[Target]) -> dict[str, dict[str, Any]]:
        gws = self._all = [Gateway(t) for t in targets]
        try:
            for g in gws:
                print(f"== {g.name}: start, validate, warm up", flush=True)
                self._guard(g, self._prepare)
            for rep in range(self.s.runs):
                order = gws[rep % len(gws) :] + gws[: rep % len(gws)]
                for w in self.s.workloads:
                    for c in self.s.concurrency:
                        for g in order:
                            if not g.failed and w in g.valid:
                                self._guard(g, functools.partial(self._measure, w=w, c=c, rep=rep))
            for g in gws:
                if g.target.start is not None and not g.failed:
                    print(f"== {g.name}: c={self.s.mem_concurrency} for the peak RSS", flush=True)
                    self._guard(g, self._memory)
        finally:
            for g in gws:
                if g.proc is not None:
                    g.proc.stop()
                    g.proc = None
        for g in gws:
            self._summarize(g)
        return {g.name: g.out for g in gws}

    def _guard(self, g: Gateway, step: Callable[[Gateway], None]) -> None:
        """Run one step for a gateway; an error takes that gateway out of the run, not the others."""
        try:
            step(g)
        except Exception as exc:
            g.failed = True
            g.out["error"] = f"{type(exc).__name__}: {exc}"
            print(f"  ! {g.name}: {g.out['error']}", flush=True)
            if g.proc is not None:
                g.proc.stop()
                g.proc = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def _prepare(self, g: Gateway) -> None:
        if g.target.start is None:
            g.target.port = self.mock_port
        else:
            self._time_starts(g)
            time.sleep(1.0)
            g.out["idle_rss_mb"] = rss_kb(self._alive(g).tree()) / 1024
        for w in self.s.workloads:
            body = self.bodies[w][g.target.body_format].read_bytes()
            status, data = post(g.target.port, g.target.path, body)
            problem = validate(g.target.body_format, w == "stream", status, data)
            if problem:
                g.out["invalid"][w] = problem
                print(f"  ! {g.name} {w}: {problem}", flush=True)
            else:
                g.valid.append(w)
        for w in g.valid:
            warm_up(g.target.port, g.target.path, self.bodies[w][g.target.body_format].read_bytes(), self.s.warmup)

    def _spawn(self, g: Gateway) -> float:
        """Start the gateway (its port is chosen on the first spawn); seconds until /health answers."""
        assert g.target.start is not None
        home = self.tmp / f"{g.name}-home-{g.spawns}"
        home.mkdir()
        if not g.target.port:
            g.target.port = free_port()
        cmd, extra = g.target.start(home, g.target.port)
        log = self.tmp / f"{g.name}-{g.spawns}.log"
        g.spawns += 1
        # Unpinned: every CPU, said explicitly (the runner itself, whose affinity children inherit, keeps to CPU 1).
        cpu = f"0-{(os.cpu_count() or 1) - 1}" if g.target.unpinned else self.s.gateway_cpu
        g.proc = Proc(g.name, pinned(cmd, cpu), clean_env(extra), home, log)
        try:
            return g.proc.wait_http(g.target.port)
        except RuntimeError:
            g.proc.stop()
            g.proc = None
            raise

    def _time_starts(self, g: Gateway) -> None:
        samples: list[float] = []
        for i in range(self.s.starts):
            samples.append(self._spawn(g))
            if i < self.s.starts - 1 and g.proc is not None:
                g.proc.stop()
                time.sleep(0.2)
        assert g.proc is not None
        g.out["start_s"] = statistics.median(samples)
        g.out["start_samples_s"] = samples
        shown = ", ".join(f"{x:.3f}" for x in samples)
        print(f"  {g.name}: pid {g.proc.pid}, start {g.out['start_s']:.3f} s (samples {shown})", flush=True)

    def _alive(self, g: Gateway) -> Proc:
        """The running gateway; if it has crashed, record the crash, restart it and warm it up again."""
        assert g.proc is not None
        if g.proc.alive():
            return g.proc
        g.out["crashes"] += 1
        tail = g.proc.log_tail()
        g.out.setdefault("crash_logs", []).append(tail)
        first_line = next((ln for ln in tail.splitlines() if "Error" in ln), tail[-200:])
        print(f"  ! {g.name} crashed (exit {g.proc.popen.returncode}): {first_line}", flush=True)
        g.proc.stop()
        self._spawn(g)
        for w in g.valid:
            warm_up(g.target.port, g.target.path, self.bodies[w][g.target.body_format].read_bytes(), 1.0)
        assert g.proc is not None
        return g.proc

    def _settle(self, g: Gateway, limit: float = 60.0) -> None:
        """Wait until the gateway is idle: requests wrk dropped at the end of a run may still be running."""
        deadline = time.monotonic() + limit
        while g.proc is not None and g.proc.alive() and time.monotonic() < deadline:
            pids = g.proc.tree()
            c0 = cpu_seconds(pids)
            time.sleep(0.2)
            if cpu_seconds(pids) - c0 < 0.02:  # under 10% of a core
                return

    # -- measuring ---------------------------------------------------------------------------------

    def _cell(self, g: Gateway, w: str, c: int, duration: float) -> tuple[dict[str, Any], int]:
        """One wrk run, with the gateway's CPU use, the rest of its core's and its peak RSS (kB).

        Every gateway is first left to finish leftover work, and this one restarted if it has died; the
        run is repeated (up to twice) if the gateway died during it.
        """
        for attempt in range(3):
            for other in self._all:
                self._settle(other)
            proc = self._alive(g) if g.target.start is not None else None
            pids = proc.tree() if proc else []
            mock_pids = process_tree(self.mock_pid) if self.mock_pid else []
            cores = None if g.target.unpinned else self.cores  # an unpinned gateway has no core of its own
            clock0 = CpuClock.read(pids, mock_pids, cores, self.all_cpus)
            t0 = time.perf_counter()
            sampler = RssSampler(proc.pid) if proc else None
            with sampler or contextlib.nullcontext():
                url = f"http://127.0.0.1:{g.target.port}{g.target.path}"
                r = run_wrk(url, self.bodies[w][g.target.body_format], c, duration, self.s.load_cpu)
            elapsed = time.perf_counter() - t0
            clock1 = CpuClock.read(pids, mock_pids, cores, self.all_cpus)
            died = proc is not None and not proc.alive()
            if not (died and r.errors) or attempt == 2:
                peak = max(sampler.peak_kb if sampler else 0, hwm_kb(pids) if proc and not died else 0)
                used = cpu_use(clock0, clock1, elapsed, bool(proc), bool(mock_pids), bool(cores))
                return {**r.as_dict(), **used}, peak
            print(f"  ! {g.name} died during {w} c={c}; running it again", flush=True)
        raise AssertionError("unreachable")

    def _measure(self, g: Gateway, w: str, c: int, rep: int) -> None:
        r, _ = self._cell(g, w, c, self.s.duration)
        g.out["runs"].setdefault(f"{w}@{c}", []).append(r)
        extra = f" cpu {r['cpu']:4.0%}" if r["cpu"] is not None else ""
        if r["core_other"] is not None:
            extra += f" (others on its core {r['core_other']:4.0%})"
        errors = r["non2xx"] + r["socket_errors"]
        if errors:
            extra += f"  errors {errors}"
        print(
            f"  run {rep + 1}/{self.s.runs} {w:6s} c={c:<3d} {g.name:9s}"
            f"{r['rps']:10,.1f} r/s  p50 {r['p50_ms']:8.3f} ms  p99 {r['p99_ms']:8.2f} ms{extra}",
            flush=True,
        )

    def _memory(self, g: Gateway) -> None:
        c = self.s.mem_concurrency
        peak = 0
        for w in g.valid:
            r, peak_kb = self._cell(g, w, c, self.s.mem_duration)
            peak = max(peak, peak_kb)
            g.out["c64"][w] = {**r, "peak_rss_mb": peak_kb / 1024}
            print(
                f"  c={c} {w:6s} {g.name:9s}{r['rps']:10,.1f} r/s  rss peak {peak_kb / 1024:.1f} MB",
                flush=True,
            )
        g.out["peak_rss_mb"] = peak / 1024

    def _summarize(self, g: Gateway) -> None:
        for key, rows in g.out["runs"].items():
            g.out["summary"][key] = {
                "rps": statistics.median(x["rps"] for x in rows),
                "p50_ms": statistics.median(x["p50_ms"] for x in rows),
                "p99_ms": statistics.median(x["p99_ms"] for x in rows),
                "errors": statistics.median(x["non2xx"] + x["socket_errors"] for x in rows),
                "cpu": _median_or_none([x["cpu"] for x in rows]),
                "core_other": _median_or_none([x["core_other"] for x in rows]),
                # CPU per request of the gateway, the mock and wrk, and the machine's ceiling it sets (ceiling.py)
                "cpu_per_request": ceiling.summarize(rows, len(self.all_cpus)),
            }
