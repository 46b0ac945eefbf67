#!/usr/bin/env python3
"""A tiny recording stand-in for the Anthropic API, used to capture what Claude Code really sends.

It listens on 127.0.0.1, writes every request it receives (method, path with query, headers with secrets
redacted, JSON body) to ``<out>/NNNN-<METHOD>-<path>.json`` and answers like the Anthropic API:

- ``HEAD`` on any path (``/``, ``/api/hello``) -> 200, empty body;
- ``POST /v1/messages/count_tokens`` -> ``{"input_tokens": N}`` (a rough estimate);
- ``POST /v1/messages`` -> a valid message, as an SSE stream when ``stream`` is true, else JSON;
- anything else -> 404 with an Anthropic-shaped error body (still recorded).

Scripting (``--mode``):

- ``text``  every turn answers with text (default);
- ``tool``  a turn whose request offers the Bash tool and whose last user message carries no
  ``tool_result`` answers with a ``tool_use`` of Bash (``--tool-command``, default ``echo hi``); once the
  last user message carries a ``tool_result`` the turn answers with text. Requests without a Bash tool
  (titles, probes) get text.

``--thinking`` makes turns that request thinking start with a ``thinking`` block carrying a (fake) signature.

Usage::

    python tests/tools/record_claude_code.py serve --out /tmp/rec [--port 0] [--mode tool]
    python tests/tools/record_claude_code.py capture --out tests/fixtures/claude_code

``serve`` prints ``PORT=<n>`` on its first line of stdout and runs until interrupted. ``capture`` starts the
server in-process, drives the real CLI (see ``tests/claude_cli.py``) through the scenarios documented in
``tests/fixtures/claude_code/README.md`` and writes the fixtures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization", "anthropic-admin-api-key"}
REDACTED = "<redacted>"


def redact_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict (names lower-cased, repeated names joined by ', '), secrets replaced."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] + " " if key == "authorization" and " " in value else ""
            value = scheme + REDACTED
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def estimate_tokens(body: Any) -> int:
    """A crude but stable token estimate: about four characters of JSON per token."""
    return max(1, len(json.dumps(body, ensure_ascii=False)) // 4)


def _last_user_has_tool_result(body: dict[str, Any]) -> bool:
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        return isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
    return False


def _offers_tool(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(t, dict) and t.get("name") == name for t in body.get("tools") or [])


def _has_tool_use(body: dict[str, Any]) -> bool:
    """Whether an assistant turn of the conversation already called a tool (an agent is started only once: Claude
    Code reports a finished background agent as a new prompt)."""
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if (
            message.get("role") == "assistant"
            and isinstance(content, list)
            and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
        ):
            return True
    return False


def _is_subagent(body: dict[str, Any]) -> bool:
    """Claude Code marks a subagent's requests in the attribution block (system[0])."""
    system = body.get("system")
    first = system[0] if isinstance(system, list) and system else None
    return isinstance(first, dict) and "cc_is_subagent=true" in str(first.get("text", ""))


