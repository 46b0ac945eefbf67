"""Gemini on Vertex AI through the running service: the token exchange and the generateContent calls both go to
one scripted server that records them; the client is the official anthropic SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream
from tests.support.gemini_fakes import (
    JWT_GRANT,
    TOKEN_PATH,
    form_of,
    gemini_reply,
    google_and_vertex,
    new_rsa_key,
    verify_jwt,
    write_service_account,
)
from tests.support.router_setup import StartRouter, sdk_client

client = sdk_client


def vertex_config(upstream: ScriptedUpstream) -> dict[str, Any]:
    return {
        "Providers": [
            {
                "name": "vx",
                "api_base_url": upstream.url,
                "api_key": "unused",
                "models": ["gemini-2.5-pro"],
                "transformer": {"use": [["vertex-gemini", {"project": "proj-1", "location": "us-east1"}]]},
            }
        ],
        "Router": {"default": "vx,gemini-2.5-pro"},
        "RETRY": {"max_retries": 0},
    }


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No Google credentials from the machine running the tests."""
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "GOOGLE_OAUTH_ACCESS_TOKEN": "",
        "CLOUDSDK_CONFIG": "",
        "GOOGLE_CLOUD_PROJECT": "",
        "GOOGLE_CLOUD_LOCATION": "",
        "HOME": str(tmp_path),
        **extra,
    }


def text_reply(received: Received) -> Scripted:
    stream = received.path.endswith(":streamGenerateContent")
    return gemini_reply([{"text": "From Vertex."}], stream=stream)


def test_vertex_service_account_token_is_signed_used_and_cached(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    key = new_rsa_key()
    key_file = write_service_account(tmp_path / "sa.json", key, upstream.url + TOKEN_PATH)
    upstream.default = google_and_vertex(text_reply)
    router = start_router(
        vertex_config(upstream), env=clean_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
    )
    api = client(router.url)
    reply = api.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert reply.content[0].type == "text" and reply.content[0].text == "From Vertex."
    with api.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "again"}]) as stream:
        assert "".join(stream.text_stream) == "From Vertex."

    token_requests = [r for r in upstream.received if r.path == TOKEN_PATH]
    model_requests = [r for r in upstream.received if r.path != TOKEN_PATH]
    assert len(token_requests) == 1  # cached across the two requests
    form = form_of(token_requests[0])
    assert form["grant_type"] == JWT_GRANT
    header, claims = verify_jwt(form["assertion"], key.public_key())
    assert header["alg"] == "RS256" and header["kid"] == "kid-123"
    assert claims["iss"] == "router@sa-project.iam.gserviceaccount.com"
    assert claims["aud"] == upstream.url + TOKEN_PATH
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600
    prefix = "/v1/projects/proj-1/locations/us-east1/publishers/google/models/gemini-2.5-pro"
    assert [(r.path, r.query) for r in model_requests] == [
        (prefix + ":generateContent", ""),
        (prefix + ":streamGenerateContent", "alt=sse"),
    ]
    for request in model_requests:
        assert request.headers["Authorization"] == "Bearer ya29.fake-token"
        assert "x-goog-api-key" not in request.headers


def test_vertex_refused_credentials_give_a_clear_error(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    key_file = write_service_account(tmp_path / "sa.json", new_rsa_key(), upstream.url + TOKEN_PATH)
    upstream.default = google_and_vertex(text_reply, token_status=400)
    router = start_router(
        vertex_config(upstream), env=clean_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
    )
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(router.url).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "authentication_error"
    message = body["error"]["message"]
    assert str(key_file) in message and "GOOGLE_APPLICATION_CREDENTIALS" in message
    assert "invalid_grant" in message and "PRIVATE KEY" not in message
    assert all(r.path == TOKEN_PATH for r in upstream.received)  # Gemini was never asked


def test_vertex_without_credentials_says_what_to_set(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    upstream.default = google_and_vertex(text_reply)
    router = start_router(vertex_config(upstream), env=clean_env(tmp_path))
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(router.url).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body: Any = info.value.body
    message = body["error"]["message"]
    assert message.startswith("Provider 'vx' (vertex-gemini): no Google Cloud credentials were found.")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and "GOOGLE_OAUTH_ACCESS_TOKEN" in message
    assert upstream.received == []


def test_vertex_access_token_from_the_environment(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    upstream.default = google_and_vertex(text_reply)
    env = clean_env(tmp_path, GOOGLE_OAUTH_ACCESS_TOKEN="ya29.from-env")
    router = start_router(vertex_config(upstream), env=env)
    reply = client(router.url).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert reply.content[0].type == "text"
    assert [r.headers["Authorization"] for r in upstream.received] == ["Bearer ya29.from-env"]
