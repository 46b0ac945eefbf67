"""Fixtures the end-to-end modules share: llmock, the third-party mock provider, started once per module.

- `llmock`: echoes what it was sent back as the answer.
- `failing_llmock`: answers every request with a 429.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.llmock_server import LlmockServer


@pytest.fixture(scope="module")
def llmock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmockServer]:
    server = LlmockServer(tmp_path_factory.mktemp("llmock") / "llmock.log", "--response-style", "echo").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def failing_llmock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmockServer]:
    server = LlmockServer(tmp_path_factory.mktemp("llmock-429") / "llmock.log", "--error-rate-429", "1.0").start()
    yield server
    server.stop()
