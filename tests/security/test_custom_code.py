"""The user's Python (a custom router, transformer plugins) against the real service and the real `ccr` command.

A sync router runs in a thread, so while one call works `/health` and other requests are served; a router past
CUSTOM_ROUTER_TIMEOUT_MS (sync or async, even one that ignores cancellation) leaves the request to the configured
rules with one warning; a plugin slow to import on hot reload leaves `/health` answering and the old config
serving until the new one is ready; the commands that only read the config never run the user's Python; and a
file that raises SystemExit or KeyboardInterrupt while it loads is a config error naming it, at start and on
reload. The user code here waits on files the test writes, never on the clock, and gives up after 30 s so that a
service without these defenses fails the test rather than hanging it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.ccr_cli import CcrHome
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.served_router import ServedRouter
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.inprocess import ServeRouter

pytestmark = pytest.mark.process  # every test starts the service or runs `ccr`

REQUEST = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
SLOW_REQUEST = {**REQUEST, "messages": [{"role": "user", "content": "take your time"}]}
QUICK_S = 5.0  # what "not held up" means: far below the 30 s the user code here can hold anything up

# Waits until `release` exists (the test's say-so), for at most 30 s; `started` says it began waiting.
WAIT_FOR_RELEASE = """
import time
from pathlib import Path

def wait_for_release(signals):
    (Path(signals) / "started").write_text("")
    deadline = time.monotonic() + 30
    while not (Path(signals) / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.fixture
def signals(tmp_path: Path) -> Iterator[Path]:
    """The folder through which the test and the user code signal each other; released at the end whatever
    happened, so no user code outlives the test by more than a moment."""
    folder = tmp_path / "signals"
    folder.mkdir()
    yield folder
    (folder / "release").write_text("")


def served_by(received: Received) -> Scripted:
    return openai_text_reply(f"served by {received.body['model']}", False)


def config_of(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "Providers": [openai_provider(upstream, models=["model-a", "model-b"])],
        "Router": {"default": "fake,model-a"},
        **extra,
    }


def write_module(path: Path, source: str) -> str:
    path.write_text(source)
    return str(path)


def answer_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["content"][0]["text"])


def ask(router: ServedRouter, body: dict[str, Any] = REQUEST, timeout: float = QUICK_S) -> httpx.Response:
    return LOOPBACK.post(router.url + "/v1/messages", json=body, timeout=timeout)


def health(router: ServedRouter) -> int:
    return LOOPBACK.get(router.url + "/health", timeout=QUICK_S).status_code


