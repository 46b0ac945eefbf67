"""Fault-injection load run: ccrouter under 500 concurrent streams while its upstreams fail.

    .venv/bin/python bench/faults.py            # 3,000 warm-up + 10,000 measured requests, 500 concurrent
    .venv/bin/python bench/faults.py --quick    # 200 + 1,000 requests, 100 concurrent (a smoke run)

Two OpenAI-compatible mocks (fault_upstream.py, one process, CPU 1) stand behind the real ccrouter service
(`python -m ccrouter.gateway.server`, CPU 0): `primary` (Router.default) fails 5% of its requests and `backup`
(fallback.default) 1%, each with a fault drawn from 429 (half with Retry-After: 1), 500, 503, 529, a reset before
the headers, a reset in the middle of the stream, a stall before the headers and malformed SSE. A small share of
requests (--doomed-rate) is refused by both mocks on every attempt, so retries run out and the client gets an
HTTP error. The load generator (this process, CPU 1) sends streaming /v1/messages requests and classifies every
answer: served (a complete, valid Anthropic event sequence with exactly the text the mock sent), a proper error
(an Anthropic error JSON, or an `event: error` ending a 200 stream whose upstream broke mid-stream), or BAD
(anything else: truncated success, a 200 stream without message_stop or error, ccrouter's own 500, a hang, a
broken connection, malformed SSE). It reads ccrouter's VmRSS at idle, after the warm-up, every 1,000 requests and
at the end, prints markdown tables and writes bench/results/faults-<time>.json.

Exit code: 0 all good; 1 a BAD answer; 2 the run did not finish (time limit, start-up failure); 3 RSS grew beyond
--rss-noise-mb between the warm-up and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

import fake_text
from fault_upstream import EXPECTED_STATUS, LOOP_LAG, reply_pieces, watch_loop_lag
from gateways import BENCH_DIR, REPO_DIR, clean_env
from procs import HAVE_TASKSET, Proc, cpu_busy_seconds, cpu_seconds, free_port, pinned, rss_kb

RESULTS_DIR = BENCH_DIR / "results"
TARGETS = {"primary": "primary,p-model", "backup": "backup,b-model"}
HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "bench"}
SESSIONS = 100  # Claude Code sessions the requests belong to (the router keeps bounded per-session state)
MB = 1024.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 200 + 1,000 requests at concurrency 100")
    p.add_argument("--requests", type=int, default=None, help="measured requests (default 10,000)")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up requests before the RSS baseline (3,000: enough for both providers' connection pools to fill)",
    )
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 500)")
    p.add_argument("--primary-rate", type=float, default=0.05, help="share of primary requests that fail")
    p.add_argument("--backup-rate", type=float, default=0.01, help="share of backup requests that fail")
    p.add_argument("--doomed-rate", type=float, default=0.005, help="share of requests both upstreams refuse")
    p.add_argument("--attempt-timeout-ms", type=int, default=1000, help="the router's RETRY.attempt_timeout_ms")
    p.add_argument("--stall-s", type=float, default=5.0, help="a stall before headers lasts this long")
    p.add_argument("--chunk-interval-ms", type=float, default=2.0, help="the mocks' pause between SSE chunks")
    p.add_argument("--request-timeout", type=float, default=60.0, help="a request not done by then is BAD (hung)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="stop sending new requests after this")
    p.add_argument(
        "--idle-check", type=float, default=None, help="seconds idle before a last RSS reading (default 70; quick 0)"
    )
    p.add_argument("--rss-noise-mb", type=float, default=5.0, help="RSS growth after warm-up counted as noise")
    p.add_argument("--log-level", default="info", help="the router's LOG_LEVEL (LOG is on)")
    p.add_argument("--router-cpu", default="0")
    p.add_argument("--load-cpu", default="1", help="CPU for the mocks and the load generator")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--python", default=str(REPO_DIR / ".venv" / "bin" / "python"), help="ccrouter's python")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (router log and config)")
    a = p.parse_args(argv)
    a.requests = a.requests or (1000 if a.quick else 10_000)
    a.warmup = a.warmup if a.warmup is not None else (200 if a.quick else 3000)
    a.concurrency = a.concurrency or (100 if a.quick else 500)
    a.idle_check = a.idle_check if a.idle_check is not None else (0.0 if a.quick else 70.0)
    return a


# ---------------------------------------------------------------------------------------------------------------
# Router and mocks


def router_config(a: argparse.Namespace, port: int, primary_port: int, backup_port: int) -> dict[str, Any]:
    def provider(name: str, port: int) -> dict[str, Any]:
        return {
            "name": name,
            "api_base_url": f"http://127.0.0.1:{port}/v1/chat/completions",
            "api_key": f"sk-bench-{name}-key",
            "models": [TARGETS[name].split(",")[1]],
        }

    return {
        "LOG": True,
        "LOG_LEVEL": a.log_level,
        "HOST": "127.0.0.1",
        "PORT": port,
        "API_TIMEOUT_MS": 30_000,
        "Providers": [provider("primary", primary_port), provider("backup", backup_port)],
        "Router": {"default": TARGETS["primary"]},
        "fallback": {"default": [TARGETS["backup"]]},
        "RETRY": {
            "max_retries": 2,
            "initial_backoff_ms": 50,
            "max_backoff_ms": 400,
            "max_retry_after_ms": 5000,
            "attempt_timeout_ms": a.attempt_timeout_ms,
        },
        # Three failures with no success in between (or a 429 with Retry-After) rest a target for 2 s: at 5% faults
        # the primary cools down now and then, and comes back soon after.
        "COOLDOWN": {"failures": 3, "window_ms": 10_000, "duration_ms": 2000, "max_duration_ms": 5000},
    }


def open_fds(pid: int) -> int:
    """Open file descriptors (mostly sockets: client and upstream connections) of a process."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def http_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return json.loads(resp.read())


