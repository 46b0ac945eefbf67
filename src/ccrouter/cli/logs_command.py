"""`ccr logs`: the service's log as a readable table (or raw JSON lines), optionally followed live.

Request lines become one table row each; other lines (the service starting, a config change that was not
applied, a custom router that failed) are shown with their fields, because they explain the rows around them;
debug lines (request bodies) are left to `--json`. Reading the files is `log_files`', the table `log_table`'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO

import click

from ccrouter.cli.log_files import Entry, Selection, complete_end, follow, log_files, service_log_directory, tail
from ccrouter.cli.log_table import TableFormatter, use_color
from ccrouter.cli.options import Options
from ccrouter.paths import LOG_FILE
from ccrouter.untrusted import printable_json

POLL_S = 0.25  # how often a followed log is looked at again


@click.command()
@click.option(
    "-f", "--follow", "following", is_flag=True, help="Keep printing new lines as they come (Ctrl-C to stop)."
)
@click.option(
    "-n", "--lines", "count", type=click.IntRange(min=0), default=50, show_default=True, help="How many to show."
)
@click.option("--session", default=None, metavar="ID", help="Only the requests of this session (its id or prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines instead of a table.")
@click.pass_obj
def logs(options: Options, following: bool, count: int, session: str | None, as_json: bool) -> None:
    """Show recent requests (time, route, status, latency, time to first token, tokens) and service messages."""
    directory = service_log_directory(options.config_path)
    sys.exit(main(directory, count, Selection(session, raw=as_json), following))


class _Stop(Exception):
    """SIGTERM while following."""


def main(directory: Path, count: int, selection: Selection, following: bool) -> int:
    """`ccr logs` on stdout; a closed pipe (`ccr logs | head`) ends it quietly."""
    out = sys.stdout
    try:
        return show(directory, count, selection, following, out, use_color(out))
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())  # so that the interpreter's final flush does not fail again
        return 0


def show(
    directory: Path,
    count: int,
    selection: Selection,
    following: bool,
    out: IO[str],
    color: bool,
    poll_s: float = POLL_S,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Print the last `count` selected lines (a table, or raw with `selection.raw`), then with `following` the new
    ones as they come, across rotations, until Ctrl-C or SIGTERM. Returns the exit code."""
    current_path = directory / LOG_FILE
    current: IO[bytes] | None = None
    with contextlib.suppress(OSError):
        current = current_path.open("rb")
    try:
        end = complete_end(current) if current is not None else 0
        history = tail(directory, count, selection, current, end)
        formatter = None if selection.raw else TableFormatter(color)
        emit = _emitter(out, formatter)
        if formatter is not None:
            formatter.fit([entry for _, entry in history])
            if history or following:
                out.write(formatter.header() + "\n")
        for line, entry in history:
            emit(line, entry)
        out.flush()
        if not history and not following:
            where = current_path if log_files(directory) else directory
            print(_nothing_message(where, selection), file=sys.stderr)
        if not following:
            return 0
        handle, current = current, None  # follow closes it
        with _signals_stop(), contextlib.suppress(KeyboardInterrupt, _Stop):
            follow(current_path, handle, end, selection, emit, out.flush, poll_s, should_stop)
        return 0
    finally:
        if current is not None:
            current.close()


def _nothing_message(where: Path, selection: Selection) -> str:
    if selection.session is not None:
        return f"ccr: no requests of session {selection.session} in {where}."
    if where.name == LOG_FILE:
        return f"ccr: nothing logged yet in {where}."
    return f"ccr: no log in {where} yet (is LOG false in the config? the service writes it while it runs)."


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) end the follow loop (only the main thread can set a handler). SIGINT is set here
    too because a program started in the background by a shell inherits it ignored, and would then follow for
    ever."""
    try:
        previous = {number: signal.signal(number, _raise_stop) for number in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _emitter(out: IO[str], formatter: TableFormatter | None) -> Callable[[str, Entry], None]:
    def emit(line: str, entry: Entry) -> None:
        if formatter is None:
            out.write(printable_json(line.rstrip("\r\n")) + "\n")
        else:
            for text in formatter.lines(entry):
                out.write(text + "\n")

    return emit
