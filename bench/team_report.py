"""The team run's report: the markdown table printed at the end and the verdict (what makes the run fail)."""

from __future__ import annotations

from typing import Any


def render(res: dict[str, Any]) -> str:
    s, led = res["load"], res["ledger"]
    meta = res["meta"]
    lines = [
        f"| {meta['streams']:,} streams, {meta['seconds']:.0f} s, {meta['fault_rate']:.0%} faults | |",
        "|---|---|",
        f"| requests sent | {s['sent']:,} ({s['per_second']:,} /s over {s['wall_s']} s) |",
        f"| answered 200, complete and correct | {s['answered_200']:,} ({s['served_after_retry_or_fallback']:,} "
        "after a retry or the fallback) |",
        f"| answered with a proper error | {s['proper_errors']:,} |",
    ]
    lines += [f"| &nbsp;&nbsp;{kind} | {n:,} |" for kind, n in s["proper_errors_by_kind"].items()]
    lines += [
        f"| invalid answers | {s['invalid']:,} |",
        f"| **broken** (dropped or hung) | **{s['broken']:,}** |",
        f"| latency p50 / p99 (to the last byte) | {s['latency_ms']['p50']:,.0f} / {s['latency_ms']['p99']:,.0f} ms |",
        f"| ledger rows in PostgreSQL | {led['rows']:,} |",
        f"| instances' request records | {led['request_records']:,} "
        f"({' / '.join(f'{n:,}' for n in led['request_records_by_instance'].values())}) |",
        f"| answers without a row / rows without an answer / duplicates | {led['answered_without_row']} / "
        f"{led['rows_without_answer']} / {led['duplicate_rows']} |",
    ]
    lines.append(f"| instances falling back from Redis (50 ms STATE_TIMEOUT_MS) | {led['state_fallbacks']} times |")
    codes = res["instance_exit_codes"]
    lines.append(f"| instances' exit after SIGTERM (-15: uvicorn re-raises it; -9: killed 15 s after it) | {codes} |")
    cpu = res["cpu_s"]
    lines.append("| CPU seconds | " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()) + " |")
    return "\n".join(lines)


def verdict(res: dict[str, Any]) -> list[str]:
    s, led = res["load"], res["ledger"]
    problems = []
    if s["broken"] or s["invalid"]:
        problems.append(f"{s['broken']} broken and {s['invalid']} invalid answers (see the JSON's examples)")
    if led["rows"] != led["request_records"] or led["rows"] != led["answered"]:
        problems.append(f"{led['rows']} ledger rows, {led['request_records']} records, {led['answered']} answers")
    if led["answered_without_row"] or led["rows_without_answer"] or led["duplicate_rows"]:
        problems.append("ledger rows and answers do not match one to one (see the JSON)")
    killed = [n for n, code in enumerate(res["instance_exit_codes"]) if code not in (0, -15)]
    if killed:
        problems.append(f"instance(s) {killed} did not stop within 60 s of SIGTERM and were killed")
    return problems
