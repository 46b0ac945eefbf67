"""A service that `ccr code` started stops when the last `ccr code` session ends; one that `ccr start` started keeps
running. Driven with a stand-in Claude Code that checks the service answers, then waits for a release file."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ccr_cli import CcrHome, ccr_command, fake_provider_config, process_alive
from tests.support.fake_upstream import ScriptedUpstream

STAND_IN = """#!{python}
import os, pathlib, sys, time, urllib.request
url = os.environ["ANTHROPIC_BASE_URL"] + "/health"
try:
    healthy = urllib.request.build_opener(urllib.request.ProxyHandler({{}})).open(url, timeout=5).status == 200
except OSError:
    healthy = False
pathlib.Path(os.environ["CCR_TEST_STARTED"]).write_text(str(os.getpid()))
release = pathlib.Path(os.environ["CCR_TEST_RELEASE"])
deadline = time.monotonic() + 60
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if healthy else 3)
"""


@pytest.fixture
def configured(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> CcrHome:
    claude = tmp_path / "bin" / "fake-claude"
    claude.parent.mkdir()
    claude.write_text(STAND_IN.format(python=sys.executable))
    claude.chmod(0o755)
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude)))
    return ccr


@dataclass
class Session:
    proc: subprocess.Popen[bytes]
    started: Path
    release: Path

    def wait_started(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while not self.started.exists() or not self.started.read_text():
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "Claude Code stand-in did not start"
            time.sleep(0.02)
        return int(self.started.read_text())

    def finish(self, timeout: float = 30) -> int:
        self.release.touch()
        _, stderr = self.proc.communicate(timeout=timeout)
        assert b"Traceback" not in stderr, stderr
        return self.proc.returncode


def _open_session(ccr: CcrHome, tmp_path: Path, name: str) -> Session:
    started, release = tmp_path / f"{name}.started", tmp_path / f"{name}.release"
    proc = subprocess.Popen(
        [*ccr_command(), "code"],
        env={**ccr.env, "CCR_TEST_STARTED": str(started), "CCR_TEST_RELEASE": str(release)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return Session(proc, started, release)


def _quick_code(ccr: CcrHome, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    release = tmp_path / f"{name}.release"
    release.touch()
    env = {**ccr.env, "CCR_TEST_STARTED": str(tmp_path / f"{name}.started"), "CCR_TEST_RELEASE": str(release)}
    return ccr.run("code", env=env)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _assert_stopped(ccr: CcrHome, pid: int) -> None:
    assert not process_alive(pid)
    assert not ccr.pid_file.exists()
    assert not _healthy(ccr.port)
    assert ccr.server_pids() == []


def test_overlapping_sessions_keep_the_service_until_the_last_one_ends(configured: CcrHome, tmp_path: Path) -> None:
    ccr = configured
    first = _open_session(ccr, tmp_path, "first")
    second: Session | None = None
    try:
        first.wait_started()
        info = ccr.pid_info()
        assert info is not None and info["owner"] == "ccr-code"
        service_pid = info["pid"]

        second = _open_session(ccr, tmp_path, "second")
        second.wait_started()
        assert (ccr.pid_info() or {}).get("pid") == service_pid  # shared, not a second service
        assert len(list((ccr.home / "code-sessions").glob("*.json"))) == 2

        assert first.finish() == 0
        assert _healthy(ccr.port) and (ccr.pid_info() or {}).get("pid") == service_pid

        assert second.finish() == 0
        _assert_stopped(ccr, service_pid)
        assert list((ccr.home / "code-sessions").glob("*.json")) == []
    finally:
        for session in (first, second):
            if session is not None and session.proc.poll() is None:
                session.release.touch()
                session.proc.kill()
                session.proc.communicate()


def test_a_service_from_ccr_start_keeps_running(configured: CcrHome, tmp_path: Path) -> None:
    ccr = configured
    assert ccr.run("start").returncode == 0
    info = ccr.pid_info()
    assert info is not None and info["owner"] == "ccr-start"

    result = _quick_code(ccr, tmp_path, "one")
    assert result.returncode == 0, result.stderr

    assert _healthy(ccr.port)
    assert (ccr.pid_info() or {}).get("pid") == info["pid"]
    assert "started by `ccr start`" in ccr.run("status").stdout


def test_ccr_start_adopts_a_service_that_ccr_code_started(configured: CcrHome, tmp_path: Path) -> None:
    ccr = configured
    session = _open_session(ccr, tmp_path, "s")
    try:
        session.wait_started()
        assert (ccr.pid_info() or {}).get("owner") == "ccr-code"
        started = ccr.run("start")
        assert started.returncode == 0 and "already running" in started.stdout
        assert (ccr.pid_info() or {}).get("owner") == "ccr-start"
        assert session.finish() == 0
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
            session.proc.communicate()
    assert _healthy(ccr.port)


def test_status_and_restart_during_a_session(configured: CcrHome, tmp_path: Path) -> None:
    """`status` says who started it and how many sessions run; `restart` keeps it `ccr code`'s."""
    ccr = configured
    session = _open_session(ccr, tmp_path, "s")
    try:
        session.wait_started()
        status = ccr.run("status")
        assert status.returncode == 0
        assert "started by `ccr code`" in status.stdout and "1 session now" in status.stdout

        first_pid = (ccr.pid_info() or {})["pid"]
        restarted = ccr.run("restart")
        assert restarted.returncode == 0, restarted.stderr
        info = ccr.pid_info()
        assert info is not None and info["pid"] != first_pid and info["owner"] == "ccr-code"

        assert session.finish() == 0
        _assert_stopped(ccr, info["pid"])
    finally:
        if session.proc.poll() is None:
            session.proc.kill()
            session.proc.communicate()


