"""Helpers for running the real Claude Code CLI against a local base URL in tests.

The CLI is found through ``CLAUDE_BIN``, then ``node_modules/.bin/claude`` under the repository root, then
``PATH``. Tests that need it should skip when :func:`find_claude` returns ``None``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Variables that would leak the caller's own Claude Code / Anthropic setup into the child.
_DROP_PREFIXES = (
    "ANTHROPIC_",
    "CLAUDE_CODE_",
    "CLAUDE_CONFIG_DIR",
    "CLAUDECODE",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "DISABLE_",
    "MAX_THINKING_TOKENS",
)


def find_claude() -> Path | None:
    """Path of an executable ``claude`` binary, or ``None``."""
    candidates: list[Path] = []
    env_bin = os.environ.get("CLAUDE_BIN")
    if env_bin:
        candidates.append(Path(env_bin))
    candidates.append(REPO_ROOT / "node_modules" / ".bin" / "claude")
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("claude")
    return Path(found) if found else None


def claude_env(base_url: str, home: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a hermetic run: fresh HOME, no inherited Anthropic/Claude Code settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    env.update(
        {
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_AUTH_TOKEN": "test",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if extra_env:
        env.update(extra_env)
    return env


def run_claude(
    args: list[str],
    base_url: str,
    home: Path,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``claude *args`` against ``base_url`` with ``HOME=home`` and stdin closed; output is captured.

    ``cwd`` defaults to ``home`` (an empty directory: no project files, no git repository).
    Raises ``FileNotFoundError`` when no binary is found and ``subprocess.TimeoutExpired`` on timeout.
    """
    binary = find_claude()
    if binary is None:
        raise FileNotFoundError("claude CLI not found (set CLAUDE_BIN)")
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(binary), *args],
        env=claude_env(base_url, home, extra_env),
        cwd=str(cwd or home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def require_claude() -> Path:
    """The Claude Code binary; fails the test under CI (where scripts/test.sh must have installed it), else skips."""
    import pytest

    binary = find_claude()
    if binary is None:
        message = "the Claude Code CLI is not installed (scripts/test.sh installs @anthropic-ai/claude-code@2.1.332)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary
