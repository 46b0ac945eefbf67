"""The `ccr` command: parse, call into `service` / `server`, print. Nothing else lives here.

Heavy modules (the server, aiohttp, uvicorn, tiktoken, even the config loader) are imported inside the commands
that need them, so that fast commands such as a statusline stay fast.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from ccrouter.config.model import Config
    from ccrouter.service.control import PidInfo


class Failure(Exception):
    """A failure `main` shows as `ccr: <message>` (never a traceback), exiting with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """service.ServiceError -> Failure (service is imported lazily, so is its error class)."""
    from ccrouter.service.control import ServiceError

    try:
        yield
    except ServiceError as exc:
        raise Failure(str(exc), exc.exit_code) from None


@dataclass
class Options:
    config_path: Path | None

    @property
    def home(self) -> Path:
        from ccrouter.config.model import default_home

        return default_home()

    def resolved_config_path(self) -> Path:
        from ccrouter.config.model import default_config_path

        return (self.config_path or default_config_path()).expanduser().resolve()

    def load(self) -> Config:
        from ccrouter.config.model import load_config
        from ccrouter.errors import ConfigError

        try:
            return load_config(self.resolved_config_path())
        except ConfigError as exc:
            raise Failure(str(exc), exit_code=2) from None


def _version() -> str:
    from ccrouter import __version__

    return __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $CCR_HOME/config.json; CCR_HOME defaults to ~/.claude-code-router).",
)
@click.version_option(_version(), "--version", prog_name="ccr", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """ccrouter: a local model router for Claude Code."""
    ctx.obj = Options(config_path)


# ---------------------------------------------------------------------------------------------------------------
# Service commands


def _ensure_started(options: Options, quiet: bool, owner: str | None = None) -> PidInfo:
    """Start the service unless it runs (`owner`: who the pid file says started it; default `ccr start`)."""
    from ccrouter.service import control as service

    config = options.load()
    host = service.client_host(config.host, config.apikey)
    with _reported():
        info, started = service.start(
            options.home, options.resolved_config_path(), host, config.port, owner=owner or service.OWNER_START
        )
    if started:
        if not quiet:
            click.echo(f"ccrouter started (pid {info.pid}) at {info.url}")
    else:
        if not quiet:
            click.echo(f"ccrouter is already running (pid {info.pid}) at {info.url}")
        _note_other_config(options, info)
    return info


def _note_other_config(options: Options, info: PidInfo) -> None:
    if info.config != str(options.resolved_config_path()):
        click.echo(
            f"ccr: note: the running service uses {info.config}, not {options.resolved_config_path()}; "
            "run `ccr restart` to switch.",
            err=True,
        )


def _run_foreground(options: Options) -> NoReturn:
    from ccrouter.service import control as service

    config = options.load()
    current = service.status(options.home)
    if current.info is not None:
        raise Failure(
            f"ccrouter is already running (pid {current.info.pid}) at {current.info.url}. "
            "Run `ccr stop` first to run it in the foreground."
        )
    from ccrouter.errors import ConfigError
    from ccrouter.gateway.server import serve

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: let that be a clean exit (with
    # the pid file removed) instead of death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    host = service.client_host(config.host, config.apikey)
    with service.foreground_pid_file(options.home, host, config.port, options.resolved_config_path()) as info:
        click.echo(f"ccrouter serving at {info.url} (pid {info.pid}); Ctrl-C to stop.")
        try:
            serve(config)
        except ConfigError as exc:
            raise Failure(str(exc), exit_code=2) from None
        except OSError as exc:
            raise Failure(
                f"cannot serve on {host}:{config.port}: {exc}. Set PORT in the config to a free port."
            ) from None
        except KeyboardInterrupt:
            sys.exit(130)
        except SystemExit as exc:
            # uvicorn exits (1, then 3) when it cannot bind; say who holds the port, where that can be found.
            from ccrouter.service.ports import port_holder

            if exc.code not in (None, 0) and port_holder(config.port) is not None:
                raise Failure(service.port_in_use_message(config.port)) from None
            raise
    sys.exit(0)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


@cli.command()
@click.option("--foreground", is_flag=True, help="Serve in this process instead of in the background.")
@click.pass_obj
def start(options: Options, foreground: bool) -> None:
    """Start the router service in the background (does nothing if it runs already)."""
    if foreground:
        _run_foreground(options)
    _ensure_started(options, quiet=False)


@cli.command()
@click.pass_obj
def stop(options: Options) -> None:
    """Stop the router service."""
    from ccrouter.service import control as service

    with _reported():
        before, killed = service.stop(options.home)
    if before.info is None:
        click.echo("ccrouter is not running" + (f"; {before.note}." if before.note else "."))
        return
    how = "killed (it did not stop on SIGTERM)" if killed else "stopped"
    click.echo(f"ccrouter {how} (pid {before.info.pid}).")
    from ccrouter.service import code_sessions

    sessions = len(code_sessions.live_sessions(options.home))
    if sessions:
        them = f"{sessions} `ccr code` sessions still use" if sessions > 1 else "a `ccr code` session still uses"
        click.echo(f"ccr: note: {them} it; they get connection errors until it runs again (`ccr start`).", err=True)


@cli.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop the router service, then start it again (e.g. after editing the config)."""
    from ccrouter.service import control as service

    options: Options = ctx.obj
    options.load()  # refuse before stopping a working service for a broken config
    before = service.status(options.home).info
    ctx.invoke(stop)
    # A service that `ccr code` started stays theirs: it still stops when the last session ends.
    _ensure_started(options, quiet=False, owner=before.owner if before is not None else None)


@cli.command()
@click.pass_obj
def status(options: Options) -> None:
    """Show whether the router service runs (exit 0) or not (exit 1): pid, URL, uptime, config, routing table."""
    from ccrouter.cli import status_view
    from ccrouter.service import control as service

    current = service.status(options.home)
    click.echo(status_view.describe(options.home, current, options.resolved_config_path()))
    if not current.running:
        sys.exit(1)


@cli.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they come (Ctrl-C to stop).")
@click.option(
    "-n", "--lines", "count", type=click.IntRange(min=0), default=50, show_default=True, help="How many to show."
)
@click.option("--session", default=None, metavar="ID", help="Only the requests of this session (its id or prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines instead of a table.")
@click.pass_obj
def logs(options: Options, follow: bool, count: int, session: str | None, as_json: bool) -> None:
    """Show recent requests (time, route, status, latency, time to first token, tokens) and service messages."""
    from ccrouter.cli import log_view

    directory = log_view.service_log_directory(options.config_path)
    sys.exit(log_view.main(directory, count, log_view.Selection(session, raw=as_json), follow))


# ---------------------------------------------------------------------------------------------------------------
# Claude Code


class _PassThroughCommand(click.Command):
    """Takes every argument after the command name verbatim, `--` included (click's parser would eat `--`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["args"] = tuple(args)
        ctx.args = []
        return []


@cli.command(
    cls=_PassThroughCommand,
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": [],  # `ccr code --help` is Claude Code's help
    },
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def code(options: Options, args: tuple[str, ...]) -> None:
    """Run Claude Code through the router (starting it if needed); every argument goes to Claude Code.

    A service this command starts stops again when the last `ccr code` session ends; one that `ccr start`
    started keeps running."""
    import os

    from ccrouter.service import claude_code, code_sessions
    from ccrouter.service import control as service

    config = options.load()
    home = options.home
    with _reported():
        executable = claude_code.find_claude(config.claude_path)
        host = service.client_host(config.host, config.apikey)
        info, _, session = service.start_code_session(home, options.resolved_config_path(), host, config.port)
    try:
        _note_other_config(options, info)
        env = claude_code.claude_env(
            os.environ,
            url=info.url,
            host=info.host,
            apikey=config.apikey,
            api_timeout_ms=config.api_timeout_ms,
            non_interactive=config.non_interactive_mode,
        )
        if config.status_line.get("enabled"):
            explicit_config = options.resolved_config_path() if options.config_path is not None else None
            setting = claude_code.status_line_setting(claude_code.ccr_invocation(), explicit_config)
            args = tuple(claude_code.with_settings(args, {"statusLine": setting}))
        with _reported():
            exit_code = claude_code.run_claude(
                executable,
                args,
                env,
                close_stdin=config.non_interactive_mode,
                on_start=lambda pid: code_sessions.set_claude(home, session, pid),
            )
    finally:
        # A late Ctrl-C (meant for Claude Code) must not cut the auto-stop short and leave a half-stopped service.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with contextlib.suppress(OSError):
                service.end_code_session(home)
        finally:
            signal.signal(signal.SIGINT, previous)
    sys.exit(exit_code)


@cli.command()
@click.pass_obj
def activate(options: Options) -> None:
    """Print `export` lines that route a plain `claude` through the router: eval "$(ccr activate)"."""
    import os

    from ccrouter.cli.activate import activate_lines

    config = options.load()
    click.echo("\n".join(activate_lines(config, os.environ)))
    if sys.stdout.isatty():
        click.echo('ccr: to apply these to this shell, run: eval "$(ccr activate)"', err=True)


@cli.command(name="env", hidden=True)
@click.pass_context
def env_command(ctx: click.Context) -> None:
    """CCR's other name for `activate`."""
    ctx.invoke(activate)


@cli.command()
@click.pass_obj
def statusline(options: Options) -> None:
    """Print one status line for Claude Code's statusLine setting (reads its JSON on stdin)."""
    from ccrouter.statusline.line import main as statusline_main

    config_path = str(options.config_path.expanduser()) if options.config_path else None
    sys.exit(statusline_main(config_path=config_path))


# ---------------------------------------------------------------------------------------------------------------
# The config file: ccr init, ccr config check, ccr model

_config_file_option = click.option(
    "--config",
    "local_config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (the same as `ccr --config PATH ...`).",
)


def _config_file(options: Options, local_config: Path | None) -> Path:
    return Options(local_config).resolved_config_path() if local_config else options.resolved_config_path()


def _warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"ccr: warning: {line}", err=True)


@cli.command("init")
@_config_file_option
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the starter config instead of writing it.")
@click.option("--no-ollama", is_flag=True, help="Do not look for a local Ollama.")
@click.pass_obj
def init_command(options: Options, local_config: Path | None, to_stdout: bool, no_ollama: bool) -> None:
    """Write a commented starter config from the provider keys in the environment and a local Ollama.

    Never overwrites an existing file."""
    import datetime
    import os

    from ccrouter.cli import config_report
    from ccrouter.config import starter as init_config
    from ccrouter.config.model import load_config, parse_config
    from ccrouter.errors import ConfigError

    path = _config_file(options, local_config)
    exists = (
        f"{path} already exists, and ccr init never overwrites a config. Check it with `ccr config check`, change "
        "a route with `ccr model`, or print a starter config with `ccr init --stdout`."
    )
    if not to_stdout and (path.exists() or path.is_symlink()):
        raise Failure(exists)
    probe = None if no_ollama else init_config.probe_ollama(init_config.ollama_base_url(os.environ))
    plan = init_config.make_plan(os.environ, probe)
    text = init_config.render(plan, datetime.date.today().isoformat())
    try:
        parse_config(text, os.environ, path)
    except ConfigError as exc:  # a bug here, never the user's doing
        raise Failure(f"the starter config would not load ({exc}); nothing was written.") from None
    if to_stdout:
        click.echo(text, nl=False)
        return
    try:
        init_config.write_new_file(path, text)
    except FileExistsError:
        raise Failure(exists) from None
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}.") from None
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise Failure(str(exc), exit_code=2) from None
    click.echo(f"Wrote {path}")
    click.echo(f"found: {init_config.found_summary(plan)}")
    click.echo("\n".join(config_report.provider_lines(config) + config_report.routing_table(config)))
    if not plan.providers:
        looked_for = ", ".join(str(entry.env) for entry in init_config.CATALOGUE)
        where = probe.base_url if probe else "(not probed)"
        _warn(
            [
                f"no provider key in the environment ({looked_for}) and no Ollama at {where}: the config is a "
                "template with no providers yet. Export a key and uncomment its provider in the file (then set "
                "Router.default), or delete the file and run `ccr init` again."
            ]
        )
    else:
        _warn(config_report.warnings(config))
    if probe is not None and probe.problem:
        _warn([f"Ollama at {probe.base_url} was not added: {probe.problem}."])
    click.echo("Next: `ccr code` runs Claude Code through the router; `ccr model` changes a route.")


@cli.group("config")
def config_group() -> None:
    """Inspect the config file."""


@config_group.command("check")
@_config_file_option
@click.pass_obj
def config_check(options: Options, local_config: Path | None) -> None:
    """Load and validate the config: print what it sets up (exit 0) or the first problem (exit 2)."""
    from ccrouter.cli import config_report
    from ccrouter.config.model import load_config
    from ccrouter.errors import ConfigError
    from ccrouter.gateway.custom_router import load_custom_router

    path = _config_file(options, local_config)
    try:
        config = load_config(path)
        if config.custom_router_path:
            load_custom_router(config.custom_router_path)  # the service loads it at start too
    except ConfigError as exc:
        raise Failure(str(exc), exit_code=2) from None
    click.echo(f"config OK: {path}")
    click.echo("\n".join(config_report.provider_lines(config) + config_report.routing_table(config)))
    if config.custom_router_path:
        click.echo(f"custom router: {config.custom_router_path}")
    _warn(config_report.warnings(config))


@cli.command("model")
@_config_file_option
@click.argument("route", required=False)
@click.argument("target", required=False, metavar="[PROVIDER,MODEL]")
@click.pass_obj
def model_command(options: Options, local_config: Path | None, route: str | None, target: str | None) -> None:
    """Show the routing table, or set one route: `ccr model think deepseek,deepseek-reasoner`.

    ROUTE is default, background, think, longContext, webSearch or image. The old file is kept as
    config.json.<time>.bak; a running service applies the change by itself."""
    import os

    from ccrouter.cli import config_report
    from ccrouter.config import route_edit as model_routes
    from ccrouter.errors import ConfigError

    path = _config_file(options, local_config)
    try:
        if target is None:
            config, _unset = model_routes.load_lenient(path, os.environ)
            if route is not None:
                key = model_routes.route_key(route)
                current = config.routes.get(key)
                click.echo(f"{key}: {current.label if current else '(not set: default)'}")
                return
            click.echo(f"config: {path}")
            click.echo("\n".join(config_report.routing_table(config)))
            click.echo("models a route can name:")
            click.echo("\n".join(config_report.targets_lines(config)) or "  (none: Providers is empty)")
            click.echo("Set one with `ccr model ROUTE PROVIDER,MODEL`.")
            return
        change = model_routes.set_route(path, route or "", target, os.environ)
    except ConfigError as exc:
        raise Failure(str(exc), exit_code=2) from None
    except model_routes.RouteError as exc:
        raise Failure(str(exc), exc.exit_code) from None
    if not change.changed:
        click.echo(f"{change.route} is already {change.new}; nothing changed.")
        return
    click.echo(f"{change.route}: {change.old or '(not set)'} -> {change.new}")
    click.echo(f"backup of the previous file: {change.backup}")
    if change.comments_lost:
        _warn(
            [
                f"could not edit the Router block of {path} in place, so it was rewritten as plain JSON: its "
                f"comments and formatting are gone (the backup {change.backup} keeps them)."
            ]
        )
    if change.unset_variables:
        names = ", ".join(f"${name}" for name in change.unset_variables)
        verb = "is" if len(change.unset_variables) == 1 else "are"
        click.echo(f"ccr: note: {names} {verb} not set in this shell (fine if set where the service runs).", err=True)
    _note_running_service(options, path)


def _note_running_service(options: Options, path: Path) -> None:
    from ccrouter.service import control as service

    try:
        info = service.read_pid_file(options.home)
    except (OSError, ValueError):
        return
    if info is None or not service.is_alive(info):
        return
    if info.config == str(path):
        click.echo(f"The running service (pid {info.pid}) applies it to new requests within a second.")
    else:
        click.echo(f"ccr: note: the running service uses {info.config}, not {path}.", err=True)


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"ccr {_version()}")


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="ccr")
    except Failure as exc:
        click.echo(f"ccr: {exc}", err=True)
        return exc.exit_code
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        click.echo(exc.code, err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
