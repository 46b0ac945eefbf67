"""`ccr code` with a stand-in for Claude Code that records its argv, environment and stdin, then exits 7."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.ccr_cli import CcrHome, ccr_command, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream

STAND_IN = """#!{python}
import json, os, select, sys
ready, _, _ = select.select([sys.stdin], [], [], 3.0)
stdin = sys.stdin.read() if ready else None  # "" = closed (EOF at once); None = open, nothing sent
with open(os.environ["CCR_TEST_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "stdin": stdin}}, f)
sys.exit(int(os.environ.get("CCR_TEST_EXIT", "7")))
"""

ARGS = [
    "-p",
    "say hi to the world",
    "--model",
    "fake,fake-model",
    "--output-format",
    "json",
    "--append-system-prompt=be brief, please",
    "a positional prompt with  two spaces",
    "--",
    "--looks-like-an-option",
    "",
    "ünïcode ✓",
]


def _stand_in(directory: Path, name: str = "fake-claude") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _health(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    finally:
        conn.close()


def _env(ccr: CcrHome, record: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in ccr.env.items()
        if k not in ("CI", "FORCE_COLOR", "NODE_NO_READLINE", "NO_PROXY", "no_proxy") and not k.startswith("ANTHROPIC_")
    }
    env.update(
        {
            "CCR_TEST_RECORD": str(record),
            "ANTHROPIC_API_KEY": "sk-ant-the-users-real-key",
            "ANTHROPIC_BASE_URL": "https://api.anthropic.com",
            "ANTHROPIC_AUTH_TOKEN": "some-other-token",
            "NO_PROXY": "example.com",
            "TERM": "xterm-256color",
        }
    )
    env.update(extra)
    return env


def _record(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_code_forwards_args_env_and_exit_code(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    claude = _stand_in(tmp_path / "bin")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), API_TIMEOUT_MS=123456))
    record = tmp_path / "record.json"
    assert not ccr.pid_file.exists()

    result = ccr.run("code", *ARGS, env=_env(ccr, record), input="typed by the user\n")

    assert result.returncode == 7, result.stderr
    seen = _record(record)
    assert seen["argv"] == ARGS
    env = seen["env"]
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{ccr.port}"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "test"
    assert env["API_TIMEOUT_MS"] == "123456"
    assert env["DISABLE_TELEMETRY"] == "true"
    assert env["DISABLE_COST_WARNINGS"] == "true"
    assert env["NO_PROXY"].split(",")[0] == "127.0.0.1"
    assert "example.com" in env["NO_PROXY"].split(",")  # the user's own entries are kept
    assert "ANTHROPIC_API_KEY" not in env
    for key in ("CI", "FORCE_COLOR", "NODE_NO_READLINE"):
        assert key not in env
    assert env["TERM"] == "xterm-256color"
    assert seen["stdin"] == "typed by the user\n"  # interactive: stdin is Claude Code's

    # The service was started for it, and stopped when it ended (the last `ccr code` session; see
    # test_cli_autostop.py); the next `ccr code` starts it again.
    assert not ccr.pid_file.exists()
    assert ccr.server_pids() == []
    again = ccr.run("code", "--version", env=_env(ccr, record, CCR_TEST_EXIT="0"))
    assert again.returncode == 0, again.stderr
    assert _record(record)["argv"] == ["--version"]
    assert _record(record)["env"]["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{ccr.port}"


def test_code_non_interactive_mode(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    claude = _stand_in(tmp_path / "bin")
    ccr.write_config(
        fake_provider_config(
            upstream, ccr.port, CLAUDE_PATH=str(claude), NON_INTERACTIVE_MODE=True, APIKEY="router-key-123"
        )
    )
    record = tmp_path / "record.json"

    result = ccr.run("code", "-p", "hello", env=_env(ccr, record), input="this must not reach claude\n")

    assert result.returncode == 7, result.stderr
    seen = _record(record)
    assert seen["argv"] == ["-p", "hello"]
    env = seen["env"]
    assert env["CI"] == "true"
    assert env["FORCE_COLOR"] == "0"
    assert env["NODE_NO_READLINE"] == "1"
    assert env["TERM"] == "dumb"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "router-key-123"
    assert "ANTHROPIC_API_KEY" not in env
    assert seen["stdin"] == ""  # closed: EOF at once


def test_code_uses_claude_from_path_by_default(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _stand_in(bin_dir, "claude")
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    record = tmp_path / "record.json"
    env = _env(ccr, record, PATH=f"{bin_dir}{os.pathsep}{ccr.env.get('PATH', '')}")

    result = ccr.run("code", "hello there", env=env)

    assert result.returncode == 7, result.stderr
    assert _record(record)["argv"] == ["hello there"]


def test_code_passes_a_signal_death_on_as_128_plus_n(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    script = tmp_path / "bin" / "dies"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\nkill -TERM $$\n")
    script.chmod(0o755)
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(script)))
    result = ccr.run("code")
    assert result.returncode == 128 + 15, result.stderr


@pytest.mark.parametrize("claude_path", ["/nonexistent/dir/claude", "no-such-claude-binary-xyz", None])
def test_code_without_claude_says_how_to_install_it(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path, claude_path: str | None
) -> None:
    extra = {"CLAUDE_PATH": claude_path} if claude_path else {}
    ccr.write_config(fake_provider_config(upstream, ccr.port, **extra))
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {**ccr.env, "PATH": str(empty_bin)}

    result = ccr.run("code", "-p", "hi", env=env)

    assert result.returncode == 127
    assert result.stderr.startswith("ccr: ")
    assert "npm install -g @anthropic-ai/claude-code" in result.stderr
    assert "CLAUDE_PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert not ccr.pid_file.exists()  # nothing started for a Claude Code that cannot run


def test_code_with_invalid_config_exits_2(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    config = fake_provider_config(upstream, ccr.port)
    config["Router"] = {"default": "fake"}
    ccr.write_config(config)
    result = ccr.run("code", "-p", "hi")
    assert result.returncode == 2
    assert "Router.default" in result.stderr
    assert "Traceback" not in result.stderr


def test_code_forwards_sigint_and_sigterm_to_claude_code(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    """Without a terminal to deliver Ctrl-C to the whole process group, ccr passes the signal on and waits."""
    script = tmp_path / "bin" / "waits"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(42))\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(43))\n"
        "open(os.environ['CCR_TEST_RECORD'], 'w').close()\n"
        "time.sleep(60)\n"
        "sys.exit(1)\n"
    )
    script.chmod(0o755)
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(script)))
    for sig, expected in ((signal.SIGINT, 42), (signal.SIGTERM, 43)):
        record = tmp_path / f"started-{sig}"
        proc = subprocess.Popen(
            [*ccr_command(), "code"],
            env={**ccr.env, "CCR_TEST_RECORD": str(record)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # no controlling terminal: the signal comes from us alone
        )
        try:
            deadline = time.monotonic() + 30
            while not record.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert record.exists(), proc.communicate(timeout=5)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=15)
            assert proc.returncode == expected, stderr
            assert b"Traceback" not in stderr
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


# ---------------------------------------------------------------------------------------------------------------
# StatusLine.enabled: Claude Code gets `--settings '{"statusLine": ...}'` running `ccr statusline`


def _status_line_of(argv: list[str]) -> dict[str, Any]:
    assert argv[0] == "--settings", argv
    settings: dict[str, Any] = json.loads(argv[1])
    status_line: dict[str, Any] = settings["statusLine"]
    return status_line


def test_status_line_setting_is_injected(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    claude = _stand_in(tmp_path / "bin")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), StatusLine={"enabled": True}))
    record = tmp_path / "record.json"

    result = ccr.run("code", *ARGS, env=_env(ccr, record))

    assert result.returncode == 7, result.stderr
    argv = _record(record)["argv"]
    assert argv[2:] == ARGS  # first, so that it never lands after `--` or a subcommand
    assert json.loads(argv[1]).keys() == {"statusLine"}
    status_line = _status_line_of(argv)
    assert status_line["type"] == "command" and status_line["padding"] == 0
    command = shlex.split(status_line["command"])
    assert command[-1] == "statusline"
    assert Path(command[0]).is_absolute() and os.access(command[0], os.X_OK)  # this ccr, wherever PATH points
    assert "--config" not in command

    # The command it names runs this ccr's statusline (whatever it prints, it must exist and not crash).
    ran = subprocess.run([*command, "--help"], env=ccr.env, capture_output=True, text=True, timeout=30, check=False)
    assert ran.returncode == 0, ran.stderr


def test_status_line_names_the_config_chosen_with_config_option(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    claude = _stand_in(tmp_path / "bin")
    other = tmp_path / "other dir" / "my config.json"
    other.parent.mkdir()
    other.write_text(
        json.dumps(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), StatusLine={"enabled": True}))
    )
    record = tmp_path / "record.json"

    result = ccr.run("--config", str(other), "code", "-p", "hi", env=_env(ccr, record))

    assert result.returncode == 7, result.stderr
    command = shlex.split(_status_line_of(_record(record)["argv"])["command"])
    assert command[-3:] == ["--config", str(other.resolve()), "statusline"]


@pytest.mark.parametrize("enabled", [False, None])
def test_no_settings_without_status_line_enabled(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path, enabled: bool | None
) -> None:
    claude = _stand_in(tmp_path / "bin")
    extra: dict[str, Any] = {"StatusLine": {"enabled": enabled}} if enabled is not None else {}
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), **extra))
    record = tmp_path / "record.json"
    assert ccr.run("code", "-p", "hi", env=_env(ccr, record)).returncode == 7
    assert _record(record)["argv"] == ["-p", "hi"]


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_users_inline_settings_get_the_status_line_merged(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path, form: str
) -> None:
    claude = _stand_in(tmp_path / "bin")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), StatusLine={"enabled": True}))
    record = tmp_path / "record.json"
    theirs = '{"model": "fake,fake-model", "env": {"A": "1"}}'
    option = ["--settings", theirs] if form == "separate" else [f"--settings={theirs}"]

    assert ccr.run("code", "-p", "hi", *option, env=_env(ccr, record)).returncode == 7

    argv = _record(record)["argv"]
    assert sum(arg == "--settings" or arg.startswith("--settings=") for arg in argv) == 1
    assert argv[:2] == ["-p", "hi"]
    value = argv[3] if form == "separate" else argv[2].removeprefix("--settings=")
    merged = json.loads(value)
    assert merged["model"] == "fake,fake-model" and merged["env"] == {"A": "1"}
    assert merged["statusLine"]["command"].endswith(" statusline")


def test_users_own_status_line_or_settings_file_is_left_alone(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    claude = _stand_in(tmp_path / "bin")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), StatusLine={"enabled": True}))
    record = tmp_path / "record.json"
    own = '{"statusLine": {"type": "command", "command": "my-line"}}'
    settings_file = tmp_path / "settings.json"
    settings_file.write_text('{"model": "x"}')
    for args in (["--settings", own, "-p", "hi"], ["--settings", str(settings_file), "-p", "hi"]):
        assert ccr.run("code", *args, env=_env(ccr, record)).returncode == 7
        assert _record(record)["argv"] == args
    assert settings_file.read_text() == '{"model": "x"}'

    # After `--`, "--settings" is the user's text for Claude Code, not an option: ours still goes first.
    assert ccr.run("code", "-p", "--", "--settings", env=_env(ccr, record)).returncode == 7
    argv = _record(record)["argv"]
    assert argv[0] == "--settings" and argv[2:] == ["-p", "--", "--settings"]


def test_real_claude_code_accepts_the_status_line_settings(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    """The pinned Claude Code CLI takes our `--settings` JSON, first, before a prompt and before a subcommand."""
    from tests.support.claude_cli import claude_env, require_claude
    from tests.support.fake_upstream import openai_completion

    claude = require_claude()
    upstream.default = lambda received: openai_completion("status line or not, hello")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude), StatusLine={"enabled": True}))
    home = tmp_path / "user-home"
    home.mkdir()
    env = claude_env("http://unused.invalid", home, {"CCR_HOME": str(ccr.home)})
    for key in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "NO_PROXY", "no_proxy"):
        env.pop(key, None)

    result = ccr.run("code", "-p", "hello", "--output-format", "json", env=env, cwd=home, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads(result.stdout)["result"] == "status line or not, hello"

    subcommand = ccr.run("code", "mcp", "list", env=env, cwd=home, timeout=120)
    assert subcommand.returncode == 0, subcommand.stdout + subcommand.stderr
    assert "unknown option" not in subcommand.stderr
