"""`ccr statusline` as Claude Code runs it: the real command as a subprocess, Claude Code's statusline JSON on
stdin, the real service (found through the pid file in CCR_HOME) in front of a scripted provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ccrouter.entry import statusline_argv
from ccrouter.service.pidfile import PidInfo, write_pid_file
from ccrouter.service.processes import proc_start_time
from ccrouter.statusline.line import git_branch
from ccrouter.statusline.style import SEPARATOR, format_tokens, powerline
from tests.support.ccr_cli import ccr_command
from tests.support.fake_upstream import ScriptedUpstream, openai_completion
from tests.support.paths import FIXTURES_DIR
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter, openai_provider, sdk_client

SESSION = "5d0c3a7e-9f41-4b2a-8c6d-0e1f2a3b4c5d"
ROUTER_KEY = "router-key-7f3a9c"
HINT_DOWN = "ccr: router not running (ccr start)"
# Every ccrouter module `ccr statusline` may import: the console script, the statusline and stdlib-only leaves.
STATUSLINE_MODULES = {
    "ccrouter",
    "ccrouter.entry",
    "ccrouter.paths",
    "ccrouter.config",
    "ccrouter.config.light",
    "ccrouter.service",
    "ccrouter.service.client",
    "ccrouter.statusline",
    "ccrouter.statusline.line",
    "ccrouter.statusline.style",
}


# What Claude Code 2.1.332 sent to its statusLine command in an interactive session (captured under tmux).
CLAUDE_CODE_INPUT = FIXTURES_DIR / "statusline" / "claude_code_2.1.332.json"


def claude_code_input(session_id: str = SESSION, cwd: str = "/home/dev/projects/webapp") -> str:
    """Claude Code's statusline JSON for `session_id` in `cwd`."""
    data = json.loads(CLAUDE_CODE_INPUT.read_text())
    data["session_id"] = session_id
    data["transcript_path"] = f"/home/dev/.claude/projects/{cwd.replace('/', '-')}/{session_id}.jsonl"
    data["cwd"] = cwd
    data["workspace"].update(current_dir=cwd, project_dir=cwd)
    data["cost"]["total_cost_usd"] = 0.4213  # Anthropic's price for the session: never shown as ccrouter's
    return json.dumps(data)