def _wants_thinking(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


class Scenario:
    """Decides the content blocks of each /v1/messages answer."""

    def __init__(
        self,
        mode: str = "text",
        tool_command: str = "echo hi",
        thinking: bool = False,
        text: str = "Hello from the recording server.",
        agent_type: str = "Explore",
        models: list[tuple[str, str]] | None = None,
    ) -> None:
        self.models = models or []  # (id, display_name) answered on GET /v1/models; none: 404 as before
        self.mode = mode
        self.tool_command = tool_command
        self.agent_type = agent_type
        self.thinking = thinking
        self.text = text

    def blocks(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """Return (content blocks, stop_reason)."""
        blocks: list[dict[str, Any]] = []
        if self.thinking and _wants_thinking(body):
            # With display "omitted" the real API sends the block with empty text and only a signature.
            omitted = body["thinking"].get("display") == "omitted"
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": "" if omitted else "Let me think about this.",
                    "signature": "fake-signature-" + secrets.token_hex(8),
                }
            )
        if self.mode == "tool" and _offers_tool(body, "Bash") and not _last_user_has_tool_result(body):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": "Bash",
                    "input": {"command": self.tool_command, "description": "Print a greeting"},
                }
            )
            return blocks, "tool_use"
        if self.mode == "agent" and _offers_tool(body, "Agent") and not _is_subagent(body) and not _has_tool_use(body):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": "Agent",
                    "input": {
                        "description": "Look around",
                        "prompt": "List the files in the working directory and report their names.",
                        "subagent_type": self.agent_type,
                    },
                }
            )
            return blocks, "tool_use"
        if body.get("max_tokens") == 1:
            blocks.append({"type": "text", "text": "Hi"})
            return blocks, "max_tokens"
        if _last_user_has_tool_result(body):
            blocks.append({"type": "text", "text": "The command printed: hi. Done."})
        else:
            blocks.append({"type": "text", "text": self.text})
        return blocks, "end_turn"


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_events(message: dict[str, Any]) -> Iterator[bytes]:
    """The SSE byte chunks of a complete Anthropic stream for ``message``."""
    start = dict(
        message,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=dict(message["usage"], output_tokens=1),
    )
    yield _sse("message_start", {"type": "message_start", "message": start})
    yield _sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            text = block["text"]
            for i in range(0, len(text), 16):
                yield _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": text[i : i + 16]},
                    },
                )
        elif kind == "thinking":
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            )
            if block["thinking"]:
                yield _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                    },
                )
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
            )
        elif kind == "tool_use":
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                },
            )
            raw = json.dumps(block["input"])
            for i in range(0, len(raw), 12):
                yield _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": raw[i : i + 12]},
                    },
                )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


