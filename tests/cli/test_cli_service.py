"""`ccr start / stop / status / restart / version` as real processes, each test with its own CCR_HOME and port."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.ccr_cli import CcrHome, ccr_command, fake_provider_config, process_alive
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.fresh_imports import SERVER_STACK, imported_of


def _health(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    finally:
        conn.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_status_stop_cycle(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))

    started = ccr.run("start")
    assert started.returncode == 0, started.stderr
    assert ccr.url in started.stdout
    info = ccr.pid_info()
    assert info is not None
    pid = info["pid"]
    assert info["port"] == ccr.port
    assert info["config"] == str(ccr.config_path.resolve())
    assert process_alive(pid)

    status = ccr.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout
    assert str(pid) in status.stdout
    assert ccr.url in status.stdout
    assert _health(ccr.url) == 200

    again = ccr.run("start")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert str(pid) in again.stdout
    assert (ccr.pid_info() or {}).get("pid") == pid

    stopped = ccr.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    assert not process_alive(pid)
    assert not ccr.pid_file.exists()

    status = ccr.run("status")
    assert status.returncode == 1
    assert "not running" in status.stdout
    assert "ccr start" in status.stdout  # says what to do next
    assert not ccr.pid_file.exists()

    stop_again = ccr.run("stop")
    assert stop_again.returncode == 0
    assert "not running" in stop_again.stdout


def test_stale_pid_file_is_cleaned_and_start_works(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    dead = _dead_pid()
    ccr.pid_file.write_text(
        json.dumps({"pid": dead, "host": "127.0.0.1", "port": ccr.port, "config": "x", "started_at": 0})
    )

    status = ccr.run("status")
    assert status.returncode == 1
    assert "not running" in status.stdout
    assert "stale" in status.stdout
    assert not ccr.pid_file.exists()

    ccr.pid_file.write_text(json.dumps({"pid": dead, "host": "127.0.0.1", "port": ccr.port}))
    started = ccr.run("start")
    assert started.returncode == 0, started.stderr
    info = ccr.pid_info()
    assert info is not None and info["pid"] != dead
    assert _health(ccr.url) == 200


def test_reused_pid_is_not_taken_for_the_service(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """The pid file names a live process that is not the one that wrote it (pid reuse): never signal it."""
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    ccr.pid_file.write_text(
        json.dumps(
            {"pid": os.getpid(), "host": "127.0.0.1", "port": ccr.port, "config": "x", "started_at": 0, "proc_start": 1}
        )
    )
    stopped = ccr.run("stop")
    assert stopped.returncode == 0
    assert "not running" in stopped.stdout
    assert not ccr.pid_file.exists()  # and this test process is still alive to assert it


def test_corrupt_pid_file_is_removed(ccr: CcrHome) -> None:
    ccr.pid_file.write_text("not json")
    status = ccr.run("status")
    assert status.returncode == 1
    assert "not running" in status.stdout
    assert not ccr.pid_file.exists()


def test_invalid_config_fails_start_without_leftovers(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    config = fake_provider_config(upstream, ccr.port)
    config["Router"] = {"default": "deepseek"}
    ccr.write_config(config)

    result = ccr.run("start")
    assert result.returncode == 2
    assert result.stderr.startswith("ccr: ")
    assert "Router.default" in result.stderr
    assert "provider,model" in result.stderr  # says how to fix it
    assert "Traceback" not in result.stderr
    assert not ccr.pid_file.exists()
    assert ccr.server_pids() == []


def test_missing_config_file_says_where_to_put_one(ccr: CcrHome) -> None:
    for args in (["start"], ["start", "--foreground"], ["code", "-p", "hi"], ["restart"]):
        result = ccr.run(*args)
        assert result.returncode == 2, args
        assert str(ccr.config_path) in result.stderr
        # The next step, as a command to paste: the full path of this very `ccr`.
        assert f"Write a starter one with: {ccr_command()[0]} init\n" in result.stderr, args
        assert "--config" in result.stderr
        assert "Traceback" not in result.stderr
        assert not ccr.pid_file.exists()
    elsewhere = ccr.home / "other.json"
    result = ccr.run("--config", str(elsewhere), "start")
    assert f"Write a starter one with: {ccr_command()[0]} --config {elsewhere} init\n" in result.stderr


def test_port_in_use_fails_start_with_the_port_named(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ccr.port))
        holder.listen()
        result = ccr.run("start")
    assert result.returncode != 0
    assert str(ccr.port) in result.stderr
    assert "in use" in result.stderr
    assert "PORT" in result.stderr  # what to do next
    assert "Traceback" not in result.stderr
    assert not ccr.pid_file.exists()
    assert ccr.server_pids() == []


def test_explicit_config_option(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "my-config.json"
    other.parent.mkdir()
    other.write_text(json.dumps(fake_provider_config(upstream, ccr.port)))
    started = ccr.run("--config", str(other), "start")
    assert started.returncode == 0, started.stderr
    info = ccr.pid_info()
    assert info is not None and info["config"] == str(other.resolve())
    assert ccr.pid_file.exists()  # in CCR_HOME, whatever the config path
    assert ccr.run("stop").returncode == 0
    assert not process_alive(info["pid"])


def test_foreground_writes_and_removes_the_pid_file(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    proc = subprocess.Popen(
        [*ccr_command(), "start", "--foreground"],
        env=ccr.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        announced = proc.stdout.readline().decode()  # said once it listens: /health answers by then
        assert announced.startswith(f"ccrouter serving at {ccr.url} (pid {proc.pid})"), announced
        assert _health(ccr.url) == 200
        info = ccr.pid_info()
        assert info is not None and info["pid"] == proc.pid and info["foreground"] is True
        status = ccr.run("status")
        assert status.returncode == 0
        assert "foreground" in status.stdout

        second = ccr.run("start", "--foreground")
        assert second.returncode == 1
        assert "ccr stop" in second.stderr

        proc.send_signal(signal.SIGTERM)  # as `ccr stop` does; the process removes its own pid file
        assert proc.wait(10) == 0
        assert not ccr.pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        assert proc.stderr is not None and proc.stdout is not None
        proc.stderr.close()
        proc.stdout.close()


def test_restart_gives_a_new_process(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    assert ccr.run("start").returncode == 0
    first = (ccr.pid_info() or {})["pid"]
    restarted = ccr.run("restart")
    assert restarted.returncode == 0, restarted.stderr
    second = (ccr.pid_info() or {})["pid"]
    assert second != first and not process_alive(first)
    assert _health(ccr.url) == 200


def test_version(ccr: CcrHome) -> None:
    from ccrouter import __version__

    for args in (["version"], ["--version"]):
        result = ccr.run(*args)
        assert result.returncode == 0
        assert __version__ in result.stdout


def test_cli_module_imports_no_heavy_modules() -> None:
    """`ccr` commands must start fast: `ccrouter.cli.main` imports the command modules, the service, the config
    loader and the server stack only when a command needs them."""
    assert imported_of("import ccrouter.cli.main", SERVER_STACK) == []


# ---------------------------------------------------------------------------------------------------------------
# status in full, the port holder, failed starts, the user's config left untouched


def test_status_shows_uptime_config_routing_and_the_last_request(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    from tests.support.fake_upstream import openai_completion

    config = fake_provider_config(upstream, ccr.port)
    config["Providers"][0]["models"] = ["fake-model", "fake-think"]
    config["Router"] = {"default": "fake,fake-model", "think": "fake,fake-think", "longContextThreshold": 1000}
    config["fallback"] = {"default": ["fake,fake-think"]}
    ccr.write_config(config)
    assert ccr.run("start").returncode == 0
    pid = (ccr.pid_info() or {})["pid"]
    upstream.queue(openai_completion("hi", prompt=40, completion=7))
    conn = http.client.HTTPConnection("127.0.0.1", ccr.port, timeout=10)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    conn.request("POST", "/v1/messages", json.dumps(body), {"content-type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()

    status = ccr.run("status")
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert text.startswith("ccrouter is running\n")
    assert f"pid:      {pid} (started by `ccr start`)" in text
    assert f"url:      {ccr.url}" in text
    assert "uptime:   " in text and "s (since " in text
    assert re.search(r"connections: \d+ open of at most [\d,]+ \(LIMITS.max_connections\)", text), text
    assert f"config:   {ccr.config_path.resolve()}" in text
    assert f"log:      {ccr.home / 'logs' / 'ccr-router.log'}" in text
    deadline = time.monotonic() + 5
    while "last request:" not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        text = ccr.run("status").stdout
    assert "last request: " in text and "default -> fake,fake-model, status 200" in text and "40 in / 7 out" in text
    routing = text[text.index("routing:") :].splitlines()
    assert routing[1].split() == ["default", "fake,fake-model;", "fallback", "fake,fake-think"]
    assert routing[2].split() == ["think", "fake,fake-think"]
    assert "cooling down: none (every target is in use)" in text


def test_status_shows_the_targets_cooling_down(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    from tests.support.fake_upstream import error_reply, openai_completion

    config = fake_provider_config(upstream, ccr.port, APIKEY="router-key-1234")
    config["Providers"][0]["models"] = ["fake-model", "fake-backup"]
    config["fallback"] = {"default": ["fake,fake-backup"]}
    ccr.write_config(config)
    assert ccr.run("start").returncode == 0
    upstream.queue(error_reply(429, {"error": {"message": "quota"}}, {"Retry-After": "90"}), openai_completion("ok"))
    conn = http.client.HTTPConnection("127.0.0.1", ccr.port, timeout=10)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    conn.request(
        "POST", "/v1/messages", json.dumps(body), {"content-type": "application/json", "x-api-key": "router-key-1234"}
    )
    assert conn.getresponse().status == 200
    conn.close()
    text = ccr.run("status").stdout
    cooling = text[text.index("cooling down (") :].splitlines()
    assert cooling[1].split()[:4] == ["fake,fake-model", cooling[1].split()[1], "s", "left"]
    assert 85 <= float(cooling[1].split()[1]) <= 90 and "HTTP 429" in cooling[1] and "quota" in cooling[1]


def test_status_when_stopped_shows_the_config_routing_and_who_holds_the_port(
    ccr: CcrHome, upstream: ScriptedUpstream
) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    status = ccr.run("status")
    assert status.returncode == 1
    assert "not running" in status.stdout
    assert f"config:   {ccr.config_path.resolve()}" in status.stdout
    assert "default      fake,fake-model" in status.stdout
    assert "in use" not in status.stdout
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ccr.port))
        holder.listen()
        status = ccr.run("status")
    assert f"port {ccr.port} is in use by pid {os.getpid()} (" in status.stdout


def test_status_with_a_broken_config_still_answers(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    config = fake_provider_config(upstream, ccr.port)
    config["Router"] = {"default": "fake,no-such-model", "think": "$UNSET_VARIABLE_FOR_TEST"}
    ccr.write_config(config)
    status = ccr.run("status")
    assert status.returncode == 1
    assert "the config does not load" in status.stdout
    assert "Traceback" not in status.stdout + status.stderr


def test_port_in_use_names_the_process_holding_it(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port))
    holder_proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{ccr.port})); "
            "s.listen(); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder_proc.stdout is not None and holder_proc.stdout.readline().strip() == "ready"
        for args in (["start"], ["start", "--foreground"]):
            result = ccr.run(*args)
            assert result.returncode != 0
            assert f"port {ccr.port} is already in use by pid {holder_proc.pid} ({sys.executable} -c" in result.stderr
            assert "PORT" in result.stderr and "Traceback" not in result.stderr
            # Only the friendly message: not uvicorn's raw line too, and no "serving" for a start that fails.
            assert "Errno 98" not in result.stderr and "ERROR:" not in result.stderr, args
            assert result.stderr.count("\n") == 1, result.stderr
            assert "serving" not in result.stdout, args
            assert not ccr.pid_file.exists()
            assert ccr.server_pids() == []
    finally:
        holder_proc.kill()
        holder_proc.communicate()


def test_failed_start_prints_the_reason_and_leaves_nothing(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    """An address this machine does not have (TEST-NET-1): the server cannot bind and exits; the reason comes from
    its output, and nothing is left behind."""
    ccr.write_config(fake_provider_config(upstream, ccr.port, HOST="192.0.2.1", APIKEY="router-key-123"))
    result = ccr.run("start")
    assert result.returncode == 1
    assert result.stderr.startswith("ccr: ccrouter exited with code")
    assert "cannot assign requested address" in result.stderr.lower()
    assert "service-stderr.log" in result.stderr
    assert not ccr.pid_file.exists()
    assert ccr.server_pids() == []
    assert "not running" in ccr.run("status").stdout
    # ... and `ccr logs` shows it too, after the service's own lines (the service died before it could say why).
    logs = ccr.run("logs")
    assert logs.returncode == 0, logs.stderr
    last = logs.stdout.splitlines()[-1]
    assert "ERROR" in last and "start failed" in last and "cannot assign requested address" in last.lower()
    assert "service-stderr.log" in last


def test_a_failed_start_is_not_logged_with_log_false(ccr: CcrHome, upstream: ScriptedUpstream) -> None:
    ccr.write_config(fake_provider_config(upstream, ccr.port, HOST="192.0.2.1", APIKEY="router-key-123", LOG=False))
    assert ccr.run("start").returncode == 1
    assert not (ccr.home / "logs" / "ccr-router.log").exists()


def test_no_command_writes_to_the_users_config(ccr: CcrHome, upstream: ScriptedUpstream, tmp_path: Path) -> None:
    text = json.dumps(fake_provider_config(upstream, ccr.port), indent=4) + "\n// trailing comment kept\n"
    ccr.config_path.write_text(text)
    os.utime(ccr.config_path, (1_000_000_000, 1_000_000_000))
    before = ccr.config_path.stat()
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    env = {**ccr.env, "PATH": f"{script.parent}{os.pathsep}{ccr.env.get('PATH', '')}"}
    for args in (["start"], ["status"], ["restart"], ["logs"], ["stop"], ["code", "-p", "hi"], ["status"]):
        assert ccr.run(*args, env=env).returncode in (0, 1), args
    with socket.socket() as holder:  # and a start that fails
        # `ccr status` asked the service for its cool-downs, so the port may hold a TIME_WAIT connection.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", ccr.port))
        holder.listen()
        assert ccr.run("start").returncode == 1
    after = ccr.config_path.stat()
    assert ccr.config_path.read_text() == text
    assert (after.st_mtime_ns, after.st_ino, after.st_size) == (before.st_mtime_ns, before.st_ino, before.st_size)
