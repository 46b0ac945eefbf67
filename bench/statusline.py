"""Wall time of `ccr statusline`, which Claude Code runs several times a second (target: median under 100 ms).

Starts the real service with `ccr start` in a temporary CCR_HOME, in front of a tiny OpenAI-style provider, sends
one request for a Claude Code session, then times `ccr statusline` with that session's statusline JSON on stdin:
with hyperfine when it is installed (its shell start-up is measured and subtracted), and always with a plain
subprocess loop. Also times the "no request yet" and "service down" cases.

The runs use Python's bytecode cache (`__pycache__`, gitignored) as any installed copy does, even where
PYTHONDONTWRITEBYTECODE=1 is set: without it every run compiles the entry point and the statusline modules from source,
which adds about 20 ms.

    .venv/bin/python bench/statusline.py            # 50 runs per case
    .venv/bin/python bench/statusline.py --runs 200
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SESSION = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
CCR = [str(Path(sys.executable).with_name("ccr"))] if Path(sys.executable).with_name("ccr").is_file() else None


class _Provider(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "model": "bench-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12345, "completion_tokens": 678, "total_tokens": 13023},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ccr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = CCR or [sys.executable, "-m", "ccrouter.cli.main"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def statusline_input(session_id: str, cwd: str) -> str:
    """Claude Code's statusline JSON (REFERENCE §1)."""
    return json.dumps(
        {
            "hook_event_name": "Status",
            "session_id": session_id,
            "transcript_path": f"/tmp/{session_id}.jsonl",
            "cwd": cwd,
            "model": {"id": "claude-sonnet-5-5", "display_name": "Sonnet 5.5"},
            "workspace": {"current_dir": cwd, "project_dir": cwd},
            "version": "2.1.332",
            "output_style": {"name": "default"},
            "cost": {"total_cost_usd": 0.42, "total_duration_ms": 45000, "total_api_duration_ms": 2300},
            "context_window": {"total_input_tokens": 12345, "total_output_tokens": 678, "context_window_size": 200000},
        }
    )


def loop_median(command: list[str], stdin_path: Path, env: dict[str, str], runs: int) -> tuple[float, str]:
    """Median wall time in ms of `command < stdin_path`, started directly (no shell), and its output."""
    times, output = [], ""
    for _ in range(3 + runs):
        with stdin_path.open("rb") as stdin:
            start = time.perf_counter()
            done = subprocess.run(command, stdin=stdin, capture_output=True, env=env, check=False)
            times.append((time.perf_counter() - start) * 1000)
        output = done.stdout.decode(errors="replace").strip()
    return statistics.median(times[3:]), output


def hyperfine_median(command: list[str], stdin_path: Path, env: dict[str, str], runs: int, work: Path) -> float | None:
    """Median wall time in ms from hyperfine (shell start-up subtracted), or None without hyperfine."""
    if shutil.which("hyperfine") is None:
        return None
    export = work / "hyperfine.json"
    shell_command = " ".join([*command, "<", str(stdin_path)])
    subprocess.run(
        [
            "hyperfine",
            "--shell=sh",
            "--style=none",
            "-w",
            "3",
            "-r",
            str(runs),
            "--export-json",
            str(export),
            shell_command,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    result = json.loads(export.read_text())["results"][0]
    return float(result["median"]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    command = CCR or [sys.executable, "-m", "ccrouter.cli.main"]
    command = [*command, "statusline"]

    with tempfile.TemporaryDirectory(prefix="ccr-statusline-bench-") as tmp, provider() as upstream:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        port = free_port()
        config = {
            "PORT": port,
            "Providers": [
                {
                    "name": "bench",
                    "api_base_url": f"{upstream}/v1/chat/completions",
                    "api_key": "sk-bench",
                    "models": ["bench-model"],
                }
            ],
            "Router": {"default": "bench,bench-model"},
        }
        (home / "config.json").write_text(json.dumps(config, indent=2))
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PYTHONDONTWRITEBYTECODE")}
        env.update(CCR_HOME=str(home), TERM="xterm-256color")
        results: list[tuple[str, float, float | None, str]] = []
        started = ccr("start", env=env)
        if started.returncode != 0:
            print(started.stdout + started.stderr, file=sys.stderr)
            return 1
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/messages",
                data=json.dumps(
                    {"model": "claude-sonnet-5-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
                ).encode(),
                headers={"content-type": "application/json", "x-claude-code-session-id": SESSION},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            for name, session in (("session with a request", SESSION), ("no request yet", "no-such-session")):
                results.append(measure(name, session, command, env, args.runs, work))
        finally:
            ccr("stop", env=env)
        results.append(measure("service down", SESSION, command, env, args.runs, work))

    print(f"`{' '.join(command)}`, {args.runs} runs per case, median wall time:")
    print(f"  {'case':24} {'subprocess loop':>16} {'hyperfine':>10}   output")
    for name, loop, fine, output in results:
        hyper = f"{fine:7.1f} ms" if fine is not None else "(none)"
        print(f"  {name:24} {loop:13.1f} ms {hyper:>10}   {output!r}")
    worst = max(max(loop, fine or 0) for _, loop, fine, _ in results)
    print(f"target: median under 100 ms: {'met' if worst < 100 else 'MISSED'} (slowest case {worst:.1f} ms)")
    return 0


def measure(
    name: str, session: str, command: list[str], env: dict[str, str], runs: int, work: Path
) -> tuple[str, float, float | None, str]:
    stdin_path = work / f"{session}.json"
    stdin_path.write_text(statusline_input(session, os.getcwd()))
    loop, output = loop_median(command, stdin_path, env, runs)
    fine = hyperfine_median(command, stdin_path, env, runs, work)
    return name, loop, fine, output


if __name__ == "__main__":
    sys.exit(main())