# ---------------------------------------------------------------------------------------------------------------
# One request and its classification


@dataclass(slots=True)
class Result:
    id: int
    phase: str
    doomed: bool
    status: int = 0
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (target, outcome) from x-ccr-attempts
    provider: str | None = None  # x-ccr-provider
    outcome: str = "bad"  # "ok", "error" or "bad"
    detail: str = ""  # the error kind, or what is wrong
    stream_end: str | None = None  # "stop" or "error" for a 200 stream
    latency_s: float = 0.0
    ttfb_s: float = 0.0
    mocks: list[str] = field(default_factory=list)  # what the mocks did with it ("upstream:kind"), in order


def request_body(rid: int, doomed: bool) -> bytes:
    session = rid % SESSIONS
    rng = random.Random(session)
    user_id = json.dumps({"device_id": "bench", "account_uuid": "", "session_id": f"bench-session-{session:03d}"})
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": fake_text.prose(rng, 1500), "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": fake_text.prose(rng, 400)}]},
            {"role": "assistant", "content": [{"type": "text", "text": fake_text.prose(rng, 300)}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": f"ccr-fault-bench id={rid}{' doom' if doomed else ''}: go on"}],
            },
        ],
        "metadata": {"user_id": user_id},
    }
    return json.dumps(body).encode()


