"""`"WORKERS": 2`: `ccr start` runs a supervisor and two worker processes on one port, as real processes.

Which worker answered is read from each answer's `x-ccr-worker` header; the processes are found through /proc
(every process whose command line names this home's config), independently of what `ccr status` says.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from ccrouter.config.loading import parse_config
from ccrouter.errors import ConfigError
from ccrouter.paths import LEDGER_FILE
from tests.support.ccr_cli import CcrHome, fake_provider_config, process_alive
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_completion
from tests.support.router_setup import sdk_client

DEADLINE_S = 30.0
PRICES = {"fake,fake-model": {"input": 1.0, "output": 2.0}}  # 12 input + 5 output tokens: $0.000022 a request
BUDGETS = [{"name": "daily", "scope": "all", "period": "day", "usd": 5.0}]


def echo_model(received: Received) -> Scripted:
    """The provider answers with the model it was asked for, so an answer says which route served it."""
    return openai_completion(str(received.body["model"]))


def start_workers(ccr: CcrHome, upstream: ScriptedUpstream, **extra: Any) -> tuple[int, list[int]]:
    """`ccr start` with WORKERS 2: the supervisor's pid (the pid file's) and its two workers' pids."""
    upstream.default = echo_model
    ccr.write_config(fake_provider_config(upstream, ccr.port, WORKERS=2, **extra))
    started = ccr.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    info = ccr.pid_info()
    assert info is not None
    return info["pid"], wait_for_workers(ccr, info["pid"], count=2)


def wait_for_workers(ccr: CcrHome, supervisor: int, count: int) -> list[int]:
    """The pids of the supervisor's workers, once there are `count` of them."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        workers = [pid for pid in ccr.server_pids() if pid != supervisor and _parent(pid) == supervisor]
        if len(workers) == count:
            return sorted(workers)
        assert time.monotonic() < deadline, f"workers now {workers}, expected {count} new ones"
        time.sleep(0.05)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def fresh_connections_client(url: str) -> anthropic.Anthropic:
    """An SDK client that opens a new connection for every request: the kernel picks a worker per connection."""
    limits = httpx2.Limits(max_keepalive_connections=0)
    return sdk_client(url, http_client=anthropic.DefaultHttpxClient(verify=False, trust_env=False, limits=limits))


def ask(client: anthropic.Anthropic, count: int) -> list[tuple[str, str]]:
    """`count` requests, 8 at a time: (the worker that answered, the answer's text) of each."""

    def one(_: int) -> tuple[str, str]:
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hello"}]
        )
        message = raw.parse()
        text = message.content[0].text if message.content[0].type == "text" else ""
        return raw.headers["x-ccr-worker"], text

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def ask_until(client: anthropic.Anthropic, done: Callable[[list[tuple[str, str]]], bool]) -> list[tuple[str, str]]:
    """Answers, in batches, until `done(all answers so far)`; every request must succeed."""
    answers: list[tuple[str, str]] = []
    deadline = time.monotonic() + DEADLINE_S
    while not done(answers):
        assert time.monotonic() < deadline, f"not done after {len(answers)} answers: {sorted(set(answers))}"
        answers += ask(client, 16)
    return answers


def both_workers(answers: list[tuple[str, str]]) -> bool:
    return {worker for worker, _ in answers} == {"1", "2"}


def log_lines(ccr: CcrHome, msg: str) -> list[dict[str, Any]]:
    path = ccr.home / "logs" / "ccr-router.log"
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [line for line in lines if line.get("msg") == msg]


def wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while any(process_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[pid for pid in pids if process_alive(pid)]}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------------


