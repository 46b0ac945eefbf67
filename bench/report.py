"""Render a results dict (see run.py) as markdown tables, with check marks against the issue's targets."""

from __future__ import annotations

import math
from typing import Any

# Targets from the performance issue.
THROUGHPUT_X_CCR = {"small": 8.0, "stream": 5.0, "large": 30.0}  # ccrouter r/s over CCR r/s at c=16
ADDED_P50_MS = {"small": 0.3, "stream": 0.6, "large": 1.5}  # ccrouter p50 minus direct p50 at c=1
RSS_IDLE_MB = 80.0
RSS_PEAK_MB = 150.0
START_S = 0.5
LEDGER_THROUGHPUT_SHARE = 0.95  # small c=16 with the ledger on, over off (issue 14)
LEDGER_ADDED_P50_MS = 0.05  # small c=1 p50 with the ledger on, minus off
# The dashboard with no page open must cost nothing measurable (issue 15): within the runs' own spread.
DASHBOARD_THROUGHPUT_SHARE = 0.98
DASHBOARD_ADDED_P50_MS = 0.02
WORKERS_THROUGHPUT_SHARE = 1.6  # small c=16 with WORKERS 2 over 1, on 2 cores (issue 16)
# WORKERS 2 r/s over what the machine can give when wrk and the mock share its cores (ceiling.py; issue 16)
WORKERS_CEILING_SHARE = 0.9

LABELS = {
    "direct": "direct",
    "ccrouter": "ccrouter",
    "ccrouter-noledger": "ccrouter, LEDGER false",
    "ccrouter-nodashboard": "ccrouter, DASHBOARD false",
    "ccrouter-2workers": "ccrouter, WORKERS 2 (unpinned)",
    "ccrouter-unpinned": "ccrouter (unpinned)",
    "ccr-node": "CCR 1.0.73",
}
OK, FAIL, NA = "✅", "❌", "–"

Results = dict[str, Any]


def _summary(res: Results, gw: str, workload: str, c: int) -> dict[str, float] | None:
    g = res["gateways"].get(gw)
    if not g:
        return None
    s: dict[str, float] | None = g.get("summary", {}).get(f"{workload}@{c}")
    return s