def test_stale_sessions_of_dead_processes_do_not_count(configured: CcrHome, tmp_path: Path) -> None:
    ccr = configured
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sessions = ccr.home / "code-sessions"
    sessions.mkdir()
    (sessions / f"{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "proc_start": 1, "started_at": 0}))
    (sessions / "999999999.json").write_text("{broken")

    result = _quick_code(ccr, tmp_path, "one")

    assert result.returncode == 0, result.stderr
    assert not ccr.pid_file.exists()
    assert ccr.server_pids() == []
    assert list(sessions.iterdir()) == []  # cleaned up


def test_a_killed_ccr_code_counts_while_its_claude_code_runs(configured: CcrHome, tmp_path: Path) -> None:
    """`ccr code` SIGKILLed: its Claude Code goes on using the service, so another session's end must not stop
    it; once that Claude Code is gone too, the next ending session does."""
    ccr = configured
    orphaned = _open_session(ccr, tmp_path, "orphaned")
    claude_pid = orphaned.wait_started()
    service_pid = (ccr.pid_info() or {})["pid"]
    os.kill(orphaned.proc.pid, signal.SIGKILL)
    orphaned.proc.wait(10)  # not communicate(): its Claude Code still holds the pipes
    assert process_alive(claude_pid)
    try:
        result = _quick_code(ccr, tmp_path, "other")
        assert result.returncode == 0, result.stderr
        assert _healthy(ccr.port) and (ccr.pid_info() or {}).get("pid") == service_pid

        orphaned.release.touch()
        deadline = time.monotonic() + 10
        while process_alive(claude_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(claude_pid)

        result = _quick_code(ccr, tmp_path, "last")
        assert result.returncode == 0, result.stderr
        _assert_stopped(ccr, service_pid)
    finally:
        orphaned.release.touch()
        for stream in (orphaned.proc.stdout, orphaned.proc.stderr):
            if stream is not None:
                stream.close()


def test_many_short_sessions_at_once_never_meet_a_stopping_service(configured: CcrHome, tmp_path: Path) -> None:
    """Sessions that start while another one ends: each finds a healthy service (the stand-in exits 3 if not),
    and none is left running at the end."""
    ccr = configured
    for round_ in range(3):
        procs = []
        for i in range(4):
            release = tmp_path / f"r{round_}-{i}.release"
            release.touch()
            env = {
                **ccr.env,
                "CCR_TEST_STARTED": str(tmp_path / f"r{round_}-{i}.started"),
                "CCR_TEST_RELEASE": str(release),
            }
            procs.append(
                subprocess.Popen(
                    [*ccr_command(), "code"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        for proc in procs:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
        ccr.remember_pid()
        assert not ccr.pid_file.exists()
        assert ccr.server_pids() == []


def test_stop_during_a_session_warns_that_it_is_in_use(configured: CcrHome, tmp_path: Path) -> None:
    ccr = configured
    session = _open_session(ccr, tmp_path, "s")
    try:
        session.wait_started()
        stopped = ccr.run("stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert "a `ccr code` session still uses it" in stopped.stderr
    finally:
        session.release.touch()
        session.proc.communicate(timeout=30)
