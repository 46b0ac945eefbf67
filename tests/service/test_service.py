"""The service wing in-process: pid file, process checks, client address, Claude Code's environment and executable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccrouter.errors import ServiceError
from ccrouter.service import claude_code, control, pidfile, processes
from ccrouter.service.client import client_host
from ccrouter.service.pidfile import PidInfo


def test_pid_file_round_trip_and_guarded_removal(tmp_path: Path) -> None:
    info = PidInfo(pid=1234, host="127.0.0.1", port=3456, config="/x/config.json", started_at=1.5, proc_start=99)
    pidfile.write_pid_file(tmp_path, info)
    assert pidfile.read_pid_file(tmp_path) == info
    pidfile.remove_pid_file(tmp_path, pid=999)  # someone else's: kept
    assert pidfile.pid_path(tmp_path).exists()
    pidfile.remove_pid_file(tmp_path, pid=1234)
    assert pidfile.read_pid_file(tmp_path) is None


@pytest.mark.parametrize("text", ["", "[]", '{"pid": "abc", "host": "h", "port": 1}', '{"host": "h"}'])
def test_corrupt_pid_file_raises_value_error(tmp_path: Path, text: str) -> None:
    pidfile.pid_path(tmp_path).write_text(text)
    with pytest.raises(ValueError):
        pidfile.read_pid_file(tmp_path)
    assert control.status(tmp_path).state == "stopped"
    assert not pidfile.pid_path(tmp_path).exists()


def test_process_checks() -> None:
    me = os.getpid()
    assert processes.pid_alive(me)
    start = processes.proc_start_time(me)
    assert start is not None
    assert pidfile.is_alive(PidInfo(me, "127.0.0.1", 1, "", 0, proc_start=start))
    assert not pidfile.is_alive(PidInfo(me, "127.0.0.1", 1, "", 0, proc_start=start + 1))  # a reused pid


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while processes.pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # exited but not reaped yet: a zombie
        assert not processes.pid_alive(child.pid)
    finally:
        child.wait()
    assert not processes.pid_alive(child.pid)


@pytest.mark.parametrize(
    ("host", "apikey", "expected"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("0.0.0.0", "k", "127.0.0.1"),
        ("::", "k", "127.0.0.1"),
        ("localhost", None, "127.0.0.1"),
        ("::1", None, "::1"),
        ("192.168.1.5", None, "127.0.0.1"),  # no APIKEY: the server binds loopback only
        ("192.168.1.5", "k", "192.168.1.5"),
    ],
)
def test_client_host(host: str, apikey: str | None, expected: str) -> None:
    assert client_host(host, apikey) == expected


def test_pid_info_url_brackets_ipv6() -> None:
    assert PidInfo(1, "::1", 3456, "", 0).url == "http://[::1]:3456"


def test_claude_env() -> None:
    base = {"ANTHROPIC_API_KEY": "sk-ant-x", "PATH": "/bin", "no_proxy": "corp.example", "TERM": "xterm"}
    env = claude_code.claude_env(base, "http://127.0.0.1:3456", "127.0.0.1", None, 600000, non_interactive=False)
    assert "ANTHROPIC_API_KEY" not in env
    assert env["ANTHROPIC_AUTH_TOKEN"] == "test"
    assert env["NO_PROXY"] == "127.0.0.1"
    assert env["no_proxy"] == "127.0.0.1,corp.example"
    assert env["TERM"] == "xterm" and "CI" not in env
    assert base["ANTHROPIC_API_KEY"] == "sk-ant-x"  # the caller's mapping is untouched

    env = claude_code.claude_env(base, "http://10.0.0.2:1", "10.0.0.2", "key", 5, non_interactive=True)
    assert env["ANTHROPIC_AUTH_TOKEN"] == "key"
    assert env["API_TIMEOUT_MS"] == "5"
    assert env["NO_PROXY"] == "127.0.0.1,10.0.0.2"
    assert (env["CI"], env["FORCE_COLOR"], env["NODE_NO_READLINE"], env["TERM"]) == ("true", "0", "1", "dumb")


def test_find_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "claude"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert claude_code.find_claude(str(exe)) == str(exe)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert claude_code.find_claude(None) == str(exe)
    assert claude_code.find_claude("claude") == str(exe)
    exe.chmod(0o644)
    with pytest.raises(ServiceError, match="not executable") as info:
        claude_code.find_claude(str(exe))
    assert info.value.exit_code == 127
    with pytest.raises(ServiceError, match="npm install -g @anthropic-ai/claude-code"):
        claude_code.find_claude(None)


def test_find_claude_reads_claude_path_from_the_environment_after_the_config(tmp_path: Path) -> None:
    from_env, from_config = tmp_path / "claude-env", tmp_path / "claude-config"
    for exe in (from_env, from_config):
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    environ = {"CLAUDE_PATH": str(from_env)}
    assert claude_code.find_claude(None, environ) == str(from_env)
    assert claude_code.find_claude("", environ) == str(from_env)
    assert claude_code.find_claude(str(from_config), environ) == str(from_config)
    with pytest.raises(ServiceError, match="CLAUDE_PATH in the environment is 'no-such-claude-xyz'"):
        claude_code.find_claude(None, {"CLAUDE_PATH": "no-such-claude-xyz"})


def test_the_install_hint_names_node_22_or_a_pinned_version() -> None:
    """On Node 20 an unpinned `npm install -g @anthropic-ai/claude-code` picks an old Claude Code."""
    assert "Node 22 or newer" in claude_code.INSTALL_HINT
    assert "`npm install -g @anthropic-ai/claude-code@2.1.332`" in claude_code.INSTALL_HINT


def test_claude_code_is_asked_for_the_gateway_hints_and_model_discovery() -> None:
    env = claude_code.claude_env({}, "http://127.0.0.1:3456", "127.0.0.1", None, 600000, non_interactive=False)
    assert env["CLAUDE_CODE_GATEWAY_HINT_HEADERS"] == "1"
    assert env["CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY"] == "1"
    assert not [name for name in env if name.startswith("ANTHROPIC_DEFAULT_") or name == "ANTHROPIC_SMALL_FAST_MODEL"]
    own = {"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "0", "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "0"}
    env = claude_code.claude_env(own, "http://127.0.0.1:3456", "127.0.0.1", None, 600000, non_interactive=False)
    assert {name: env[name] for name in own} == own  # the user's own setting wins