class Statusline:
    """Runs the real `ccr statusline` against one CCR_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("CCR_HOME", "NO_COLOR", "USE_SIMPLE_ICONS", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY")
        }
        self.env.update(CCR_HOME=str(home), TERM="xterm-256color")

    def run(self, stdin: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ccr_command(), *(args or ("statusline",))],
            input=stdin,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def line(self, stdin: str, *args: str, **env: str) -> str:
        result = self.run(stdin, *args, **env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        return lines[0]

    def attach(self, router: RouterProcess) -> None:
        """Record `router` in the pid file, as `ccr start` does (the statusline finds the service there)."""
        assert router.proc is not None
        pid = router.proc.pid
        info = PidInfo(pid, "127.0.0.1", router.port, str(router.config_path), 0.0, proc_start_time(pid))
        write_pid_file(self.home, info)


@pytest.fixture
def statusline(tmp_path: Path) -> Statusline:
    return Statusline(tmp_path / "ccr-home")


@pytest.fixture
def running(statusline: Statusline, upstream: ScriptedUpstream, start_router: StartRouter) -> Iterator[RouterProcess]:
    """The service, with one `think` request of SESSION served by fake,fake-model."""
    config = {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}}
    router = start_router(_with_think(config), home=statusline.home)
    statusline.attach(router)
    _ask(router, upstream, SESSION)
    yield router


def _with_think(config: dict[str, Any]) -> dict[str, Any]:
    config["Router"]["think"] = "fake,fake-model"
    return config


def _ask(router: RouterProcess, upstream: ScriptedUpstream, session_id: str, api_key: str = "client-key") -> None:
    """One `think` request of `session_id`, as Claude Code sends it; the provider reports 12345 tokens in, 678 out."""
    upstream.queue(openai_completion("Hello!", prompt=12_345, completion=678))
    client = sdk_client(router.url, api_key=api_key, default_headers={"x-claude-code-session-id": session_id})
    reply = client.messages.create(
        model="claude-sonnet-5-5",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert reply.content


# ---------------------------------------------------------------------------------------------------------------
# The service down, running, or asking for a key


def test_service_down_prints_a_hint(statusline: Statusline) -> None:
    assert _plain(statusline.line(claude_code_input())) == HINT_DOWN


def test_stale_pid_file_counts_as_down(statusline: Statusline) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (statusline.home / "ccr.pid").write_text(json.dumps({"pid": dead.pid, "host": "127.0.0.1", "port": 9}))
    assert _plain(statusline.line(claude_code_input())) == HINT_DOWN


def test_running_service_reports_scenario_real_model_and_tokens(statusline: Statusline, running: RouterProcess) -> None:
    line = statusline.line(claude_code_input(), TERM="dumb")
    assert line == "ccr ⟩ think → fake,fake-model · ↑12.3k ↓678"
    # Claude Code's own cost is priced as if Anthropic served every request: it is not shown as ccrouter's.
    assert "$" not in line and "0.42" not in line


def test_colours_by_default(statusline: Statusline, running: RouterProcess) -> None:
    line = statusline.line(claude_code_input())
    assert "\x1b[" in line
    assert _plain(line) == "ccr ⟩ think → fake,fake-model · ↑12.3k ↓678"


def test_session_without_requests_shows_claude_codes_model(statusline: Statusline, running: RouterProcess) -> None:
    line = statusline.line(claude_code_input("another-session"), TERM="dumb")
    assert line == "ccr ⟩ Opus 5.5 · no requests through ccr yet"


def test_apikey_is_sent(
    statusline: Statusline, upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    config = {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}, "APIKEY": "$CCR_KEY"}
    router = start_router(_with_think(config), env={"CCR_KEY": ROUTER_KEY}, home=statusline.home)
    statusline.attach(router)
    _ask(router, upstream, SESSION, api_key=ROUTER_KEY)
    stdin = claude_code_input()

    assert statusline.line(stdin, TERM="dumb", CCR_KEY=ROUTER_KEY) == "ccr ⟩ think → fake,fake-model · ↑12.3k ↓678"
    # Under `ccr code`, Claude Code's environment has the key as ANTHROPIC_AUTH_TOKEN even without $CCR_KEY.
    assert _plain(statusline.line(stdin, ANTHROPIC_AUTH_TOKEN=ROUTER_KEY)).startswith("ccr ⟩ think → fake,fake-model")
    refused = _plain(statusline.line(stdin, CCR_KEY="not-the-key"))
    assert refused == "ccr: the router refused its APIKEY (check APIKEY in the config)"


def test_json5_config_with_apikey(
    statusline: Statusline, upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    config = {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}, "APIKEY": ROUTER_KEY}
    router = start_router(_with_think(config), home=statusline.home)
    text = router.config_path.read_text()
    router.config_path.write_text("// ccrouter config, JSON5\n" + text.rstrip().removesuffix("}") + ",}\n")
    statusline.attach(router)
    _ask(router, upstream, SESSION, api_key=ROUTER_KEY)
    assert statusline.line(claude_code_input(), TERM="dumb") == "ccr ⟩ think → fake,fake-model · ↑12.3k ↓678"


def test_config_option_form(statusline: Statusline, running: RouterProcess) -> None:
    """`ccr --config PATH statusline` is the command `ccr code` puts in Claude Code's settings."""
    for args in (
        ("--config", str(running.config_path), "statusline"),
        (f"--config={running.config_path}", "statusline"),
    ):
        assert statusline.line(claude_code_input(), *args, TERM="dumb").startswith("ccr ⟩ think → fake,fake-model")


# ---------------------------------------------------------------------------------------------------------------
# Styles


def test_no_escape_codes_for_dumb_terminals_or_no_color(statusline: Statusline, running: RouterProcess) -> None:
    _set_status_line(running, {"currentStyle": "powerline"})
    for env in ({"TERM": "dumb"}, {"NO_COLOR": "1"}):
        line = statusline.line(claude_code_input(), **env)
        assert "\x1b" not in line
        assert "think → fake,fake-model" in line
    assert "\x1b" not in statusline.line(claude_code_input("another-session"), TERM="dumb")


