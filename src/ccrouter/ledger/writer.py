"""Writing ledger rows off the request path: one background thread, batches, a bounded queue, faults survived.

A request only hands its row's source to `put` (a lock, an append: no disk, and no row made: the thread makes the
rows of a batch together, which costs less than one by one between requests). The thread wakes when the first row
of a batch arrives, gathers rows for `flush_ms` (or until `batch_rows` are waiting) and writes them in one
transaction. So a crash (kill -9) loses at most the rows of the last `flush_ms` plus the write under way: 200 ms by
default. While the file cannot be written (locked, read-only, corrupt, a full disk) the rows wait in memory, at
most `max_pending` of them: past that, new rows are dropped and counted, with one warning. The fault is reported once,
with what to do; the write is retried every `retry_ms`, and the recovery is reported once too. `close()` writes
what is waiting (one last try when the file is failing) and stops the thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.rows import LedgerRow, RowSource
from ccrouter.ledger.store import LedgerStore

DEFAULT_FLUSH_MS = 200
DEFAULT_BATCH_ROWS = 500
DEFAULT_MAX_PENDING = 20_000  # about 10 MB of rows: some minutes of a busy router's requests
DEFAULT_RETRY_MS = 2_000

Report = Callable[[str, str], None]  # (level: "error" | "warn" | "info", message)


@dataclass(frozen=True, slots=True)
class WriterStats:
    pending: int  # rows waiting to be written
    written: int
    dropped: int  # rows refused because the queue was full, or still waiting when close() gave up
    fault: str | None  # what is wrong with the file now, if anything


class LedgerWriter:
    """Owns one thread that appends rows to `store`; `report` receives the fault, drop and recovery messages."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        report: Report,
        flush_ms: int = DEFAULT_FLUSH_MS,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        max_pending: int = DEFAULT_MAX_PENDING,
        retry_ms: int = DEFAULT_RETRY_MS,
    ) -> None:
        self._store = store
        self._report = report
        self._flush_s = flush_ms / 1000
        self._batch_rows = batch_rows
        self._max_pending = max_pending
        self._retry_s = retry_ms / 1000
        self._cond = threading.Condition()
        self._pending: deque[RowSource] = deque()
        self._accepted = 0  # rows ever queued
        self._settled = 0  # of those, rows written or given up on
        self._written = 0
        self._dropped = 0
        self._dropping = False  # the queue-full warning of this episode was given
        self._unbuildable = False  # a source whose row could not be made was reported
        self._episode_drops = 0  # rows dropped since the queue last drained
        self._flushes = 0  # flush() calls waiting: write now instead of gathering
        self._closing = False
        self._fault: LedgerError | None = None
        self._thread = threading.Thread(target=self._run, name="ccr-ledger-writer", daemon=True)
        self._thread.start()

    def put(self, source: RowSource) -> bool:
        """Queue `source`'s row for writing; False when it was dropped (queue full, or the writer closed). Never
        blocks on the disk."""
        with self._cond:
            if not self._closing and len(self._pending) < self._max_pending:
                self._pending.append(source)
                self._accepted += 1
                if len(self._pending) == 1 or len(self._pending) == self._batch_rows:
                    self._cond.notify_all()
                return True
            self._dropped += 1
            self._episode_drops += 1
            warn, self._dropping = not self._dropping and not self._closing, True
        if warn:
            self._report(
                "warn",
                f"The usage ledger has {self._max_pending:,} rows waiting to be written, so the rows of new requests "
                "are dropped (and counted) until it catches up. Requests are served as before.",
            )
        return False

    def flush(self, timeout: float) -> bool:
        """Write what was queued before this call, waiting at most `timeout` seconds; False if that did not happen
        (the file is failing, or the disk is slow)."""
        with self._cond:
            target = self._accepted
            self._flushes += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._settled >= target, timeout)
            finally:
                self._flushes -= 1

    def close(self, timeout: float = 5.0) -> int:
        """Write what is waiting and stop the thread, waiting at most `timeout` seconds; the rows still unwritten
        then (queued, or in a write the store has not answered): 0 once every row is written or given up on (the
        thread reports those). When it is not 0 the thread is still inside the store. The store stays open."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            return self._accepted - self._settled

    def stats(self) -> WriterStats:
        with self._cond:
            fault = str(self._fault) if self._fault else None
            return WriterStats(len(self._pending), self._written, self._dropped, fault)

    # -----------------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            sources = self._next_batch()
            if sources is None:
                return
            fault = self._write(self._rows_of(sources))
            if fault is None:
                continue
            if self._closing:
                self._give_up()
                return
            with self._cond:
                self._cond.wait_for(lambda: self._closing, self._retry_s)

    def _next_batch(self) -> list[RowSource] | None:
        """The next rows to write, once `flush_ms` passed since the first arrived (or a batch is full, a flush or
        close is asked); None when closing with nothing left."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._closing)
            deadline = time.monotonic() + self._flush_s
            while not self._urgent() and (remaining := deadline - time.monotonic()) > 0:
                self._cond.wait(remaining)
            if not self._pending:
                return None
            count = min(len(self._pending), self._batch_rows)
            return [self._pending.popleft() for _ in range(count)]

    def _rows_of(self, sources: list[RowSource]) -> list[LedgerRow]:
        """The rows of `sources`; a source whose row cannot be made (a bug) is dropped, counted and reported once,
        rather than stopping the thread or holding up the others."""
        try:
            return [source.ledger_row() for source in sources]
        except Exception:
            pass
        rows: list[LedgerRow] = []
        for source in sources:
            try:
                rows.append(source.ledger_row())
            except Exception as exc:
                self._drop_unbuildable(exc)
        return rows

    def _drop_unbuildable(self, exc: Exception) -> None:
        with self._cond:
            self._settled += 1
            self._dropped += 1
            self._cond.notify_all()
            report, self._unbuildable = not self._unbuildable, True
        if report:
            self._report(
                "error",
                f"A request's usage ledger row could not be made ({type(exc).__name__}: {exc}), so it is not stored "
                "(and counted as dropped). This is a bug in ccrouter: please report it with this line.",
            )

    def _urgent(self) -> bool:
        return self._closing or self._flushes > 0 or len(self._pending) >= self._batch_rows

    def _write(self, batch: list[LedgerRow]) -> LedgerError | None:
        """Append `batch`; on failure put it back at the front and report the fault. The fault, or None."""
        try:
            self._store.append(batch)
        except Exception as exc:  # a bug must not stop the ledger either: it is reported like a fault
            fault = exc if isinstance(exc, LedgerError) else LedgerError(f"{type(exc).__name__}: {exc}", "other")
            with self._cond:
                self._pending.extendleft(reversed(batch))
                previous, self._fault = self._fault, fault
            if previous is None or previous.kind != fault.kind:
                self._report("error", f"The usage ledger cannot be written: {fault} {self._while_failing()}")
            return fault
        with self._cond:
            self._settled += len(batch)
            self._written += len(batch)
            recovered, self._fault = self._fault, None
            dropped, self._episode_drops, self._dropping = self._episode_drops, 0, False
            self._cond.notify_all()
        lost = f" {dropped:,} rows were dropped meanwhile (the queue was full)." if dropped else ""
        if recovered is not None:
            self._report("info", f"The usage ledger is written again; the rows kept meanwhile are stored.{lost}")
        elif dropped:
            self._report("info", f"The usage ledger has caught up.{lost}")
        return None

    def _while_failing(self) -> str:
        return (
            f"Requests are served as before; their rows wait in memory (up to {self._max_pending:,}) and are written "
            f"when it works again (retried every {self._retry_s:g} s)."
        )

    def _give_up(self) -> None:
        """Closing while the file fails: the rows still waiting are lost, and said so."""
        with self._cond:
            lost = len(self._pending)
            self._pending.clear()
            self._settled += lost
            self._dropped += lost
            self._cond.notify_all()
        self._report("error", f"The usage ledger could not be written before stopping: {lost:,} rows are lost.")
