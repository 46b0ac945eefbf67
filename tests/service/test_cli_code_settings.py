"""`ccr code` and what it takes from outside: the CLAUDE_PATH environment variable (after the config key, as CCR
reads them), a config file that no longer loads while the service serves the previous one, and the install hint
for a machine without Claude Code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.service.test_cli_code import _env, _record, _stand_in
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream


def test_claude_path_from_the_environment(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    from_env = _stand_in(tmp_path / "env-bin", "claude-from-env")
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    record = tmp_path / "record.json"
    empty_bin = tmp_path / "empty-bin"  # no `claude` on PATH: only the variable can find it
    empty_bin.mkdir()

    result = ccr.run("code", "-p", "hi", env=_env(ccr, record, CLAUDE_PATH=str(from_env), PATH=str(empty_bin)))

    assert result.returncode == 7, result.stderr
    assert _record(record)["argv"] == ["-p", "hi"]

    # The config key comes first.
    record.unlink()
    from_config = _stand_in(tmp_path / "config-bin", "claude-from-config")
    ccr.write_config(fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(from_config)))
    env = _env(ccr, record, CLAUDE_PATH=str(tmp_path / "nonexistent"), PATH=str(empty_bin))
    assert ccr.run("code", "-p", "hi", env=env).returncode == 7
    assert record.exists()

    # A wrong variable is named as such.
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    wrong = ccr.run("code", "-p", "hi", env=env)
    assert wrong.returncode == 127
    assert f"CLAUDE_PATH in the environment is '{tmp_path / 'nonexistent'}', which does not exist" in wrong.stderr


def test_without_claude_the_hint_says_which_node_and_a_pinned_version(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    result = ccr.run("code", "-p", "hi", env={**ccr.env, "PATH": str(empty_bin)})
    assert result.returncode == 127
    assert "Node 22 or newer" in result.stderr
    assert "npm install -g @anthropic-ai/claude-code@2.1.332" in result.stderr


def _broken(config: dict[str, Any]) -> str:
    """`config` with a route that names no model of its provider: it no longer loads."""
    return json.dumps({**config, "Router": {"default": "fake,no-such-model"}}, indent=2)


def test_a_broken_file_with_a_running_service_warns_and_goes_on(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    claude = _stand_in(tmp_path / "bin")
    config = fake_provider_config(
        upstream, ccr.port, CLAUDE_PATH=str(claude), APIKEY="router-key-1234", API_TIMEOUT_MS=234567
    )
    ccr.write_config(config)
    assert ccr.run("start").returncode == 0
    pid = (ccr.pid_info() or {})["pid"]
    ccr.config_path.write_text(_broken(config))
    record = tmp_path / "record.json"

    result = ccr.run("code", "-p", "hi", env=_env(ccr, record))

    assert result.returncode == 7, result.stderr
    assert "ccr: warning: the config on disk has an error: Router.default" in result.stderr
    assert f"the service (pid {pid}) keeps serving the previous one" in result.stderr
    env = _record(record)["env"]
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{ccr.port}"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "router-key-1234"  # read from the file as written
    assert env["API_TIMEOUT_MS"] == "234567"
    assert (ccr.pid_info() or {})["pid"] == pid  # the same service, still running
    assert ccr.run("status").returncode == 0


def test_a_broken_file_without_a_service_still_stops_ccr_code(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.config_path.write_text(_broken(fake_provider_config(upstream, ccr.port)))
    result = ccr.run("code", "-p", "hi")
    assert result.returncode == 2
    assert "Router.default" in result.stderr and "warning" not in result.stderr
    assert not ccr.pid_file.exists()


def test_an_unset_key_variable_in_this_shell_with_a_running_service(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    """The usual case: a new shell without the provider's key exported, while the service (started where it was)
    runs."""
    claude = _stand_in(tmp_path / "bin")
    config = fake_provider_config(upstream, ccr.port, CLAUDE_PATH=str(claude))
    config["Providers"][0]["api_key"] = "$CCR_TEST_PROVIDER_KEY"
    ccr.write_config(config)
    assert ccr.run("start", env={**ccr.env, "CCR_TEST_PROVIDER_KEY": "sk-123456"}).returncode == 0
    record = tmp_path / "record.json"

    result = ccr.run("code", "-p", "hi", env=_env(ccr, record))

    assert result.returncode == 7, result.stderr
    assert "$CCR_TEST_PROVIDER_KEY, which is not set" in result.stderr
    assert os.path.exists(record)