def test_powerline_style(statusline: Statusline, running: RouterProcess, tmp_path: Path) -> None:
    project = _git_work_tree(tmp_path / "webapp", "feature/statusline")
    _set_status_line(running, {"currentStyle": "powerline"})
    line = statusline.line(claude_code_input(cwd=str(project)))
    assert SEPARATOR in line and "\x1b[48;2;" in line
    plain = _plain(line)
    for part in ("webapp", "feature/statusline", "think → fake,fake-model", "12.3k", "678"):
        assert part in plain


def test_modules_from_ccr_config(statusline: Statusline, running: RouterProcess, tmp_path: Path) -> None:
    project = _git_work_tree(tmp_path / "api-server", "main")
    modules = [
        {"type": "workDir", "icon": "D", "text": "{{workDirName}}", "color": "bright_blue"},
        {"type": "gitBranch", "icon": "B", "text": "{{gitBranch}}", "color": "#ff8800"},
        {"type": "model", "icon": "M", "text": "{{model}}", "color": "bright_cyan", "background": "bg_#202020"},
        {"type": "usage", "icon": "↑", "text": "{{inputTokens}}", "color": "bright_green"},
        {"type": "usage", "icon": "↓", "text": "{{outputTokens}}"},
        {"type": "text", "text": "route {{scenario}}, {{requests}} req"},
        {"type": "text", "text": "{{noSuchVariable}}"},
        {"type": "script", "scriptPath": "/nowhere/statusline.js"},
    ]
    _set_status_line(running, {"currentStyle": "default", "default": {"modules": modules}})
    stdin = claude_code_input(cwd=str(project))

    expected = "D api-server B main M fake,fake-model ↑ 12.3k ↓ 678 route think, 1 req"
    assert statusline.line(stdin, TERM="dumb") == expected
    coloured = statusline.line(stdin)
    assert "\x1b[94m" in coloured and "\x1b[38;2;255;136;0m" in coloured and "\x1b[48;2;32;32;32m" in coloured
    assert _plain(coloured) == expected

    _set_status_line(running, {"currentStyle": "powerline", "powerline": {"modules": modules}})
    line = statusline.line(stdin)
    assert line.count(SEPARATOR) == 6  # one after each shown module; the empty and script ones leave none
    assert "M fake,fake-model" in _plain(line)


def test_modules_when_the_service_is_down(statusline: Statusline, tmp_path: Path) -> None:
    modules = [{"type": "workDir", "text": "{{workDirName}}"}, {"type": "model"}, {"type": "usage"}]
    (statusline.home / "config.json").write_text(json.dumps({"StatusLine": {"default": {"modules": modules}}}))
    line = statusline.line(claude_code_input(cwd="/home/dev/projects/webapp"), TERM="dumb")
    assert line == "webapp router not running (ccr start)"


# ---------------------------------------------------------------------------------------------------------------
# Never a crash, never slow to start


@pytest.mark.parametrize("stdin", ["", "not json at all", "[1, 2]", '{"session_id": 42, "model": "x"}', "\x00\xff"])
def test_bad_input_still_prints_one_line_and_exits_0(statusline: Statusline, stdin: str) -> None:
    result = statusline.run(stdin)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert _plain(result.stdout).startswith("ccr")
    assert "Traceback" not in result.stderr


def test_corrupt_pid_file_and_config(statusline: Statusline) -> None:
    (statusline.home / "ccr.pid").write_text("{not json")
    (statusline.home / "config.json").write_text("{also: not, [json")
    assert _plain(statusline.line(claude_code_input())) == HINT_DOWN