def parse_attempts(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    out = []
    for item in value.split(", "):
        target, _, outcome = item.rpartition("=")
        out.append((target, outcome))
    return out


def sse_events(data: bytes) -> list[tuple[str, Any]]:
    """(event name, parsed data) pairs; raises ValueError on anything that is not well-formed Anthropic SSE."""
    text = data.decode("utf-8").replace("\r\n", "\n")
    if text and not text.endswith("\n\n"):
        raise ValueError(f"the stream does not end with a complete event: {text[-120:]!r}")
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        name, payload = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                payload.append(line[5:].lstrip())
            elif not line.startswith(":"):
                raise ValueError(f"unexpected SSE line {line[:120]!r}")
        if name is None or not payload:
            raise ValueError(f"an SSE block without event or data: {block[:200]!r}")
        obj = json.loads("\n".join(payload))
        if not isinstance(obj, dict) or obj.get("type") != name:
            raise ValueError(
                f"event {name!r} carries data of type {obj.get('type') if isinstance(obj, dict) else obj!r}"
            )
        events.append((name, obj))
    return events


def is_error_body(obj: Any) -> bool:
    error = obj.get("error") if isinstance(obj, dict) else None
    return (
        isinstance(error, dict)
        and obj.get("type") == "error"
        and isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
        and bool(error["message"])
    )


def classify_stream(r: Result, data: bytes) -> None:
    """A 200 answer: message_start, contiguous blocks, message_delta, message_stop and the mock's exact text; or a
    valid prefix of that ending in an error event (checked against the mock's log later)."""
    try:
        events = [(n, o) for n, o in sse_events(data) if n != "ping"]
    except (ValueError, UnicodeDecodeError) as exc:
        r.detail = f"malformed SSE: {exc}"
        return
    if not events:
        r.detail = "200 with an empty stream"
        return
    if events[0][0] != "message_start":
        r.detail = f"200 stream starting with {events[0][0]!r}, not message_start" + (
            f": {events[0][1]}" if events[0][0] == "error" else ""
        )
        return
    served = (r.provider or "").split(",")[0]
    if served not in TARGETS:
        r.detail = f"x-ccr-provider is {r.provider!r}"
        return
    pieces = reply_pieces(served, r.id)
    expected = "".join(pieces)
    next_index, open_index, text, end = 0, None, [], None
    stop_reason, output_tokens = None, None
    for name, obj in events[1:]:
        if end is not None:
            r.detail = f"{name!r} after {end}"
            return
        index = obj.get("index")
        if name == "content_block_start":
            if open_index is not None or index != next_index:
                r.detail = f"content_block_start index {index} (expected {next_index}, open {open_index})"
                return
            open_index, next_index = index, next_index + 1
        elif name == "content_block_delta":
            if index != open_index:
                r.detail = f"content_block_delta for block {index} while {open_index} is open"
                return
            delta = obj["delta"]
            if delta.get("type") != "text_delta":
                r.detail = f"unexpected delta {delta.get('type')!r}"
                return
            text.append(delta["text"])
        elif name == "content_block_stop":
            if index != open_index:
                r.detail = f"content_block_stop for block {index} while {open_index} is open"
                return
            open_index = None
        elif name == "message_delta":
            if open_index is not None:
                r.detail = "message_delta with a block still open"
                return
            stop_reason = obj["delta"].get("stop_reason")
            output_tokens = obj.get("usage", {}).get("output_tokens")
        elif name == "message_stop":
            if stop_reason is None:
                r.detail = "message_stop without a message_delta and its stop_reason"
                return
            end = "message_stop"
        elif name == "error":
            if not is_error_body(obj):
                r.detail = f"malformed error event: {obj}"
                return
            end = "error"
            r.detail = f"stream error event ({obj['error']['type']})"
        else:
            r.detail = f"unknown event {name!r}"
            return
    got = "".join(text)
    if end is None:
        r.detail = f"200 stream ended without message_stop or an error event after {len(got)} of {len(expected)} chars"
    elif end == "error":
        r.stream_end = "error"
        if expected.startswith(got):
            r.outcome = "error"  # provisional: the mock's log must show a mid-stream fault (see cross_check)
        else:
            r.detail = f"text before the error event is not the reply's start: {got[:80]!r}"
    elif got != expected:
        r.detail = f"text differs from what {served} sent: {got[:60]!r}... ({len(got)} vs {len(expected)} chars)"
    elif stop_reason != "end_turn" or output_tokens != len(pieces):
        r.detail = f"stop_reason {stop_reason!r}, output_tokens {output_tokens} (expected end_turn, {len(pieces)})"
    else:
        r.stream_end, r.outcome = "stop", "ok"


def classify(r: Result, status: int, headers: Any, data: bytes) -> None:
    r.status = status
    r.attempts = parse_attempts(headers.get("x-ccr-attempts"))
    r.provider = headers.get("x-ccr-provider")
    if status == 200:
        if not headers.get("content-type", "").startswith("text/event-stream"):
            r.detail = f"200 with content-type {headers.get('content-type')!r}: {data[:200]!r}"
            return
        if not r.attempts or r.attempts[-1] != (r.provider and _target_of(r.provider), "200"):
            r.detail = f"x-ccr-attempts {headers.get('x-ccr-attempts')!r} does not end with the served target"
            return
        classify_stream(r, data)
        return
    try:
        obj = json.loads(data)
    except ValueError:
        r.detail = f"HTTP {status} that is not JSON: {data[:200]!r}"
        return
    if not 400 <= status <= 599 or not is_error_body(obj):
        r.detail = f"HTTP {status} without the Anthropic error shape: {data[:300]!r}"
    elif status == 500 and "internal error" in obj["error"]["message"]:
        r.detail = f"ccrouter's own 500: {obj['error']['message'][:300]}"
    else:
        r.outcome, r.detail = "error", f"HTTP {status} {obj['error']['type']}"


def _target_of(provider: str) -> str:
    return TARGETS.get(provider, provider)


async def one(session: aiohttp.ClientSession, url: str, r: Result, timeout: float) -> None:
    body = request_body(r.id, r.doomed)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, data=body, headers=HEADERS) as resp:
                r.ttfb_s = time.perf_counter() - started
                data = await resp.read()
                status, headers = resp.status, resp.headers
    except TimeoutError:
        r.detail = f"hung: no complete answer within {timeout:.0f} s"
    except aiohttp.ClientError as exc:
        r.detail = f"connection failed: {type(exc).__name__}: {exc}"
    else:
        try:
            classify(r, status, headers, data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            r.outcome, r.detail = "bad", f"malformed answer ({type(exc).__name__}: {exc}): {data[:300]!r}"
    r.latency_s = time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# The load


@dataclass
class Load:
    a: argparse.Namespace
    url: str
    router_pid: int
    deadline: float
    results: list[Result] = field(default_factory=list)
    rss_samples: list[dict[str, Any]] = field(default_factory=list)

    async def phase(self, name: str, ids: range, doomed: set[int], session: aiohttp.ClientSession) -> float:
        """Run `ids` with `concurrency` in flight; returns the wall time. Samples RSS every 1,000 answers."""
        todo = iter(ids)
        done = 0
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal done
            for rid in todo:
                if time.monotonic() > self.deadline:
                    return
                r = Result(rid, name, rid in doomed)
                await one(session, self.url, r, self.a.request_timeout)
                self.results.append(r)
                done += 1
                if done % 1000 == 0:
                    rss = rss_kb([self.router_pid]) / MB
                    fds = open_fds(self.router_pid)
                    self.rss_samples.append({"phase": name, "requests": done, "rss_mb": round(rss, 1), "fds": fds})
                    counts = Counter(x.outcome for x in self.results if x.phase == name)
                    print(
                        f"  {name}: {done:,}/{len(ids):,}  {time.perf_counter() - started:5.1f} s  "
                        f"RSS {rss:.1f} MB  fds {fds}  "
                        f"ok {counts['ok']:,} error {counts['error']:,} bad {counts['bad']:,}",
                        flush=True,
                    )

        await asyncio.gather(*(worker() for _ in range(self.a.concurrency)))
        return time.perf_counter() - started


def cross_check(results: list[Result], mock_log: dict[str, list[str]]) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Compare each answer with what the mocks did to it. An error event is only proper when the upstream that
    served the stream broke it mid-stream; attempts where x-ccr-attempts and the mocks disagree are counted by kind
    (and shown) but are not BAD. Returns (disagreeing attempts by kind, examples)."""
    kinds: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    for r in results:
        seen = r.mocks = mock_log.get(str(r.id), [])
        if r.outcome == "error" and r.stream_end == "error":
            served = (r.provider or "").split(",")[0]
            last = [kind for up, _, kind in (e.partition(":") for e in seen) if up == served][-1:]
            if last != ["reset_mid_stream"]:
                r.outcome = "bad"
                r.detail = f"error event in a 200 stream, but {served}'s last answer to it was {last}"
        if not r.attempts:
            continue
        said = [(t.split(",")[0], o) for t, o in r.attempts if o != "cooling"]
        did = [(up, kind) for up, _, kind in (e.partition(":") for e in seen)]
        found = _disagreements(said, did)
        kinds.update(found)
        if found and len(examples) < 30:
            examples.append({"id": r.id, "x-ccr-attempts": r.attempts, "mocks": seen, "status": r.status})
    return kinds, examples


def _disagreements(said: list[tuple[str, str]], did: list[tuple[str, str]]) -> list[str]:
    """Walk the router's attempts and the mocks' records side by side; name each attempt they disagree on."""
    out = []
    i = 0
    for up, outcome in said:
        if i < len(did) and did[i][0] == up:
            kind = did[i][1]
            i += 1
            if int(outcome) == EXPECTED_STATUS[kind] or (kind == "reset_mid_stream" and outcome == "502"):
                continue
            if outcome == "504" and kind == "ok":
                out.append(f"{up}: attempt timed out though the mock answered at once")
            else:
                out.append(f"{up}: router says {outcome}, mock did {kind}")
        elif outcome == "504":
            out.append(f"{up}: attempt timed out before the mock had the whole request")
        else:
            out.append(f"{up}: router says {outcome}, the mock has no record")
    out += [f"{up}: the mock did {kind}, x-ccr-attempts does not list it" for up, kind in did[i:]]
    return out


def router_log_summary(home: Path) -> dict[str, Any]:
    """Request records by status, internal errors and cool-downs from the router's JSON-lines log."""
    statuses: Counter[str] = Counter()
    cooldowns: dict[str, dict[str, float]] = {}
    internal: list[str] = []
    other: Counter[str] = Counter()
    attempts: dict[str, Counter[str]] = {}
    attempt_timeouts: Counter[str] = Counter()
    ok_ms: dict[str, list[float]] = {}  # how long the attempts that opened took, to their first bytes
    for path in sorted((home / "logs").glob("ccr-router*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                other["unparseable line"] += 1
                continue
            msg = rec.get("msg", "")
            if msg == "request":
                status = str(rec.get("status"))
                statuses[status + (" with error" if status == "200" and rec.get("error") else "")] += 1
                for att in rec.get("attempts", []):
                    target = att.get("target", "?")
                    attempts.setdefault(target, Counter())[str(att.get("status") or "cooling")] += 1
                    if att.get("status") == 200:
                        ok_ms.setdefault(target, []).append(float(att.get("ms") or 0))
                    if "attempt_timeout_ms" in (att.get("error") or ""):
                        attempt_timeouts[target] += 1
            elif "is cooling down" in msg:
                c = cooldowns.setdefault(rec.get("target", "?"), {"times": 0, "seconds": 0.0, "reasons": Counter()})
                c["times"] += 1
                c["seconds"] = round(c["seconds"] + float(rec.get("seconds", 0)), 1)
                c["reasons"][f"{rec.get('seconds')} s after {str(rec.get('reason'))[:90]}"] += 1
            elif msg == "internal error":
                internal.append(str(rec.get("error"))[:500])
            elif rec.get("level") in ("warn", "error"):
                other[msg[:100]] += 1
    return {
        "request_records": dict(statuses),
        "attempts": {t: dict(c.most_common()) for t, c in attempts.items()},
        "attempt_timeouts": dict(attempt_timeouts),
        "attempt_ms_until_first_bytes": {
            t: {"p50": round(pct(v, 0.5), 1), "p99": round(pct(v, 0.99), 1), "max": max(v)} for t, v in ok_ms.items()
        },
        "cooldowns": {t: {**c, "reasons": dict(c["reasons"].most_common())} for t, c in cooldowns.items()},
        "internal_errors": len(internal),
        "internal_error_examples": internal[:5],
        "other_warnings": dict(other),
    }


# ---------------------------------------------------------------------------------------------------------------
# Report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def path_of(r: Result) -> str:
    # A skipped (cooling) backup is listed before the primary's attempt; it does not make a retry.
    if [a for a in r.attempts if a[1] != "cooling"] == [(TARGETS["primary"], "200")]:
        return "first try"
    served = (r.provider or "").split(",")[0]
    if served == "backup":
        if any(t == TARGETS["primary"] and o == "cooling" for t, o in r.attempts):
            return "backup, primary cooling down"
        return "backup, after the primary failed"
    return "primary, after a retry"


def summarize(results: list[Result], stats: dict[str, dict[str, int]]) -> dict[str, Any]:
    ok = [r for r in results if r.outcome == "ok"]
    errors = [r for r in results if r.outcome == "error"]
    bad = [r for r in results if r.outcome == "bad"]
    lat = {
        "all": [r.latency_s for r in results],
        "first try": [r.latency_s for r in ok if path_of(r) == "first try"],
        "retry/fallback": [r.latency_s for r in ok if path_of(r) != "first try"],
        "errors": [r.latency_s for r in errors],
        "to response headers, all": [r.ttfb_s for r in results],
    }
    return {
        "requests": len(results),
        "ok": len(ok),
        "ok_by_path": dict(Counter(path_of(r) for r in ok).most_common()),
        "errors": len(errors),
        "errors_by_kind": dict(Counter(r.detail for r in errors).most_common()),
        "error_examples": {
            kind: [{"id": r.id, "x-ccr-attempts": r.attempts, "mocks": r.mocks} for r in errors if r.detail == kind][:5]
            for kind in Counter(r.detail for r in errors)
        },
        "doomed_sent": sum(r.doomed for r in results),
        "bad": len(bad),
        "bad_by_kind": dict(Counter(r.detail.split(":")[0] for r in bad).most_common()),
        "bad_examples": [asdict(r) for r in bad[:20]],
        "latency_ms": {
            k: {"n": len(v), "p50": round(pct(v, 0.5) * 1000, 1), "p99": round(pct(v, 0.99) * 1000, 1)}
            for k, v in lat.items()
        },
        "injected": stats,
    }


def render(res: dict[str, Any]) -> str:
    w, m = res["warmup"], res["measured"]
    rss = res["rss"]
    ok_paths = sorted(set(w["ok_by_path"]) | set(m["ok_by_path"]), key=lambda p: -m["ok_by_path"].get(p, 0))
    err_kinds = sorted(
        set(w["errors_by_kind"]) | set(m["errors_by_kind"]), key=lambda k: -m["errors_by_kind"].get(k, 0)
    )
    lines = [
        "| | warm-up | measured |",
        "|---|---|---|",
        f"| requests | {w['requests']:,} | {m['requests']:,} |",
        f"| served, first try | {w['ok_by_path'].get('first try', 0):,} | {m['ok_by_path'].get('first try', 0):,} |",
    ]
    w_retry, m_retry = w["ok"] - w["ok_by_path"].get("first try", 0), m["ok"] - m["ok_by_path"].get("first try", 0)
    lines.append(f"| served via retry/fallback | {w_retry:,} | {m_retry:,} |")
    for p in ok_paths:
        if p != "first try":
            lines.append(f"| &nbsp;&nbsp;{p} | {w['ok_by_path'].get(p, 0):,} | {m['ok_by_path'].get(p, 0):,} |")
    lines.append(f"| proper errors | {w['errors']:,} | {m['errors']:,} |")
    for k in err_kinds:
        lines.append(f"| &nbsp;&nbsp;{k} | {w['errors_by_kind'].get(k, 0):,} | {m['errors_by_kind'].get(k, 0):,} |")
    lines.append(
        f"| (doomed requests sent: both upstreams refuse them) | {w['doomed_sent']:,} | {m['doomed_sent']:,} |"
    )
    lines.append(f"| **BAD** | **{w['bad']:,}** | **{m['bad']:,}** |")
    for k, n in m["bad_by_kind"].items():
        lines.append(f"| &nbsp;&nbsp;{k} | | {n:,} |")
    for k in ("all", "first try", "retry/fallback", "errors", "to response headers, all"):
        lw, lm = w["latency_ms"][k], m["latency_ms"][k]
        lines.append(
            f"| latency p50 / p99, {k} | {lw['p50']:,.0f} / {lw['p99']:,.0f} ms "
            f"| {lm['p50']:,.0f} / {lm['p99']:,.0f} ms |"
        )
    lines.append(f"| wall time | {res['wall_s']['warmup']:.1f} s | {res['wall_s']['measured']:.1f} s |")
    cpu = res["cpu"]
    lines.append(
        f"| router CPU (core {res['meta']['router_cpu']} busy with others) | | {cpu['router_share']:.0%} "
        f"({cpu['others_share']:.0%}) |"
    )
    lag = res["loop_lag"]
    lines.append(
        f"| CPU of the mocks / the load generator (core {res['meta']['load_cpu']}) | | "
        f"{cpu['mock_share']:.0%} / {cpu['loadgen_share']:.0%} |"
    )
    lines.append(
        "| event-loop lag, max (times > 100 ms): mocks / load generator | | "
        f"{lag['mocks']['max_ms']:,.0f} ms ({lag['mocks']['over_100ms']:,}) / "
        f"{lag['load_generator']['max_ms']:,.0f} ms ({lag['load_generator']['over_100ms']:,}) |"
    )
    rss_line = (
        f"RSS (VmRSS, MB): idle {rss['idle_mb']:.1f}, after warm-up {rss['after_warmup_mb']:.1f}, "
        f"after the measured requests {rss['after_measured_mb']:.1f}: growth {rss['growth_mb']:+.1f} MB "
        f"({rss['growth_pct']:+.1f}%), threshold {rss['noise_mb']:.0f} MB: "
        f"{'within noise ✅' if rss['within_noise'] else 'BEYOND NOISE ❌'}. Under load every 1,000: "
        + ", ".join(f"{s['rss_mb']:.0f}" for s in rss["samples"] if s["phase"] == "measured")
        + (
            f" (second half of the measured run: {rss['second_half_growth_mb']:+.1f} MB)"
            if rss["second_half_growth_mb"] is not None
            else ""
        )
        + f". Open fds (client + upstream sockets): idle {rss['fds']['idle']}, after warm-up "
        f"{rss['fds']['after_warmup']}, at the end {rss['fds']['after_measured']}."
        + (
            f" After {rss['idle_check_s']:.0f} s idle: RSS {rss['after_idle_check_mb']:.1f} MB, "
            f"{rss['fds']['after_idle_check']} fds."
            if rss["idle_check_s"]
            else ""
        )
    )
    inj = [
        "| injected (mock counters, warm-up + measured) | primary | backup |",
        "|---|---|---|",
    ]
    stats = res["injected"]
    kinds = [k for k in EXPECTED_STATUS if k != "ok"] + ["stall_abandoned_by_router", "stall_outlived"]
    inj.append(
        f"| requests received | {stats['primary'].get('requests', 0):,} | {stats['backup'].get('requests', 0):,} |"
    )
    inj.append(f"| answered normally | {stats['primary'].get('ok', 0):,} | {stats['backup'].get('ok', 0):,} |")
    for k in kinds:
        p, b = stats["primary"].get(k, 0), stats["backup"].get(k, 0)
        inj.append(f"| {k} | {p:,} | {b:,} |")
    log = res["router_log"]
    cool = ", ".join(f"{t}: {c['times']}x, {c['seconds']:.0f} s" for t, c in log["cooldowns"].items()) or "none"
    timeouts = ", ".join(
        f"{up}: {log['attempt_timeouts'].get(TARGETS[up], 0):,} "
        f"(stalls injected: {stats[up].get('stall_before_headers', 0):,})"
        for up in TARGETS
    )
    first = log["attempt_ms_until_first_bytes"]
    attempt_lines = "; ".join(
        f"{t}: " + ", ".join(f"{k} x{n:,}" for k, n in c.items()) for t, c in log["attempts"].items()
    )
    notes = [
        rss_line,
        f"Attempts by outcome (router log): {attempt_lines}. Attempts that hit RETRY.attempt_timeout_ms: {timeouts}. "
        "Successful attempts, ms to their first bytes as the router measured them (p50 / p99 / max): "
        + "; ".join(f"{t}: {v['p50']:,.0f} / {v['p99']:,.0f} / {v['max']:,.0f}" for t, v in first.items())
        + ".",
        f"Cool-downs started (router log): {cool}. Router log records by status: {log['request_records']}; "
        f"internal errors: {log['internal_errors']}.",
        "Attempts where x-ccr-attempts and the mocks' log disagree: "
        + (", ".join(f"{k} x{n:,}" for k, n in res["attempt_disagreements"].items()) or "none")
        + ".",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(inj) + "\n\n" + "\n\n".join(notes)


# ---------------------------------------------------------------------------------------------------------------


async def drive(
    a: argparse.Namespace, router_port: int, router_pid: int, mock_port: int, mock_pid: int
) -> dict[str, Any]:
    rng = random.Random(a.seed)
    total = a.warmup + a.requests
    doomed = {i for i in range(total) if rng.random() < a.doomed_rate}
    load = Load(a, f"http://127.0.0.1:{router_port}/v1/messages", router_pid, time.monotonic() + a.max_seconds)
    connector = aiohttp.TCPConnector(limit=a.concurrency, limit_per_host=a.concurrency)
    timeout = aiohttp.ClientTimeout(total=None)
    out: dict[str, Any] = {}
    watcher = asyncio.create_task(watch_loop_lag())
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        out["rss_idle_kb"], out["fds_idle"] = rss_kb([router_pid]), open_fds(router_pid)
        print(f"warm-up: {a.warmup:,} requests, {a.concurrency} in flight", flush=True)
        out["wall_warmup"] = await load.phase("warmup", range(a.warmup), doomed, session)
        await asyncio.sleep(2.0)
        out["rss_warm_kb"], out["fds_warm"] = rss_kb([router_pid]), open_fds(router_pid)
        out["stats_warm"] = http_json(mock_port, "/stats")
        cpu0, busy0, t0 = cpu_seconds([router_pid]), cpu_busy_seconds({int(a.router_cpu)}), time.perf_counter()
        mock0, gen0 = cpu_seconds([mock_pid]), cpu_seconds([os.getpid()])
        print(f"measured: {a.requests:,} requests, {a.concurrency} in flight", flush=True)
        out["wall_measured"] = await load.phase("measured", range(a.warmup, total), doomed, session)
        elapsed = time.perf_counter() - t0
        router_cpu = cpu_seconds([router_pid]) - cpu0
        mock_cpu, gen_cpu = cpu_seconds([mock_pid]) - mock0, cpu_seconds([os.getpid()]) - gen0
        busy = cpu_busy_seconds({int(a.router_cpu)}) - busy0
        out["cpu"] = {
            "router_share": router_cpu / elapsed,
            "others_share": max(0.0, busy - router_cpu) / elapsed,
            "mock_share": mock_cpu / elapsed,
            "loadgen_share": gen_cpu / elapsed,
        }
        await asyncio.sleep(2.0)
        out["rss_end_kb"], out["fds_end"] = rss_kb([router_pid]), open_fds(router_pid)
        if a.idle_check:
            print(
                f"idle for {a.idle_check:.0f} s (the router's idle upstream connections expire after 60 s)", flush=True
            )
            await asyncio.sleep(a.idle_check)
        out["rss_idle_end_kb"], out["fds_idle_end"] = rss_kb([router_pid]), open_fds(router_pid)
    watcher.cancel()
    out["loadgen_loop_lag"] = dict(LOOP_LAG)
    out["results"] = load.results
    out["rss_samples"] = load.rss_samples
    out["complete"] = len(load.results) == total
    return out


def _diff(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {up: {k: v - before.get(up, {}).get(k, 0) for k, v in c.items()} for up, c in after.items()}


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not HAVE_TASKSET:
        print("warning: taskset not found, processes are not pinned", file=sys.stderr)
    all_cpus = set(range(os.cpu_count() or 1))
    b0 = cpu_busy_seconds(all_cpus)
    time.sleep(1.0)
    busy_before = (cpu_busy_seconds(all_cpus) - b0) / len(all_cpus)
    if busy_before > 0.05:
        print(f"warning: the machine is {busy_before:.0%} busy before the run; latencies will be noisy")
    if a.load_cpu:
        os.sched_setaffinity(0, {int(c) for c in a.load_cpu.split(",")})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="ccrouter-faults-"))
    home = tmp / "home"
    home.mkdir()
    procs: list[Proc] = []
    git = _git("rev-parse", "--short", "HEAD") or "?"
    dirty = bool(_git("status", "--porcelain", "--", "src"))
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git": git,
        "src_modified": dirty,
        "quick": a.quick,
        "busy_before": round(busy_before, 3),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "router_cpu": a.router_cpu,
        "load_cpu": a.load_cpu,
        "settings": {k: v for k, v in vars(a).items() if k not in ("python",)},
    }
    try:
        primary_port, backup_port, router_port = free_port(), free_port(), free_port()
        mocks = Proc(
            "mocks",
            pinned(
                [
                    a.python,
                    str(BENCH_DIR / "fault_upstream.py"),
                    f"--primary-port={primary_port}",
                    f"--backup-port={backup_port}",
                    f"--primary-rate={a.primary_rate}",
                    f"--backup-rate={a.backup_rate}",
                    f"--stall-s={a.stall_s}",
                    f"--chunk-interval-ms={a.chunk_interval_ms}",
                    f"--seed={a.seed}",
                ],
                a.load_cpu,
            ),
            clean_env({}),
            tmp,
            tmp / "mocks.log",
        )
        procs.append(mocks)
        mocks.wait_http(primary_port)
        mocks.wait_http(backup_port)
        config = router_config(a, router_port, primary_port, backup_port)
        cfg = home / "config.json"
        cfg.write_text(json.dumps(config, indent=2))
        src = str(REPO_DIR / "src")
        pythonpath = src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        env = clean_env({"CCR_HOME": str(home), "HOME": str(home), "PYTHONPATH": pythonpath})
        router = Proc(
            "ccrouter",
            pinned([a.python, "-m", "ccrouter.gateway.server", "--config", str(cfg)], a.router_cpu),
            env,
            tmp,
            tmp / "router.log",
        )
        procs.append(router)
        start_s = router.wait_http(router_port)
        time.sleep(1.0)
        print(
            f"ccrouter pid {router.pid} up in {start_s:.2f} s on CPU {a.router_cpu}; "
            f"mocks pid {mocks.pid} on CPU {a.load_cpu}"
        )
        try:
            import uvloop

            run = uvloop.run
        except ImportError:  # pragma: no cover
            run = asyncio.run
        out = run(drive(a, router_port, router.pid, primary_port, mocks.pid))
        if not router.alive():
            print(f"ccrouter exited during the run: {router.log_tail()}", file=sys.stderr)
        stats_end = http_json(primary_port, "/stats")
        mock_lag = stats_end.pop("loop")
        out["stats_warm"].pop("loop")
        mock_log = http_json(primary_port, "/log")
        results: list[Result] = out["results"]
        disagreements, disagreement_examples = cross_check(results, mock_log)
        router_log = router_log_summary(home)
        router_stderr = router.log_tail(200_000)
        tracebacks = router_stderr.count("Traceback")
    except RuntimeError as exc:  # a process did not start
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    finally:
        for proc in reversed(procs):
            proc.stop()
        if a.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    warm = [r for r in results if r.phase == "warmup"]
    measured = [r for r in results if r.phase == "measured"]
    growth_mb = (out["rss_end_kb"] - out["rss_warm_kb"]) / MB
    under_load = [x["rss_mb"] for x in out["rss_samples"] if x["phase"] == "measured"]
    second_half_mb = under_load[-1] - under_load[len(under_load) // 2 - 1] if len(under_load) >= 2 else None
    res: dict[str, Any] = {
        "meta": meta,
        "router_config": {k: v for k, v in config.items() if k != "Providers"},
        "warmup": summarize(warm, _diff(out["stats_warm"], {})),
        "measured": summarize(measured, _diff(stats_end, out["stats_warm"])),
        "injected": stats_end,
        "loop_lag": {"mocks": mock_lag, "load_generator": out["loadgen_loop_lag"]},
        "wall_s": {"warmup": round(out["wall_warmup"], 2), "measured": round(out["wall_measured"], 2)},
        "cpu": out["cpu"],
        "rss": {
            "idle_mb": out["rss_idle_kb"] / MB,
            "after_warmup_mb": out["rss_warm_kb"] / MB,
            "after_measured_mb": out["rss_end_kb"] / MB,
            "growth_mb": growth_mb,
            "growth_pct": 100 * growth_mb / (out["rss_warm_kb"] / MB),
            "second_half_growth_mb": second_half_mb,  # under load: the last sample minus the one half-way
            "noise_mb": a.rss_noise_mb,
            "within_noise": growth_mb < a.rss_noise_mb,
            "samples": out["rss_samples"],
            "after_idle_check_mb": out["rss_idle_end_kb"] / MB,
            "idle_check_s": a.idle_check,
            "fds": {
                "idle": out["fds_idle"],
                "after_warmup": out["fds_warm"],
                "after_measured": out["fds_end"],
                "after_idle_check": out["fds_idle_end"],
            },
        },
        "attempt_disagreements": dict(disagreements.most_common()),
        "attempt_disagreement_examples": disagreement_examples,
        "router_log": router_log,
        "router_stderr_tracebacks": tracebacks,
        "complete": out["complete"],
    }
    table = render(res)
    print()
    print(table)
    if tracebacks:
        print(f"\nccrouter's stderr has {tracebacks} traceback(s); see the JSON")
        res["router_stderr_tail"] = router_stderr[-5000:]
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    print(f"\nresults: {path}")
    bad = res["warmup"]["bad"] + res["measured"]["bad"]
    if bad:
        first = res["measured"]["bad_examples"][:1] or res["warmup"]["bad_examples"][:1]
        print(f"FAIL: {bad} BAD answer(s); the first: {first}")
        return 1
    if not out["complete"]:
        print(f"FAIL: only {len(results):,} of {a.warmup + a.requests:,} requests ran within --max-seconds")
        return 2
    if not res["rss"]["within_noise"]:
        print(f"FAIL: RSS grew {growth_mb:.1f} MB after the warm-up (threshold {a.rss_noise_mb} MB)")
        return 3
    print("PASS: every request was served or answered with a proper error; RSS within noise")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
