"""The systems under test: how to start them, reach them, check their answers and warm them up."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CCR_VERSION = "1.0.73"
CCR_PACKAGE = "@musistudio/claude-code-router"
EXPECTED_STREAM_TEXT = "".join(f"tok{i} " for i in range(100))
HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "bench"}

StartFn = Callable[[Path, int], tuple[list[str], dict[str, str]]]


@dataclass
class Target:
    """How to reach one system under test; `start` is None for the direct mock."""

    name: str
    path: str
    body_format: str  # "anthropic" or "openai"
    start: StartFn | None = None
    port: int = 0
    unpinned: bool = False  # on every CPU rather than the gateway CPU (several workers); the load keeps its own


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def ccr_config(port: int, mock_port: int, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "LOG": True,  # CCR 1.0.73 crashes when a client drops a stream while LOG is false
        "LOG_LEVEL": "error",
        "PORT": port,
        "HOST": "127.0.0.1",
        "Providers": [
            {
                "name": "mock",
                "api_base_url": f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                "api_key": "sk-bench",
                "models": ["bench-model"],
            }
        ],
        "Router": {"default": "mock,bench-model"},
    }


def ccrouter_start(mock_port: int, python: str, **config: Any) -> StartFn:
    """ccrouter as users run it (the usage ledger and the dashboard on), or with config keys set to measure what
    they cost or bring: `ccrouter_start(..., LEDGER=False)`, `DASHBOARD=False`, `WORKERS=2`."""

    def start(home: Path, port: int) -> tuple[list[str], dict[str, str]]:
        cfg = home / "config.json"
        cfg.write_text(json.dumps(ccr_config(port, mock_port, **config), indent=2))
        src = str(REPO_DIR / "src")
        pythonpath = src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        env = {"CCR_HOME": str(home), "HOME": str(home), "PYTHONPATH": pythonpath}
        return [python, "-m", "ccrouter.gateway.server", "--config", str(cfg)], env

    return start


def ccr_node_start(mock_port: int, cli_js: Path) -> StartFn:
    def start(home: Path, port: int) -> tuple[list[str], dict[str, str]]:
        cfg_dir = home / ".claude-code-router"
        cfg_dir.mkdir(parents=True, exist_ok=True)
        (cfg_dir / "config.json").write_text(json.dumps(ccr_config(port, mock_port), indent=2))
        # `ccr start` runs the server in the foreground of this process (no detached child).
        return ["node", str(cli_js), "start"], {"HOME": str(home)}

    return start


def ensure_ccr(cache: Path, version: str) -> Path:
    """Install the Node CCR into the cache (once) and return its dist/cli.js."""
    prefix = cache / f"ccr-{version}"
    cli_js = prefix / "node_modules" / CCR_PACKAGE / "dist" / "cli.js"
    if cli_js.is_file():
        return cli_js
    print(f"installing {CCR_PACKAGE}@{version} into {prefix} ...", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), f"{CCR_PACKAGE}@{version}"],
        check=True,
        timeout=900,
    )
    if not cli_js.is_file():
        raise RuntimeError(f"npm install finished but {cli_js} is missing")
    return cli_js


def post(port: int, path: str, body: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=HEADERS)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _sse_events(data: bytes) -> Iterator[tuple[str, str]]:
    for raw in data.decode().replace("\r\n", "\n").split("\n\n"):
        event, lines = "", []
        for line in raw.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].lstrip())
        if lines:
            yield event, "\n".join(lines)


def validate(body_format: str, stream: bool, status: int, data: bytes) -> str | None:
    """None if the response is a correct answer for the workload, else what is wrong."""
    if status != 200:
        return f"HTTP {status}: {data[:300]!r}"
    try:
        if body_format == "openai":
            if stream:
                return None if b"data: [DONE]" in data else "stream without [DONE]"
            return None if json.loads(data).get("choices") else "no choices"
        if not stream:
            msg = json.loads(data)
            text = "".join(b.get("text", "") for b in msg.get("content", []) if b.get("type") == "text")
            if msg.get("type") != "message" or not text:
                return f"not an Anthropic message: {data[:300]!r}"
            return None
        names: list[str] = []
        text = ""
        for event, payload in _sse_events(data):
            obj = json.loads(payload)
            names.append(obj.get("type", event))
            if obj.get("type") == "content_block_delta" and obj["delta"].get("type") == "text_delta":
                text += obj["delta"]["text"]
        if not names or names[0] != "message_start" or names[-1] != "message_stop":
            return f"event order {names[:3]}...{names[-3:]}"
        if text != EXPECTED_STREAM_TEXT:
            return f"streamed text differs: {text[:80]!r}..."
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unparseable response ({exc}): {data[:300]!r}"


def warm_up(port: int, path: str, body: bytes, seconds: float, threads: int = 8) -> int:
    """Complete requests from a few keep-alive connections for `seconds`; returns how many succeeded.

    Unlike a wrk run it never drops a connection with a request in flight (which crashes CCR 1.0.73).
    """
    deadline = time.monotonic() + seconds
    done: list[int] = []

    def loop() -> None:
        n = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline and n < 100_000:
                conn.request("POST", path, body=body, headers=HEADERS)
                resp = conn.getresponse()
                resp.read()
                n += resp.status == 200
        except OSError:
            pass
        finally:
            conn.close()
            done.append(n)

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 60)
    return sum(done)
