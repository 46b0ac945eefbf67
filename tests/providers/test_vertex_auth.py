"""Google Cloud credentials for Vertex AI (vertex_auth): sources, the JWT, the token cache, clear failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.exceptions import InvalidSignature

from ccrouter.errors import UpstreamError
from ccrouter.providers.base import ForwardRequest
from ccrouter.providers.gemini.vertex_auth import (
    ACCESS_TOKEN_ENV,
    CREDENTIALS_ENV,
    SCOPE,
    BrokenCredentials,
    GoogleCredentials,
    OAuthToken,
    StaticToken,
    load_credentials,
)
from tests.support.gemini_fakes import JWT_GRANT, new_rsa_key, verify_jwt, write_service_account

TOKEN_URI = "https://token.test/token"


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self._body = body if isinstance(body, bytes) else json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._body


class FakeUpstream:
    """Stands in for `Upstream`: records the token requests, answers from a list, can be slow."""

    def __init__(self, *answers: tuple[int, Any], delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[ForwardRequest, str, int, str | None]] = []
        self.delay = delay

    async def post(self, request: ForwardRequest, provider: str, timeout_ms: int, proxy: str | None) -> FakeResponse:
        self.requests.append((request, provider, timeout_ms, proxy))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return FakeResponse(status, body)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def headers(creds: Any, upstream: FakeUpstream) -> dict[str, str]:
    return dict(asyncio.run(creds.headers(upstream, 5000, "http://proxy.test:8080")))


def token_answer(token: str = "ya29.first", expires_in: int = 3600) -> tuple[int, Any]:
    return 200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}


def test_service_account_jwt_is_signed_and_exchanged(tmp_path: Path) -> None:
    key = new_rsa_key()
    path = write_service_account(tmp_path / "sa.json", key, TOKEN_URI)
    clock = Clock()
    creds, info = load_credentials("vx", {}, {CREDENTIALS_ENV: str(path)}, clock)
    assert isinstance(creds, OAuthToken) and info["project_id"] == "sa-project"
    upstream = FakeUpstream(token_answer())
    assert headers(creds, upstream) == {"authorization": "Bearer ya29.first"}
    request, provider, timeout_ms, proxy = upstream.requests[0]
    assert request.url == TOKEN_URI
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (provider, timeout_ms, proxy) == ("vx (Google token endpoint)", 5000, "http://proxy.test:8080")
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["grant_type"] == JWT_GRANT
    header, claims = verify_jwt(form["assertion"], key.public_key())
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kid-123"}
    assert claims == {
        "iss": "router@sa-project.iam.gserviceaccount.com",
        "scope": SCOPE,
        "aud": TOKEN_URI,
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }
    with pytest.raises(InvalidSignature):
        verify_jwt(form["assertion"], new_rsa_key().public_key())  # the check is real


def test_google_credentials_read_their_file_at_the_first_token(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    creds = GoogleCredentials("vx", {"credentials": str(path)}, {}, Clock())  # no file yet: nothing is read
    write_service_account(path, new_rsa_key(), TOKEN_URI)
    upstream = FakeUpstream(token_answer("ya29.lazy"))
    assert headers(creds, upstream) == {"authorization": "Bearer ya29.lazy"}
    assert creds.key_file()["project_id"] == "sa-project" and isinstance(creds.source(), OAuthToken)
    path.unlink()
    assert headers(creds, upstream) == {"authorization": "Bearer ya29.lazy"}  # read once, kept


def test_google_credentials_report_an_unreadable_file_on_each_request(tmp_path: Path) -> None:
    creds = GoogleCredentials("vx", {}, {CREDENTIALS_ENV: str(tmp_path / "missing.json")}, Clock())
    for _ in range(2):
        with pytest.raises(UpstreamError) as caught:
            headers(creds, FakeUpstream(token_answer()))
        assert caught.value.status == 401 and "cannot read the credentials file" in caught.value.message


def test_token_is_cached_until_shortly_before_it_expires(tmp_path: Path) -> None:
    path = write_service_account(tmp_path / "sa.json", new_rsa_key(), TOKEN_URI)
    clock = Clock()
    creds, _ = load_credentials("vx", {"credentials": str(path)}, {}, clock)
    upstream = FakeUpstream(token_answer("ya29.first"), token_answer("ya29.second"))
    assert headers(creds, upstream)["authorization"] == "Bearer ya29.first"
    clock.now += 3600 - 301
    assert headers(creds, upstream)["authorization"] == "Bearer ya29.first"
    assert len(upstream.requests) == 1
    clock.now += 2  # within five minutes of expiry: renewed
    assert headers(creds, upstream)["authorization"] == "Bearer ya29.second"
    assert len(upstream.requests) == 2


def test_a_short_lived_token_is_renewed_at_half_its_life(tmp_path: Path) -> None:
    path = write_service_account(tmp_path / "sa.json", new_rsa_key(), TOKEN_URI)
    clock = Clock()
    creds, _ = load_credentials("vx", {"credentials": str(path)}, {}, clock)
    upstream = FakeUpstream(token_answer("a", expires_in=60), token_answer("b", expires_in=60))
    headers(creds, upstream)
    clock.now += 29
    assert headers(creds, upstream)["authorization"] == "Bearer a"
    clock.now += 2
    assert headers(creds, upstream)["authorization"] == "Bearer b"


def test_concurrent_requests_share_one_token_exchange(tmp_path: Path) -> None:
    path = write_service_account(tmp_path / "sa.json", new_rsa_key(), TOKEN_URI)
    creds, _ = load_credentials("vx", {"credentials": str(path)}, {}, Clock())
    upstream = FakeUpstream(token_answer("ya29.once"), delay=0.05)

    async def many() -> list[dict[str, str]]:
        results = await asyncio.gather(*(creds.headers(upstream, 1000, None) for _ in range(8)))  # type: ignore[arg-type]
        return [dict(r) for r in results]

    assert asyncio.run(many()) == [{"authorization": "Bearer ya29.once"}] * 8
    assert len(upstream.requests) == 1


def test_refused_credentials_say_what_to_fix_and_are_retried_next_time(tmp_path: Path) -> None:
    path = write_service_account(tmp_path / "sa.json", new_rsa_key(), TOKEN_URI)
    creds, _ = load_credentials("vx", {"credentials": str(path)}, {}, Clock())
    refusal = (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    upstream = FakeUpstream(refusal, token_answer("ya29.later"))
    with pytest.raises(UpstreamError) as caught:
        headers(creds, upstream)
    error = caught.value
    assert (error.status, error.error_type) == (401, "authentication_error")
    assert str(path) in error.message and "the transformer option credentials" in error.message
    assert "invalid_grant, Invalid JWT Signature." in error.message
    assert "PRIVATE KEY" not in error.message
    assert headers(creds, upstream)["authorization"] == "Bearer ya29.later"


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "text"),
    [
        (503, b"<html>down</html>", 503, "answered HTTP 503"),
        (429, {"error": "rate_limited"}, 429, "answered HTTP 429: rate_limited"),
        (302, b"", 502, "answered HTTP 302"),
        (200, {"token_type": "Bearer"}, 502, "sent no access token"),
        (200, b"not json", 502, "sent no access token"),
    ],
)
def test_token_endpoint_failures(tmp_path: Path, status: int, body: Any, expected_status: int, text: str) -> None:
    path = write_service_account(tmp_path / "sa.json", new_rsa_key(), TOKEN_URI)
    creds, _ = load_credentials("vx", {"credentials": str(path)}, {}, Clock())
    with pytest.raises(UpstreamError) as caught:
        headers(creds, FakeUpstream((status, body)))
    assert caught.value.status == expected_status and text in caught.value.message


def test_authorized_user_refreshes_its_token(tmp_path: Path) -> None:
    adc = tmp_path / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir()
    info = {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtoken",
        "quota_project_id": "quota-p",
    }
    adc.write_text(json.dumps(info))
    creds, loaded = load_credentials("vx", {}, {"CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}, Clock())
    assert isinstance(creds, OAuthToken) and loaded["quota_project_id"] == "quota-p"
    assert creds.token_uri == "https://oauth2.googleapis.com/token"
    upstream = FakeUpstream(token_answer("ya29.user"))
    assert headers(creds, upstream) == {"authorization": "Bearer ya29.user"}
    form = {k: v[0] for k, v in parse_qs(upstream.requests[0][0].body.decode()).items()}
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtoken",
    }


def test_the_default_adc_file_is_found_under_home(tmp_path: Path) -> None:
    adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    write_service_account(adc, new_rsa_key(), TOKEN_URI)
    creds, info = load_credentials("vx", {}, {"HOME": str(tmp_path)}, Clock())
    assert isinstance(creds, OAuthToken) and info["project_id"] == "sa-project"


def test_sources_in_order(tmp_path: Path) -> None:
    option_file = write_service_account(tmp_path / "option.json", new_rsa_key(), TOKEN_URI, "from-option")
    env_file = write_service_account(tmp_path / "env.json", new_rsa_key(), TOKEN_URI, "from-env")
    env = {CREDENTIALS_ENV: str(env_file), ACCESS_TOKEN_ENV: " ya29.static "}
    creds, info = load_credentials("vx", {"credentials": str(option_file)}, env, Clock())
    assert isinstance(creds, OAuthToken) and info["project_id"] == "from-option"
    creds, info = load_credentials("vx", {}, env, Clock())
    assert isinstance(creds, StaticToken) and info == {}
    assert headers(creds, FakeUpstream(token_answer())) == {"authorization": "Bearer ya29.static"}
    creds, info = load_credentials("vx", {}, {CREDENTIALS_ENV: str(env_file)}, Clock())
    assert isinstance(creds, OAuthToken) and info["project_id"] == "from-env"


def test_no_credentials_anywhere(tmp_path: Path) -> None:
    creds, _ = load_credentials("vx", {}, {"HOME": str(tmp_path)}, Clock())
    assert isinstance(creds, BrokenCredentials)
    with pytest.raises(UpstreamError) as caught:
        headers(creds, FakeUpstream(token_answer()))
    message = caught.value.message
    assert caught.value.status == 401 and message.startswith("Provider 'vx' (vertex-gemini): no Google Cloud")
    for name in (CREDENTIALS_ENV, ACCESS_TOKEN_ENV, "gcloud auth application-default login"):
        assert name in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read the credentials file"),
        ("{not json", "is not JSON"),
        ("[1]", "is not a JSON object"),
        ('{"type": "external_account"}', "has type 'external_account'"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key"),
        ('{"type": "authorized_user", "client_id": "x"}', "lacks client_secret, refresh_token"),
        ('{"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\\nnope"}', "not a valid PEM"),
    ],
)
def test_unusable_credential_files(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    creds, info = load_credentials("vx", {}, {CREDENTIALS_ENV: str(path)}, Clock())
    assert isinstance(creds, BrokenCredentials) and info == {}
    assert problem in creds.message and str(path) in creds.message and CREDENTIALS_ENV in creds.message


def test_a_non_rsa_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "ec.json"
    path.write_text(json.dumps({"client_email": "a@b", "private_key": pem.decode()}))
    creds, _ = load_credentials("vx", {}, {CREDENTIALS_ENV: str(path)}, Clock())
    assert isinstance(creds, BrokenCredentials) and "not an RSA key" in creds.message