def in_background(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["response"] = call()
        except Exception as exc:  # reported by the test's assertion on `outcome`
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# ---------------------------------------------------------------------------------------------------------------
# A custom router at work, and past its time limit


def test_a_sync_router_at_work_holds_up_neither_health_nor_other_requests(
    upstream: ScriptedUpstream, start_router: StartRouter, signals: Path, tmp_path: Path
) -> None:
    upstream.default = served_by
    router_file = write_module(
        tmp_path / "router.py",
        WAIT_FOR_RELEASE
        + f"""
def router(request, config):
    if "take your time" in str(request["messages"]):
        wait_for_release({str(signals)!r})
        return "fake,model-b"
    return None
""",
    )
    router = start_router(config_of(upstream, CUSTOM_ROUTER_PATH=router_file, CUSTOM_ROUTER_TIMEOUT_MS=60_000))

    slow, outcome = in_background(lambda: ask(router, SLOW_REQUEST, timeout=60))
    wait_until((signals / "started").exists, "the custom router being asked")
    assert health(router) == 200
    assert answer_of(ask(router)) == "served by model-a"  # also through the router, while its other call works
    assert slow.is_alive() and not outcome, "the slow request should still wait for its router"

    (signals / "release").write_text("")
    slow.join(30)
    assert answer_of(outcome["response"]) == "served by model-b"  # within its limit, the router's answer counts


ROUTERS_THAT_OVERRUN = {
    "sync": WAIT_FOR_RELEASE + "\ndef router(request, config):\n    wait_for_release({signals!r})\n",
    "async_never_answers": """
import asyncio
from pathlib import Path

async def router(request, config):
    (Path({signals!r}) / "started").write_text("")
    await asyncio.Event().wait()
""",
    "async_ignores_cancellation": """
import asyncio
from pathlib import Path

async def router(request, config):
    (Path({signals!r}) / "started").write_text("")
    while not (Path({signals!r}) / "release").exists():
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass
""",
}


@pytest.mark.parametrize("kind", sorted(ROUTERS_THAT_OVERRUN))
def test_a_router_past_its_time_limit_leaves_the_request_to_the_rules_with_one_warning(
    upstream: ScriptedUpstream, start_router: StartRouter, signals: Path, tmp_path: Path, kind: str
) -> None:
    upstream.default = served_by
    router_file = write_module(tmp_path / "router.py", ROUTERS_THAT_OVERRUN[kind].format(signals=str(signals)))
    router = start_router(config_of(upstream, CUSTOM_ROUTER_PATH=router_file, CUSTOM_ROUTER_TIMEOUT_MS=300))

    response = ask(router, timeout=15)

    assert answer_of(response) == "served by model-a"
    assert response.headers["x-ccr-route"] == "default"
    assert (signals / "started").exists()
    [record] = router.wait_for_records(1)
    warnings = [r for r in router.log_records() if r["level"] == "warn" and r.get("request_id") == record["request_id"]]
    assert len(warnings) == 1, warnings
    assert warnings[0]["msg"].startswith("custom router did not answer within its time limit"), warnings
    assert warnings[0]["limit_ms"] == 300 and "CUSTOM_ROUTER_TIMEOUT_MS" in warnings[0]["fix"], warnings
    assert record["latency_ms"] < 10_000, record  # cut at the limit, not when the router gave up (30 s)


def test_sync_router_calls_stuck_past_their_limit_do_not_pile_up_threads(
    upstream: ScriptedUpstream, serve_router: ServeRouter, signals: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """With every router thread held by a call past its limit, the rules decide at once; once it returns, the
    router is asked again."""
    from ccrouter.gateway import custom_router

    monkeypatch.setattr(custom_router, "_router_threads", threading.BoundedSemaphore(1))
    upstream.default = served_by
    router_file = write_module(
        tmp_path / "router.py",
        WAIT_FOR_RELEASE
        + f"""
def router(request, config):
    if "take your time" in str(request["messages"]):
        wait_for_release({str(signals)!r})
    return "fake,model-b"
""",
    )
    router = serve_router(config_of(upstream, CUSTOM_ROUTER_PATH=router_file, CUSTOM_ROUTER_TIMEOUT_MS=300))

    assert answer_of(ask(router, SLOW_REQUEST)) == "served by model-a"  # past the limit; its thread runs on
    assert answer_of(ask(router)) == "served by model-a"  # the only thread is taken: the rules decide at once
    busy = [r for r in router.log_records() if r["msg"].startswith("custom router is still running")]
    assert len(busy) == 1 and "make the router return" in busy[0]["fix"], router.log_records()

    (signals / "release").write_text("")
    wait_until(lambda: answer_of(ask(router)) == "served by model-b", "the released router's answer (model-b)")


# ---------------------------------------------------------------------------------------------------------------
# Hot reload of a plugin that is slow to import


def test_a_plugin_slow_to_import_on_reload_keeps_health_answering_and_the_old_config_serving(
    upstream: ScriptedUpstream, start_router: StartRouter, signals: Path, tmp_path: Path
) -> None:
    upstream.default = served_by
    router = start_router(config_of(upstream))
    assert answer_of(ask(router)) == "served by model-a"
    plugin = write_module(
        tmp_path / "slow_plugin.py", WAIT_FOR_RELEASE + f'\nname = "slow-plugin"\nwait_for_release({str(signals)!r})\n'
    )

    router.write_config({**config_of(upstream, transformers=[{"path": plugin}]), "Router": {"default": "fake,model-b"}})
    wait_until((signals / "started").exists, "the new config's plugin import starting", explain=router.log_records)
    assert health(router) == 200
    assert answer_of(ask(router)) == "served by model-a"  # the old config until the new one is ready

    (signals / "release").write_text("")
    wait_until(
        lambda: any(r["msg"] == "config reloaded" for r in router.log_records()),
        "the config reloaded line",
        explain=router.log_records,
    )
    assert answer_of(ask(router)) == "served by model-b"


def test_a_newer_save_supersedes_a_plugin_import_that_never_ends(
    upstream: ScriptedUpstream, start_router: StartRouter, signals: Path, tmp_path: Path
) -> None:
    upstream.default = served_by
    router = start_router(config_of(upstream))
    plugin = write_module(
        tmp_path / "stuck_plugin.py",
        WAIT_FOR_RELEASE
        + f'\nname = "stuck"\nwait_for_release({str(signals)!r})\n'
        + f'(Path({str(signals)!r}) / "finished").write_text("")\n',
    )
    router.write_config(config_of(upstream, transformers=[{"path": plugin}]))
    wait_until((signals / "started").exists, "the new config's plugin import starting", explain=router.log_records)

    router.write_config(config_of(upstream, Router={"default": "fake,model-b"}))  # the user gives up on the plugin

    wait_until(
        lambda: any(r["msg"] == "config reloaded" for r in router.log_records()),
        "the config reloaded line",
        explain=router.log_records,
    )
    assert answer_of(ask(router)) == "served by model-b"
    (signals / "release").write_text("")  # the stuck import ends after all: what it loaded is never used
    wait_until((signals / "finished").exists, "the stuck import ending")
    time.sleep(1.0)  # not a wait for anything: the window in which a late swap would show (it takes milliseconds)
    assert answer_of(ask(router)) == "served by model-b"
    assert [r["msg"] for r in router.log_records()].count("config reloaded") == 1, router.log_records()


# ---------------------------------------------------------------------------------------------------------------
# Commands that only read the config


READ_ONLY_COMMANDS = {
    "status": ("status",),
    "model": ("model",),
    "model_route": ("model", "default"),
    "model_set": ("model", "default", "fake,model-b"),
    "activate": ("activate",),
    "config_check": ("config", "check"),
}


@pytest.mark.parametrize("command", sorted(READ_ONLY_COMMANDS))
def test_commands_that_only_read_the_config_never_run_user_code(
    upstream: ScriptedUpstream, ccr: CcrHome, tmp_path: Path, command: str
) -> None:
    ran = tmp_path / "ran"
    ran.mkdir()
    on_import = f"from pathlib import Path\n(Path({str(ran)!r}) / __file__.rsplit('/', 1)[-1]).write_text('')\n"
    plugin = write_module(tmp_path / "plugin.py", f'name = "my-tweak"\n{on_import}raise SystemExit(1)\n')
    router_file = write_module(tmp_path / "router.py", f"{on_import}def router(request, config):\n    return None\n")
    config = config_of(upstream, transformers=[{"path": plugin}], CUSTOM_ROUTER_PATH=router_file)
    config["Providers"][0]["transformer"] = {"use": ["my-tweak"]}  # the plugin's name is known without running it
    ccr.write_config({"HOST": "127.0.0.1", "PORT": ccr.port, **config})

    result = ccr.run(*READ_ONLY_COMMANDS[command])

    assert sorted(p.name for p in ran.iterdir()) == [], result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "does not load" not in result.stdout, result.stdout + result.stderr
    if command != "status":  # `ccr status` exits non-zero when no service runs
        assert result.returncode == 0, result.stdout + result.stderr
    if command == "config_check":
        assert f"transformer plugin: {plugin} (readable Python; not run by this check" in result.stdout
        assert f"custom router: {router_file} (readable Python; not run by this check" in result.stdout


def test_config_check_refuses_a_router_file_that_defines_no_router_without_running_it(
    ccr: CcrHome, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    router_file = write_module(tmp_path / "router.py", f"from pathlib import Path\nPath({str(ran)!r}).write_text('')\n")
    ccr.write_config({"Providers": [], "CUSTOM_ROUTER_PATH": router_file})

    result = ccr.run("config", "check")

    assert result.returncode == 2 and "must define `def router(request, config)`" in result.stderr, result.stderr
    assert not ran.exists()


# ---------------------------------------------------------------------------------------------------------------
# User code that raises SystemExit or KeyboardInterrupt while it loads


EXITING_MODULES = {
    "router_system_exit": ("CUSTOM_ROUTER_PATH", "import sys\nsys.exit(3)\n"),
    "router_keyboard_interrupt": ("CUSTOM_ROUTER_PATH", "raise KeyboardInterrupt\n"),
    "plugin_system_exit": ("transformers", 'name = "bye"\nraise SystemExit(3)\n'),
}


def exiting_config(upstream: ScriptedUpstream, tmp_path: Path, kind: str) -> tuple[dict[str, Any], str]:
    key, source = EXITING_MODULES[kind]
    path = write_module(tmp_path / f"{kind}.py", source)
    value: Any = path if key == "CUSTOM_ROUTER_PATH" else [{"path": path}]
    return config_of(upstream, **{key: value}), path


@pytest.mark.parametrize("kind", sorted(EXITING_MODULES))
def test_user_code_that_exits_while_loading_is_a_config_error_at_start(
    upstream: ScriptedUpstream, tmp_path: Path, kind: str
) -> None:
    config, path = exiting_config(upstream, tmp_path, kind)
    router = RouterProcess(tmp_path / "home", config)
    result = subprocess.run(
        [sys.executable, "-m", "ccrouter.gateway.server", "--config", str(router.config_path)],
        env=router.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "ccrouter: config error:" in result.stderr and path in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", sorted(EXITING_MODULES))
def test_user_code_that_exits_while_loading_on_reload_is_logged_and_the_service_serves_on(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path, kind: str
) -> None:
    upstream.default = served_by
    router = start_router(config_of(upstream))
    config, path = exiting_config(upstream, tmp_path, kind)

    router.write_config({**config, "Router": {"default": "fake,model-b"}})

    def refused() -> list[dict[str, Any]]:
        return [r for r in router.log_records() if r["msg"].startswith("config change not applied")]

    wait_until(refused, "the config change not applied line", explain=router.log_records)
    error = refused()[0]["error"]
    assert path in error and ("SystemExit" in error or "KeyboardInterrupt" in error), error
    assert router.proc is not None and router.proc.poll() is None
    assert health(router) == 200
    assert answer_of(ask(router)) == "served by model-a"
    router.write_config(config_of(upstream, Router={"default": "fake,model-b"}))
    wait_until(
        lambda: any(r["msg"] == "config reloaded" for r in router.log_records()),
        "the config reloaded line",
        explain=router.log_records,
    )
    assert answer_of(ask(router)) == "served by model-b"
