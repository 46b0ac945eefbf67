"""The most a gateway can serve on this machine, from the CPU that every request costs.

On a 2-core VM the load generator (wrk) and the mock upstream run on the same cores as a gateway with WORKERS 2, so
every request costs CPU in three places: the gateway's process tree (supervisor and workers), the mock and wrk. The
machine as a whole can therefore serve at most `cores x 1e6 / (gateway + mock + wrk µs of CPU per request)` requests
a second, whatever the gateway does. That is the ceiling a second worker should be measured against, not 2x one
worker: one worker pinned to CPU 0 leaves CPU 1 to wrk and the mock, which need only a fraction of it.

Each wrk run records the CPU seconds of the three (run fields `cpu_s`, `mock_cpu_s`, `wrk_cpu_s`) and the requests
wrk completed (`requests`); this module turns them into µs per request, the ceiling, and the run's r/s as a share of
it. Runs from results that predate those fields give None, and the report shows a dash.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

PARTS = ("gateway", "mock", "wrk")
RUN_FIELDS = {"gateway": "cpu_s", "mock": "mock_cpu_s", "wrk": "wrk_cpu_s"}  # CPU seconds of each, in a run


def us_per_request(run: Mapping[str, Any]) -> dict[str, float] | None:
    """CPU µs per completed request of the gateway, the mock and wrk in one wrk run; None if any is unknown or
    nothing was completed (a run of an older results file, the direct runs, a run that failed)."""
    requests = run.get("requests") or 0
    seconds = {part: run.get(field) for part, field in RUN_FIELDS.items()}
    if requests <= 0 or any(s is None for s in seconds.values()):
        return None
    return {part: float(s) * 1e6 / requests for part, s in seconds.items() if s is not None}


def ceiling_rps(cores: int, us: Mapping[str, float]) -> float:
    """Requests per second the machine can serve when each one costs `us` µs of CPU in all, on `cores` CPUs."""
    total = sum(us[part] for part in PARTS)
    if cores <= 0 or total <= 0:
        raise ValueError(f"a ceiling needs cores > 0 and CPU per request > 0 (got {cores} cores, {total} µs)")
    return cores * 1e6 / total


def _run_figures(run: Mapping[str, Any], cores: int) -> dict[str, float] | None:
    us = us_per_request(run)
    if us is None or sum(us.values()) <= 0:
        return None
    ceiling = ceiling_rps(cores, us)
    figures = {**{f"{part}_us": v for part, v in us.items()}, "ceiling_rps": ceiling, "share": run["rps"] / ceiling}
    busy = run.get("machine_busy_s")
    if busy:  # how much of the machine's busy time the three account for (the rest: the runner, interrupts)
        figures["accounted"] = sum(float(run[f]) for f in RUN_FIELDS.values()) / float(busy)
    return figures


def summarize(runs: Iterable[Mapping[str, Any]], cores: int) -> dict[str, float] | None:
    """Medians over the runs of the µs per request, the ceiling and each run's r/s over its own ceiling (a run
    and its ceiling share the machine's drift, so the share is taken run by run); None when no run has them."""
    per_run = [f for f in (_run_figures(run, cores) for run in runs) if f is not None]
    if not per_run:
        return None
    keys = set.intersection(*(set(f) for f in per_run))
    out = {k: statistics.median(f[k] for f in per_run) for k in sorted(keys)}
    return {**out, "cores": float(cores), "runs": float(len(per_run))}
