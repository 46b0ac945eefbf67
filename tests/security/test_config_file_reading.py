"""What the config file can be, against the real service and the real `ccr`:

- only a regular file is read (a FIFO hung the service and `ccr status`; a link to /dev/zero was read without end),
  and at most 10 MB of it: anything else is a clear `ccr: ...` error (exit 2), at once, and a running service's
  hot reload logs it;
- a config that is not UTF-8 is the usual `ccr: ...` message and exit 2 for every command that reads it;
- a config that holds keys written out and that other users may read (an editor's 0644) gets a warning with the
  `chmod 600` to run: in `ccr config check`, and in the service's log when it starts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ccrouter.paths import LOG_FILE
from tests.support.ccr_cli import CcrHome, ccr_command, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider

pytestmark = pytest.mark.process  # runs the real `ccr` and service processes

DEADLINE_S = 20  # each command answers in well under a second; one that hangs fails here instead
MEMORY_CAP = 1024**3  # an unbounded read (of /dev/zero) fails fast under it instead of eating the machine's memory


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(ccr: CcrHome, *args: str) -> subprocess.CompletedProcess[str]:
    """`ccr ARGS` under a deadline and a memory cap."""
    return subprocess.run(
        [*ccr_command(), *args],
        env=ccr.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        preexec_fn=cap_memory,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    """Refused as every ccr error is: `ccr: <message>` on stderr and the exit code, never a traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    text = result.stderr if code == 2 else result.stdout
    assert all(word in text for word in words), (words, text)
    if code == 2:
        assert result.stderr.startswith("ccr: "), result.stderr


# ---------------------------------------------------------------------------------------------------------------
# Not a regular file, too large


