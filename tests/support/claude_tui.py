"""The real Claude Code CLI in its interactive TUI, under tmux: type into it, read its screen.

Each session runs in a tmux server of its own socket (other tmux servers are untouched), in a fresh HOME whose
`~/.claude.json` marks onboarding done, approves the `ANTHROPIC_AUTH_TOKEN` and trusts the project folder, so
no first-run dialog stands in the way.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.claude_cli import claude_env, find_claude

PROMPT_MARK = "\u276f"  # the input prompt's arrow


class ClaudeTui:
    def __init__(
        self, work: Path, base_url: str, extra_env: dict[str, str] | None = None, *, essential_only: bool = False
    ) -> None:
        """`essential_only` keeps CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (no title, no model discovery)."""
        self.socket = f"cc-tui-{os.getpid()}-{id(self):x}"
        self.home = work / "home"
        self.project = self.home / "project"
        self.project.mkdir(parents=True)
        state = {
            "hasCompletedOnboarding": True,
            "lastOnboardingVersion": "2.1.332",
            "theme": "dark",
            "customApiKeyResponses": {"approved": ["test"], "rejected": []},
            "projects": {str(self.project): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}},
        }
        (self.home / ".claude.json").write_text(json.dumps(state), encoding="utf-8")
        binary = find_claude()
        if binary is None:
            raise FileNotFoundError("claude CLI not found (set CLAUDE_BIN)")
        env = claude_env(base_url, self.home, extra_env)
        env.pop("TERM", None)
        if not essential_only:  # as a user runs it: discovery and the session title are "non-essential traffic"
            env.pop("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", None)
        exports = "".join(
            f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
        )
        script = work / "run-claude.sh"
        script.write_text(f"#!/bin/sh\n{exports}cd {shlex.quote(str(self.project))}\nexec {shlex.quote(str(binary))}\n")
        script.chmod(0o755)
        self._tmux("new-session", "-d", "-s", "cc", "-x", "200", "-y", "50", str(script))

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "cc")

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "cc", "-l", text)
        time.sleep(1.0)  # the slash-command menu settles before Enter
        self._tmux("send-keys", "-t", "cc", "Enter")

    def keys(self, *names: str) -> None:
        for name in names:
            self._tmux("send-keys", "-t", "cc", name)
            time.sleep(0.3)

    def wait_for_prompt(self, timeout: float = 30) -> None:
        if not wait_until(lambda: PROMPT_MARK in self.screen(), timeout, settle=2.0):
            raise AssertionError("Claude Code's prompt never appeared:\n" + self.screen())

    def close(self) -> None:
        self._tmux("kill-server")


def wait_until(condition: Callable[[], bool], timeout: float, settle: float = 0.0) -> bool:
    """Poll `condition` until it holds (then wait `settle` seconds for what follows it) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            time.sleep(settle)
            return True
        time.sleep(0.2)
    return False
