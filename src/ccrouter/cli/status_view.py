"""`ccr status`: the text describing the service (running or not, pid, URL, uptime, who started it, config, log,
the last request, the targets cooling down, the budgets and their spend) and the routing table of its config.

Imports the config loader only to build the routing table, and nothing of the server stack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccrouter.cli.log_files import last_request, log_directory
from ccrouter.cli.log_table import format_duration, summary
from ccrouter.config.light import read_config_dict
from ccrouter.config.scenarios import ROUTE_SCENARIOS, Scenario
from ccrouter.paths import LOG_FILE
from ccrouter.service import client, code_sessions
from ccrouter.service.control import Status, stderr_log_path, worker_pids
from ccrouter.service.pidfile import OWNER_CODE, PidInfo
from ccrouter.service.ports import port_holder
from ccrouter.untrusted import printable

if TYPE_CHECKING:
    from ccrouter.config.model import Config


def describe(home: Path, current: Status, config_path: Path) -> str:
    """The whole `ccr status` text. `config_path` is the config the user points at; a running service reports
    its own (they differ when it was started with another `--config`). Text from outside (the log, the service's
    cool-down reasons, another process's command line) is shown with its control characters made visible."""
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
            lines.append(f"  uptime:   {format_duration(time.time() - info.started_at)} (since {since})")
        workers = worker_pids(info.pid)
        if workers:
            pids = ", ".join(str(pid) for pid in workers)
            lines.append(f"  workers:  {len(workers)} (pids {pids}); what follows is the view of one of them")
        if current.running:
            lines.extend(_connections(info))
    else:
        note = f"; {current.note}" if current.note else ""
        lines.append(f"ccrouter is not running{note}. Start it with `ccr start` (or just run `ccr code`).")
    lines.append(f"  config:   {config_path}")
    log_dir = log_directory(config_path)
    if (log_dir / LOG_FILE).exists():
        lines.append(f"  log:      {log_dir / LOG_FILE}")
        last = last_request(log_dir)
        if last is not None:
            lines.append(f"  last request: {summary(last)}")
    loaded = _load(config_path)
    if info is None and loaded.config is not None:
        holder = port_holder(loaded.config.port)
        if holder is not None:
            lines.append(f"  note:     port {holder.port} is in use by {holder.describe()}")
    lines.extend(_routing(loaded))
    if info is not None and current.running:
        apikey = loaded.config.apikey if loaded.config is not None else None
        lines.extend(_cooldowns(info, apikey))
        configured = loaded.config is not None and bool(loaded.config.raw.get("Budgets"))
        lines.extend(_budgets(info, apikey, configured))
    return "\n".join(printable(line) for line in lines)  # log lines, provider errors: no escape sequences


def _connections(info: PidInfo) -> list[str]:
    """How many client connections the service holds of the most it can (GET /health; LIMITS.max_connections)."""
    try:
        status, body = client.get(info.host, info.port, "/health", timeout=2)
        if status != 200:
            return []
        held = json.loads(body)["connections"]
        line = f"  connections: {int(held['open'])} open of at most {int(held['max']):,}"
    except (OSError, ValueError, KeyError, TypeError):
        return []  # an older service, or a busy one: nothing to add
    return [line + " (LIMITS.max_connections)"]


def _cooldowns(info: PidInfo, apikey: str | None) -> list[str]:
    """The targets the running service skips for now (GET /api/cooldowns)."""
    try:
        status, body = client.get(info.host, info.port, "/api/cooldowns", timeout=2, apikey=apikey)
        if status != 200:
            raise OSError(f"HTTP {status}")
        cooling = json.loads(body)["cooling"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["  cooling down: (the service did not say)"]
    if not cooling:
        return ["cooling down: none (every target is in use)"]
    lines = ["cooling down (skipped by every route while another target can serve):"]
    for state in cooling:
        lines.append(f"  {state['target']:<28} {state['seconds_left']:>6.0f} s left  after {state['reason'][:120]}")
    return lines


def _budgets(info: PidInfo, apikey: str | None, configured: bool) -> list[str]:
    """The budgets and their spend this period (GET /api/budgets); nothing when there are none. `configured`: the
    config names budgets, so a service that cannot say is worth a line."""
    try:
        status, body = client.get(info.host, info.port, "/api/budgets", timeout=2, apikey=apikey)
        if status != 200:
            raise OSError(f"HTTP {status}")
        budgets = json.loads(body)["budgets"]
        lines = [budget_line(budget, time.time()) for budget in budgets]
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return ["  budgets: (the service did not say)"] if configured else []
    if not lines:
        return []
    return ["budgets (spend this period; at the cap, requests go to the budget's `then` or get HTTP 429):", *lines]


def budget_line(budget: Mapping[str, Any], now: float) -> str:
    """One budget of GET /api/budgets (`BudgetStatus.as_dict()`): name, spend of cap, share, reset, scope, state."""
    spent, cap = float(budget["spent_usd"]), float(budget["usd"])
    share = spent / cap if cap > 0 else 1.0
    resets_at = float(budget["resets_at"])
    reset_format = "%H:%M" if resets_at - now < 86_400 else "%Y-%m-%d %H:%M"
    resets = time.strftime(reset_format, time.localtime(resets_at))
    state = _BUDGET_STATES.get(str(budget["state"]), "")
    return (
        f"  {budget['name']!s:<12} {_usd(spent)} of {_usd(cap)} this {budget['period']} "
        f"({share:.0%}, resets {resets}), scope {budget['scope']}{state}"
    )


_BUDGET_STATES = {"warn": "  WARN: near its cap", "over": "  OVER: spent until it resets"}


def _usd(amount: float) -> str:
    """Dollars as `ccr usage` writes them: four decimals below 10 cents, cents from there."""
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4f}"


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
    from ccrouter.config.loading import load_config
    from ccrouter.errors import ConfigError

    try:
        return _Loaded(load_config(config_path, run_user_code=False))  # never the user's Python
    except ConfigError as exc:
        return _Loaded(None, _raw_router(config_path), str(exc))


def _raw_router(config_path: Path) -> Mapping[str, Any] | None:
    router = read_config_dict(config_path).get("Router")
    return router if isinstance(router, dict) else None


def _routing(loaded: _Loaded) -> list[str]:
    config = loaded.config
    if config is None:
        lines = [f"  (the config does not load: {loaded.error})"]
        raw = loaded.raw_router or {}
        written = [f"  {key:<12} {raw[key]}" for key in ROUTE_SCENARIOS if isinstance(raw.get(key), str)]
        if written:
            lines.append("routing (as written, not validated):")
            lines.extend(written)
        return lines
    lines = ["routing:"]
    for scenario in ROUTE_SCENARIOS:
        target = config.routes.get(scenario)
        fallbacks = config.fallback.get(scenario, ())
        if target is None and not fallbacks:
            continue
        text = target.label if target is not None else "(not set: default)"
        if scenario == Scenario.LONG_CONTEXT:
            text += f" (above {config.long_context_threshold:,} tokens)"
        if fallbacks:
            text += "; fallback " + ", ".join(t.label for t in fallbacks)
        lines.append(f"  {scenario:<12} {text}")
    if Scenario.DEFAULT not in config.routes:
        lines.append("  (no Router.default: requests that fit no other rule fail)")
    if config.custom_router_path:
        lines.append(f"  custom router: {config.custom_router_path} (asked first)")
    return lines
