"""The PostgreSQL ledger's schema, as numbered migrations: a database set up by an older ccrouter upgrades in place.

The rows are SQLite's (`ledger/migrations.py`), column for column, in `ccr_requests`; `ccr_schema` holds the number
of the last migration applied. Several routers (workers, instances) share one database and may all start at once:
the migrations run in one transaction under a transaction-scoped advisory lock (so a connection pooler in
transaction mode keeps it), and the version is read again once the lock is held, so the first one migrates and the
others find it done. A connection whose database is up to date only reads the version: a role that may read and
insert but not create (a locked-down team database) works once the owner has migrated. A migration, once released,
never changes: a new one is added instead. A database from a newer ccrouter is refused rather than guessed at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ccrouter.ledger.faults import LedgerError

if TYPE_CHECKING:
    import psycopg

TABLE = "ccr_requests"
VERSION_TABLE = "ccr_schema"
# pg_advisory_xact_lock's key: any fixed 64-bit number other programs are unlikely to pick ("ccrledgr" in ASCII).
LOCK_KEY = 0x6363726C65646772

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per request, SQLite's columns: REAL is float8, INTEGER bigint (SQLite's integers are 64-bit).
    (
        f"""CREATE TABLE {TABLE} (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time DOUBLE PRECISION NOT NULL,
            request_id TEXT NOT NULL,
            status INTEGER NOT NULL,
            session_id TEXT,
            project TEXT,
            scenario TEXT,
            provider TEXT,
            model TEXT,
            requested_model TEXT,
            attempts TEXT NOT NULL DEFAULT '[]',
            latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
            ttft_ms DOUBLE PRECISION,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cache_read_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            cost_usd DOUBLE PRECISION,
            baseline_cost_usd DOUBLE PRECISION,
            prices TEXT
        )""",
    ),
    # 2: every report and budget reads a time range.
    (f"CREATE INDEX {TABLE}_by_time ON {TABLE} (time)",),
    # 3: who asked (the config's `Users`), as SQLite's migration 4.
    (f"ALTER TABLE {TABLE} ADD COLUMN user_name TEXT",),
)
LATEST = len(MIGRATIONS)

_CREATE_VERSION_TABLE = f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version INTEGER NOT NULL
)"""
_SET_VERSION = (
    f"INSERT INTO {VERSION_TABLE} (singleton, version) VALUES (TRUE, %s) "
    "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version"
)


def schema_version(connection: psycopg.Connection[tuple[Any, ...]]) -> int:
    """The number of the last migration applied; 0 for a database without the ledger."""
    found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()
    if not found or not found[0]:
        return 0
    record = connection.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
    return int(record[0]) if record else 0


def migrate(connection: psycopg.Connection[tuple[Any, ...]], target: str) -> None:
    """Bring the database up to LATEST. `connection` is in autocommit mode; `target` names the database in errors
    (without its password)."""
    version = schema_version(connection)
    check_not_newer(version, target)
    if version == LATEST:
        return
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        connection.execute(_CREATE_VERSION_TABLE)
        version = schema_version(connection)  # read again: inside the lock now
        check_not_newer(version, target)
        for number in range(version + 1, LATEST + 1):
            for statement in MIGRATIONS[number - 1]:
                connection.execute(statement)
        if version != LATEST:
            connection.execute(_SET_VERSION, (LATEST,))


def check_not_newer(version: int, target: str) -> None:
    if version > LATEST:
        raise LedgerError(
            f"{target} holds a ledger written by a newer ccrouter (schema {version}; this one knows up to {LATEST}): "
            "upgrade ccrouter, or point LEDGER_URL at another database.",
            "newer",
        )
