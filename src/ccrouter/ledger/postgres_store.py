"""The ledger in PostgreSQL (`LEDGER_URL`), for a team's routers that share one: `PostgresLedger`, a `LedgerStore`.

It answers exactly as `SqliteLedger` does for the same rows (`postgres_sql.py` says how), so `ccr usage`, the
budgets and the writer thread cannot tell the two apart. psycopg 3, synchronous: the writer thread appends and
worker threads read, each on a connection of its own (made on first use, in autocommit mode). A batch is one COPY
in one transaction, so it is stored all or none. A connection that failed is dropped, and so is one the server
has closed since its last use (it has something to read: the server's goodbye), so the call after the server
comes back works, and the writer's retry loop recovers by itself. Every failure is a `LedgerError` saying what to
do, naming the database without its password (`postgres_faults.py`).

psycopg is imported only here and only when a PostgreSQL ledger is made: a single user's SQLite install needs
none (`pip install 'ccrouter[team]'` brings it).
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ccrouter.ledger.aggregate import UsageReport, UsageSeries, UsageTotals, bucket_starts, groups_of, usage_series
from ccrouter.ledger.aggregate import series_query as check_series
from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.postgres_faults import Target, describe
from ccrouter.ledger.postgres_migrations import migrate, schema_version
from ccrouter.ledger.postgres_sql import (
    COPY,
    DAY,
    SPAN,
    day_query,
    grouped_query,
    local_day_starts,
    series_query,
)
from ccrouter.ledger.queries import POSTGRES, SpendScope, since_clause, spend_query, totals_query
from ccrouter.ledger.rows import LedgerRow, values_of

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]

T = TypeVar("T")
# libpq settings used unless the URL sets them: a dead server or network is noticed in seconds, not hours, so the
# writer thread reports it and retries instead of hanging on a socket.
CONNECTION_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
    "application_name": "ccrouter",
}


class PostgresLedger:
    """The ledger in the PostgreSQL database at `url` (postgresql://user:password@host:port/database, or libpq's
    key=value form). Nothing connects until the first call."""

    def __init__(self, url: str) -> None:
        _require_psycopg()
        import psycopg

        try:
            parts = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            target = Target.of(url, {})
            raise LedgerError(
                f"LEDGER_URL is not a PostgreSQL address ({target.detail(exc)}): write it as "
                "postgresql://USER:PASSWORD@HOST:5432/DATABASE.",
                "bad-url",
            ) from None
        self.target = Target.of(url, {key: str(value) for key, value in parts.items() if value is not None})
        defaults = {key: value for key, value in CONNECTION_DEFAULTS.items() if key not in parts}
        self._conninfo = psycopg.conninfo.make_conninfo(url, **defaults)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []

    def __repr__(self) -> str:
        return f"PostgresLedger({self.target.shown!r})"

    def append(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return

        def insert(connection: Connection) -> None:
            with connection.transaction(), connection.cursor() as cursor, cursor.copy(COPY) as copy:
                for row in rows:
                    copy.write_row(_storable(values_of(row)))

        self._use(insert)

    def aggregate(self, since: float | None, by: str) -> UsageReport:
        if by == DAY:
            groups = self._use(lambda connection: _sums_per_local_day(connection, since))
        else:
            sql, parameters = grouped_query(by, since)  # ValueError for an unknown `by`, before connecting
            groups = groups_of(by, self._read(sql, parameters))
        return UsageReport(since, by, groups, UsageTotals.combine(group.totals for group in groups))

    def series(self, since: float, until: float, bucket: str, by: str) -> UsageSeries:
        check_series(bucket, by, since, until)  # SQLite's ValueError for an unknown one, before connecting
        starts = bucket_starts(bucket, since, until)
        records = self._read(*series_query(by, since, until, [float(start) for _, start in starts])) if starts else []
        keys = [key for key, _ in starts]
        named = [(keys[max(position, 1) - 1], *sums) for position, *sums in records]
        return usage_series(bucket, by, since, until, named)

    def totals(self, since: float | None = None, *, session_id: str | None = None) -> UsageTotals:
        records = self._read(*totals_query(POSTGRES, since, session_id))
        return UsageTotals.from_sums(records[0]) if records else UsageTotals()

    def spend(self, scope: SpendScope, since: float) -> float:
        records = self._read(*spend_query(POSTGRES, scope, since))
        return float(records[0][0]) if records else 0.0

    def schema_version(self) -> int:
        return self._use(schema_version)

    def close(self) -> None:
        """Close every thread's connection. The store can be used again (it reconnects)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            _close_quietly(connection)
        self._local = threading.local()

    # -----------------------------------------------------------------------------------------------------------

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._use(lambda connection: connection.execute(sql, parameters).fetchall())

    def _use(self, job: Callable[[Connection], T]) -> T:
        """`job` on this thread's connection; on any failure the connection is dropped and a LedgerError raised."""
        import psycopg

        try:
            return job(self._connection())
        except LedgerError:
            self._drop_connection()
            raise
        except psycopg.Error as exc:
            self._drop_connection()
            lost = isinstance(exc, psycopg.OperationalError)
            raise describe(exc, self.target, connection_failed=lost) from None

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and _closed_by_server(connection):
            self._drop_connection()
            connection = None
        if connection is None:
            connection = self._open()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _open(self) -> Connection:
        import psycopg

        connection = psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=None)
        try:
            migrate(connection, self.target.shown)
        except BaseException:
            _close_quietly(connection)
            raise
        return connection

    def _drop_connection(self) -> None:
        connection: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is None:
            return
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
        _close_quietly(connection)


def _sums_per_local_day(connection: Connection, since: float | None) -> tuple[Any, ...]:
    """The groups of `--by day`: the days the rows span are read first, in the same snapshot as the sums, so a row
    written in between cannot fall outside them."""
    with connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        where, parameters = since_clause(POSTGRES, since)
        first, last = connection.execute(f"{SPAN} {where}", parameters).fetchone() or (None, None)
        if first is None or last is None:
            return ()
        names, starts = local_day_starts(first, last)
        records = connection.execute(*day_query(since, starts)).fetchall()
    named = [(names[max(bucket, 1) - 1], *sums) for bucket, *sums in records]
    return groups_of(DAY, named)


def _storable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's values as PostgreSQL text can hold them: a NUL character (which SQLite keeps and PostgreSQL refuses,
    and which a client could put in its session id) becomes U+FFFD, so one odd request cannot block the ledger."""
    if not any(isinstance(value, str) and "\x00" in value for value in values):
        return values
    return tuple(value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in values)


def _closed_by_server(connection: Connection) -> bool:
    """Whether the connection is known dead, or the server spoke since its last use: between calls an idle
    connection has nothing to read unless the server said goodbye (a restart, an admin's pg_terminate_backend)."""
    import psycopg

    if connection.closed or connection.broken:
        return True
    try:
        poller = select.poll()  # not select(): a busy service's descriptors pass 1024
        poller.register(connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


def _close_quietly(connection: Connection) -> None:
    import psycopg

    with contextlib.suppress(psycopg.Error):
        connection.close()


def _require_psycopg() -> None:
    """A LedgerError saying how to install psycopg when it is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise LedgerError(
            "LEDGER_URL names a PostgreSQL ledger, which needs psycopg: pip install 'ccrouter[team]' (or "
            "'psycopg[binary]>=3.2') in ccrouter's environment.",
            "no-driver",
        ) from None
