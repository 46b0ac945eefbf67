"""Run the router in the foreground: load the config, build the app, serve it with uvicorn.

`python -m ccrouter.gateway.server [--config PATH] [--host H] [--port N]`; `ccr start` runs this in the background.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ccrouter.config.loading import load_config
from ccrouter.config.model import Config
from ccrouter.config.state_section import StateSettings
from ccrouter.dashboard.api import DashboardApi
from ccrouter.dashboard.live import LiveFeed
from ccrouter.dashboard.mount import DASHBOARD_PREFIXES, Dashboard
from ccrouter.dashboard.shared_feed import SharedFeed
from ccrouter.errors import ConfigError
from ccrouter.gateway.accounting import Ledger
from ccrouter.gateway.app import App
from ccrouter.gateway.auth import bind_host
from ccrouter.gateway.connections import ConnectionGauge, connection_capacity, guarded_protocol, raise_fd_limit
from ccrouter.gateway.in_flight import ABORT_S, DRAIN_S
from ccrouter.gateway.journey import Gateway
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.metrics import Metrics
from ccrouter.gateway.redis_budgets import SharedBudgets
from ccrouter.gateway.redis_cooldowns import SharedCooldowns
from ccrouter.gateway.redis_limits import RedisRateLimiter
from ccrouter.gateway.reload import ConfigWatcher
from ccrouter.gateway.runtime import Runtime, secrets_of
from ccrouter.gateway.shared_state import SharedState
from ccrouter.gateway.shutdown import run_server
from ccrouter.gateway.upstream import Upstream
from ccrouter.gateway.user_metrics import UserMetrics
from ccrouter.gateway.workers import supervise
from ccrouter.paths import LOG_DIR


def build_app(
    config: Config, ping_interval_s: float | None = None, *, tune_gc: bool = True, gauge: ConnectionGauge | None = None
) -> App:
    """The whole service for `config`: gateway, network client, log and config watcher (started by its lifespan).
    `ping_interval_s` overrides the config's PING_INTERVAL_MS; `tune_gc` tunes the garbage collector for a process
    that serves nothing else; `gauge` counts the open connections for `ccr status`."""
    if ping_interval_s is None:
        ping_interval_s = config.ping_interval_ms / 1000
    log = Logger(
        config.home / LOG_DIR if config.log else None, config.log_level, Redactor(secrets_of(config)), echo=sys.stderr
    )
    runtime = Runtime(config, Ledger(config, log))
    upstream = Upstream()
    gateway = Gateway(runtime, upstream, log, ping_interval_s=ping_interval_s)
    gateway.sinks.append(metrics_of(gateway))
    app = App(gateway, upstream, log, ConfigWatcher(gateway, log), tune_gc=tune_gc, gauge=gauge)
    if config.state is not None:
        share_state(app, config.state)
    if config.dashboard:
        mount_dashboard(app)
    return app


def share_state(app: App, settings: StateSettings) -> None:
    """STATE_URL: cool-downs, users' rate limits and budgets' spend kept in Redis with the other routers' (read at
    start only: a change needs a restart)."""
    state = SharedState(settings, app.log)
    gateway = app.gateway
    gateway.cooldowns = gateway.dispatcher.cooldowns = SharedCooldowns(state)
    gateway.rate_limiter = RedisRateLimiter(state)
    gateway.shared_budgets = SharedBudgets(state, lambda: gateway.runtime.accounts.all_books())
    app.shared = state


def mount_dashboard(app: App) -> None:
    """`ccr ui`'s pages and API, and its live feed: a record sink and a log tap (a deque append each), shared with
    the other routers in the background with STATE_URL."""
    gateway = app.gateway
    feed = LiveFeed(lambda: gateway.runtime.redact)
    gateway.sinks.append(feed)
    app.log.taps.append(feed.tap)
    if app.shared is not None:
        SharedFeed(feed, app.shared)
    config = gateway.runtime.config
    dashboard = Dashboard(app, DashboardApi(app, feed), config.home if config.path is not None else None)
    app.mount(DASHBOARD_PREFIXES, dashboard)


def metrics_of(gateway: Gateway) -> Metrics:
    """`GET /metrics`: a record sink of the gateway's, with its cool-downs and budgets read at each scrape. The
    per-user series' sink (team mode) is added to the gateway here, its series in the same registry."""

    def cooling() -> list[tuple[str, str]]:
        pairs = (c.target.partition(",") for c in gateway.cooldowns.all_cooling(time.monotonic()))
        return [(provider, model) for provider, _, model in pairs]

    metrics = Metrics(cooling, lambda: gateway.runtime.accounts.budget_status())
    gateway.sinks.append(UserMetrics(metrics.registry))
    return metrics


# How uvicorn serves the app, for a single process and for each of WORKERS (gateway/workers.py) alike.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "lifespan": "on",
    "access_log": False,
    # uvicorn's own lines are per-connection noise a client controls (a web page can open a WebSocket to
    # 127.0.0.1 at will): only its errors reach service-stderr.log. No WebSocket support at all: the router
    # serves none, and an upgrade request is then answered as plain HTTP.
    "log_level": "error",
    "ws": "none",
    "server_header": False,
    "date_header": False,
    "proxy_headers": False,  # no proxy in front of a local router: skip uvicorn's per-request middleware
    # The stop's deadline for connections (in_flight.py): the app ends its requests after DRAIN_S; past this,
    # uvicorn stops waiting for what still holds a connection and lets the app close.
    "timeout_graceful_shutdown": DRAIN_S + ABORT_S,
}


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    if config.workers > 1:  # a supervisor forking the workers, all on one socket
        supervise(
            config, host, port, lambda worker_config, gauge: build_app(worker_config, gauge=gauge), UVICORN_OPTIONS
        )
        return

    import uvicorn

    listen_host, warning = bind_host(host or config.host, config.apikey)
    fd_limit = raise_fd_limit()
    gauge = ConnectionGauge(capacity=connection_capacity(config.limits, fd_limit))
    app = build_app(config, gauge=gauge)
    if warning:
        app.log.warn(warning)
    app.log.info(
        "starting",
        host=listen_host,
        port=port or config.port,
        config=str(config.path),
        max_connections=gauge.capacity,
        open_files_limit=fd_limit,
    )
    settings = uvicorn.Config(
        app, host=listen_host, port=port or config.port, http=guarded_protocol(config.limits, gauge), **UVICORN_OPTIONS
    )
    run_server(settings, app)  # stops within in_flight.STOP_BOUND_S of SIGTERM


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccrouter.gateway.server", description="Run ccrouter in the foreground.")
    parser.add_argument("--config", type=Path, default=None, help="config file (default $CCR_HOME/config.json)")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        serve(config, args.host, args.port)
    except ConfigError as exc:
        print(f"ccrouter: config error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ccrouter: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
