"""`ccr start`, `ccr stop`, `ccr restart` and `ccr status`: the background service, through `service.control`.

`ccr start --foreground` serves in this very process, so it is the one command here that imports the server. It
says "serving" only once the service answers, and a port that is taken gets one friendly message, before uvicorn
starts.
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import threading
from types import FrameType
from typing import NoReturn

import click

from ccrouter.cli.options import Options
from ccrouter.errors import ServiceError
from ccrouter.service import code_sessions, control
from ccrouter.service.client import client_host, health_ok
from ccrouter.service.pidfile import OWNER_START, PidInfo, foreground_pid_file


def ensure_started(options: Options, quiet: bool, owner: str = OWNER_START) -> PidInfo:
    """Start the service unless it runs (`owner`: who the pid file says started it)."""
    config = options.load()
    host = client_host(config.host, config.apikey)
    info, started = control.start(options.home, options.resolved_config_path(), host, config.port, owner=owner)
    if started:
        if not quiet:
            click.echo(f"ccrouter started (pid {info.pid}) at {info.url}")
    else:
        if not quiet:
            click.echo(f"ccrouter is already running (pid {info.pid}) at {info.url}")
        note_other_config(options, info)
    return info


def note_other_config(options: Options, info: PidInfo) -> None:
    """Tell the user when the running service uses another config than the one they point at."""
    if info.config != str(options.resolved_config_path()):
        click.echo(
            f"ccr: note: the running service uses {info.config}, not {options.resolved_config_path()}; "
            "run `ccr restart` to switch.",
            err=True,
        )


def _run_foreground(options: Options) -> NoReturn:
    config = options.load()
    current = control.status(options.home)
    if current.info is not None:
        raise ServiceError(
            f"ccrouter is already running (pid {current.info.pid}) at {current.info.url}. "
            "Run `ccr stop` first to run it in the foreground."
        )
    warning = control.note_exposed_keys(options.resolved_config_path())
    if warning is not None:
        click.echo(f"ccr: warning: {warning}", err=True)
    from ccrouter.gateway.auth import bind_host
    from ccrouter.gateway.server import serve

    _check_can_listen(bind_host(config.host, config.apikey)[0], config.port)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: let that be a clean exit (with
    # the pid file removed) instead of death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    host = client_host(config.host, config.apikey)
    with foreground_pid_file(options.home, host, config.port, options.resolved_config_path()) as info:
        announcer = _announce_when_listening(info)
        try:
            serve(config)
        except OSError as exc:
            raise ServiceError(
                f"cannot serve on {host}:{config.port}: {exc}. Set PORT in the config to a free port."
            ) from None
        except KeyboardInterrupt:
            sys.exit(130)
        except SystemExit as exc:
            # uvicorn exits (1, then 3) when it cannot bind; say who holds the port, where that can be found.
            from ccrouter.service.ports import port_holder

            if exc.code not in (None, 0) and port_holder(config.port) is not None:
                raise ServiceError(control.port_in_use_message(config.port)) from None
            raise
        finally:
            announcer.set()
    sys.exit(0)


def _check_can_listen(host: str, port: int) -> None:
    """Fail with the friendly message before uvicorn starts (and prints its own raw `[Errno 98]` line) when the
    address cannot be bound. A bind as uvicorn's (SO_REUSEADDR), closed at once: the port stays free for it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServiceError(control.port_in_use_message(port)) from None
            raise ServiceError(
                f"ccrouter could not start: cannot listen on {host}:{port}: {exc.strerror or exc}. "
                "Check HOST and PORT in the config."
            ) from None


def _announce_when_listening(info: PidInfo) -> threading.Event:
    """Say "serving" once /health answers (never for a start that fails); set the returned event to give up."""
    done = threading.Event()

    def wait_and_announce() -> None:
        while not done.is_set():
            if health_ok(info.host, info.port, timeout=0.5):
                if not done.is_set():
                    click.echo(f"ccrouter serving at {info.url} (pid {info.pid}); Ctrl-C to stop.")
                return
            done.wait(0.05)

    threading.Thread(target=wait_and_announce, name="ccr-announce", daemon=True).start()
    return done


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


@click.command()
@click.option("--foreground", is_flag=True, help="Serve in this process instead of in the background.")
@click.pass_obj
def start(options: Options, foreground: bool) -> None:
    """Start the router service in the background (does nothing if it runs already)."""
    if foreground:
        _run_foreground(options)
    ensure_started(options, quiet=False)


@click.command()
@click.pass_obj
def stop(options: Options) -> None:
    """Stop the router service."""
    before, killed = control.stop(options.home)
    if before.info is None:
        click.echo("ccrouter is not running" + (f"; {before.note}." if before.note else "."))
        return
    how = "killed (it did not stop on SIGTERM)" if killed else "stopped"
    click.echo(f"ccrouter {how} (pid {before.info.pid}).")
    sessions = len(code_sessions.live_sessions(options.home))
    if sessions:
        them = f"{sessions} `ccr code` sessions still use" if sessions > 1 else "a `ccr code` session still uses"
        click.echo(f"ccr: note: {them} it; they get connection errors until it runs again (`ccr start`).", err=True)


@click.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop the router service, then start it again (e.g. after editing the config)."""
    options: Options = ctx.obj
    options.load()  # refuse before stopping a working service for a broken config
    before = control.status(options.home).info
    ctx.invoke(stop)
    # A service that `ccr code` started stays theirs: it still stops when the last session ends.
    ensure_started(options, quiet=False, owner=before.owner if before is not None else OWNER_START)


@click.command()
@click.pass_obj
def status(options: Options) -> None:
    """Show whether the router service runs (exit 0) or not (exit 1): pid, URL, uptime, config, routing table."""
    from ccrouter.cli import status_view

    current = control.status(options.home)
    click.echo(status_view.describe(options.home, current, options.resolved_config_path()))
    if not current.running:
        sys.exit(1)