def _num(x: float | None, fmt: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NA
    return format(x, fmt)


def _cell(s: dict[str, float] | None) -> str:
    if s is None:
        return NA
    flag = " ⚠" if s.get("errors", 0) else ""
    return f"{s['rps']:,.0f} · {s['p50_ms']:.2f} ms{flag}"


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> float | None:
    if a is None or b is None or not b["rps"]:
        return None
    return a["rps"] / b["rps"]


def _added(s: dict[str, float] | None, direct: dict[str, float] | None) -> float | None:
    if s is None or direct is None:
        return None
    return s["p50_ms"] - direct["p50_ms"]


def _mark(value: float | None, goal: float, higher_is_better: bool) -> str:
    if value is None:
        return NA
    return OK if (value >= goal if higher_is_better else value <= goal) else FAIL


def throughput_table(res: Results) -> str:
    gws = [g for g in LABELS if g in res["gateways"]]
    head = ["workload", "c", *(f"{LABELS[g]} r/s · p50" for g in gws)]
    if "ccrouter" in gws and "ccr-node" in gws:
        head.append("ccrouter / CCR")
    head += [f"{LABELS[g]} added p50" for g in gws if g != "direct"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for workload in res["meta"]["workloads"]:
        for c in res["meta"]["concurrency"]:
            direct = _summary(res, "direct", workload, c)
            row = [workload, str(c), *(_cell(_summary(res, g, workload, c)) for g in gws)]
            if "ccrouter" in gws and "ccr-node" in gws:
                ratio = _ratio(_summary(res, "ccrouter", workload, c), _summary(res, "ccr-node", workload, c))
                row.append(_num(ratio, ".1f") + ("x" if ratio is not None else ""))
            for g in gws:
                if g != "direct":
                    added = _added(_summary(res, g, workload, c), direct)
                    row.append(_num(added, "+.2f") + (" ms" if added is not None else ""))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def resource_table(res: Results) -> str:
    head = ["gateway", "start → /health", "RSS idle", "RSS peak (c=64)", "r/s at c=64"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for gw, g in res["gateways"].items():
        if gw == "direct":
            continue
        c64 = g.get("c64", {})
        secs = res["meta"].get("mem_duration_s", 0)
        rps64 = (
            ", ".join(
                f"{w} {c64[w]['rps']:,.0f}" if c64[w]["requests"] else f"{w} 0 (none done in {secs:g} s)"
                for w in res["meta"]["workloads"]
                if w in c64
            )
            or NA
        )
        start = g.get("start_s")
        row = [
            LABELS.get(gw, gw),
            _num(start, ".3f") + (" s" if start is not None else ""),
            _num(g.get("idle_rss_mb"), ".1f") + (" MB" if g.get("idle_rss_mb") is not None else ""),
            _num(g.get("peak_rss_mb"), ".1f") + (" MB" if g.get("peak_rss_mb") is not None else ""),
            rps64,
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def target_table(res: Results) -> str:
    """The issue's targets for ccrouter, measured value and check mark."""
    lines = ["| target | goal | measured | |", "|---|---|---|---|"]
    c_hi = max(res["meta"]["concurrency"])
    c_lo = min(res["meta"]["concurrency"])
    for w, goal in THROUGHPUT_X_CCR.items():
        if w not in res["meta"]["workloads"]:
            continue
        r = _ratio(_summary(res, "ccrouter", w, c_hi), _summary(res, "ccr-node", w, c_hi))
        lines.append(
            f"| {w} throughput at c={c_hi}, ccrouter / CCR | ≥ {goal:g}x | {_num(r, '.1f')}x | {_mark(r, goal, True)} |"
        )
    for w, goal in ADDED_P50_MS.items():
        if w not in res["meta"]["workloads"]:
            continue
        a = _added(_summary(res, "ccrouter", w, c_lo), _summary(res, "direct", w, c_lo))
        lines.append(
            f"| {w} added p50 at c={c_lo} over direct | ≤ {goal:g} ms | {_num(a, '+.2f')} ms "
            f"| {_mark(a, goal, False)} |"
        )
    lines += _ledger_rows(res, c_lo, c_hi)
    lines += _workers_rows(res, c_hi)
    g = res["gateways"].get("ccrouter", {})
    for label, key, goal, unit in (
        ("RSS idle", "idle_rss_mb", RSS_IDLE_MB, "MB"),
        ("RSS peak at c=64", "peak_rss_mb", RSS_PEAK_MB, "MB"),
        ("start until /health answers", "start_s", START_S, "s"),
    ):
        v = g.get(key)
        lines.append(f"| {label} | ≤ {goal:g} {unit} | {_num(v, '.2f')} {unit} | {_mark(v, goal, False)} |")
    return "\n".join(lines)


def notes(res: Results) -> list[str]:
    out: list[str] = []
    unpinned = [LABELS[gw] for gw in ("ccrouter-2workers", "ccrouter-unpinned") if gw in res["gateways"]]
    if unpinned:
        out.append(
            f"{' and '.join(unpinned)} run on every CPU: they share CPU {res['meta']['load_cpu']} with wrk and the "
            "mock, so their figures include that contention"
        )
    out += _cpu_note(res)
    for gw, g in res["gateways"].items():
        if g.get("crashes"):
            logs = g.get("crash_logs") or [""]
            first = next((ln.strip() for ln in logs[0].splitlines() if "Error" in ln), "")
            out.append(
                f"{LABELS.get(gw, gw)} crashed {g['crashes']} time(s) and was restarted and warmed up again"
                + (f" (`{first}`)" if first else "")
            )
        if g.get("error"):
            out.append(f"{LABELS.get(gw, gw)}: {g['error']}")
        for w, msg in g.get("invalid", {}).items():
            out.append(f"{LABELS.get(gw, gw)} {w}: response failed validation, not timed: {msg}")
        busy = {k: s["core_other"] for k, s in g.get("summary", {}).items() if s.get("core_other")}
        if gw == "direct":
            busy = {}  # the direct runs do not use the gateway's CPU
        noisy = {k: v for k, v in busy.items() if v > 0.10}
        if noisy:
            worst = max(noisy, key=lambda k: noisy[k])
            out.append(
                f"{LABELS.get(gw, gw)}: other processes used the gateway's CPU in {len(noisy)} cell(s) "
                f"(up to {noisy[worst]:.0%} in {worst}); those numbers are noisy, rerun on a quiet machine"
            )
        for key, s in g.get("summary", {}).items():
            if s.get("errors"):
                out.append(f"{LABELS.get(gw, gw)} {key}: {s['errors']:.0f} errors/non-2xx in a median run (⚠)")
    return out


def _cpu_note(res: Results) -> list[str]:
    """Where a small request's CPU goes with one worker and with two, for the WORKERS ceiling rows."""
    if "ccrouter-2workers" not in res["gateways"]:
        return []
    c_hi = max(res["meta"]["concurrency"])
    parts = []
    for gw in ("ccrouter", "ccrouter-unpinned", "ccrouter-2workers"):
        summary: dict[str, Any] = _summary(res, gw, "small", c_hi) or {}
        cpu = summary.get("cpu_per_request")
        if cpu:
            accounted = f", {cpu['accounted']:.0%} of the machine's busy CPU" if "accounted" in cpu else ""
            parts.append(
                f"{LABELS[gw]} {cpu['gateway_us']:.0f} + {cpu['mock_us']:.0f} + {cpu['wrk_us']:.0f} µs{accounted}"
            )
    if not parts:
        return []
    return [f"CPU per request, small c={c_hi} (gateway tree + mock + wrk, median of runs): " + "; ".join(parts)]


def render(res: Results) -> str:
    m = res["meta"]
    parts = [
        f"Run {m['started']} · {m['runs']} run(s) x {m['duration_s']:g} s per cell, median · "
        f"gateway on CPU {m['gateway_cpu']}, wrk + mock on CPU {m['load_cpu']} · wrk -t1 · "
        f"machine busy before start: {m.get('busy_before', float('nan')):.0%}",
        "",
        "Requests per second · p50 latency (median of runs); added p50 = gateway p50 - direct p50.",
        "",
        throughput_table(res),
        "",
        resource_table(res),
        "",
        target_table(res),
    ]
    n = notes(res)
    if n:
        parts += ["", "Notes:", *(f"- {x}" for x in n)]
    return "\n".join(parts)


def _ledger_rows(res: Results, c_lo: int, c_hi: int) -> list[str]:
    """What the ledger and the dashboard cost: ccrouter against the same service with `"LEDGER": false`, and with
    `"DASHBOARD": false` (no page open)."""
    return [
        *_switch_rows(res, c_lo, c_hi, "ccrouter-noledger", "ledger", LEDGER_THROUGHPUT_SHARE, LEDGER_ADDED_P50_MS),
        *_switch_rows(
            res, c_lo, c_hi, "ccrouter-nodashboard", "dashboard", DASHBOARD_THROUGHPUT_SHARE, DASHBOARD_ADDED_P50_MS
        ),
    ]


def _switch_rows(
    res: Results, c_lo: int, c_hi: int, off: str, what: str, share_target: float, added_target: float
) -> list[str]:
    if off not in res["gateways"] or "small" not in res["meta"]["workloads"]:
        return []
    share = _ratio(_summary(res, "ccrouter", "small", c_hi), _summary(res, off, "small", c_hi))
    added = _added(_summary(res, "ccrouter", "small", c_lo), _summary(res, off, "small", c_lo))
    return [
        f"| small throughput at c={c_hi}, {what} on / off | ≥ {share_target:g} | {_num(share, '.3f')} "
        f"| {_mark(share, share_target, True)} |",
        f"| small added p50 at c={c_lo}, {what} on - off | ≤ {added_target:g} ms | {_num(added, '+.3f')} ms "
        f"| {_mark(added, added_target, False)} |",
    ]


def _workers_rows(res: Results, c_hi: int) -> list[str]:
    """What a second worker brings: WORKERS 2 on both CPUs against one worker on CPU 0 (what the other rows
    measure), and against one worker unpinned too (fair: the same CPUs, shared with wrk and the mock)."""
    if "ccrouter-2workers" not in res["gateways"] or "small" not in res["meta"]["workloads"]:
        return []
    two = _summary(res, "ccrouter-2workers", "small", c_hi)
    rows = []
    for one, how in (("ccrouter", "1 on CPU 0"), ("ccrouter-unpinned", "1 unpinned (fair)")):
        if one in res["gateways"]:
            share = _ratio(two, _summary(res, one, "small", c_hi))
            rows.append(
                f"| small c={c_hi} WORKERS 2 / 1 (2 unpinned / {how}) | ≥ {WORKERS_THROUGHPUT_SHARE:g} "
                f"| {_num(share, '.2f')} | {_mark(share, WORKERS_THROUGHPUT_SHARE, True)} |"
            )
    return rows + _ceiling_rows(two, _summary(res, "ccrouter", "small", c_hi), c_hi)


def _ceiling_rows(two: dict[str, Any] | None, one_pinned: dict[str, Any] | None, c_hi: int) -> list[str]:
    """WORKERS 2 against what the machine can give: its cores over the CPU a request costs the gateway, the mock
    and wrk together (ceiling.py), from the 2-worker runs; and that ceiling over one worker on CPU 0, the most that
    "double" can mean on a machine whose cores the load generator and the mock share."""
    cpu = (two or {}).get("cpu_per_request")
    if cpu is None:
        cost, ceiling, share = "CPU per request not recorded", None, None
    else:
        cost = (
            f"{cpu['cores']:.0f} CPUs / (gateway {cpu['gateway_us']:.0f} + mock {cpu['mock_us']:.0f} "
            f"+ wrk {cpu['wrk_us']:.0f} µs CPU per request)"
        )
        ceiling, share = cpu["ceiling_rps"], cpu["share"]
    over_one = ceiling / one_pinned["rps"] if ceiling is not None and one_pinned and one_pinned["rps"] else None
    return [
        f"| small c={c_hi} WORKERS 2: the machine's ceiling, {cost} | – | {_num(ceiling, ',.0f')} r/s | {NA} |",
        f"| small c={c_hi} WORKERS 2 r/s / that ceiling (median of runs) | ≥ {WORKERS_CEILING_SHARE:g} "
        f"| {_num(share, '.2f')} | {_mark(share, WORKERS_CEILING_SHARE, True)} |",
        f'| small c={c_hi} ceiling / 1 worker on CPU 0 (what "double" can be here) | – '
        f"| {_num(over_one, '.2f')}{'x' if over_one is not None else ''} | {NA} |",
    ]