class Recorder:
    """Numbers and stores requests; thread-safe."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = 0
        self.records: list[dict[str, Any]] = []

    def record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        with self._lock:
            self._count += 1
            seq = self._count
        slug = re.sub(r"[^A-Za-z0-9]+", "_", path.split("?", 1)[0]).strip("_") or "root"
        rec = {
            "seq": seq,
            "time": time.time(),
            "method": method,
            "path": path,
            "headers": headers,
            "body_bytes": len(raw),
            "body": body,
        }
        (self.out_dir / f"{seq:04d}-{method}-{slug}.json").write_text(
            json.dumps(rec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        with self._lock:
            self.records.append(rec)
        return rec


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _read(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, raw: bytes) -> dict[str, Any]:
        headers = redact_headers(list(self.headers.items()))
        return self.server.recorder.record(self.command, self.path, headers, raw)

    def _json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_" + secrets.token_hex(12))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._record(b"")
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._record(b"")
        models = self.server.scenario.models
        if self.path.split("?", 1)[0] == "/v1/models" and models:
            created = "2026-01-01T00:00:00Z"
            data = [{"type": "model", "id": m, "display_name": name, "created_at": created} for m, name in models]
            self._json(200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})
            return
        self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

    def do_POST(self) -> None:
        raw = self._read()
        rec = self._record(raw)
        body = rec["body"] if isinstance(rec["body"], dict) else {}
        route = self.path.split("?", 1)[0]
        if route == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": estimate_tokens(body)})
        elif route == "/v1/messages":
            self._messages(body)
        else:
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})

    def _messages(self, body: dict[str, Any]) -> None:
        blocks, stop = self.server.scenario.blocks(body)
        message = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-test"),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": estimate_tokens(body),
                "output_tokens": 12,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        if not body.get("stream"):
            self._json(200, message)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_" + secrets.token_hex(12))
        self.end_headers()
        for chunk in stream_events(message):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, recorder: Recorder, scenario: Scenario, verbose: bool) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.recorder = recorder
        self.scenario = scenario
        self.verbose = verbose


class RecordingServer:
    """In-process use: ``with RecordingServer(out_dir) as srv: ... srv.base_url ... srv.recorder.records``."""

    def __init__(self, out_dir: Path, scenario: Scenario | None = None, port: int = 0, verbose: bool = False) -> None:
        self.recorder = Recorder(out_dir)
        self.scenario = scenario or Scenario()
        self._server = _Server(port, self.recorder, self.scenario, verbose)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ----------------------------------------------------------------------------------------------------
# capture: drive the real CLI through the fixture scenarios

TESTS_DIR = Path(__file__).resolve().parents[1]
PRINT_ARGS = ["--output-format", "json"]
THINKING_MODELS = ("claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929", "claude-3-7-sonnet-20250219")


def _cli() -> Any:
    if str(TESTS_DIR.parent) not in sys.path:  # the repository: `tests.support`
        sys.path.insert(0, str(TESTS_DIR.parent))
    from tests.support import claude_cli

    return claude_cli


def _tui() -> Any:
    _cli()
    from tests.support import claude_tui

    return claude_tui


def _save_fixture(dest: Path, name: str, rec: dict[str, Any]) -> None:
    (dest / f"{name}.json").write_text(json.dumps(rec["body"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    meta = {
        "method": rec["method"],
        "path": rec["path"],
        "body_bytes": rec["body_bytes"],
        "headers": rec["headers"],
    }
    (dest / f"{name}.headers.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"  saved {name}.json ({rec['body_bytes']} bytes on the wire)", file=sys.stderr)


def _route(rec: dict[str, Any]) -> str:
    return str(rec["path"]).split("?", 1)[0]


def _messages_posts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["method"] == "POST" and _route(r) == "/v1/messages"]


def _count_posts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["method"] == "POST" and _route(r) == "/v1/messages/count_tokens"]


def _summary(label: str, records: list[dict[str, Any]], took: float, rc: int | None) -> None:
    paths: dict[str, int] = {}
    for r in records:
        key = f"{r['method']} {r['path']}"
        paths[key] = paths.get(key, 0) + 1
    print(
        f"[{label}] rc={rc} {took:.1f}s, {len(records)} requests: " + ", ".join(f"{n}x {k}" for k, n in paths.items()),
        file=sys.stderr,
    )


def _run_print(
    label: str, scenario: Scenario, args: list[str], work: Path, extra_env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One ``claude -p`` run in a fresh HOME; returns the recorded requests."""
    home = work / label / "home"
    with RecordingServer(work / label / "requests", scenario) as srv:
        t0 = time.monotonic()
        proc = _cli().run_claude(args, srv.base_url, home, extra_env=extra_env)
        took = time.monotonic() - t0
        records = list(srv.recorder.records)
    _summary(label, records, took, proc.returncode)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return records


def _run_interactive(work: Path, scenario: Scenario) -> list[dict[str, Any]]:
    """Interactive session under tmux: ``/context``, ``/model claude-haiku-4-5``, ``/model
    claude-opus-5-5``, then one prompt. Returns the recorded requests."""
    if shutil.which("tmux") is None:
        print("[interactive] tmux not found, skipped", file=sys.stderr)
        return []
    t0 = time.monotonic()
    with RecordingServer(work / "requests", scenario) as srv:
        recs = srv.recorder.records
        tui = _tui()
        tm = tui.ClaudeTui(work, srv.base_url, essential_only=True)
        try:
            if not tui.wait_until(lambda: tui.PROMPT_MARK in tm.screen(), 30, settle=2.0):
                print("[interactive] no prompt appeared:\n" + tm.screen(), file=sys.stderr)
                return list(recs)
            tm.type("/context")
            tui.wait_until(lambda: "Context usage" in tm.screen(), 30, settle=3.0)
            n = len(recs)
            tm.type("/model claude-haiku-4-5")
            tui.wait_until(lambda: len(_messages_posts(recs[n:])) >= 1, 20, settle=1.0)
            n = len(recs)
            tm.type("/model claude-opus-5-5")
            tui.wait_until(lambda: len(_messages_posts(recs[n:])) >= 1, 20, settle=1.0)
            n = len(recs)
            tm.type("Say hello.")
            tui.wait_until(lambda: any(r["body"].get("stream") for r in _messages_posts(recs[n:])), 30, settle=3.0)
        finally:
            tm.close()
        records = list(recs)
    _summary("interactive", records, time.monotonic() - t0, None)
    return records


