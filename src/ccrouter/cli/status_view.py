"""`ccr status`: the text describing the service (running or not, pid, URL, uptime, who started it, config, log,
the last request) and the routing table of its config.

Imports the config loader only to build the routing table, and nothing of the server stack.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccrouter.cli import log_view
from ccrouter.service import code_sessions
from ccrouter.service.control import OWNER_CODE, Status, stderr_log_path
from ccrouter.service.ports import port_holder

if TYPE_CHECKING:
    from ccrouter.config.model import Config

_SCENARIO_KEYS = ("default", "background", "think", "longContext", "webSearch", "image")


def describe(home: Path, current: Status, config_path: Path) -> str:
    """The whole `ccr status` text. `config_path` is the config the user points at; a running service reports
    its own (they differ when it was started with another `--config`)."""
    info = current.info
    lines: list[str] = []
    if info is not None:
        if current.running:
            lines.append("ccrouter is running" + (" in the foreground" if info.foreground else ""))
        else:
            lines.append(
                f"ccrouter process {info.pid} is alive but {info.url}/health does not answer "
                f"(starting, or stuck). If it stays so, run `ccr stop` and `ccr start`; "
                f"see {stderr_log_path(home)}."
            )
        config_path = Path(info.config) if info.config else config_path
        lines.append(f"  pid:      {info.pid}{_owner_note(home, info.owner, info.foreground)}")
        lines.append(f"  url:      {info.url}")
        if info.started_at > 0:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.started_at))
            lines.append(f"  uptime:   {log_view.format_duration(time.time() - info.started_at)} (since {since})")
    else:
        note = f"; {current.note}" if current.note else ""
        lines.append(f"ccrouter is not running{note}. Start it with `ccr start` (or just run `ccr code`).")
    lines.append(f"  config:   {config_path}")
    log_dir = log_view.log_directory(config_path)
    if (log_dir / log_view.LOG_FILE_NAME).exists():
        lines.append(f"  log:      {log_dir / log_view.LOG_FILE_NAME}")
        last = log_view.last_request(log_dir)
        if last is not None:
            lines.append(f"  last request: {log_view.summary(last)}")
    loaded = _load(config_path)
    if info is None and loaded.config is not None:
        holder = port_holder(loaded.config.port)
        if holder is not None:
            lines.append(f"  note:     port {holder.port} is in use by {holder.describe()}")
    lines.extend(_routing(loaded))
    if info is not None and current.running:
        apikey = loaded.config.apikey if loaded.config is not None else None
        lines.extend(_cooldowns(info.url, apikey))
    return "\n".join(lines)


def _cooldowns(url: str, apikey: str | None) -> list[str]:
    """The targets the running service skips for now (GET /api/cooldowns)."""
    import json
    import urllib.request

    request = urllib.request.Request(url + "/api/cooldowns", headers={"x-api-key": apikey} if apikey else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            cooling = json.loads(response.read())["cooling"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["  cooling down: (the service did not say)"]
    if not cooling:
        return ["cooling down: none (every target is in use)"]
    lines = ["cooling down (skipped by every route while another target can serve):"]
    for state in cooling:
        lines.append(f"  {state['target']:<28} {state['seconds_left']:>6.0f} s left  after {state['reason'][:120]}")
    return lines


def _owner_note(home: Path, owner: str, foreground: bool) -> str:
    if foreground:
        return ""
    if owner != OWNER_CODE:
        return " (started by `ccr start`)"
    count = len(code_sessions.live_sessions(home))
    sessions = f"{count} session" + ("" if count == 1 else "s")
    return f" (started by `ccr code`; stops when its last session ends; {sessions} now)"


@dataclass(frozen=True)
class _Loaded:
    config: Config | None  # when it loads
    raw_router: Mapping[str, Any] | None = None  # else its Router section as written, if readable
    error: str | None = None


def _load(config_path: Path) -> _Loaded:
    from ccrouter.config.model import load_config
    from ccrouter.errors import ConfigError

    try:
        return _Loaded(load_config(config_path))
    except ConfigError as exc:
        return _Loaded(None, _raw_router(config_path), str(exc))


def _raw_router(config_path: Path) -> Mapping[str, Any] | None:
    try:
        import json5

        data = json5.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    router = data.get("Router") if isinstance(data, dict) else None
    return router if isinstance(router, dict) else None


def _routing(loaded: _Loaded) -> list[str]:
    config = loaded.config
    if config is None:
        lines = [f"  (the config does not load: {loaded.error})"]
        raw = loaded.raw_router or {}
        written = [f"  {key:<12} {raw[key]}" for key in _SCENARIO_KEYS if isinstance(raw.get(key), str)]
        if written:
            lines.append("routing (as written, not validated):")
            lines.extend(written)
        return lines
    lines = ["routing:"]
    for scenario in _SCENARIO_KEYS:
        target = config.routes.get(scenario)
        fallbacks = config.fallback.get(scenario, ())
        if target is None and not fallbacks:
            continue
        text = target.label if target is not None else "(not set: default)"
        if scenario == "longContext":
            text += f" (above {config.long_context_threshold:,} tokens)"
        if fallbacks:
            text += "; fallback " + ", ".join(t.label for t in fallbacks)
        lines.append(f"  {scenario:<12} {text}")
    if "default" not in config.routes:
        lines.append("  (no Router.default: requests that fit no other rule fail)")
    if config.custom_router_path:
        lines.append(f"  custom router: {config.custom_router_path} (asked first)")
    return lines
