"""Running Claude Code through the service: finding the executable, its environment (REFERENCE §6), and
running it with signals forwarded and its exit code passed through.

Only the standard library is imported here: `ccr code` must start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ccrouter.errors import ServiceError

# Claude Code's current releases need Node 22 or newer; on Node 20 an unpinned install picks an old release.
INSTALL_COMMAND = "npm install -g @anthropic-ai/claude-code"
PINNED_INSTALL_COMMAND = f"{INSTALL_COMMAND}@2.1.332"
INSTALL_HINT = (
    f"Install it with `{INSTALL_COMMAND}` (Claude Code needs Node 22 or newer; on Node 20 pin a version: "
    f"`{PINNED_INSTALL_COMMAND}`), or set CLAUDE_PATH (in the config, or in the environment) to the claude "
    "executable."
)


def find_claude(configured: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The Claude Code executable: CLAUDE_PATH from the config if set, else the CLAUDE_PATH environment variable
    (as CCR reads them), else `claude` on PATH."""
    where = "in the config"
    if not configured and environ.get("CLAUDE_PATH"):
        configured, where = environ["CLAUDE_PATH"], "in the environment"
    if configured:
        if os.sep in configured or configured.startswith("~"):
            path = Path(configured).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
            problem = "is not executable" if path.is_file() else "does not exist"
            raise ServiceError(
                f"CLAUDE_PATH {where} is {configured!r}, which {problem}. Fix CLAUDE_PATH {where}, "
                f"or remove it to use `claude` from PATH. {INSTALL_HINT}",
                exit_code=127,
            )
        found = shutil.which(configured)
        if found:
            return found
        raise ServiceError(
            f"CLAUDE_PATH {where} is {configured!r}, which is not on PATH. {INSTALL_HINT}", exit_code=127
        )
    found = shutil.which("claude")
    if found:
        return found
    raise ServiceError(f"Claude Code (`claude`) is not on PATH. {INSTALL_HINT}", exit_code=127)


# What Claude Code tells a gateway when asked: each request's class, agent type and prompt id in hint headers (the
# router routes by them), and GET /v1/models at start (so `/model` offers the router's routes and models). No model
# variable (ANTHROPIC_DEFAULT_HAIKU_MODEL, ...) is set: with the hint headers the router knows a chore without
# Claude Code naming a haiku model, and a renamed model would only hide which one Claude Code meant.
GATEWAY_FEATURES = {"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1", "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}


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
    for name, value in GATEWAY_FEATURES.items():  # the user's own setting wins
        env.setdefault(name, value)
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


def ccr_invocation() -> list[str]:
    """How to run this very `ccr` from another process (Claude Code's statusLine command): the `ccr` script that
    is running, else the one installed beside this Python, else `python -m ccrouter.cli.main`."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name.startswith("ccr") and argv0.suffix != ".py" and argv0.is_file():
        return [os.path.abspath(argv0)]
    beside = Path(sys.executable).with_name("ccr")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-m", "ccrouter.cli.main"]


def status_line_setting(ccr: Sequence[str], config_path: Path | None = None) -> dict[str, Any]:
    """The `statusLine` entry for Claude Code's settings, shaped as CCR's: `<ccr> statusline`, no padding.
    `config_path` is passed on when the user chose one with `ccr --config`."""
    command = [*ccr, *(["--config", str(config_path)] if config_path is not None else []), "statusline"]
    return {"type": "command", "command": shlex.join(command), "padding": 0}


def with_settings(args: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
    """Claude Code's arguments with `settings` (e.g. the statusLine) added through `--settings <json>`.

    The option goes first: after the user's arguments it would land behind a `--` or a subcommand
    (`claude mcp list --settings ...` is an error). When the user passes `--settings` already (before any `--`),
    Claude Code would take only one of the two: an inline JSON object of theirs gets our keys that it does not
    set itself; a settings file of theirs is left alone and ours is not added.
    """
    if not settings:
        return list(args)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--settings" and index + 1 < len(args):
            merged = _merged_settings(args[index + 1], settings)
            if merged is None:
                return list(args)
            return [*args[: index + 1], merged, *args[index + 2 :]]
        if arg.startswith("--settings="):
            merged = _merged_settings(arg.removeprefix("--settings="), settings)
            if merged is None:
                return list(args)
            return [*args[:index], f"--settings={merged}", *args[index + 1 :]]
    return ["--settings", json.dumps(dict(settings), separators=(",", ":")), *args]


def _merged_settings(theirs: str, ours: Mapping[str, Any]) -> str | None:
    """The user's inline JSON settings with our keys added where theirs has none; None when it is not inline JSON
    (a file path) or already sets every key of ours."""
    if not theirs.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(theirs)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    missing = {key: value for key, value in ours.items() if key not in data}
    if not missing:
        return None
    return json.dumps({**data, **missing}, separators=(",", ":"))


def run_claude(
    executable: str,
    args: Sequence[str],
    env: Mapping[str, str],
    close_stdin: bool,
    on_start: Callable[[int], object] | None = None,
) -> int:
    """Run Claude Code to completion and return its exit code (128+N when a signal N ended it). `on_start` gets
    its pid as soon as it runs.

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
                f"{executable} cannot be run (permission denied). Make it executable. {INSTALL_HINT}",
                exit_code=126,
            ) from None
        except OSError as exc:
            raise ServiceError(f"{executable} cannot be run: {exc.strerror}. {INSTALL_HINT}", exit_code=127) from None
        if on_start is not None:
            with contextlib.suppress(OSError):
                on_start(child.pid)
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
