"""bench/: the WORKERS 2 ceiling (the machine's cores over the CPU a request costs the gateway, the mock and wrk), the
report rows built on it, and the CPU time wrk.py reads for the wrk it runs.

bench/ is a folder of scripts that import each other by their plain names, so it goes on sys.path as they expect.
"""

from __future__ import annotations

import os
import stat
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH_DIR))

import ceiling  # noqa: E402
import report  # noqa: E402
import wrk  # noqa: E402


def a_run(rps: float, requests: int, gateway_s: float, mock_s: float, wrk_s: float, busy_s: float) -> dict[str, Any]:
    """One wrk run's record as harness.py writes it (the fields the ceiling reads)."""
    return {
        "rps": rps,
        "requests": requests,
        "cpu_s": gateway_s,
        "mock_cpu_s": mock_s,
        "wrk_cpu_s": wrk_s,
        "machine_busy_s": busy_s,
    }


def test_cpu_per_request_and_the_ceiling_it_sets() -> None:
    # The lead's hand measurement: 320 + 16 + 20 µs a request on 2 cores -> 2e6 / 356 r/s.
    run = a_run(rps=5_300, requests=26_500, gateway_s=8.48, mock_s=0.424, wrk_s=0.53, busy_s=9.8)
    us = ceiling.us_per_request(run)
    assert us == pytest.approx({"gateway": 320.0, "mock": 16.0, "wrk": 20.0})
    assert us is not None
    assert ceiling.ceiling_rps(2, us) == pytest.approx(2e6 / 356)
    assert ceiling.ceiling_rps(1, us) == pytest.approx(1e6 / 356)


def test_a_ceiling_needs_cores_and_cpu() -> None:
    with pytest.raises(ValueError, match="cores > 0"):
        ceiling.ceiling_rps(0, {"gateway": 1.0, "mock": 1.0, "wrk": 1.0})
    with pytest.raises(ValueError, match="CPU per request > 0"):
        ceiling.ceiling_rps(2, {"gateway": 0.0, "mock": 0.0, "wrk": 0.0})


def test_runs_without_the_cpu_fields_or_requests_give_no_ceiling() -> None:
    old = {"rps": 3_000.0, "requests": 15_000, "cpu": 0.99}  # a results file from before the fields
    assert ceiling.us_per_request(old) is None
    assert ceiling.us_per_request(a_run(0, 0, 1.0, 0.1, 0.1, 2.0)) is None
    assert ceiling.summarize([old], 2) is None


def test_summary_takes_each_runs_share_of_its_own_ceiling_then_the_median() -> None:
    runs = [
        a_run(rps=5_000, requests=25_000, gateway_s=8.0, mock_s=0.5, wrk_s=0.5, busy_s=9.5),  # 360 µs: 5,556 r/s
        a_run(rps=4_000, requests=20_000, gateway_s=8.0, mock_s=0.5, wrk_s=0.5, busy_s=10.0),  # 450 µs: 4,444 r/s
        a_run(rps=5_200, requests=26_000, gateway_s=8.32, mock_s=0.52, wrk_s=0.52, busy_s=9.36),  # 360 µs
        {"rps": 1.0, "requests": 5},  # no CPU recorded: left out
    ]
    s = ceiling.summarize(runs, 2)
    assert s is not None
    assert s["runs"] == 3 and s["cores"] == 2
    assert s["gateway_us"] == pytest.approx(320.0)
    assert s["ceiling_rps"] == pytest.approx(2e6 / 360)
    # Shares 0.90, 0.90, 0.936: the median of the per-run shares, not median r/s over median ceiling (0.936).
    assert s["share"] == pytest.approx(4_000 / (2e6 / 450))
    assert s["accounted"] == pytest.approx(statistics.median([9.0 / 9.5, 9.0 / 10.0, 9.36 / 9.36]))


def results(two_rps: float, two_cpu: dict[str, float] | None, one_rps: float = 3_150.0) -> dict[str, Any]:
    """A results dict with the three WORKERS gateways at small c=16, as run.py writes it."""

    def gateway(rps: float, cpu: dict[str, float] | None) -> dict[str, Any]:
        summary = {"rps": rps, "p50_ms": 3.0, "p99_ms": 9.0, "errors": 0, "cpu": None, "core_other": None}
        return {"summary": {"small@16": {**summary, "cpu_per_request": cpu}}}

    return {
        "meta": {"workloads": ["small"], "concurrency": [16], "load_cpu": "1"},
        "gateways": {
            "ccrouter": gateway(one_rps, None),
            "ccrouter-unpinned": gateway(3_000.0, None),
            "ccrouter-2workers": gateway(two_rps, two_cpu),
        },
    }


