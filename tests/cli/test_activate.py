"""`ccr activate`: the real command's output, evaluated by real shells, gives the environment `ccr code` gives."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from ccrouter.cli.activate import activate_env
from ccrouter.config.loading import parse_config
from ccrouter.service.claude_code import claude_env
from tests.support.ccr_cli import CcrHome

# An APIKEY that breaks naive quoting: spaces, both quotes, `$`, a backslash and a backtick.
TRICKY_KEY = """k3y with 'single' "double" $HOME \\ `id`"""


def _config(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "PORT": port,
        "Providers": [
            {"name": "p", "api_base_url": "http://127.0.0.1:9/v1/chat/completions", "api_key": "k", "models": ["m"]}
        ],
        "Router": {"default": "p,m"},
        **extra,
    }


def _user_shell(ccr: CcrHome, **extra: str) -> dict[str, str]:
    """The environment of a user's shell that had Claude Code set up for Anthropic (and Bedrock) before."""
    env = {k: v for k, v in ccr.env.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_")) and k != "no_proxy"}
    env.update(
        {
            "ANTHROPIC_API_KEY": "sk-ant-the-users-real-key",
            "ANTHROPIC_AUTH_TOKEN": "old-token",
            "CLAUDE_CODE_USE_BEDROCK": "1",
            "NO_PROXY": "internal.example.com",
            "DISABLE_TELEMETRY": "false",
            **extra,
        }
    )
    return env


def _eval_in(shell: str, activation: str, env: dict[str, str]) -> dict[str, str]:
    """The environment after `eval "$(ccr activate)"` in `shell` (the output is passed through the environment, so
    that this test's own quoting cannot get in the way)."""
    result = subprocess.run(
        [shell, "-c", 'eval "$CCR_ACTIVATION" && env -0'],
        env={**env, "CCR_ACTIVATION": activation},
        capture_output=True,
        timeout=30,
        check=True,
    )
    pairs = (entry.decode().split("=", 1) for entry in result.stdout.split(b"\0") if entry)
    return {key: value for key, value in pairs if key != "CCR_ACTIVATION"}


def test_eval_gives_the_router_environment(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port, APIKEY="$CCR_TEST_KEY", API_TIMEOUT_MS=123_456))
    shell_env = _user_shell(ccr, CCR_TEST_KEY=TRICKY_KEY)

    result = ccr.run("activate", env=shell_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"ccr: no router answers at {ccr.url}; start it with `ccr start`\n"  # not started yet
    assert all(line.startswith(("export ", "unset ")) for line in result.stdout.splitlines()), result.stdout

    for shell in ("bash", "sh"):
        env = _eval_in(shell, result.stdout, shell_env)
        assert env["ANTHROPIC_BASE_URL"] == ccr.url
        assert env["ANTHROPIC_AUTH_TOKEN"] == TRICKY_KEY
        assert env["API_TIMEOUT_MS"] == "123456"
        assert env["DISABLE_TELEMETRY"] == "true"
        assert env["DISABLE_COST_WARNINGS"] == "true"
        assert env["NO_PROXY"] == "127.0.0.1,internal.example.com"
        assert "ANTHROPIC_API_KEY" not in env  # the user's own key must not reach the router
        assert "CLAUDE_CODE_USE_BEDROCK" not in env  # nor Claude Code go to Bedrock instead (CCR unsets it too)
        assert env["PATH"] == shell_env["PATH"]  # the rest of the shell is left alone
        assert env["HOME"] == shell_env["HOME"]


def test_same_environment_as_ccr_code(ccr: CcrHome) -> None:
    """Every variable `ccr code` sets for Claude Code (claude_code.claude_env) is exported with the same value."""
    ccr.write_config(_config(ccr.port, APIKEY="secret-key", NON_INTERACTIVE_MODE=True))
    shell_env = _user_shell(ccr, no_proxy="localhost")
    env = _eval_in("bash", ccr.run("activate", env=shell_env).stdout, shell_env)

    config = parse_config(ccr.config_path.read_text(), {}, ccr.config_path)
    code_env = claude_env(
        shell_env, url=ccr.url, host="127.0.0.1", apikey="secret-key", api_timeout_ms=600_000, non_interactive=False
    )
    changed = {k: v for k, v in code_env.items() if shell_env.get(k) != v}
    assert changed.keys() >= {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "NO_PROXY", "no_proxy"}
    assert {k: env.get(k) for k in changed} == changed
    assert all(k not in env for k in shell_env if k not in code_env)  # what ccr code removes is unset
    assert env["no_proxy"] == "127.0.0.1,localhost"
    # NON_INTERACTIVE_MODE's TERM=dumb, CI=true, ... are for Claude Code's process, not for the user's shell.
    assert env.get("TERM") == shell_env.get("TERM")
    assert "CI" not in env or env["CI"] == shell_env.get("CI")
    exports, unset = activate_env(config, shell_env)
    assert "ANTHROPIC_API_KEY" in unset and "ANTHROPIC_API_KEY" not in exports


def test_without_apikey_the_token_is_test(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port))
    env = _eval_in("bash", ccr.run("activate").stdout, _user_shell(ccr))
    assert env["ANTHROPIC_AUTH_TOKEN"] == "test"
    assert env["ANTHROPIC_BASE_URL"] == ccr.url


@pytest.mark.parametrize(
    ("host", "apikey", "url_host", "no_proxy"),
    [
        ("0.0.0.0", "key", "127.0.0.1", "127.0.0.1"),  # a wildcard bind: clients use loopback
        ("192.0.2.10", None, "127.0.0.1", "127.0.0.1"),  # no APIKEY: ccrouter listens on loopback only
        ("192.0.2.10", "key", "192.0.2.10", "127.0.0.1,192.0.2.10"),
    ],
)
def test_host_as_ccr_code_uses_it(ccr: CcrHome, host: str, apikey: str | None, url_host: str, no_proxy: str) -> None:
    ccr.write_config(_config(ccr.port, HOST=host, **({"APIKEY": apikey} if apikey else {})))
    env = _eval_in("bash", ccr.run("activate").stdout, _user_shell(ccr, NO_PROXY=""))
    assert env["ANTHROPIC_BASE_URL"] == f"http://{url_host}:{ccr.port}"
    assert env["NO_PROXY"] == no_proxy


def test_env_is_ccrs_other_name(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port, APIKEY="abc"))
    activate, env = ccr.run("activate"), ccr.run("env")
    assert env.returncode == 0
    assert env.stdout == activate.stdout
    assert "export ANTHROPIC_AUTH_TOKEN=abc" in env.stdout.splitlines()


def test_config_error_exits_2_with_the_message(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port, Router={"default": "no-comma-here"}))
    result = ccr.run("activate")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Router.default" in result.stderr and result.stderr.startswith("ccr: ")

    ccr.config_path.unlink()
    missing = ccr.run("activate")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert "No config file" in missing.stderr


def test_unset_apikey_variable_is_a_config_error(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port, APIKEY="$CCR_UNSET_KEY_FOR_TEST"))
    result = ccr.run("activate")
    assert result.returncode == 2
    assert "CCR_UNSET_KEY_FOR_TEST" in result.stderr
    assert result.stdout == ""


def test_no_warning_when_the_router_answers(ccr: CcrHome) -> None:
    ccr.write_config(_config(ccr.port))
    stopped = ccr.run("activate")
    assert "no router answers" in stopped.stderr
    assert ccr.run("start").returncode == 0

    running = ccr.run("activate")

    assert running.returncode == 0
    assert running.stderr == ""
    assert running.stdout == stopped.stdout  # the same lines either way
