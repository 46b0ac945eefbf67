"""`ccr usage`: what the requests through ccrouter cost and what routing saved, per group, from the usage ledger.

It reads the ledger file itself, read-only, so it works whether the service runs or not, and (the file being in
WAL mode) never waits for the service's writer nor holds it up. The file is the one beside the service's config,
as the logs are (`--config`, else the running service's config, else `$CCR_HOME`'s). A config with `LEDGER_URL`
(team mode) keeps the ledger in PostgreSQL: then that database is read, the URL taken from the config loaded as
the service loads it (its `$VAR`s from this environment), so both use the same one.

Defaults: `--since 7d`, a week of work (long enough to cover a few sessions, short enough to act on; `30d` for the
month), `--by model` (provider and model: where the money went and what each choice saved).

Faults: no ledger yet (the file does not exist: the service has served nothing, or `"LEDGER": false`) is not an
error: a note on stderr and exit 0 (`--json` still prints an empty report, so scripts need no special case). A file
that cannot be read (corrupt, locked, not a file, unreadable, from a newer ccrouter): `ccr: <what and what to do>`
and exit 1, never a traceback. rich and the ledger's store are imported only when the command runs (`ccr --help`
lists every command and must stay fast).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ccrouter.cli.log_files import service_config_path
from ccrouter.cli.options import Options
from ccrouter.config.light import read_config_dict
from ccrouter.errors import CcrouterError
from ccrouter.ledger.aggregate import GROUPINGS, UsageReport, UsageTotals
from ccrouter.ledger.periods import local_time_text, parse_since
from ccrouter.paths import LEDGER_FILE
from ccrouter.untrusted import printable

if TYPE_CHECKING:
    from ccrouter.ledger.store import LedgerStore

DEFAULT_SINCE = "7d"
DEFAULT_BY = "model"


@click.command()
@click.option(
    "--since",
    "since_text",
    default=DEFAULT_SINCE,
    show_default=True,
    metavar="24h|7d|30d|YYYY-MM-DD",
    help="Count the requests of the last hours or days, or since a local date.",
)
@click.option(
    "--by",
    type=click.Choice(tuple(GROUPINGS)),
    default=DEFAULT_BY,
    show_default=True,
    help="One row per scenario (route), provider, provider and model, session, project, user or local day.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"since", "by", "rows", "total"} as JSON.')
@click.pass_obj
def usage(options: Options, since_text: str, by: str, as_json: bool) -> None:
    """Show requests, errors, tokens, cost, baseline cost and savings per group, from the usage ledger."""
    try:
        since = parse_since(since_text, time.time())
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--since "), param_hint="--since") from None
    config_path = service_config_path(options.config_path)
    url = ledger_url(config_path)
    path = ledger_file(config_path)
    loaded = read_database_usage(url, since, by) if url else read_usage(path, since, by)
    if loaded is None:
        click.echo(no_ledger_message(path, config_path), err=True)
        loaded = (UsageReport(since, by, (), UsageTotals()), [])
    report, unpriced_models = loaded
    where = database_name(url) if url else str(path)
    try:
        if as_json:
            click.echo(json_text(report))
        elif report.rows:
            show_table(report, unpriced_models, since_text, where)
        elif url or os.path.exists(path):
            click.echo(f"ccr: no requests since {local_time_text(since)} ({since_text}) in {where}.", err=True)
    except BrokenPipeError:  # `ccr usage | head`: the reader has what it wanted
        _silence_stdout()


def json_text(report: UsageReport) -> str:
    """`--json`: indented, ASCII only; JSON escapes every control character but DEL, which is escaped here (a group
    name from a client must not reach a terminal as a control character)."""
    return json.dumps(report.as_dict(), indent=2).replace("\x7f", "\\u007f")


def ledger_file(config_path: Path) -> Path:
    """The ledger the service started with `config_path` writes: beside its config, as its logs are."""
    return config_path.parent / LEDGER_FILE


def ledger_url(config_path: Path) -> str | None:
    """The config's `LEDGER_URL` when its ledger is on, read as the service reads it (the loader: `$VAR`s replaced,
    the URL checked); None for the ledger file. Raises ConfigError when that config cannot be loaded."""
    raw = read_config_dict(config_path)
    if not raw.get("LEDGER_URL") or raw.get("LEDGER") is False:
        return None
    from ccrouter.config.loading import load_config

    settings = load_config(config_path, run_user_code=False).ledger
    return settings.url if settings is not None and settings.enabled else None


def database_name(url: str) -> str:
    """The ledger database as messages show it: user@host:port/database, never the password."""
    from ccrouter.ledger.postgres_store import PostgresLedger

    return PostgresLedger(url).target.shown


def read_database_usage(url: str, since: float, by: str) -> tuple[UsageReport, list[str]]:
    """As `read_usage`, from the PostgreSQL ledger at `url` (an empty report when it holds no rows yet). Raises
    LedgerError saying what is wrong and what to do (the server is down, the login refused, ...)."""
    from ccrouter.ledger.postgres_store import PostgresLedger

    store = PostgresLedger(url)
    try:
        report = store.aggregate(since, by)
        return report, _unpriced_models(store, report)
    finally:
        store.close()


def read_usage(path: Path, since: float, by: str) -> tuple[UsageReport, list[str]] | None:
    """The sums per group of `by` since `since`, and the provider,model names that have rows without a price (for
    the footnote); None when there is no ledger yet. Raises CcrouterError (LedgerError) when it cannot be read."""
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        raise CcrouterError(
            f"{path} is not a file, so no usage can be read from it: move it aside (mv {path} {path}.old); the "
            "service starts a new ledger there."
        )
    if not os.access(path, os.R_OK):
        raise CcrouterError(
            f"{path} cannot be read by this user: run `ccr usage` as the user the service runs as, or check the "
            f"file's owner and mode (ls -l {path})."
        )
    from ccrouter.ledger.store import SqliteLedger

    store = SqliteLedger(path, read_only=True)
    try:
        report = store.aggregate(since, by)
        return report, _unpriced_models(store, report)
    finally:
        store.close()


def _unpriced_models(store: LedgerStore, report: UsageReport) -> list[str]:
    """The `Prices` keys to add: "provider,model" of the models with requests of no known price."""
    if not report.total.unpriced_requests:
        return []
    by_model = report if report.by == "model" else store.aggregate(report.since, "model")
    return [
        f"{group.keys['provider']},{group.keys['model']}"
        for group in by_model.rows
        if group.totals.unpriced_requests and group.keys.get("provider") and group.keys.get("model")
    ]


def no_ledger_message(path: Path, config_path: Path) -> str:
    if read_config_dict(config_path).get("LEDGER") is False:
        return (
            f'ccr: no usage recorded: the ledger is off ("LEDGER": false in {config_path}). Remove that key (or set '
            "it to true) to record usage from the next request on."
        )
    return (
        f"ccr: no usage recorded yet: {path} does not exist. The service writes it as requests go through it "
        "(run `ccr status` to see whether it runs)."
    )


def show_table(report: UsageReport, unpriced_models: list[str], since_text: str, where: str) -> None:
    """The table on stdout (colours on a terminal only; full width when piped), then what it covers and notes."""
    from rich.console import Console

    from ccrouter.cli.usage_table import footnotes, narrowest, usage_table

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=10_000)  # piped: never wrap or cut a row
    table = usage_table(report)
    # Names fold to fit the terminal; numbers are never cut: a terminal too narrow for them wraps the lines.
    console.width = max(console.width, narrowest(table))
    console.print(table)
    when = local_time_text(report.since) if report.since is not None else "the first request"
    lines = [f"since {when} ({since_text}), by {report.by}; from {where}", *footnotes(report.total, unpriced_models)]
    for line in lines:
        console.print(printable(line), markup=False)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail on the closed pipe again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
