"""Fixtures every area shares, and the `e2e` and `process` markers.

- `upstream`: a scripted provider on loopback.
- `serve_router`: the router app served in this process (one uvicorn server per module, a fresh app per test).
- `start_router`: the router as its own process, for tests of the process itself.
- `ccr`: a temporary CCR_HOME for running the real `ccr` command; whatever the test started there is stopped after.

Markers (registered in pyproject.toml) are set here from where a test lives and what it uses, so that
`pytest -m "not e2e and not process"` is the fast inner loop: `e2e` for everything under tests/e2e/ (real outside
programs), `process` for tests that start a ccrouter process or run the `ccr` command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.ccr_cli import CcrHome
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.paths import TESTS_DIR
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter, close_sdk_clients

if TYPE_CHECKING:  # imported when a test asks for it: a gateway that fails to import fails those tests only
    from tests.support.inprocess import InProcessRouter, InProcessServer, ServeRouter

E2E_DIRS = ("e2e",)
PROCESS_DIRS = ("cli", "service")  # the `ccr` commands and the service they start, run as the user runs them
# Fixtures that start a process: the service (`start_router`; `running`, the statusline's service) or the
# `ccr statusline` command (`statusline`).
PROCESS_FIXTURES = {"start_router", "running", "statusline"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(item.path).relative_to(TESTS_DIR).parts
        if parts[0] in E2E_DIRS:
            item.add_marker(pytest.mark.e2e)
        if parts[0] in PROCESS_DIRS or PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def router_server() -> Iterator[InProcessServer]:
    from tests.support.inprocess import InProcessServer

    server = InProcessServer().start()
    yield server
    server.stop()


@pytest.fixture
def serve_router(router_server: InProcessServer, tmp_path: Path) -> Iterator[ServeRouter]:
    served = 0

    def serve(config: dict[str, Any], home: Path | None = None) -> InProcessRouter:
        nonlocal served
        served += 1
        return router_server.serve(home or tmp_path / f"ccr-home-{served}", config)

    yield serve
    router_server.unmount()


@pytest.fixture
def start_router(tmp_path: Path) -> Iterator[StartRouter]:
    started: list[RouterProcess] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None, home: Path | None = None) -> RouterProcess:
        router = RouterProcess(home or tmp_path / f"ccr-home-{len(started)}", config, env)
        started.append(router)
        return router.start()

    yield start
    for router in started:
        router.stop()


@pytest.fixture
def ccr(tmp_path: Path) -> Iterator[CcrHome]:
    home = CcrHome(tmp_path)
    yield home
    home.cleanup()


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    close_sdk_clients()