def capture(dest: Path, keep: bool = False, interactive: bool = True) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cc-capture-"))
    missing: list[str] = []
    try:
        recs = _run_print("main", Scenario("text"), ["-p", "Say hello.", *PRINT_ARGS], work)
        posts = [r for r in _messages_posts(recs) if r["body"].get("stream")]
        if posts:
            _save_fixture(dest, "main_turn", posts[-1])
        else:
            missing.append("main_turn")

        recs = _run_print(
            "tool",
            Scenario("tool", thinking=True),
            [
                "-p",
                "Run `echo hi` with the Bash tool and tell me what it printed.",
                *PRINT_ARGS,
                "--allowedTools",
                "Bash",
            ],
            work,
        )
        follow = [r for r in _messages_posts(recs) if _last_user_has_tool_result(r["body"])]
        if follow:
            _save_fixture(dest, "tool_result_followup", follow[0])
        else:
            missing.append("tool_result_followup")

        found = False
        for model in THINKING_MODELS:
            recs = _run_print(
                f"think-{model}",
                Scenario("text"),
                ["-p", "Think hard, then say hello.", *PRINT_ARGS, "--model", model],
                work,
                {"MAX_THINKING_TOKENS": "4000"},
            )
            for r in _messages_posts(recs):
                if (r["body"].get("thinking") or {}).get("type") == "enabled":
                    _save_fixture(dest, "thinking_budget", r)
                    found = True
                    break
            if found:
                break
        if not found:
            missing.append("thinking_budget")

        if interactive:
            recs = _run_interactive(work / "interactive", Scenario("text"))
            counts = _count_posts(recs)
            if counts:
                print(f"  /context sent {len(counts)} count_tokens requests", file=sys.stderr)
                widest = max(counts, key=lambda r: len(r["body"].get("tools") or []))
                _save_fixture(dest, "count_tokens", widest)
                _save_fixture(dest, "count_tokens_minimal", min(counts, key=lambda r: r["body_bytes"]))
            else:
                missing.append("count_tokens")
            probes = [r for r in _messages_posts(recs) if r["body"].get("max_tokens") == 1]
            if probes:
                _save_fixture(dest, "model_probe", probes[0])
            else:
                missing.append("model_probe")
            turns = [r for r in _messages_posts(recs) if r["body"].get("stream")]
            if turns:
                _save_fixture(dest, "interactive_turn", turns[-1])
            else:
                missing.append("interactive_turn")
    finally:
        if keep:
            print(f"raw recordings kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if missing:
        print("not captured: " + ", ".join(missing), file=sys.stderr)
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the recording server until interrupted")
    serve.add_argument("--out", type=Path, required=True, help="directory for the recorded requests")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port (printed as PORT=n)")
    serve.add_argument("--mode", choices=("text", "tool", "agent"), default="text")
    serve.add_argument("--agent-type", default="Explore", help="the subagent_type an `agent` turn asks for")
    serve.add_argument("--tool-command", default="echo hi")
    serve.add_argument("--thinking", action="store_true", help="emit a signed thinking block when asked")
    serve.add_argument("--verbose", action="store_true")
    cap = sub.add_parser("capture", help="drive the real CLI and write the fixtures")
    default_out = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code"
    cap.add_argument("--out", type=Path, default=default_out)
    cap.add_argument("--keep", action="store_true", help="keep the raw per-request recordings")
    cap.add_argument(
        "--no-interactive",
        action="store_true",
        help="skip the tmux session (count_tokens, model probe, interactive turn)",
    )
    args = parser.parse_args(argv)

    if args.cmd == "capture":
        return capture(args.out, args.keep, not args.no_interactive)
    scenario = Scenario(args.mode, args.tool_command, args.thinking, agent_type=args.agent_type)
    srv = RecordingServer(args.out, scenario, args.port, args.verbose)
    with srv:
        print(f"PORT={srv.port}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
