"""`LEDGER_URL`: the real service writes its ledger to a real PostgreSQL server (tests/support/postgres_server.py),
and the real `ccr usage` reads it. Rows equal what the scripted provider reported; a server stopped and started
again mid-load costs no request and no row (none doubled), with one log line each way; a wrong address or a
server that is down at start leaves the service serving, with one error that says what to do and never the
password; budgets read their spend from the database at start. Also the config key's checks."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from typing import Any

import pytest
from anthropic.types import MessageParam

from ccrouter.config.loading import parse_config
from ccrouter.errors import ConfigError
from ccrouter.gateway.reload import restart_only_changes
from tests.ledger.test_service_ledger import COST, PRICE, USAGE, config, message, message_stream, post
from tests.support.ccr_cli import ccr_command
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    PostgresServer,
    own_postgres_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
)
from tests.support.router_process import RouterProcess, free_port
from tests.support.router_setup import StartRouter, sdk_client
from tests.support.waiting import wait_until

MESSAGES: list[MessageParam] = [{"role": "user", "content": "hi"}]  # as REQUEST's
PASSWORD = "s3cret-Pw-9f81c2"  # must appear in no log line, error or output
URL_VARIABLE = "CCR_TEST_LEDGER_URL"
SUMMED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def password_url(server: PostgresServer, url: str) -> str:
    """`url`'s database, reached as a new role that must give PASSWORD and may create the ledger's tables."""
    database = url.rsplit("/", 1)[1]
    role = f"ana_{uuid.uuid4().hex[:8]}"
    server.add_password_user(role, PASSWORD)
    server.execute(f"GRANT CREATE ON SCHEMA public TO {role}", database)
    return server.url(database, role, PASSWORD)


def ledger_config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return config(upstream, LEDGER_URL=f"${URL_VARIABLE}", **extra)


def start_with(start_router: StartRouter, cfg: dict[str, Any], url: str) -> RouterProcess:
    return start_router(cfg, env={URL_VARIABLE: url})


def table_rows(server: PostgresServer, url: str) -> list[dict[str, Any]]:
    database = url.rsplit("/", 1)[1]
    exists = server.execute("SELECT to_regclass('ccr_requests') IS NOT NULL", database)[0][0]
    if not exists:
        return []
    columns = ("request_id", "status", "provider", "model", "cost_usd", *SUMMED)
    records = server.execute(f"SELECT {', '.join(columns)} FROM ccr_requests ORDER BY id", database)
    return [dict(zip(columns, record, strict=True)) for record in records]


def ledger_lines(router: RouterProcess, level: str) -> list[dict[str, Any]]:
    return [r for r in router.log_records() if r["level"] == level and "ledger" in str(r.get("msg", "")).lower()]


def everything_written(router: RouterProcess) -> str:
    """The service's log files and stderr, to check that no password is in them."""
    logs = [path.read_text(errors="replace") for path in router.home.rglob("*.log")]
    return "\n".join([*logs, router.stderr()])