def target_rows(res: dict[str, Any]) -> list[str]:
    return [line for line in report.target_table(res).splitlines() if "WORKERS 2" in line or "ceiling" in line]


def test_report_rows_show_the_ceiling_the_share_of_it_and_what_double_can_be() -> None:
    cpu = ceiling.summarize([a_run(5_250, 26_250, 8.4, 0.42, 0.525, 9.5)], 2)  # 320 + 16 + 20 µs
    rows = target_rows(results(two_rps=5_250.0, two_cpu=cpu, one_rps=3_150.0))
    assert rows == [
        "| small c=16 WORKERS 2 / 1 (2 unpinned / 1 on CPU 0) | ≥ 1.6 | 1.67 | ✅ |",
        "| small c=16 WORKERS 2 / 1 (2 unpinned / 1 unpinned (fair)) | ≥ 1.6 | 1.75 | ✅ |",
        "| small c=16 WORKERS 2: the machine's ceiling, 2 CPUs / (gateway 320 + mock 16 + wrk 20 µs CPU per "
        "request) | – | 5,618 r/s | – |",
        "| small c=16 WORKERS 2 r/s / that ceiling (median of runs) | ≥ 0.9 | 0.93 | ✅ |",
        '| small c=16 ceiling / 1 worker on CPU 0 (what "double" can be here) | – | 1.78x | – |',
    ]


def test_report_fails_a_share_below_the_target_and_notes_where_the_cpu_goes() -> None:
    cpu = ceiling.summarize([a_run(4_000, 20_000, 6.4, 0.32, 0.4, 7.5)], 2)  # 356 µs: ceiling 5,618, share 0.71
    res = results(two_rps=4_000.0, two_cpu=cpu)
    assert "| small c=16 WORKERS 2 r/s / that ceiling (median of runs) | ≥ 0.9 | 0.71 | ❌ |" in target_rows(res)
    note = next(n for n in report.notes(res) if n.startswith("CPU per request"))
    assert "ccrouter, WORKERS 2 (unpinned) 320 + 16 + 20 µs, 95% of the machine's busy CPU" in note


def test_report_of_results_without_cpu_per_request_shows_dashes() -> None:
    rows = target_rows(results(two_rps=5_000.0, two_cpu=None))
    assert "| small c=16 WORKERS 2: the machine's ceiling, CPU per request not recorded | – | – r/s | – |" in rows
    assert "| small c=16 WORKERS 2 r/s / that ceiling (median of runs) | ≥ 0.9 | – | – |" in rows
    assert '| small c=16 ceiling / 1 worker on CPU 0 (what "double" can be here) | – | – | – |' in rows


FAKE_WRK = """#!{python}
import time
end = time.process_time() + {burn}
while time.process_time() < end:
    pass
print("  1000 requests in 1.00s, 100.00KB read")
print("Requests/sec:   1000.00")
"""


def test_run_wrk_reads_the_cpu_time_wrk_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in `wrk` on PATH that burns 0.3 s of CPU, then prints wrk's summary lines.
    fake = tmp_path / "wrk"
    fake.write_text(FAKE_WRK.format(python=sys.executable, burn=0.3))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    r = wrk.run_wrk("http://127.0.0.1:9/v1/messages", tmp_path / "body.json", 16, 1.0, cpu=None)
    assert r.requests == 1000
    assert r.wrk_cpu_s is not None
    assert 0.3 <= r.wrk_cpu_s < 3.0
    assert r.as_dict()["wrk_cpu_s"] == r.wrk_cpu_s


def test_a_runs_cpu_fields_are_the_differences_of_the_clocks() -> None:
    import harness

    before = harness.CpuClock(gateway=10.0, mock=2.0, core=20.0, machine=40.0)
    after = harness.CpuClock(gateway=14.5, mock=2.4, core=25.0, machine=49.5)
    unpinned = harness.cpu_use(before, after, elapsed=5.0, gateway=True, mock=True, pinned=False)
    assert unpinned == pytest.approx(
        {"cpu": 0.9, "core_other": None, "cpu_s": 4.5, "mock_cpu_s": 0.4, "machine_busy_s": 9.5, "elapsed_s": 5.0}
    )
    pinned = harness.cpu_use(before, after, elapsed=5.0, gateway=True, mock=True, pinned=True)
    assert pinned["core_other"] == pytest.approx(0.1)  # its core was busy 5 s of 5 s, the gateway 4.5 s of it
    direct = harness.cpu_use(before, after, elapsed=5.0, gateway=False, mock=False, pinned=False)
    assert direct["cpu_s"] is None and direct["mock_cpu_s"] is None and direct["cpu"] is None
