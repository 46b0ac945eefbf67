"""`ccr code`: run Claude Code through the router, starting the service if needed; every argument goes to Claude
Code.

A service this command starts stops again when the last `ccr code` session ends (`service.control`); one that
`ccr start` started keeps running. When the config file on disk does not load but a service runs, that service
keeps serving the config it loaded before: `ccr code` warns and goes through it, taking what Claude Code needs
(CLAUDE_PATH, APIKEY, ...) from the file as far as it can be read.

While the service starts, the hosts of the default route's providers (its target and fallbacks) are tried with a
TCP connect (`service.reachability`); when none accepts one, a warning says so before Claude Code starts, instead
of Claude Code's first request failing minutes later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from ccrouter.cli.options import Options
from ccrouter.cli.service_commands import note_other_config
from ccrouter.config.scenarios import Scenario
from ccrouter.errors import ConfigError
from ccrouter.service import claude_code, code_sessions, control, reachability
from ccrouter.service.client import client_host

if TYPE_CHECKING:
    from ccrouter.config.model import Config

_DEFAULT_TIMEOUT_MS = 600_000  # config.model.DEFAULT_TIMEOUT_MS, for a file that does not load
_PROBE_SECONDS = 2.0  # the most the reachability check of the default route may take, service start included


@dataclass(frozen=True)
class _Settings:
    """What `ccr code` takes from the config: where the service is, and what Claude Code gets."""

    host: str
    port: int
    claude_path: str | None = None
    apikey: str | None = None
    api_timeout_ms: int = _DEFAULT_TIMEOUT_MS
    non_interactive_mode: bool = False
    status_line: Mapping[str, Any] = field(default_factory=dict)
    # The default route's targets, then its fallbacks: ("provider,model", api_base_url); none when the file does
    # not load (the service serves a config this command cannot see).
    default_route: tuple[tuple[str, str], ...] = ()
    proxy_url: str | None = None


def _settings(options: Options) -> _Settings:
    """From the config; when it does not load but a service runs, warn and read what can be read."""
    try:
        config = options.load()
    except ConfigError as exc:
        current = control.status(options.home)
        if not current.running or current.info is None:
            raise
        click.echo(
            f"ccr: warning: the config on disk has an error: {exc}\n"
            f"ccr: the service (pid {current.info.pid}) keeps serving the previous one; going on with it. "
            "Fix the file and the service applies it by itself.",
            err=True,
        )
        return _settings_as_written(options, current.info.host, current.info.port)
    return _Settings(
        host=client_host(config.host, config.apikey),
        port=config.port,
        claude_path=config.claude_path,
        apikey=config.apikey,
        api_timeout_ms=config.api_timeout_ms,
        non_interactive_mode=config.non_interactive_mode,
        status_line=config.status_line,
        default_route=_default_route(config),
        proxy_url=config.proxy_url,
    )


def _default_route(config: Config) -> tuple[tuple[str, str], ...]:
    """The default route's target and its fallbacks, each once, as ("provider,model", api_base_url)."""
    first = config.routes.get(Scenario.DEFAULT)
    targets = [*([first] if first is not None else []), *config.fallback.get(Scenario.DEFAULT, ())]
    return tuple(dict.fromkeys((target.label, target.provider.api_base_url) for target in targets))


def _settings_as_written(options: Options, host: str, port: int) -> _Settings:
    """The file's values as written (`$VAR`s replaced where set), each ignored when it is not of its type."""
    from ccrouter.config.light import read_config_dict

    raw = read_config_dict(options.resolved_config_path())

    def text(key: str) -> str | None:
        value = raw.get(key)
        return (os.path.expandvars(value) or None) if isinstance(value, str) else None

    timeout = raw.get("API_TIMEOUT_MS")
    non_interactive = raw.get("NON_INTERACTIVE_MODE")
    status_line = raw.get("StatusLine")
    return _Settings(
        host=host,
        port=port,
        claude_path=text("CLAUDE_PATH"),
        apikey=text("APIKEY"),
        api_timeout_ms=timeout if isinstance(timeout, int) and timeout > 0 else _DEFAULT_TIMEOUT_MS,
        non_interactive_mode=non_interactive is True or str(non_interactive).lower() in ("true", "1"),
        status_line=status_line if isinstance(status_line, dict) else {},
    )


def _start_probe(settings: _Settings) -> reachability.Probe | None:
    """TCP connects to the default route's provider hosts, started now so that they run while the service starts;
    None when there is nothing to check or a proxy stands between the router and a provider (whether that one is
    reachable cannot be told)."""
    urls = [url for _, url in settings.default_route]
    if not urls or any(reachability.behind_proxy(url, settings.proxy_url) for url in urls):
        return None
    addresses = [address for address in map(reachability.address_of, urls) if address is not None]
    return reachability.Probe(addresses, _PROBE_SECONDS) if len(addresses) == len(urls) else None


def _warn_if_unreachable(probe: reachability.Probe, settings: _Settings, options: Options) -> None:
    """One warning on stderr when no provider of the default route accepted a connection: which, why, what next."""
    checks = probe.wait()
    if any(check.outcome is reachability.Outcome.REACHABLE for check in checks.values()):
        return
    lines = ["ccr: warning: no provider of the default route can be reached, so Claude Code's requests will fail:"]
    for label, url in settings.default_route:
        address = reachability.address_of(url)
        if address is not None:
            lines.append(f"ccr:   {label} at {address}: {checks[address].describe()}")
    lines.append(
        "ccr: start the provider's server if it runs on this machine, check its api_base_url in "
        f"{options.resolved_config_path()}, or route to another provider with `ccr model default PROVIDER,MODEL`. "
        "Starting Claude Code anyway."
    )
    click.echo("\n".join(lines), err=True)


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
    config = _settings(options)
    home = options.home
    executable = claude_code.find_claude(config.claude_path)
    probe = _start_probe(config)
    info, _, session = control.start_code_session(home, options.resolved_config_path(), config.host, config.port)
    try:
        note_other_config(options, info)
        if probe is not None and info.config == str(options.resolved_config_path()):  # else it serves another one
            _warn_if_unreachable(probe, config, options)
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
