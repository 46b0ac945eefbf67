"""`ccr logs [-f] [-n N] [--session ID] [--json]`: the request table, raw lines, history across rotated files, and
following the live file through rotations until SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import pty
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from ccrouter.cli import log_files, log_table, logs_command
from ccrouter.gateway.logs import Logger
from tests.support.ccr_cli import CcrHome, ccr_command, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream, openai_completion, openai_text_stream
from tests.support.fresh_imports import SERVER_STACK, imported_of

SESSION_A = "3f2a9c0e-1111-4222-8333-444455556666"
SESSION_B = "77aa0000-1111-4222-8333-444455556666"


def _request(n: int, session: str | None = SESSION_A, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": f"req_{n:06d}",
        "started_at": 1_700_000_000.0 + n,
        "stream": True,
        "session_id": session,
        "requested_model": "claude-sonnet-4-5",
        "scenario": "default",
        "provider": "deepseek",
        "model": "deepseek-chat",
        "status": 200,
        "latency_ms": 1234.5,
        "ttft_ms": 310.2,
        "estimated_input_tokens": 1500,
        "input_tokens": 1480 + n,
        "output_tokens": 56,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "stop_reason": "end_turn",
        "error": None,
    }
    record.update(extra)
    return record


def _write_requests(log: Logger, count: int, start: int = 0, session: str | None = SESSION_A) -> None:
    for n in range(start, start + count):
        log.info("request", **_request(n, session))


def _show(directory: Path, count: int = 50, **selection: Any) -> tuple[str, str]:
    out = io.StringIO()
    err = io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        code = logs_command.show(directory, count, log_files.Selection(**selection), False, out, color=False)
    finally:
        sys.stderr = saved
    assert code == 0
    return out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# The table and the selection, on logs written by the service's own Logger


def test_table_shows_route_status_latency_ttft_and_tokens(tmp_path: Path) -> None:
    log = Logger(tmp_path)
    log.info("starting", host="127.0.0.1", port=3456, config="/x/config.json")
    log.info("request", **_request(1, cache_read_input_tokens=1000))
    log.error("request", **_request(2, SESSION_B, status=502, ttft_ms=None, input_tokens=0, output_tokens=0))
    log.close()

    text, _ = _show(tmp_path)
    lines = text.splitlines()
    assert lines[0].split() == ["TIME", "SESSION", "ROUTE", "STATUS", "LATENCY", "TTFT", "TOKENS"]
    assert "INFO" in lines[1] and "starting" in lines[1] and "port=3456" in lines[1]
    ok = lines[2]
    assert "3f2a9c0e" in ok and "default -> deepseek,deepseek-chat" in ok
    assert " 200 " in ok and "1.23 s" in ok and "310 ms" in ok
    assert "1,481 in / 56 out, 1,000 cache read" in ok
    failed = lines[3]
    assert "77aa0000" in failed and " 502 " in failed
    assert "~1,500 in (est.)" in failed  # no usage from the provider: the local estimate, marked as such
    assert "\x1b[" not in text


def test_warnings_and_errors_are_readable_lines_and_debug_is_left_out(tmp_path: Path) -> None:
    log = Logger(tmp_path, level="debug")
    log.debug("request body", request_id="req_1", body='{"huge": "body"}')
    log.error("config change not applied; the previous config keeps serving", error="Router.default is 'x'")
    log.warn("custom router failed; using the configured rules", request_id="req_2", error="boom")
    log.close()

    text, _ = _show(tmp_path)
    assert "request body" not in text and "huge" not in text
    assert "ERROR" in text and "config change not applied; the previous config keeps serving" in text
    assert "error=Router.default is 'x'" in text
    assert "WARN" in text and "custom router failed" in text and "error=boom" in text
    assert not any(line.lstrip().startswith("{") for line in text.splitlines())

    raw, _ = _show(tmp_path, raw=True)  # --json: every line as written, debug included
    assert [json.loads(line)["msg"] for line in raw.splitlines()] == [
        "request body",
        "config change not applied; the previous config keeps serving",
        "custom router failed; using the configured rules",
    ]


def test_history_spans_rotated_files_newest_last(tmp_path: Path) -> None:
    log = Logger(tmp_path, max_bytes=2000, backups=5)
    _write_requests(log, 40)
    log.close()
    assert (tmp_path / "ccr-router.1.log").exists() and (tmp_path / "ccr-router.3.log").exists()

    raw, _ = _show(tmp_path, 25, raw=True)
    ids = [json.loads(line)["request_id"] for line in raw.splitlines()]
    assert ids == [f"req_{n:06d}" for n in range(15, 40)]

    files = log_files.log_files(tmp_path)
    assert files[-1].name == "ccr-router.log"
    assert [f.name for f in files[:-1]] == sorted((f.name for f in files[:-1]), reverse=True)


def test_default_count_and_n(tmp_path: Path) -> None:
    log = Logger(tmp_path)
    _write_requests(log, 80)
    log.close()
    text, _ = _show(tmp_path)
    assert len(text.splitlines()) == 1 + 50
    text, _ = _show(tmp_path, 3)
    assert len(text.splitlines()) == 1 + 3
    assert "1,559 in" in text.splitlines()[-1]  # the newest: n = 79


def test_session_filter_takes_an_id_or_its_prefix(tmp_path: Path) -> None:
    log = Logger(tmp_path)
    _write_requests(log, 5, 0, SESSION_A)
    _write_requests(log, 3, 5, SESSION_B)
    log.warn("something else")
    log.close()
    text, _ = _show(tmp_path, session=SESSION_B)
    rows = text.splitlines()[1:]
    assert len(rows) == 3 and all("77aa0000" in row for row in rows)
    raw, _ = _show(tmp_path, raw=True, session="3f2a")
    assert [json.loads(line)["session_id"] for line in raw.splitlines()] == [SESSION_A] * 5
    none, err = _show(tmp_path, session="ffff")
    assert none == ""
    assert "no requests of session ffff" in err


def test_no_log_yet_says_where_it_looked(tmp_path: Path) -> None:
    text, err = _show(tmp_path / "logs")
    assert text == ""
    assert str(tmp_path / "logs") in err and "LOG" in err


def test_a_line_being_written_and_garbage_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "ccr-router.log"
    path.write_text(json.dumps({"ts": 1, "level": "info", "msg": "request", **_request(1)}) + '\nnot json\n{"ts": 2, ')
    raw, _ = _show(tmp_path, raw=True)
    assert [json.loads(line)["request_id"] for line in raw.splitlines()] == ["req_000001"]


def test_formatters() -> None:
    assert log_table.format_ms(None) == "-"
    assert log_table.format_ms(12.4) == "12 ms"
    assert log_table.format_ms(1500) == "1.50 s"
    assert log_table.format_ms(125_000) == "2m 05s"
    assert log_table.format_duration(42) == "42s"
    assert log_table.format_duration(3 * 3600 + 7 * 60) == "3h 07m"
    assert log_table.format_duration(2 * 86400 + 3600) == "2d 01h"
    assert log_table.route_label({"scenario": None, "requested_model": "x"}) == "- (x)"


def test_a_new_day_gets_a_date_line() -> None:
    formatter = log_table.TableFormatter(color=False, today=time.mktime((2026, 11, 28, 12, 0, 0, 0, 0, -1)))
    yesterday = time.mktime((2026, 11, 27, 23, 59, 0, 0, 0, -1))
    lines = formatter.lines({"ts": yesterday, "level": "info", "msg": "starting"})
    assert lines[0] == "--- 2026-11-27 ---"
    assert formatter.lines({"ts": yesterday + 1, "level": "info", "msg": "x"})[0].startswith("23:59:01")
    assert formatter.lines({"ts": yesterday + 120, "level": "info", "msg": "x"})[0] == "--- 2026-11-28 ---"


# ---------------------------------------------------------------------------------------------------------------
# The command, as a process


def _ccr_logs_env(ccr: CcrHome, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in ccr.env.items() if k != "NO_COLOR"}
    env.update(extra)
    return env


def test_escape_codes_only_on_a_terminal_that_takes_them(ccr: CcrHome) -> None:
    log = Logger(ccr.home / "logs")
    _write_requests(log, 2)
    log.close()

    piped = ccr.run("logs", env=_ccr_logs_env(ccr, TERM="xterm-256color"))
    assert piped.returncode == 0, piped.stderr
    assert "default -> deepseek,deepseek-chat" in piped.stdout and "\x1b[" not in piped.stdout

    colored = _run_on_pty(ccr, "xterm-256color")
    assert "default -> deepseek,deepseek-chat" in colored and "\x1b[" in colored
    dumb = _run_on_pty(ccr, "dumb")
    assert "default -> deepseek,deepseek-chat" in dumb and "\x1b[" not in dumb


def _run_on_pty(ccr: CcrHome, term: str) -> str:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*ccr_command(), "logs"],
        env=_ccr_logs_env(ccr, TERM=term),
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the process is gone and the terminal closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        assert proc.wait(10) == 0
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return b"".join(chunks).decode()


class _Lines:
    """A process's stdout lines, read by a thread (select and buffered readline do not mix)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.queue.put(line.decode())
        self.queue.put(None)

    def until(self, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if needle in line:
                return
        raise AssertionError(f"{needle!r} not seen in {self.seen!r}")


@contextlib.contextmanager
def _following(
    ccr: CcrHome, *args: str, sigint_ignored: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], _Lines]]:
    """`ccr logs -f ARGS` running, with its output read as lines; killed at the end if it still runs.
    `sigint_ignored` starts it as a shell starts a background job: with SIGINT ignored."""
    proc = subprocess.Popen(
        [*ccr_command(), "logs", "-f", *args],
        env=ccr.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )
    try:
        assert proc.stdout is not None
        yield proc, _Lines(proc.stdout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_follow_prints_new_lines_across_rotations_and_stops_on_sigterm(ccr: CcrHome) -> None:
    directory = ccr.home / "logs"
    log = Logger(directory, max_bytes=3000, backups=2)
    _write_requests(log, 3)
    try:
        with _following(ccr, "--json", "-n", "2") as (proc, lines):
            lines.until("req_000002")
            assert [json.loads(line)["request_id"] for line in lines.seen] == ["req_000001", "req_000002"]

            _write_requests(log, 1, 3)
            lines.until("req_000003")
            # Enough lines for several rotations (each file holds ~4), written in bursts the follower must keep up with.
            for start in range(4, 24, 4):
                _write_requests(log, 4, start)
                lines.until(f"req_{start + 3:06d}")
            assert (directory / "ccr-router.1.log").exists()
            log.error("config change not applied; the previous config keeps serving", error="bad")
            lines.until("config change not applied")
            ids = [json.loads(line).get("request_id") for line in lines.seen if "request_id" in line]
            assert ids == [f"req_{n:06d}" for n in range(1, 24)]  # nothing lost, nothing twice

            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=10)
            assert proc.returncode == 0, stderr
            assert b"Traceback" not in stderr
    finally:
        log.close()


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["foreground", "started-in-background"])
def test_follow_waits_for_a_log_that_does_not_exist_yet(ccr: CcrHome, sigint_ignored: bool) -> None:
    with _following(ccr, sigint_ignored=sigint_ignored) as (proc, lines):
        lines.until("TIME")  # the header, at once
        log = Logger(ccr.home / "logs")
        _write_requests(log, 1)
        log.close()
        lines.until("default -> deepseek,deepseek-chat")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def test_logs_of_the_running_service(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """End to end: requests through the real service show up in `ccr logs`, `--session` and `--json`."""
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    assert ccr.run("start").returncode == 0
    upstream.queue(openai_text_stream("hello there"), openai_completion("hi", prompt=40, completion=7))
    _post(ccr.port, {"stream": True, "metadata": {"user_id": json.dumps({"session_id": SESSION_A})}})
    _post(ccr.port, {"metadata": {"user_id": json.dumps({"session_id": SESSION_B})}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        raw = ccr.run("logs", "--json")
        if raw.stdout.count('"msg":"request"') >= 2:
            break
        time.sleep(0.1)

    table = ccr.run("logs")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "default -> fake,fake-model" in line]
    assert len(rows) == 2
    assert SESSION_A[:8] in rows[0] and " 200 " in rows[0] and "12 in / 5 out" in rows[0]
    assert rows[0].split()[5] != "-"  # the stream has a time to first token
    assert SESSION_B[:8] in rows[1] and "40 in / 7 out" in rows[1]
    assert "starting" in table.stdout  # the service's own line

    only_b = ccr.run("logs", "--session", SESSION_B[:6])
    assert [line for line in only_b.stdout.splitlines()[1:]] == [rows[1]]

    raw_lines = ccr.run("logs", "--json", "-n", "1").stdout.splitlines()
    assert len(raw_lines) == 1 and json.loads(raw_lines[0])["session_id"] == SESSION_B


def _post(port: int, extra: dict[str, Any]) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}], **extra}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()


