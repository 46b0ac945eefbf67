"""Running Claude Code through the service: finding the executable, its environment (REFERENCE §6), and
running it with signals forwarded and its exit code passed through.

Only the standard library is imported here: `ccr code` must start fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from ccrouter.service import ServiceError

INSTALL_HINT = (
    "Install it with `npm install -g @anthropic-ai/claude-code`, "
    "or set CLAUDE_PATH in the config to the claude executable."
)


def find_claude(configured: str | None) -> str:
    """The Claude Code executable: CLAUDE_PATH from the config if set, else `claude` on PATH."""
    if configured:
        if os.sep in configured or configured.startswith("~"):
            path = Path(configured).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            problem = "is not executable" if path.is_file() else "does not exist"
            raise ServiceError(
                f"CLAUDE_PATH is {configured!r}, which {problem}. Fix CLAUDE_PATH in the config, "
                "or remove it to use `claude` from PATH. To install Claude Code: "
                "`npm install -g @anthropic-ai/claude-code`.",
                exit_code=127,
            )
        found = shutil.which(configured)
        if found:
            return found
        raise ServiceError(f"CLAUDE_PATH is {configured!r}, which is not on PATH. {INSTALL_HINT}", exit_code=127)
    found = shutil.which("claude")
    if found:
        return found
    raise ServiceError(f"Claude Code (`claude`) is not on PATH. {INSTALL_HINT}", exit_code=127)


def claude_env(
    base: Mapping[str, str],
    url: str,
    host: str,
    apikey: str | None,
    api_timeout_ms: int,
    non_interactive: bool,
) -> dict[str, str]:
    """Claude Code's environment for talking to the service (REFERENCE §6). The user's own
    ANTHROPIC_API_KEY is removed: Claude Code must neither use it nor send it to the router."""
    env = {k: v for k, v in base.items() if k != "ANTHROPIC_API_KEY"}
    env.update(
        {
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_AUTH_TOKEN": apikey or "test",
            "API_TIMEOUT_MS": str(api_timeout_ms),
            "DISABLE_TELEMETRY": "true",
            "DISABLE_COST_WARNINGS": "true",
        }
    )
    env["NO_PROXY"] = _no_proxy(env.get("NO_PROXY"), host)
    if "no_proxy" in env:
        env["no_proxy"] = _no_proxy(env["no_proxy"], host)
    if non_interactive:
        env.update({"CI": "true", "FORCE_COLOR": "0", "NODE_NO_READLINE": "1", "TERM": "dumb"})
    return env


def _no_proxy(existing: str | None, host: str) -> str:
    entries = ["127.0.0.1"] if host == "127.0.0.1" else ["127.0.0.1", host]
    for entry in (existing or "").split(","):
        if entry.strip() and entry.strip() not in entries:
            entries.append(entry.strip())
    return ",".join(entries)


def run_claude(executable: str, args: Sequence[str], env: Mapping[str, str], close_stdin: bool) -> int:
    """Run Claude Code to completion and return its exit code (128+N when a signal N ended it).

    Ctrl-C in a terminal reaches Claude Code directly (same process group), so it is not forwarded again:
    Claude Code reads a second Ctrl-C as "exit". SIGINT from elsewhere, SIGTERM and SIGHUP are forwarded.
    """
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        if child is None or (signum == signal.SIGINT and _terminal_sent_sigint()):
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    forwarded = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        try:
            child = subprocess.Popen(
                [executable, *args], env=dict(env), stdin=subprocess.DEVNULL if close_stdin else None
            )
        except PermissionError:
            raise ServiceError(
                f"{executable} cannot be run (permission denied). Make it executable, "
                f"or point CLAUDE_PATH in the config at the claude executable. {INSTALL_HINT}",
                exit_code=126,
            ) from None
        except OSError as exc:
            raise ServiceError(f"{executable} cannot be run: {exc.strerror}. {INSTALL_HINT}", exit_code=127) from None
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _terminal_sent_sigint() -> bool:
    """Whether we are in the terminal's foreground process group (so Ctrl-C went to the child as well)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