def ccr_usage(router: RouterProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `ccr usage`, in the service's CCR_HOME and environment (so with the same $CCR_TEST_LEDGER_URL)."""
    return subprocess.run(
        [*ccr_command(), "usage", *args],
        env=router.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def usage_of(index: int) -> dict[str, int]:
    return {
        "input_tokens": 100 + index,
        "output_tokens": 10 + index,
        "cache_read_input_tokens": 5 * index,
        "cache_creation_input_tokens": index,
    }


def cost_of(usage: dict[str, int]) -> float:
    prices = (PRICE["input"], PRICE["output"], PRICE["cache_read"], PRICE["cache_write"])
    return sum(count * price for count, price in zip(usage.values(), prices, strict=True)) / 1e6


# ---------------------------------------------------------------------------------------------------------------
# Through the real service


def test_requests_become_rows_in_postgresql_that_ccr_usage_reads(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    url = password_url(postgres_server, postgres_url)
    router = start_with(start_router, ledger_config(upstream), url)
    client = sdk_client(router.url)
    usages = [usage_of(index) for index in range(1, 6)]
    upstream.queue(*(message(f"answer {index}", usage) for index, usage in enumerate(usages)))
    for _ in usages:
        reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=MESSAGES)
        assert reply.content[0].type == "text"
    upstream.queue(message_stream())
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=MESSAGES) as stream:
        assert stream.get_final_message().usage.output_tokens == 500
    usages.append(USAGE)

    found = wait_until(
        lambda: rows if len(rows := table_rows(postgres_server, url)) >= 6 else [], "six rows in PostgreSQL"
    )
    assert len(found) == 6
    for row, usage in zip(found, usages, strict=True):
        assert [row[column] for column in SUMMED] == list(usage.values())
        assert (row["status"], row["provider"], row["model"]) == (200, "prov", "m")
        assert row["cost_usd"] == pytest.approx(cost_of(usage))
    assert not (router.home / "ledger.db").exists()  # the database instead of the file, not beside it

    result = ccr_usage(router, "--json", "--by", "provider")
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["requests"] == 6
    for column in SUMMED:
        assert total[column] == sum(row[column] for row in found)
    assert total["cost_usd"] == pytest.approx(sum(cost_of(usage) for usage in usages))
    table = ccr_usage(router)
    assert table.returncode == 0 and "prov" in table.stdout, table.stderr
    assert PASSWORD not in table.stdout + table.stderr + everything_written(router)


def test_a_server_stopped_mid_load_loses_no_request_and_no_row(
    upstream: ScriptedUpstream, start_router: StartRouter, own_postgres: PostgresServer
) -> None:
    url = own_postgres.create_database()
    upstream.default = lambda received: message()
    router = start_with(start_router, ledger_config(upstream), url)
    total, before_stop, before_restart = 200, 40, 120
    stopped, restarted = threading.Event(), threading.Event()
    statuses: list[int] = []
    numbers = iter(range(total))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            if number >= before_stop:  # requests 40-119 while the server is down, 120-199 after it is back
                stopped.wait(60)
            if number >= before_restart:
                restarted.wait(60)
            status = post(router).status_code
            with lock:
                statuses.append(status)

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    try:
        wait_until(lambda: len(table_rows(own_postgres, url)) >= 20, "the first rows in PostgreSQL")
        own_postgres.stop()
        stopped.set()
        wait_until(lambda: ledger_lines(router, "error"), "the ledger's error line")
        wait_until(lambda: len(statuses) >= before_restart, "the requests of the outage")
        own_postgres.start()
        restarted.set()
    finally:
        stopped.set()
        restarted.set()
        for thread in clients:
            thread.join(120)
    assert statuses == [200] * total  # every request answered, none failed because of the ledger

    wait_until(lambda: len(table_rows(own_postgres, url)) >= total, "all rows stored", timeout=60)
    wait_until(lambda: ledger_lines(router, "info"), "the recovery line")
    assert post(router).status_code == 200  # one more, after recovery: the writer goes on as usual
    stored = wait_until(lambda: rows if len(rows := table_rows(own_postgres, url)) > total else [], "the last row")
    assert len(stored) == total + 1 and len({row["request_id"] for row in stored}) == total + 1  # none lost or doubled
    errors, recoveries = ledger_lines(router, "error"), ledger_lines(router, "info")
    assert len(errors) == 1 and "start the server" in errors[0]["msg"], errors
    assert len(recoveries) == 1 and "written again" in recoveries[0]["msg"], recoveries


@pytest.mark.parametrize("fault", ["down", "wrong-password", "unknown-option"])
def test_a_database_that_cannot_be_used_at_start_leaves_the_service_serving(
    fault: str,
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    postgres_server: PostgresServer,
    postgres_url: str,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    if fault == "down":
        url, expected = f"postgresql://ana:{PASSWORD}@127.0.0.1:{free_port()}/ledger", "start the server"
    elif fault == "wrong-password":
        right = password_url(postgres_server, postgres_url)
        url, expected = right.replace(PASSWORD, PASSWORD[::-1]), "check the user and password"
        assert url != right
    else:  # passes the config's check; libpq refuses it
        url = f"postgresql://ana:{PASSWORD}@127.0.0.1:{postgres_server.port}/{database}?bogus_option=1"
        expected = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
    upstream.default = lambda received: message()
    router = start_with(start_router, ledger_config(upstream), url)
    errors = wait_until(lambda: ledger_lines(router, "error"), "the ledger's error line")
    assert len(errors) == 1 and expected in errors[0]["msg"] + errors[0].get("error", ""), errors
    for _ in range(3):
        assert post(router).status_code == 200  # served all the same

    result = ccr_usage(router, "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("ccr: ") and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + everything_written(router)


def test_budgets_read_their_spend_from_postgresql_at_start(
    upstream: ScriptedUpstream, start_router: StartRouter, postgres_server: PostgresServer, postgres_url: str
) -> None:
    upstream.default = lambda received: message()
    budget = {"name": "daily", "scope": "all", "period": "day", "usd": 3 * COST * 0.99}  # spent by the third request
    cfg = ledger_config(upstream, Budgets=[budget])
    first = start_with(start_router, cfg, postgres_url)
    assert [post(first).status_code for _ in range(4)] == [200, 200, 200, 429]
    wait_until(lambda: len(table_rows(postgres_server, postgres_url)) == 4, "four rows in PostgreSQL")  # the 429 too
    first.stop()

    again = start_with(start_router, cfg, postgres_url)  # a new home: no ledger.db to read the spend from
    refused = post(again)
    assert refused.status_code == 429 and "daily" in refused.text, refused.text
    assert not (again.home / "ledger.db").exists()


# ---------------------------------------------------------------------------------------------------------------
# The config key

BASE = {"Providers": [{"name": "p", "api_base_url": "http://127.0.0.1:1/v1/chat/completions", "models": ["m"]}]}


def load(environ: dict[str, str] | None = None, **keys: Any) -> Any:
    return parse_config(json.dumps({**BASE, "Router": {"default": "p,m"}, **keys}), environ or {})


def test_ledger_url_is_read_from_a_variable_and_never_shown() -> None:
    url = f"postgresql://ana:{PASSWORD}@db.internal:5432/ccrouter"
    settings = load({"LEDGER_DB": url}, LEDGER_URL="$LEDGER_DB").ledger
    assert settings.url == url and PASSWORD not in repr(settings)
    assert load(LEDGER_URL="postgres://db.internal/ccrouter").ledger.url == "postgres://db.internal/ccrouter"
    assert load().ledger.url is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"mysql://ana:{PASSWORD}@db/ccr", "is not a postgresql:// URL"),
        (f"db.internal:{PASSWORD}", "is not a postgresql:// URL"),
        (f"postgresql://ana:{PASSWORD}@db:99999/ccr", "port"),
        (f"postgresql://ana:{PASSWORD}@/ccr", "names no host"),
        (5432, "must be a string"),
    ],
)
def test_a_ledger_url_that_is_not_postgresql_stops_the_start_without_showing_it(value: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(LEDGER_URL=value)
    message = str(caught.value)
    assert message.startswith("LEDGER_URL") and problem in message and "postgresql://USER:PASSWORD@" in message
    assert PASSWORD not in message


def test_changing_ledger_url_needs_a_restart() -> None:
    before, after = load(LEDGER_URL="postgresql://a/x"), load(LEDGER_URL="postgresql://b/x")
    assert any("LEDGER_URL" in reason for reason in restart_only_changes(before, after))
    assert restart_only_changes(before, load(LEDGER_URL="postgresql://a/x")) == []
