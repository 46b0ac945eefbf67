"""Starting routers and talking to them: the config of a scripted OpenAI provider, and SDK clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx

from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_process import RouterProcess

StartRouter = Callable[..., RouterProcess]


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

# Tests talk plain HTTP to loopback servers, so their clients skip loading the CA bundle for TLS they never use:
# that alone costs 20-90 ms a client, which adds up to many seconds over the suite.
LOOPBACK = httpx.Client(verify=False, trust_env=False)


def sdk_client(url: str, api_key: str | None = "client-key", **kwargs: Any) -> anthropic.Anthropic:
    """The official SDK pointed at the router, without its own retries; closed when the test ends."""
    kwargs.setdefault("http_client", anthropic.DefaultHttpxClient(verify=False, trust_env=False))
    client = anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0, **kwargs)
    _open_clients.append(client)
    return client


def close_sdk_clients() -> None:
    while _open_clients:
        _open_clients.pop().close()
