"""The service's files and what the commands print from them, against the real service and the real `ccr`:

- a client's string is clipped where it is echoed: a 20 MB model name makes neither a 20 MB error body nor a 40 MB
  log line, and `ccr logs -n 5` reads a log holding such a line from its end in well under a second;
- escape sequences in a client's model name or a provider's error reach the terminal through neither `ccr logs`
  (table or `--json`) nor `ccr status`;
- the log folder is 0700 and its files 0600, wider ones left by older versions tightened at start;
- `service-stderr.log` is moved aside at a start that finds it large, and one process echoes at most so much.
"""

from __future__ import annotations

import io
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.paths import LOG_FILE, SERVICE_STDERR_LOG
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream, error_reply, openai_completion
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process  # runs the real `ccr` and service processes

TWENTY_MB = 20 * 1024 * 1024
# What a terminal obeys: ESC (CSI, OSC: window title), BEL, and the C1 CSI some terminals take in UTF-8.
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b")
EVIL = "\x1b]0;owned\x07\x1b[2J\x9b31m"
SERVICE_STDERR_OLD_LOG = "service-stderr.1.log"  # the one old copy a start keeps


def post(url: str, model: str, apikey: str | None = None, timeout: float = 60) -> Any:
    body = {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": apikey} if apikey else {}
    return LOOPBACK.post(url + "/v1/messages", json=body, headers=headers, timeout=timeout)


def log_lines(directory: Path) -> list[str]:
    path = directory / LOG_FILE
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------------------------------
# Clipping


def test_a_huge_model_name_is_clipped_in_the_error_body_and_the_log_line(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    response = post(router.url, "fake," + "m" * TWENTY_MB)

    assert response.status_code == 400, response.text[:300]
    assert len(response.content) < 2000, len(response.content)
    message = response.json()["error"]["message"]
    assert "does not list model 'mmm" in message and "more characters not shown" in message, message

    directory = router.home / "logs"
    lines = wait_until(lambda: [line for line in log_lines(directory) if '"msg":"request"' in line], "the request line")
    assert len(lines[-1]) < 10_000, len(lines[-1])
    record = json.loads(lines[-1])
    assert record["requested_model"].startswith("fake,mmm") and "more characters not shown" in record["requested_model"]
    assert router.stderr_path.stat().st_size < 20_000  # the warning echoed on stderr is the same clipped line


def test_ccr_logs_reads_a_log_with_a_huge_line_from_its_end_quickly(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """A 40 MB line took `ccr logs -n 5` 14 s: the file was read backwards block by block, re-joining the line's
    pieces each time (quadratic). An older version's log can hold such a line."""
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    directory = ccr.home / "logs"
    directory.mkdir()
    huge = {"ts": time.time(), "level": "warn", "msg": "request", "status": 400, "requested_model": "m" * 40_000_000}
    small = {"ts": time.time(), "level": "info", "msg": "request", "status": 200, "scenario": "default"}
    (directory / LOG_FILE).write_text(json.dumps(huge) + "\n" + json.dumps(small) + "\n")

    started = time.monotonic()
    result = ccr.run("logs", "-n", "5", timeout=120)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert elapsed < 6.0, f"ccr logs -n 5 took {elapsed:.1f} s"
    assert len(result.stdout) < 5000 and "more characters not shown" in result.stdout, result.stdout[:500]


# ---------------------------------------------------------------------------------------------------------------
# Escape sequences


def test_escape_sequences_from_clients_and_providers_do_not_reach_the_terminal(
    ccr: CcrHome, upstream: ScriptedUpstream
) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    assert ccr.run("start").returncode == 0
    # A client's model name, and a provider's error that also sets a cool-down (`ccr status` lists its reason).
    assert post(ccr.url, f"fake,{EVIL}").status_code == 400
    upstream.queue(error_reply(429, {"error": {"message": f"quota {EVIL} exceeded"}}, {"Retry-After": "90"}))
    assert post(ccr.url, "claude-sonnet-4-5").status_code == 429
    wait_until(
        lambda: len([line for line in log_lines(ccr.home / "logs") if '"msg":"request"' in line]) >= 2,
        "the two requests' log lines",
    )

    table = ccr.run("logs", "-n", "10")
    raw = ccr.run("logs", "-n", "10", "--json")
    status = ccr.run("status")

    for result in (table, raw, status):
        assert result.returncode == 0, result.stderr
        shown = [control for control in TERMINAL_CONTROLS if control in result.stdout]
        assert not shown, (shown, result.stdout)
    assert "\\x1b]0;owned" in table.stdout and "quota \\x1b" in table.stdout  # shown, but inert
    assert "quota \\x1b" in status.stdout and "cooling down (" in status.stdout
    rows = [json.loads(line) for line in raw.stdout.splitlines()]  # --json still prints valid JSON, the same values
    assert any(EVIL in str(row.get("requested_model")) for row in rows), raw.stdout


# ---------------------------------------------------------------------------------------------------------------
# File modes and the service's stderr


def test_the_log_folder_and_files_are_private_and_older_ones_are_tightened(
    ccr: CcrHome, upstream: ScriptedUpstream
) -> None:
    directory = ccr.home / "logs"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    older = [directory / "ccr-router.1.log", directory / SERVICE_STDERR_LOG]
    for path in older:
        path.write_text('{"ts": 1, "level": "info", "msg": "from an older version"}\n')
        os.chmod(path, 0o644)
    ccr.write_config(fake_provider_config(upstream, ccr.port))

    assert ccr.run("start").returncode == 0
    upstream.queue(openai_completion("hi"))
    assert post(ccr.url, "claude-sonnet-4-5").status_code == 200
    wait_until(lambda: any('"msg":"request"' in line for line in log_lines(directory)), "the request line")

    assert mode_of(directory) == 0o700
    assert {path.name: mode_of(path) for path in [directory / LOG_FILE, *older]} == {
        LOG_FILE: 0o600,
        "ccr-router.1.log": 0o600,
        SERVICE_STDERR_LOG: 0o600,
    }


def test_a_start_moves_a_large_service_stderr_log_aside(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    directory = ccr.home / "logs"
    directory.mkdir()
    old_output = "a warning from an earlier run\n" * 70_000  # about 2 MB
    (directory / SERVICE_STDERR_LOG).write_text(old_output)
    ccr.write_config(fake_provider_config(upstream, ccr.port))

    assert ccr.run("start").returncode == 0

    assert (directory / SERVICE_STDERR_OLD_LOG).read_text() == old_output
    current = (directory / SERVICE_STDERR_LOG).read_text()
    assert current.startswith("--- ccr start") and len(current) < 100_000, current[:200]
    assert ccr.run("stop").returncode == 0
    assert ccr.run("start").returncode == 0  # a small one is kept and appended to
    assert (directory / SERVICE_STDERR_LOG).read_text().count("--- ccr start") == 2
    assert (directory / SERVICE_STDERR_OLD_LOG).read_text() == old_output


def test_the_echo_on_stderr_stops_after_its_limit_and_says_where_the_rest_goes(tmp_path: Path) -> None:
    echo = io.StringIO()
    log = Logger(tmp_path / "logs", "info", echo=echo, echo_max_bytes=2000)
    for n in range(100):
        log.warn("a provider failed", n=n, detail="x" * 100)
    log.close()

    printed = echo.getvalue().splitlines()
    assert len(echo.getvalue()) < 2500
    assert "the rest only go to" in printed[-1] and str(tmp_path / "logs" / LOG_FILE) in printed[-1]
    assert sum(line.startswith("{") for line in printed) < 20
    assert len(log_lines(tmp_path / "logs")) == 100  # the file has them all


def test_a_long_field_is_redacted_before_it_is_clipped(tmp_path: Path) -> None:
    """Clipping first could cut a key in two and leave its first half in the log."""
    secret = "sk-prov-SECRET-0123456789"
    log = Logger(tmp_path / "logs", "info", Redactor([secret]))
    log.warn("a provider failed", error="e" * 3990 + secret + "e" * 5000)
    log.close()

    line = log_lines(tmp_path / "logs")[-1]
    assert len(line) < 4500
    assert "sk-prov" not in line, line[3900:4200]
