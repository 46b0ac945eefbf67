"""The ledger's schema, as numbered migrations: a file written by an older ccrouter upgrades in place.

`PRAGMA user_version` holds the number of the last migration applied. Opening the file applies the missing ones
in one `BEGIN IMMEDIATE` transaction (two processes opening an old file at once: the second finds it done). A
migration, once released, never changes: a new one is added instead. A file from a newer ccrouter is refused
rather than guessed at.
"""

from __future__ import annotations

import os
import sqlite3

from ccrouter.ledger.faults import LedgerError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per request; every report and budget reads a time range.
    (
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            time REAL NOT NULL,
            request_id TEXT NOT NULL,
            status INTEGER NOT NULL,
            session_id TEXT,
            project TEXT,
            scenario TEXT,
            provider TEXT,
            model TEXT,
            requested_model TEXT,
            attempts TEXT NOT NULL DEFAULT '[]',
            latency_ms REAL NOT NULL DEFAULT 0,
            ttft_ms REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            baseline_cost_usd REAL,
            prices TEXT
        )""",
        "CREATE INDEX requests_by_time ON requests (time)",
    ),
    # 2: a session's cost without reading the whole period (the statusline's `{{cost}}`).
    ("CREATE INDEX requests_by_session ON requests (session_id, time)",),
    # 3: that index goes: the service keeps each session's cost in memory, no query used it, and keeping it up
    # cost the writer thread (on the service's core) a sixth of each row's insert.
    ("DROP INDEX IF EXISTS requests_by_session",),
    # 4: who asked (the config's `Users`); older rows have none.
    ("ALTER TABLE requests ADD COLUMN user_name TEXT",),
)
LATEST = len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(connection: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    """Bring the file up to LATEST. `connection` is in autocommit mode (isolation_level=None)."""
    check_not_newer(connection, path)
    if schema_version(connection) == LATEST:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        for number in range(schema_version(connection) + 1, LATEST + 1):  # read again: inside the lock now
            for statement in MIGRATIONS[number - 1]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def check_not_newer(connection: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    version = schema_version(connection)
    if version > LATEST:
        raise LedgerError(
            f"{os.fspath(path)} was written by a newer ccrouter (schema {version}; this one knows up to {LATEST}): "
            "upgrade ccrouter, or move the file aside to start a new ledger.",
            "newer",
        )
