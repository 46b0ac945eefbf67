"""`ccr usage [--since] [--by] [--json]`, run as the real `ccr` command on a ledger seeded through
`SqliteLedger.append`: the JSON and the table for every --by, --since, totals, unknown prices, where the ledger is,
and its faults (none yet, corrupt, not a file, locked, newer, unreadable; read while another process writes)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SqliteLedger
from tests.ledger.support import LOCAL_TZ, row, set_zone
from tests.support.ccr_cli import CcrHome, ccr_command
from tests.support.fresh_imports import imported_of

BYS = ("scenario", "provider", "model", "session", "project", "day")
KEYS = {"model": ("provider", "model")}
HOUR, DAY = 3600.0, 86400.0
FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MONEY = ("cost_usd", "baseline_cost_usd", "savings_usd")


@pytest.fixture(autouse=True)
def local_zone(ccr: CcrHome) -> Iterator[None]:
    """Local time UTC+10, here and in `ccr` (local days are not UTC days)."""
    before = os.environ.get("TZ")
    set_zone(LOCAL_TZ)
    ccr.env["TZ"] = LOCAL_TZ
    yield
    set_zone(before)


def seed(now: float) -> list[LedgerRow]:
    return [
        row(time=now - 1 * HOUR, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s1",
            project="/p", input_tokens=1000, output_tokens=100, cache_read_tokens=20_000, cache_write_tokens=5,
            cost_usd=0.0012, baseline_cost_usd=0.032),
        row(time=now - 2 * HOUR, scenario="think", provider="deepseek", model="deepseek-reasoner", session_id="s1",
            project="/p", input_tokens=2000, output_tokens=300, cost_usd=0.002, baseline_cost_usd=1.52),
        row(time=now - 3 * DAY, scenario="background", provider="ollama", model="qwen3", session_id="s2",
            input_tokens=50, output_tokens=5, cost_usd=0.0, baseline_cost_usd=None),  # asked for a non-Claude model
        row(time=now - 3 * DAY - HOUR, scenario="default", provider="deepseek", model="deepseek-chat",
            session_id="s2", status=502, cost_usd=0.0, baseline_cost_usd=0.0),
        row(time=now - 3 * DAY - 2 * HOUR, scenario="default", provider="deepseek", model="deepseek-chat",
            session_id="s2", status=499, input_tokens=30, output_tokens=3, cost_usd=0.0005, baseline_cost_usd=0.004),
        row(time=now - 4 * DAY, scenario="subagent:explore", provider="mystery", model="foo-1", session_id="s2",
            project="/q", input_tokens=70, output_tokens=7, cost_usd=None, baseline_cost_usd=0.003),  # no price
        row(time=now - 20 * DAY, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s3",
            project="/p", input_tokens=500, output_tokens=50, cost_usd=0.01, baseline_cost_usd=0.2),
        row(time=now - 40 * DAY, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s4",
            input_tokens=9, output_tokens=9, cost_usd=1.0, baseline_cost_usd=2.0),
    ]  # fmt: skip


@pytest.fixture
def seeded(ccr: CcrHome) -> list[LedgerRow]:
    rows = seed(time.time())
    store = SqliteLedger(ccr.home / "ledger.db")
    store.append(rows)
    store.close()
    return rows


def usage_json(ccr: CcrHome, *args: str) -> dict[str, Any]:
    result = ccr.run("usage", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# ---------------------------------------------------------------------------------------------------------------
# What the sums should be, computed here from the rows (not by the ledger's SQL)


def key_of(record: LedgerRow, by: str) -> tuple[Any, ...]:
    values = {
        "scenario": record.scenario,
        "provider": record.provider,
        "model": record.model,
        "session": record.session_id,
        "project": record.project,
        "day": time.strftime("%Y-%m-%d", time.localtime(record.time)),
    }
    return tuple(values[name] for name in KEYS.get(by, (by,)))


def expected(rows: Sequence[LedgerRow], by: str, since: float) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[LedgerRow]] = {}
    for record in rows:
        if record.time >= since:
            groups.setdefault(key_of(record, by), []).append(record)
    return {key: sums(members) for key, members in groups.items()}


def sums(rows: Sequence[LedgerRow]) -> dict[str, Any]:
    costs = [r.cost_usd for r in rows]
    baselines = [r.baseline_cost_usd for r in rows]
    cost = None if None in costs else sum(c or 0.0 for c in costs)
    baseline = None if None in baselines else sum(b or 0.0 for b in baselines)
    return {
        "requests": len(rows),
        "errors": sum(1 for r in rows if r.status >= 400 and r.status != 499),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cache_read_tokens": sum(r.cache_read_tokens for r in rows),
        "cache_write_tokens": sum(r.cache_write_tokens for r in rows),
        "cost_usd": cost,
        "baseline_cost_usd": baseline,
        "savings_usd": None if cost is None or baseline is None else baseline - cost,
    }


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name in FIELDS:
        assert got[name] == want[name], name
    for name in MONEY:
        assert got[name] == (None if want[name] is None else pytest.approx(want[name], abs=1e-9)), name


# ---------------------------------------------------------------------------------------------------------------
# --json


@pytest.mark.parametrize("by", BYS)
def test_json_for_every_grouping(ccr: CcrHome, seeded: list[LedgerRow], by: str) -> None:
    before = time.time()
    report = usage_json(ccr, "--by", by, "--since", "30d")
    assert list(report) == ["since", "by", "rows", "total"] and report["by"] == by
    since = datetime.fromisoformat(report["since"]).timestamp()
    assert before - 30 * DAY - 1 <= since <= time.time() - 30 * DAY + 1
    assert report["since"].endswith("+10:00")  # local time, with its offset
    want = expected(seeded, by, since)
    got = {tuple(group[name] for name in KEYS.get(by, (by,))): group for group in report["rows"]}
    assert set(got) == set(want)
    for key, group in got.items():
        assert_same(group, want[key])
    assert_same(report["total"], sums([r for r in seeded if r.time >= since]))
    if by == "day":
        assert [(group["day"],) for group in report["rows"]] == sorted(got)  # oldest first


def test_json_totals_with_an_unpriced_model_are_null_and_counted(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    total = usage_json(ccr)["total"]  # default: the last 7 days
    assert total["requests"] == 6 and total["errors"] == 1  # the 502; the 499 (client left) is no error
    assert total["cost_usd"] is None and total["unpriced_requests"] == 1
    assert total["baseline_cost_usd"] is None and total["unbaselined_requests"] == 1
    assert total["savings_usd"] is None
    by_model = {(g["provider"], g["model"]): g for g in usage_json(ccr, "--by", "model")["rows"]}
    assert by_model[("mystery", "foo-1")]["cost_usd"] is None
    assert by_model[("ollama", "qwen3")]["cost_usd"] == 0.0 and by_model[("ollama", "qwen3")]["savings_usd"] is None
    assert by_model[("deepseek", "deepseek-chat")]["savings_usd"] == pytest.approx(0.032 + 0.004 - 0.0012 - 0.0005)


@pytest.mark.parametrize(("since", "count"), [("24h", 2), ("7d", 6), ("30d", 7), (None, 6)])
def test_since_spans(ccr: CcrHome, seeded: list[LedgerRow], since: str | None, count: int) -> None:
    report = usage_json(ccr, *(("--since", since) if since else ()))
    assert report["total"]["requests"] == count


def test_since_a_local_date(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    day = time.strftime("%Y-%m-%d", time.localtime(time.time() - 25 * DAY))
    report = usage_json(ccr, "--since", day, "--by", "session")
    assert report["since"] == f"{day}T00:00:00+10:00"
    assert {group["session"] for group in report["rows"]} == {"s1", "s2", "s3"}  # s4 is 40 days old
    assert report["total"]["requests"] == 7


def test_a_since_that_is_neither_span_nor_date_is_a_usage_error(ccr: CcrHome) -> None:
    result = ccr.run("usage", "--since", "last week")
    assert result.returncode == 2 and result.stdout == ""
    assert "Invalid value for --since" in result.stderr and "use 24h, 7d, 30d or YYYY-MM-DD" in result.stderr
    assert ccr.run("usage", "--by", "colour").returncode == 2


# ---------------------------------------------------------------------------------------------------------------
# The table


def table_rows(text: str) -> dict[str, list[str]]:
    """The table's lines by their first word (the header's first column, a group's first key, "total")."""
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


