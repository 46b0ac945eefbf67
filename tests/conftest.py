from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.harness.fake_upstream import ScriptedUpstream
from tests.harness.router_process import RouterProcess


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


StartRouter = Callable[..., RouterProcess]


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


def openai_provider(
    upstream: ScriptedUpstream, name: str = "fake", models: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "api_base_url": f"{upstream.url}/v1/chat/completions",
        "api_key": "sk-test-provider-key-123456",
        "models": models or ["fake-model"],
        **extra,
    }


_open_clients: list[anthropic.Anthropic] = []


def sdk_client(url: str, api_key: str | None = "client-key", **kwargs: Any) -> anthropic.Anthropic:
    """The official SDK pointed at the router, without its own retries; closed when the test ends."""
    client = anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0, **kwargs)
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()
