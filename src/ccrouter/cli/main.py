"""The `ccr` command: the click group, where each command lives, and the one place that turns a
`ccrouter.errors.CcrouterError` into `ccr: <message>` and its exit code.

The commands live one module per group of them (`service_commands`, `code_command`, `logs_command`,
`usage_command`, `config_commands`, `activate`); they parse and print, the work is in `service`, `config`, `ledger`
and `gateway`. A command's module is imported only when it runs, and the server stack and the config loader only
inside the commands that need them, so that `ccr stop`, `ccr logs` or `ccr status` start fast (`ccr statusline`
does not even come here: see `ccrouter.entry`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ccrouter import __version__
from ccrouter.cli.options import Options
from ccrouter.errors import CcrouterError

# command name -> "module:attribute" of its click command; a module is imported only when one of its commands runs
# (or `ccr --help` lists them all).
COMMANDS = {
    "start": "ccrouter.cli.service_commands:start",
    "stop": "ccrouter.cli.service_commands:stop",
    "restart": "ccrouter.cli.service_commands:restart",
    "status": "ccrouter.cli.service_commands:status",
    "logs": "ccrouter.cli.logs_command:logs",
    "usage": "ccrouter.cli.usage_command:usage",
    "ui": "ccrouter.cli.ui_command:ui",
    "code": "ccrouter.cli.code_command:code",
    "activate": "ccrouter.cli.activate:activate",
    "env": "ccrouter.cli.activate:env_command",
    "init": "ccrouter.cli.config_commands:init_command",
    "config": "ccrouter.cli.config_commands:config_group",
    "model": "ccrouter.cli.config_commands:model_command",
    "user": "ccrouter.cli.user_commands:user_group",
}


class _LazyGroup(click.Group):
    """A group whose commands in `lazy` are imported when first looked up (click's "lazily loading subcommands")."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self._lazy[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
        return command


@click.group(cls=_LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $CCR_HOME/config.json; CCR_HOME defaults to ~/.claude-code-router).",
)
@click.version_option(__version__, "--version", prog_name="ccr", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """ccrouter: a local model router for Claude Code."""
    ctx.obj = Options(config_path)


@cli.command()
@click.pass_obj
def statusline(options: Options) -> None:
    """Print one status line for Claude Code's statusLine setting (reads its JSON on stdin)."""
    from ccrouter.statusline.line import main as statusline_main

    config_path = str(options.config_path.expanduser()) if options.config_path else None
    sys.exit(statusline_main(config_path=config_path))


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"ccr {__version__}")


def main(argv: list[str] | None = None) -> int:
    """Run `ccr` with `argv` (default: the process's arguments); the exit code."""
    try:
        cli.main(args=argv, prog_name="ccr")
    except CcrouterError as exc:
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