def test_table_by_model(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    result = ccr.run("usage", "--by", "model", "--since", "30d")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["provider", "model", "requests", "errors", "in", "out", "cache", "rd", "cache", "wr",
                                "cost", "baseline", "savings"]  # fmt: skip
    body = [line.split() for line in lines[1:5]]
    assert ["deepseek", "deepseek-chat", "4", "1", "1,530", "153", "20.0k", "5", "$0.0117", "$0.24", "$0.22"] in body
    assert ["deepseek", "deepseek-reasoner", "1", "0", "2,000", "300", "0", "0", "$0.0020", "$1.52", "$1.52"] in body
    assert ["ollama", "qwen3", "1", "0", "50", "5", "0", "0", "$0.00", "?", "?"] in body
    assert ["mystery", "foo-1", "1", "0", "70", "7", "0", "0", "?", "$0.0030", "?"] in body
    assert body[0][:2] == ["deepseek", "deepseek-chat"]  # the most requests first
    assert lines[5].split() == ["total", "7", "1", "3,650", "465", "20.0k", "5", "?", "?", "?"]
    notes = "\n".join(lines[6:])
    assert notes.startswith("since ") and "(30d), by model; from " + str(ccr.home / "ledger.db") in notes
    assert "? cost: 1 request of a model without a known price (mystery,foo-1)" in notes
    assert '"Prices": {"mystery,foo-1": {"input": 0.27, "output": 1.10}}' in notes
    assert "? baseline: 1 request asked for a model without a known Claude price" in notes
    assert '"Baseline": "provider,model"' in notes
    assert "\x1b" not in result.stdout  # not a terminal: no colours


@pytest.mark.parametrize("by", BYS)
def test_table_for_every_grouping(ccr: CcrHome, seeded: list[LedgerRow], by: str) -> None:
    result = ccr.run("usage", "--by", by, "--since", "30d")
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    keys = KEYS.get(by, (by,))
    assert rows[keys[0]][: len(keys)] == list(keys)
    names = {"(unknown)" if key[0] is None else key[0] for key in expected(seeded, by, time.time() - 30 * DAY)}
    shown = set(rows) - {keys[0], "total", "since", "?"}
    assert shown == names
    for key, want in expected(seeded, by, time.time() - 30 * DAY).items():
        if len(keys) == 1:
            assert rows["(unknown)" if key[0] is None else key[0]][1] == str(want["requests"])
    assert rows["total"][1:3] == ["7", "1"]


def test_the_unpriced_model_is_named_whatever_the_grouping(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    text = ccr.run("usage", "--by", "day").stdout
    assert "? cost: 1 request of a model without a known price (mystery,foo-1)" in text


def test_no_requests_in_the_period(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    result = ccr.run("usage", "--since", "2099-01-01")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.startswith("ccr: no requests since 2099-01-01 00:00 (2099-01-01) in ")


def test_names_from_clients_are_shown_inert(ccr: CcrHome) -> None:
    store = SqliteLedger(ccr.home / "ledger.db")
    store.append([row(time=time.time(), session_id="[bold]s\x1b[31m\x7f", project="/p", cost_usd=0.0,
                      baseline_cost_usd=0.0)])  # fmt: skip
    store.close()
    table = ccr.run("usage", "--by", "session").stdout
    assert "[bold]s\\x1b[31m\\x7f" in table and "\x1b" not in table and "\x7f" not in table
    raw = ccr.run("usage", "--by", "session", "--json").stdout
    assert "\x1b" not in raw and "\x7f" not in raw
    assert json.loads(raw)["rows"][0]["session"] == "[bold]s\x1b[31m\x7f"


# ---------------------------------------------------------------------------------------------------------------
# Where the ledger is


def test_the_ledger_beside_a_named_config_is_read(ccr: CcrHome, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")
    store = SqliteLedger(elsewhere / "ledger.db")
    store.append([row(time=time.time(), provider="p", model="m", cost_usd=0.5, baseline_cost_usd=1.0)])
    store.close()
    result = ccr.run("--config", str(elsewhere / "config.json"), "usage", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["savings_usd"] == 0.5
    assert not (ccr.home / "ledger.db").exists()


# ---------------------------------------------------------------------------------------------------------------
# Faults: never a traceback


def test_no_ledger_yet_is_said_and_is_not_an_error(ccr: CcrHome) -> None:
    result = ccr.run("usage")
    assert result.returncode == 0 and result.stdout == ""
    path = ccr.home / "ledger.db"
    assert result.stderr.startswith(f"ccr: no usage recorded yet: {path} does not exist.")
    empty = ccr.run("usage", "--json", "--by", "provider")
    assert empty.returncode == 0
    report = json.loads(empty.stdout)
    assert report["rows"] == [] and report["by"] == "provider" and report["total"]["requests"] == 0
    assert report["total"]["cost_usd"] == 0.0
    assert not path.exists()  # reading never creates it


def test_no_ledger_because_it_is_off(ccr: CcrHome) -> None:
    ccr.write_config({"LEDGER": False, "Providers": [], "Router": {}})
    result = ccr.run("usage")
    assert result.returncode == 0
    assert result.stderr.startswith('ccr: no usage recorded: the ledger is off ("LEDGER": false in ')


def fails(ccr: CcrHome, *args: str) -> str:
    result = ccr.run("usage", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith("ccr: ") and len(result.stderr.splitlines()) == 1
    return result.stderr


def test_a_corrupt_file(ccr: CcrHome) -> None:
    path = ccr.home / "ledger.db"
    path.write_bytes(b"this is not sqlite " * 500)
    message = fails(ccr)
    assert f"{path} is not a readable SQLite database" in message and f"mv {path} {path}.corrupt" in message
    assert fails(ccr, "--json") == message


def test_a_directory_in_its_place(ccr: CcrHome) -> None:
    path = ccr.home / "ledger.db"
    path.mkdir()
    assert f"{path} is not a file" in fails(ccr) and f"mv {path} {path}.old" in fails(ccr)


def test_a_file_from_a_newer_ccrouter(ccr: CcrHome) -> None:
    with sqlite3.connect(ccr.home / "ledger.db") as db:
        db.execute("PRAGMA user_version = 99")
    assert "was written by a newer ccrouter (schema 99" in fails(ccr)


def test_a_file_locked_by_another_program(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    holder = sqlite3.connect(ccr.home / "ledger.db", isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # as a sqlite3 shell or a backup tool can hold it
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM requests WHERE 0")
        message = fails(ccr)
    finally:
        holder.close()
    assert "is locked by another program" in message and "close what holds it" in message
    assert usage_json(ccr)["total"]["requests"] == 6  # free again


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_this_user_cannot_read(ccr: CcrHome, seeded: list[LedgerRow]) -> None:
    path = ccr.home / "ledger.db"
    path.chmod(0)
    try:
        assert f"{path} cannot be read by this user" in fails(ccr)
    finally:
        path.chmod(0o600)


# ---------------------------------------------------------------------------------------------------------------
# Read while another process writes

WRITER = """
import os, sys, time
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SqliteLedger
path, stop = sys.argv[1], sys.argv[2]
store = SqliteLedger(path)
written = 0
while not os.path.exists(stop):
    store.append([LedgerRow(time=time.time(), request_id=f"w{written}", status=200, provider="deepseek",
                            model="deepseek-chat", input_tokens=10, cost_usd=0.01, baseline_cost_usd=0.03)])
    written += 1
    if written == 200:
        print("writing", flush=True)
store.close()
print(written, flush=True)
"""


def test_two_runs_while_another_process_writes(ccr: CcrHome, tmp_path: Path) -> None:
    """As the service writes while the user runs `ccr usage` twice at once: neither run fails or waits for the
    writer, each sees a consistent snapshot, and the writer is never held up (it writes on past both snapshots)."""
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ccr.home / "ledger.db"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
        env=ccr.env,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        readers = [
            subprocess.Popen([*ccr_command(), "usage", "--json", "--by", by], env=ccr.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for by in ("day", "model")
        ]  # fmt: skip
        outputs = [reader.communicate(timeout=120) for reader in readers]
    finally:
        stop.touch()
        written_out, _ = writer.communicate(timeout=60)
    written = int(written_out.strip())
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0 and err == "", err
        report = json.loads(out)
        total = report["total"]
        assert 200 <= total["requests"] < written
        assert total["requests"] == sum(group["requests"] for group in report["rows"])
        assert total["input_tokens"] == 10 * total["requests"]
        assert total["cost_usd"] == pytest.approx(0.01 * total["requests"])
        assert total["savings_usd"] == pytest.approx(0.02 * total["requests"])


# ---------------------------------------------------------------------------------------------------------------


def test_help_lists_usage_and_stays_light(ccr: CcrHome) -> None:
    """`ccr --help` lists every command (importing its module) but loads neither rich nor the ledger's store."""
    listed = ccr.run("--help")
    assert listed.returncode == 0 and "  usage  " in listed.stdout
    statements = "from ccrouter.cli.main import main\nmain(['--help'])"
    assert imported_of(statements, ["rich", "rich.table", "sqlite3", "ccrouter.ledger.store"]) == []
    assert imported_of("from ccrouter.cli.main import main\nmain(['usage', '--help'])", ["rich"]) == []