def test_a_fifo_as_config_is_refused_at_once_by_the_commands_and_the_service(ccr: CcrHome) -> None:
    os.mkfifo(ccr.config_path)  # nobody ever writes to it: reading it would wait forever

    for args in (("start",), ("config", "check"), ("model",), ("model", "think", "fake,fake-model")):
        assert_refused(run_capped(ccr, *args), str(ccr.config_path), "FIFO", "not a regular file")
    assert_refused(run_capped(ccr, "status"), "FIFO", "not a regular file", code=1)

    server = subprocess.run(
        [sys.executable, "-m", "ccrouter.gateway.server", "--config", str(ccr.config_path)],
        env=ccr.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert server.returncode == 2 and "FIFO" in server.stderr, server.stderr


def test_a_fifo_put_in_place_of_the_running_services_config_is_refused_by_hot_reload(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    """The reload, in its own thread, waited on the FIFO for ever without a word; the service kept the old config."""
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    router.config_path.unlink()
    os.mkfifo(router.config_path)

    deadline = time.monotonic() + DEADLINE_S
    errors: list[dict[str, Any]] = []
    while not errors and time.monotonic() < deadline:
        errors = [r for r in router.log_records() if r["level"] == "error"]
        time.sleep(0.05)
    assert errors and "FIFO (named pipe), not a regular file" in errors[0]["error"], router.log_records()
    assert LOOPBACK.get(router.url + "/health", timeout=10).status_code == 200


def test_a_config_linked_to_dev_zero_is_refused(ccr: CcrHome) -> None:
    ccr.config_path.symlink_to("/dev/zero")

    assert_refused(run_capped(ccr, "config", "check"), "/dev/zero", "character device", "not a regular file")
    assert_refused(run_capped(ccr, "start"), "character device")
    assert_refused(run_capped(ccr, "status"), "character device", code=1)


def test_a_config_over_10_mb_is_refused_saying_the_limit(ccr: CcrHome) -> None:
    ccr.config_path.write_bytes(b"{" + b" " * (11 * 1024 * 1024) + b"}")

    assert_refused(run_capped(ccr, "config", "check"), str(ccr.config_path), "larger than 10 MB")
    assert_refused(run_capped(ccr, "status"), "larger than 10 MB", code=1)


# ---------------------------------------------------------------------------------------------------------------
# Not UTF-8


@pytest.mark.parametrize(
    "args",
    [("start",), ("restart",), ("config", "check"), ("model",), ("model", "think", "fake,fake-model"), ("activate",)],
)
def test_a_config_that_is_not_utf8_is_a_ccr_message_for_each_command(ccr: CcrHome, args: tuple[str, ...]) -> None:
    ccr.config_path.write_bytes(b'{"Router": {"default": "fake,mod\xe8le"}}')  # Latin-1

    assert_refused(run_capped(ccr, *args), str(ccr.config_path), "not UTF-8 text")


def test_ccr_status_and_code_name_a_config_that_is_not_utf8(ccr: CcrHome) -> None:
    ccr.config_path.write_bytes(b"\xff\xfe{\x00}\x00")  # UTF-16

    assert_refused(run_capped(ccr, "status"), "not UTF-8 text", code=1)
    assert_refused(run_capped(ccr, "code", "--version"), "not UTF-8 text")


# ---------------------------------------------------------------------------------------------------------------
# Keys other users can read


def written_out(ccr: CcrHome, upstream: ScriptedUpstream, mode: int) -> str:
    """A hand-written config holding a provider key and the APIKEY in clear, with `mode`; its path."""
    ccr.write_config(fake_provider_config(upstream, ccr.port, APIKEY="router-key-in-clear"))
    os.chmod(ccr.config_path, mode)
    return str(ccr.config_path.resolve())


def test_config_check_warns_when_other_users_can_read_keys(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    path = written_out(ccr, upstream, 0o644)

    result = ccr.run("config", "check")

    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "chmod 600" in line]
    assert warning == [
        f'ccr: warning: {path} holds APIKEY, Providers[0].api_key written out (not as a "$VAR" reference), and '
        f"other users of this machine can read it (mode 0644). Run `chmod 600 {path}`, or move the keys into "
        'environment variables and write "$VAR" in their place.'
    ], result.stderr
    assert "router-key-in-clear" not in result.stderr and "sk-test-provider-key" not in result.stderr

    os.chmod(path, 0o600)  # private: no warning
    assert "chmod" not in ccr.run("config", "check").stderr

    config = fake_provider_config(upstream, ccr.port, APIKEY="${ROUTER_KEY}")  # references only: no warning
    config["Providers"][0]["api_key"] = "$PROVIDER_KEY"
    ccr.write_config(config)
    os.chmod(path, 0o644)
    env = {**ccr.env, "ROUTER_KEY": "router-key-from-env", "PROVIDER_KEY": "sk-from-env-123456"}
    result = ccr.run("config", "check", env=env)
    assert result.returncode == 0 and "chmod" not in result.stderr, result.stderr


def test_the_service_start_logs_the_warning(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    path = written_out(ccr, upstream, 0o640)

    assert ccr.run("start").returncode == 0

    lines = (ccr.home / "logs" / LOG_FILE).read_text().splitlines()
    warnings = [record for record in map(json.loads, lines) if record["level"] == "warn"]
    assert [record["msg"] for record in warnings] == ["the config shows keys to other users"], lines
    assert f"Run `chmod 600 {path}`" in warnings[0]["reason"] and "(mode 0640)" in warnings[0]["reason"]
    shown = ccr.run("logs", "-n", "5").stdout
    assert "the config shows keys to other users" in shown and "chmod 600" in shown, shown


def test_the_warning_follows_a_symlinked_config_to_its_file(
    ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    """The mode that counts is the file's: the link's own is always 0777."""
    real = tmp_path / "dotfiles" / "ccr.json"
    real.parent.mkdir()
    real.write_text(json.dumps(fake_provider_config(upstream, ccr.port)))
    os.chmod(real, 0o600)
    ccr.config_path.symlink_to(real)
    assert "chmod" not in ccr.run("config", "check").stderr

    os.chmod(real, 0o644)
    assert f"chmod 600 {real}" in ccr.run("config", "check").stderr
