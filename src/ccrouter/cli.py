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
    from ccrouter.config import Config
    from ccrouter.service import PidInfo


class Failure(Exception):
    """A failure `main` shows as `ccr: <message>` (never a traceback), exiting with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """service.ServiceError -> Failure (service is imported lazily, so is its error class)."""
    from ccrouter.service import ServiceError

    try:
        yield
    except ServiceError as exc:
        raise Failure(str(exc), exc.exit_code) from None


@dataclass
class Options:
    config_path: Path | None

    @property
    def home(self) -> Path:
        from ccrouter.config import default_home

        return default_home()

    def resolved_config_path(self) -> Path:
        from ccrouter.config import default_config_path

        return (self.config_path or default_config_path()).expanduser().resolve()

    def load(self) -> Config:
        from ccrouter.config import load_config
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


def _ensure_started(options: Options, quiet: bool) -> PidInfo:
    from ccrouter import service

    config = options.load()
    host = service.client_host(config.host, config.apikey)
    with _reported():
        info, started = service.start(options.home, options.resolved_config_path(), host, config.port)
    if started:
        if not quiet:
            click.echo(f"ccrouter started (pid {info.pid}) at {info.url}")
    else:
        if not quiet:
            click.echo(f"ccrouter is already running (pid {info.pid}) at {info.url}")
        if info.config != str(options.resolved_config_path()):
            click.echo(
                f"ccr: note: the running service uses {info.config}, not {options.resolved_config_path()}; "
                "run `ccr restart` to switch.",
                err=True,
            )
    return info


def _run_foreground(options: Options) -> NoReturn:
    from ccrouter import service

    config = options.load()
    current = service.status(options.home)
    if current.info is not None:
        raise Failure(
            f"ccrouter is already running (pid {current.info.pid}) at {current.info.url}. "
            "Run `ccr stop` first to run it in the foreground."
        )
    from ccrouter.errors import ConfigError
    from ccrouter.server import serve

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
    from ccrouter import service

    with _reported():
        before, killed = service.stop(options.home)
    if before.info is None:
        click.echo("ccrouter is not running" + (f"; {before.note}." if before.note else "."))
        return
    how = "killed (it did not stop on SIGTERM)" if killed else "stopped"
    click.echo(f"ccrouter {how} (pid {before.info.pid}).")


@cli.command()
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop the router service, then start it again (e.g. after editing the config)."""
    options: Options = ctx.obj
    options.load()  # refuse before stopping a working service for a broken config
    ctx.invoke(stop)
    _ensure_started(options, quiet=False)


@cli.command()
@click.pass_obj
def status(options: Options) -> None:
    """Show whether the router service runs (exit 0) or not (exit 1)."""
    from ccrouter import service

    current = service.status(options.home)
    info = current.info
    if current.running and info is not None:
        mode = " in the foreground" if info.foreground else ""
        click.echo(f"ccrouter is running{mode}\n  pid:    {info.pid}\n  url:    {info.url}\n  config: {info.config}")
        return
    if current.state == "unresponsive" and info is not None:
        click.echo(
            f"ccrouter process {info.pid} is alive but {info.url}/health does not answer "
            f"(starting, or stuck). If it stays so, run `ccr stop` and `ccr start`; "
            f"see {service.stderr_log_path(options.home)}."
        )
        sys.exit(1)
    note = f"; {current.note}" if current.note else ""
    click.echo(f"ccrouter is not running{note}. Start it with `ccr start` (or just run `ccr code`).")
    sys.exit(1)


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
    """Run Claude Code through the router (starting it if needed); every argument goes to Claude Code."""
    import os

    from ccrouter import claude_code

    config = options.load()
    with _reported():
        executable = claude_code.find_claude(config.claude_path)
    info = _ensure_started(options, quiet=True)
    env = claude_code.claude_env(
        os.environ,
        url=info.url,
        host=info.host,
        apikey=config.apikey,
        api_timeout_ms=config.api_timeout_ms,
        non_interactive=config.non_interactive_mode,
    )
    with _reported():
        exit_code = claude_code.run_claude(executable, args, env, close_stdin=config.non_interactive_mode)
    sys.exit(exit_code)


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
