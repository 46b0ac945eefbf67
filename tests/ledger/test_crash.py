"""kill -9 while the writer is busy: the ledger opens cleanly afterwards, holds every row seen committed, and its rows
are a gap-free prefix of those put (batches commit whole and in order): only the tail not yet written is lost, the
rows of the last flush interval (200 ms)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from ccrouter.ledger.store import SqliteLedger
from tests.ledger.support import row
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

WRITING_CHILD = r"""
import json, sys, time
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SqliteLedger
from ccrouter.ledger.writer import LedgerWriter

writer = LedgerWriter(SqliteLedger(sys.argv[1]), report=lambda level, message: print(json.dumps([level, message])))
put = 0
while True:
    writer.put(LedgerRow(time=time.time(), request_id=str(put), status=200, input_tokens=put))
    put += 1
    if put == 300 and writer.flush(30):  # once: later rows are written by the writer's own clock
        print(json.dumps(["flushed", put]), flush=True)
    time.sleep(0.0005)  # about 2,000 requests a second
"""


def test_kill_9_while_writing_loses_only_the_unwritten_tail(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITING_CHILD, str(path)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert child.stdout is not None
        kind, flushed = json.loads(child.stdout.readline())
        assert (kind, flushed) == ("flushed", 300)
        seen = SqliteLedger(path, read_only=True)
        wait_until(lambda: seen.totals().requests >= 600, "rows written by the writer's flush interval")
        seen.close()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = sorted(int(request_id) for (request_id,) in db.execute("SELECT request_id FROM requests"))
    assert len(ids) >= 600  # every row a reader saw committed survived
    assert ids == list(range(len(ids)))  # a prefix: no batch half-written, none skipped

    store = SqliteLedger(path)  # opens (and migrates, recovers the WAL) cleanly, and takes new rows
    store.append([row()])
    assert store.totals().requests == len(ids) + 1
    store.close()
