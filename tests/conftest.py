from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter, close_sdk_clients


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


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


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    close_sdk_clients()