def test_two_workers_serve_one_port_and_status_and_stop_see_them_all(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    supervisor, workers = start_workers(ccr, upstream)

    answers = ask_until(fresh_connections_client(ccr.url), both_workers)
    assert {text for _, text in answers} == {"fake-model"}

    status = ccr.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"pid:      {supervisor}" in status.stdout
    assert f"workers:  2 (pids {workers[0]}, {workers[1]})" in status.stdout

    stopped = ccr.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped (pid {supervisor})" in stopped.stdout
    assert not any(process_alive(pid) for pid in [supervisor, *workers])
    assert ccr.server_pids() == []


def test_a_killed_worker_is_replaced_while_the_other_answers(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    supervisor, workers = start_workers(ccr, upstream)
    client = fresh_connections_client(ccr.url)
    victim, survivor = workers

    os.kill(victim, signal.SIGKILL)
    replaced: list[int] = []
    deadline = time.monotonic() + DEADLINE_S
    while not replaced:  # requests go on being answered (every one succeeds) until the replacement runs
        assert ask(client, 8)
        now = [pid for pid in ccr.server_pids() if _parent(pid) == supervisor]
        if len(now) == 2 and victim not in now:
            replaced = now
        assert time.monotonic() < deadline, "the killed worker was not replaced"
    assert survivor in replaced

    ask_until(client, both_workers)  # the new worker serves too
    exits = log_lines(ccr, "worker exited; restarting it")
    assert [(line["pid"], line["exit"]) for line in exits] == [(victim, "killed by SIGKILL")]


def test_every_worker_writes_its_rows_and_reads_the_shared_spend_at_start(
    ccr: CcrHome, upstream: ScriptedUpstream
) -> None:
    _, workers = start_workers(ccr, upstream, Prices=PRICES, Budgets=BUDGETS)
    answers = ask_until(fresh_connections_client(ccr.url), lambda so_far: len(so_far) >= 48 and both_workers(so_far))
    assert ccr.run("stop").returncode == 0  # each worker writes its rows still in memory before it exits

    with sqlite3.connect(ccr.home / LEDGER_FILE) as db:
        rows = db.execute("SELECT request_id, cost_usd FROM requests").fetchall()
    assert len(rows) == len(answers)
    assert len({request_id for request_id, _ in rows}) == len(rows)
    # A request id starts with its worker's pid (hex): both workers' rows are there.
    writers = {int(pid, 16) for pid in {request_id[4:-12] for request_id, _ in rows}}
    assert writers == set(workers)
    spent = sum(cost for _, cost in rows)
    assert spent == pytest.approx(len(rows) * 0.000022)

    start_workers(ccr, upstream, Prices=PRICES, Budgets=BUDGETS)
    seen: dict[str, float] = {}
    deadline = time.monotonic() + DEADLINE_S
    with httpx.Client(trust_env=False) as http:
        while len(seen) < 2:
            reply = http.get(f"{ccr.url}/api/budgets", headers={"connection": "close"})
            seen[reply.headers["x-ccr-worker"]] = reply.json()["budgets"][0]["spent_usd"]
            assert time.monotonic() < deadline, f"only worker(s) {sorted(seen)} answered"
    assert seen == {"1": pytest.approx(spent), "2": pytest.approx(spent)}


def test_a_config_change_reloads_in_every_worker(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    start_workers(ccr, upstream)
    client = fresh_connections_client(ccr.url)
    ask_until(client, both_workers)

    config = fake_provider_config(upstream, ccr.port, WORKERS=2)
    config["Providers"][0]["models"] = ["fake-model", "other-model"]
    config["Router"] = {"default": "fake,other-model"}
    staged = ccr.config_path.with_name("staged.json")
    staged.write_text(json.dumps(config))
    os.replace(staged, ccr.config_path)

    new_answers = lambda so_far: both_workers([(w, t) for w, t in so_far if t == "other-model"])  # noqa: E731
    ask_until(client, new_answers)
    deadline = time.monotonic() + DEADLINE_S
    while len(log_lines(ccr, "config reloaded")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(log_lines(ccr, "config reloaded")) == 2  # once in each worker


def test_a_worker_that_cannot_start_fails_the_whole_start(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """The custom router loads in each worker; this one refuses to load a second time, so exactly one worker fails
    while the other is ready: the start fails with that message and nothing keeps serving."""
    marker = ccr.home / "loaded-once"
    router = ccr.home / "router.py"
    router.write_text(
        "import os\n"
        f"try:\n    os.close(os.open({str(marker)!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
        "except FileExistsError:\n    raise RuntimeError('second worker refused on purpose') from None\n"
        "def router(request, config):\n    return None\n"
    )
    ccr.write_config(fake_provider_config(upstream, ccr.port, WORKERS=2, CUSTOM_ROUTER_PATH=str(router)))

    started = ccr.run("start")
    assert started.returncode != 0
    assert "second worker refused on purpose" in started.stderr
    assert started.stderr.count("second worker refused on purpose") == 1
    assert marker.exists()
    assert ccr.server_pids() == []
    assert not ccr.pid_file.exists()
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", ccr.port))


def test_workers_stop_when_their_supervisor_is_killed(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    supervisor, workers = start_workers(ccr, upstream)
    os.kill(supervisor, signal.SIGKILL)
    wait_gone(workers)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{ccr.url}/health", timeout=2)


@pytest.mark.parametrize(
    ("value", "workers"), [(None, 1), (1, 1), ("3", 3), (64, 64), ("auto", min(64, os.cpu_count() or 1))]
)
def test_workers_key(value: Any, workers: int) -> None:
    config = parse_config(json.dumps({"WORKERS": value}), {}, None)
    assert config.workers == workers


@pytest.mark.parametrize("value", [0, 65, -2, "many", 1.5, True])
def test_workers_key_refuses_what_cannot_run(value: Any) -> None:
    with pytest.raises(ConfigError, match="WORKERS"):
        parse_config(json.dumps({"WORKERS": value}), {}, None)