def test_logs_follows_the_config_the_user_names(ccr: CcrHome, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    log = Logger(elsewhere / "logs")
    log.warn("from the other config")
    log.close()
    (elsewhere / "config.json").write_text("{}")
    result = ccr.run("--config", str(elsewhere / "config.json"), "logs")
    assert result.returncode == 0 and "from the other config" in result.stdout


def test_logs_imports_no_server_modules(tmp_path: Path) -> None:
    log = Logger(tmp_path / "logs")
    _write_requests(log, 3)
    log.close()
    statements = (
        "import io, contextlib\n"
        "from ccrouter.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['logs', '-n', '2'])\n"
        "assert code == 0, code\n"
    )
    env = {**os.environ, "CCR_HOME": str(tmp_path)}
    assert imported_of(statements, [*SERVER_STACK, "orjson"], env) == []


def test_the_log_read_is_that_of_the_services_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`ccr logs` reads beside the named config, else beside the running service's, else beside $CCR_HOME's."""
    from ccrouter.service.pidfile import PidInfo, write_pid_file

    home = tmp_path / "home"
    monkeypatch.setenv("CCR_HOME", str(home))
    assert log_files.service_log_directory(None) == home / "logs"
    elsewhere = tmp_path / "elsewhere" / "config.json"
    assert log_files.service_log_directory(elsewhere) == tmp_path / "elsewhere" / "logs"
    write_pid_file(home, PidInfo(os.getpid(), "127.0.0.1", 1, str(tmp_path / "running" / "config.json"), 0.0))
    assert log_files.service_log_directory(None) == tmp_path / "running" / "logs"
    monkeypatch.delenv("CCR_HOME")
    assert log_files.service_log_directory(None) == Path.home() / ".claude-code-router" / "logs"


def test_closed_pipe_ends_quietly(ccr: CcrHome) -> None:
    log = Logger(ccr.home / "logs")
    _write_requests(log, 3000)
    log.close()
    result = subprocess.run(
        f"{' '.join(ccr_command())} logs -n 3000 | head -n 2",
        shell=True,
        env=ccr.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