def test_does_not_import_click_or_the_config_loader(statusline: Statusline, running: RouterProcess) -> None:
    command = ccr_command()  # [the ccr script] or [python, -m, ccrouter.cli.main]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *(command if len(command) == 1 else command[1:]), "statusline"],
        input=claude_code_input(),
        env={**statusline.env, "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.stdout.startswith("ccr ⟩ think → fake,fake-model"), result.stdout + result.stderr
    # -X importtime prints a line as each import ends, the site's own first; ours follow the `ccrouter` package.
    timeline = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line][1:]
    ours = timeline[timeline.index("ccrouter") :]
    assert "ccrouter.statusline.line" in ours
    for heavy in (
        "click",
        "json5",
        "ccrouter.config.model",
        "ccrouter.config.loading",
        "ccrouter.service.control",
        "ccrouter.service.pidfile",
        "http.client",
        "typing",
        "aiohttp",
    ):
        assert heavy not in ours
    assert not [name for name in ours if name.startswith("ccrouter.gateway")]
    # Only the standard library and the stdlib-only leaves the statusline is allowed.
    assert {name for name in ours if name.split(".")[0] == "ccrouter"} <= STATUSLINE_MODULES
    assert [name for name in ours if name.split(".")[0] not in {*sys.stdlib_module_names, "ccrouter"}] == []


def test_click_command_runs_the_same_code() -> None:
    from ccrouter.cli.main import cli

    result = CliRunner().invoke(cli, ["statusline"], input="garbage", env={"CCR_HOME": "/nonexistent/ccr"})
    assert result.exit_code == 0
    assert result.output.startswith("ccr")


# ---------------------------------------------------------------------------------------------------------------
# Pieces


def test_statusline_argv() -> None:
    assert statusline_argv(["/venv/bin/ccr", "statusline"]) == (True, None)
    assert statusline_argv(["/venv/bin/ccr", "--config", "/c.json", "statusline"]) == (True, "/c.json")
    assert statusline_argv(["/venv/bin/ccr", "--config=/c.json", "statusline"]) == (True, "/c.json")
    assert statusline_argv(["/src/ccrouter/cli/main.py", "statusline"]) == (True, None)
    assert statusline_argv(["/venv/bin/ccr", "statusline", "--help"]) == (False, None)
    assert statusline_argv(["/venv/bin/ccr", "status"]) == (False, None)
    assert statusline_argv(["/usr/bin/pytest", "statusline"]) == (False, None)
    assert statusline_argv([]) == (False, None)


def test_format_tokens() -> None:
    counts = (0, 999, 1000, 12_345, 999_949, 999_950, 2_500_000)
    assert [format_tokens(n) for n in counts] == ["0", "999", "1.0k", "12.3k", "999.9k", "1.0M", "2.5M"]


def test_git_branch_without_git(tmp_path: Path) -> None:
    repo = _git_work_tree(tmp_path / "repo", "topic")
    (repo / "src" / "deep").mkdir(parents=True)
    assert git_branch(str(repo / "src" / "deep")) == "topic"
    (repo / ".git" / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert git_branch(str(repo)) == "0123456"  # detached
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    (repo / ".git" / "worktrees" / "wt").mkdir(parents=True)
    (repo / ".git" / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/wt-branch\n")
    (worktree / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'wt'}\n")
    assert git_branch(str(worktree)) == "wt-branch"
    assert git_branch(str(tmp_path / "nowhere")) == ""


def test_powerline_arrows_carry_colours() -> None:
    modules = [
        {"text": "a", "background": "bg_red"},
        {"text": "", "background": "bg_green"},  # nothing to show: skipped, arrow goes to the next shown one
        {"text": "c", "background": "#0000ff", "color": "black"},
    ]
    line = powerline(modules, {})
    red, blue = "128;0;0", "0;0;255"
    assert f"\x1b[38;2;{red}m\x1b[48;2;{blue}m{SEPARATOR}" in line
    assert line.endswith(f"\x1b[0m\x1b[38;2;{blue}m{SEPARATOR}\x1b[0m")


# ---------------------------------------------------------------------------------------------------------------


def _set_status_line(router: RouterProcess, status_line: dict[str, Any]) -> None:
    config = json.loads(router.config_path.read_text())
    config["StatusLine"] = status_line
    router.config_path.write_text(json.dumps(config, indent=2))


def _git_work_tree(path: Path, branch: str) -> Path:
    (path / ".git").mkdir(parents=True)
    (path / ".git" / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    return path


def _plain(line: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", line)
