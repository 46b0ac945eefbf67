"""`ccr statusline`: the line Claude Code shows under its prompt (its `statusLine` setting runs this command).

Claude Code sends its statusline JSON on stdin (`session_id`, `model`, `workspace`, `cost`, ...); this asks the
running service which scenario and which real `provider,model` served that session's latest request
(`GET /api/sessions/{id}`) and prints one line. When the service cannot say, it prints a short hint instead.

Claude Code runs this several times a second, so it has to finish well within 100 ms: only modules that json and
socket load anyway are imported (no click, no config loader, no json5 for a plain-JSON config, not even
`typing`; of ccrouter only the leaves `paths`, `config.light` and `service.client`), the service is asked over
a bare socket with a 0.3 s budget, and nothing here can raise past `main`: any failure still prints a line and
exits 0.
"""

from __future__ import annotations

import json
import os
import re
import sys

from ccrouter.config.light import read_config_dict
from ccrouter.paths import CONFIG_FILE, PID_FILE, home_dir
from ccrouter.service import client
from ccrouter.statusline import style

TYPE_CHECKING = False  # typing costs ~4 ms to import; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

TIMEOUT_S = 0.3
FALLBACK = "ccr: statusline unavailable"
HINT_DOWN = "router not running (ccr start)"
NO_REQUESTS = "no requests through ccr yet"
MAX_BUDGET_CHARS = 160  # a budget warning longer than this is cut (the line has one terminal row)
_VAR = r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)"  # as config.loading's; compiled when used
_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def main(
    config_path: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Print the statusline for the JSON on `stdin`; always exit 0 (Claude Code shows the first line printed)."""
    source = stdin or sys.stdin
    try:
        if source.isatty():  # run by hand: do not wait for input that will not come
            line = "ccr: statusline reads Claude Code's statusline JSON on stdin (its statusLine setting runs it)"
        else:
            line = statusline(source.read(), os.environ if environ is None else environ, config_path)
    except Exception:
        line = FALLBACK
    try:
        out = stdout or sys.stdout
        out.write(line + "\n")
        out.flush()
    except (OSError, ValueError):  # Claude Code stopped reading: nothing to tell anyone
        pass
    return 0


def statusline(raw: str, environ: Mapping[str, str], config_path: str | None = None) -> str:
    """The line for Claude Code's statusline JSON `raw`."""
    if not raw.strip():
        return "ccr: no statusline input (Claude Code sends a JSON object on stdin)"
    try:
        data = json.loads(raw)
    except ValueError:
        return "ccr: the statusline input is not JSON (Claude Code sends a JSON object on stdin)"
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        return f"ccr: the statusline input is {kind}, not a JSON object (Claude Code sends a JSON object on stdin)"
    home = home_dir(environ)
    service = read_service(home)
    # The config the running service uses (its APIKEY is the one to send), unless `ccr --config` names one.
    path = config_path or (service.config if service is not None and service.config else None)
    config = read_config_dict(path or os.path.join(home, CONFIG_FILE))
    variables, state = describe(data, service, config, environ)
    colors = environ.get("TERM") != "dumb" and not environ.get("NO_COLOR")
    simple_icons = environ.get("USE_SIMPLE_ICONS") == "true" or environ.get("TERM") in ("dumb", "unknown")
    return style.render(config.get("StatusLine"), variables, state, colors, simple_icons)


# ---------------------------------------------------------------------------------------------------------------
# Where the service is, and its APIKEY


class Service:
    """The running service, as its pid file records it. (Read here in a few lines: `service.pidfile`'s imports,
    dataclasses and pathlib, cost more than this command's budget.)"""

    __slots__ = ("config", "host", "pid", "port")

    def __init__(self, pid: int, host: str, port: int, config: str) -> None:
        self.pid, self.host, self.port, self.config = pid, host, port, config


def read_service(home: str) -> Service | None:
    """The pid file's service when its process is alive; None when there is none (or the file is unreadable)."""
    try:
        with open(os.path.join(home, PID_FILE), encoding="utf-8") as f:
            data = json.load(f)
        service = Service(int(data["pid"]), str(data["host"]), int(data["port"]), str(data.get("config") or ""))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    try:
        os.kill(service.pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # alive, but another user's
    return service


def api_key(config: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The config's APIKEY with `$VAR` / `${VAR}` replaced from the environment. When a variable is not set here,
    Claude Code's own ANTHROPIC_AUTH_TOKEN (which `ccr code` sets to the APIKEY) stands in."""
    value = config.get("APIKEY")
    if not isinstance(value, str) or not value:
        return None
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1) or match.group(2)
        if name not in environ:
            missing = True
            return match.group(0)
        return environ[name]

    resolved = re.sub(_VAR, replace, value) if "$" in value else value
    if missing:
        return environ.get("ANTHROPIC_AUTH_TOKEN") or resolved
    return resolved or None


# ---------------------------------------------------------------------------------------------------------------
# Asking the service


def _quote(segment: str) -> str:
    """Percent-encode one URL path segment (urllib.parse costs an import)."""
    return "".join(chr(b) if b in _PATH_SAFE else f"%{b:02X}" for b in segment.encode("utf-8"))


def ask_service(service: Service | None, session_id: str, apikey: str | None) -> tuple[dict[str, Any] | None, str]:
    """(the session's activity, "") when a request of the session went through the service; (None, "") when none
    has yet; (None, hint) when the service cannot say, the hint saying why."""
    if service is None:
        return None, HINT_DOWN
    try:
        path = "/api/sessions/" + _quote(session_id)
        status, body = client.get(service.host, service.port, path, timeout=TIMEOUT_S, apikey=apikey)
    except TimeoutError:
        return None, "router not answering (ccr status)"
    except OSError:
        return None, HINT_DOWN
    if status == 404:
        return None, ""
    if status in (401, 403):
        return None, "the router refused its APIKEY (check APIKEY in the config)"
    if status != 200:
        return None, f"the router answered HTTP {status}"
    try:
        activity = json.loads(body)
    except ValueError:
        activity = None
    return (activity, "") if isinstance(activity, dict) else (None, "the router sent an unreadable answer")


# ---------------------------------------------------------------------------------------------------------------
# What to show


def describe(
    data: Mapping[str, Any], service: Service | None, config: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, str], str]:
    """The template variables (CCR's names: workDirName, gitBranch, model, inputTokens, outputTokens; and
    ccrouter's: scenario, route, provider, modelName, totalInputTokens, totalOutputTokens, requests, cost, savings,
    budget, claudeModel, hint, notice, failure) and the state for `statusline_style.render`."""
    workspace, model_info = _dict(data.get("workspace")), _dict(data.get("model"))
    work_dir = _str(workspace.get("current_dir")) or _str(data.get("cwd"))
    claude_model = style.clean(_str(model_info.get("display_name")) or _str(model_info.get("id")))
    variables = {
        "workDirName": style.clean(os.path.basename(work_dir.rstrip("/")) if work_dir else ""),
        "gitBranch": style.clean(git_branch(work_dir)) if work_dir else "",
        "claudeModel": claude_model,
    }
    session_id = _str(data.get("session_id"))
    if session_id:
        activity, hint = ask_service(service, session_id, api_key(config, environ))
        notice = NO_REQUESTS
    else:
        activity, hint, notice = None, "", "no session id from Claude Code"
    if hint:
        variables.update(hint=hint, model=hint, route=hint)
        return variables, "hint"
    if activity is None:
        variables.update(notice=notice, model=claude_model, route=f"{claude_model}{style.PLAIN_JOIN}{notice}")
        return variables, "none"
    provider, model = style.clean(_str(activity.get("provider"))), style.clean(_str(activity.get("model")))
    scenario = style.clean(_str(activity.get("scenario"))) or "default"
    if activity.get("pinned") is True:  # the turn's earlier request chose the target
        scenario += " (pinned)"
    target = f"{provider},{model}"
    status = _int(activity.get("status"))
    variables.update(
        scenario=scenario,
        provider=provider,
        modelName=model,
        model=target,
        route=f"{scenario} → {target}",
        inputTokens=style.format_tokens(_int(activity.get("input_tokens"))),
        outputTokens=style.format_tokens(_int(activity.get("output_tokens"))),
        totalInputTokens=style.format_tokens(_int(activity.get("total_input_tokens"))),
        totalOutputTokens=style.format_tokens(_int(activity.get("total_output_tokens"))),
        requests=str(_int(activity.get("requests"))),
        # The session's real cost, once the service knows prices. Claude Code's own `cost.total_cost_usd` is
        # priced as if Anthropic had served every request, so it is never shown as ccrouter's.
        cost=_cost(activity.get("total_cost_usd")),
        savings=_cost(activity.get("total_savings_usd")),  # what the session's requests cost less than the baseline
        budget=style.clean(_str(activity.get("budget")))[:MAX_BUDGET_CHARS],  # a budget's warning, if any
        failure=f"failed (HTTP {status})" if status >= 400 and status != 499 else "",
    )
    return variables, "ok"


def git_branch(start: str) -> str:
    """The current branch of the git work tree holding `start` ("" outside one), read from `.git/HEAD` without
    running git; a detached HEAD shows as its short commit id. Follows `.git` files (worktrees, submodules)."""
    directory = os.path.abspath(start)
    for _ in range(64):
        dot_git = os.path.join(directory, ".git")
        head = _git_head(dot_git)
        if head is not None:
            if head.startswith("ref:"):
                return head[4:].strip().removeprefix("refs/heads/")
            return head[:7]
        parent = os.path.dirname(directory)
        if parent == directory:
            return ""
        directory = parent
    return ""


def _git_head(dot_git: str) -> str | None:
    """The first line of HEAD for a `.git` directory or `gitdir:` file; None when `dot_git` is neither."""
    try:
        if os.path.isdir(dot_git):
            git_dir = dot_git
        else:
            with open(dot_git, encoding="utf-8") as f:
                pointer = f.readline().strip()
            if not pointer.startswith("gitdir:"):
                return None
            git_dir = os.path.join(os.path.dirname(dot_git), pointer[7:].strip())
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as f:
            return f.readline().strip()
    except (OSError, ValueError):
        return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _cost(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return style.format_cost(float(value))
