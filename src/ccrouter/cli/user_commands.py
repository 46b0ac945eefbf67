"""`ccr user add|list|remove`: the people a shared router serves, each with a key of their own.

The work is in `config/user_edit.py` (the config edited as `ccr model` edits it); this module parses and prints.
`add` prints the new key once: the config keeps only its SHA-256. A running service applies every change by hot
reload, within a second.
"""

from __future__ import annotations

import os

import click

from ccrouter.cli.options import Options


@click.group("user")
def user_group() -> None:
    """Per-user keys for a router shared by a team (the config's Users)."""


@user_group.command("add")
@click.argument("name")
@click.option("--routes", default=None, metavar="ROUTE,...", help="The routes the user may use (default: all).")
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute at most.")
@click.option("--tpm", type=click.IntRange(min=1), default=None, help="Tokens per minute at most.")
@click.pass_obj
def add(options: Options, name: str, routes: str | None, rpm: int | None, tpm: int | None) -> None:
    """Add a user with a new key, printed once (only its hash is stored)."""
    from ccrouter.config.user_edit import add_user

    route_list = [route for route in routes.split(",") if route.strip()] if routes is not None else None
    change = add_user(options.resolved_config_path(), name, os.environ, routes=route_list, rpm=rpm, tpm=tpm)
    click.echo(f"user {name} added to {change.path}; backup of the previous file: {change.backup}")
    click.echo("Their key (shown only now; the config keeps its SHA-256 only):")
    click.echo(change.key)
    click.echo("They send it as ANTHROPIC_AUTH_TOKEN (or x-api-key). A running service applies this within a second.")


@user_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove(options: Options, name: str) -> None:
    """Remove a user: their key is refused once the service has reloaded (within a second)."""
    from ccrouter.config.user_edit import remove_user

    change = remove_user(options.resolved_config_path(), name, os.environ)
    click.echo(f"user {name} removed from {change.path}; backup of the previous file: {change.backup}")


@user_group.command("list")
@click.pass_obj
def list_users(options: Options) -> None:
    """The users: names, routes, rate limits and budgets (never their key hashes)."""
    from ccrouter.config.route_edit import load_lenient

    config, _unset = load_lenient(options.resolved_config_path(), os.environ)
    users = config.users.entries if config.users else ()
    if not users:
        click.echo("No users: every request uses the APIKEY. Add one with `ccr user add NAME`.")
        return
    for user in users:
        limit = user.rate_limit
        rpm = limit.requests_per_minute if limit and limit.requests_per_minute else "-"
        tpm = limit.tokens_per_minute if limit and limit.tokens_per_minute else "-"
        budgets = ", ".join(f"{rule.name.partition('/')[2]} ${rule.usd:g}/{rule.period}" for rule in user.budgets)
        click.echo(
            f"{user.name}  routes: {user.routes_text()}  requests/min: {rpm}  tokens/min: {tpm}"
            f"  budgets: {budgets or '-'}"
        )
