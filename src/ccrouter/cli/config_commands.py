"""The config file's commands: `ccr init` (write a starter config), `ccr config check` (validate and describe it)
and `ccr model` (show the routing table, or set one route).

Each takes `--config PATH` after its name as well as before (`ccr --config PATH ...`). The config loader and
editor are imported inside the commands.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ccrouter.cli.options import Options
from ccrouter.errors import CcrouterError

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


@click.command("init")
@_config_file_option
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the starter config instead of writing it.")
@click.option("--no-ollama", is_flag=True, help="Do not look for a local Ollama.")
@click.pass_obj
def init_command(options: Options, local_config: Path | None, to_stdout: bool, no_ollama: bool) -> None:
    """Write a commented starter config from the provider keys in the environment and a local Ollama.

    Never overwrites an existing file."""
    import datetime

    from ccrouter.cli import config_report
    from ccrouter.config import starter
    from ccrouter.config.loading import load_config, parse_config
    from ccrouter.errors import ConfigError
    from ccrouter.files import create_exclusively

    path = _config_file(options, local_config)
    exists = (
        f"{path} already exists, and ccr init never overwrites a config. Check it with `ccr config check`, change "
        "a route with `ccr model`, or print a starter config with `ccr init --stdout`."
    )
    if not to_stdout and (path.exists() or path.is_symlink()):
        raise CcrouterError(exists)
    probe = None if no_ollama else starter.probe_ollama(starter.ollama_base_url(os.environ))
    plan = starter.make_plan(os.environ, probe)
    text = starter.render(plan, datetime.date.today().isoformat())
    try:
        parse_config(text, os.environ, path)
    except ConfigError as exc:  # a bug here, never the user's doing
        raise CcrouterError(f"the starter config would not load ({exc}); nothing was written.") from None
    if to_stdout:
        click.echo(text, nl=False)
        return
    try:
        create_exclusively(path, text.encode("utf-8"))
    except FileExistsError:
        raise CcrouterError(exists) from None
    except OSError as exc:
        raise CcrouterError(f"cannot write {path}: {exc.strerror or exc}.") from None
    config = load_config(path)
    click.echo(f"Wrote {path}")
    click.echo(f"found: {starter.found_summary(plan)}")
    click.echo("\n".join(config_report.provider_lines(config) + config_report.routing_table(config)))
    if not plan.providers:
        looked_for = ", ".join(str(entry.env) for entry in starter.CATALOGUE)
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


@click.group("config")
def config_group() -> None:
    """Inspect the config file."""


@config_group.command("check")
@_config_file_option
@click.pass_obj
def config_check(options: Options, local_config: Path | None) -> None:
    """Load and validate the config: print what it sets up (exit 0) or the first problem (exit 2).

    The custom router and transformer plugins are read, never run: the service runs them when it starts."""
    from ccrouter.cli import config_report
    from ccrouter.config.loading import load_config
    from ccrouter.gateway.custom_router import check_custom_router_file

    path = _config_file(options, local_config)
    config = load_config(path, run_user_code=False)
    if config.custom_router_path:
        check_custom_router_file(config.custom_router_path)
    click.echo(f"config OK: {path}")
    click.echo("\n".join(config_report.provider_lines(config) + config_report.routing_table(config)))
    not_run = "(readable Python; not run by this check: the service runs it when it starts)"
    if config.custom_router_path:
        click.echo(f"custom router: {config.custom_router_path} {not_run}")
    for plugin_path in _plugin_paths(config.raw):
        click.echo(f"transformer plugin: {plugin_path} {not_run}")
    _warn(config_report.warnings(config))


def _plugin_paths(raw: Mapping[str, Any]) -> list[str]:
    """The transformer plugin files the config names (the loader has checked each entry)."""
    items = raw.get("transformers") or []
    return [str(Path(item["path"]).expanduser()) for item in items]


@click.command("model")
@_config_file_option
@click.argument("route", required=False)
@click.argument("target", required=False, metavar="[PROVIDER,MODEL]")
@click.pass_obj
def model_command(options: Options, local_config: Path | None, route: str | None, target: str | None) -> None:
    """Show the routing table, or set one route: `ccr model think deepseek,deepseek-reasoner`.

    ROUTE is default, background, think, longContext, webSearch or image. The old file is kept as
    config.json.<time>.bak; a running service applies the change by itself."""
    from ccrouter.cli import config_report
    from ccrouter.config import route_edit

    path = _config_file(options, local_config)
    if target is None:
        config, _unset = route_edit.load_lenient(path, os.environ)
        if route is not None:
            key = route_edit.route_key(route)
            current = config.routes.get(key)
            click.echo(f"{key}: {current.label if current else '(not set: default)'}")
            return
        click.echo(f"config: {path}")
        click.echo("\n".join(config_report.routing_table(config)))
        click.echo("models a route can name:")
        click.echo("\n".join(config_report.targets_lines(config)) or "  (none: Providers is empty)")
        click.echo("Set one with `ccr model ROUTE PROVIDER,MODEL`.")
        return
    change = route_edit.set_route(path, route or "", target, os.environ)
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
    from ccrouter.service.pidfile import is_alive, read_pid_file

    try:
        info = read_pid_file(options.home)
    except (OSError, ValueError):
        return
    if info is None or not is_alive(info):
        return
    if info.config == str(path):
        click.echo(f"The running service (pid {info.pid}) applies it to new requests within a second.")
    else:
        click.echo(f"ccr: note: the running service uses {info.config}, not {path}.", err=True)
