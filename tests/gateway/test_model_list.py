"""GET /v1/models: what Claude Code's `/model` picker offers from the router, and what picking one means."""

from __future__ import annotations

import json

from ccrouter.config.loading import parse_config
from ccrouter.gateway.model_list import models_page, picked_model, picked_route
from tests.support.inprocess import ServeRouter
from tests.support.router_setup import LOOPBACK

CONFIG = {
    "Providers": [
        {"name": "deepseek", "api_base_url": "http://127.0.0.1:1/v1", "models": ["deepseek-chat", "deepseek-reasoner"]},
        {"name": "ollama", "api_base_url": "http://127.0.0.1:2/v1", "models": ["qwen3"]},
    ],
    "Router": {
        "default": "deepseek,deepseek-chat",
        "think": "deepseek,deepseek-reasoner",
        "background": "ollama,qwen3",
    },
}


def test_the_list_names_every_route_then_every_model_with_ids_claude_code_keeps() -> None:
    page = models_page(parse_config(json.dumps(CONFIG), {}))
    assert [(m["id"], m["display_name"]) for m in page["data"]] == [
        ("claude-ccr/route/default", "default → deepseek,deepseek-chat"),
        ("claude-ccr/route/background", "background → ollama,qwen3"),
        ("claude-ccr/route/think", "think → deepseek,deepseek-reasoner"),
        ("claude-ccr/deepseek,deepseek-chat", "deepseek,deepseek-chat"),
        ("claude-ccr/deepseek,deepseek-reasoner", "deepseek,deepseek-reasoner"),
        ("claude-ccr/ollama,qwen3", "ollama,qwen3"),
    ]
    assert all("claude" in m["id"] and m["type"] == "model" and m["created_at"] for m in page["data"])
    assert (page["has_more"], page["first_id"], page["last_id"]) == (
        False,
        "claude-ccr/route/default",
        "claude-ccr/ollama,qwen3",
    )


def test_picked_ids_name_a_route_or_a_model() -> None:
    config = parse_config(json.dumps(CONFIG), {})
    assert picked_route("claude-ccr/route/think", config) == "think"
    assert picked_route("claude-ccr/route/longContext", config) is None  # not configured
    assert picked_model("claude-ccr/ollama,qwen3") == "ollama,qwen3"
    assert picked_model("claude-opus-5-5") is None and picked_model("claude-ccr/route/think") is None


def test_the_endpoint_serves_the_list_behind_the_apikey(serve_router: ServeRouter) -> None:
    router = serve_router({**CONFIG, "APIKEY": "router-key-123"})
    assert LOOPBACK.get(router.url + "/v1/models").status_code == 401
    response = LOOPBACK.get(router.url + "/v1/models?limit=1000", headers={"x-api-key": "router-key-123"})
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "claude-ccr/route/default"
