"""`ccr code`: run Claude Code through the router, starting the service if needed; every argument goes to Claude
Code.

A service this command starts stops again when the last `ccr code` session ends (`service.control`); one that
`ccr start` started keeps running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import click

from ccrouter.cli.options import Options
from ccrouter.cli.service_commands import note_other_config
from ccrouter.service import claude_code, code_sessions, control
from ccrouter.service.client import client_host


class _PassThroughCommand(click.Command):
    """Takes every argument after the command name verbatim, `--` included (click's parser would eat `--`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["args"] = tuple(args)
        ctx.args = []
        return []


@click.command(
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
    config = options.load()
    home = options.home
    executable = claude_code.find_claude(config.claude_path)
    host = client_host(config.host, config.apikey)
    info, _, session = control.start_code_session(home, options.resolved_config_path(), host, config.port)
    try:
        note_other_config(options, info)
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
                control.end_code_session(home)
        finally:
            signal.signal(signal.SIGINT, previous)
    sys.exit(exit_code)
