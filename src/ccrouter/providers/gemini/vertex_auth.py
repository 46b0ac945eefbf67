"""Google Cloud credentials for Vertex AI: where they come from, and a bearer token cached until near its expiry.

Sources, first found wins:

1. the transformer option `credentials`: a path to a service-account JSON key file;
2. `GOOGLE_OAUTH_ACCESS_TOKEN`: an access token as it is (e.g. `gcloud auth print-access-token`; it expires
   after about an hour and is not refreshed);
3. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key file, or an `authorized_user` file;
4. the gcloud Application Default Credentials file (`gcloud auth application-default login`), at
   `$CLOUDSDK_CONFIG/application_default_credentials.json` or `~/.config/gcloud/...`.

Nothing is looked up or read until it is needed: `GoogleCredentials` finds and reads its source the first time a
token (or the key file's project id) is asked for. A service account signs a JWT (RS256) and exchanges it at the
file's `token_uri`; an authorized user exchanges its refresh token there. The exchange goes through the
`Transport` the gateway passes in. Problems found reading the sources are reported on every request, with what to
fix; no secret ever goes into a message.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ccrouter.errors import UpstreamError
from ccrouter.providers.base import ForwardRequest, Transport

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
ACCESS_TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
JWT_LIFETIME_S = 3600
REFRESH_BEFORE_S = 300  # a token is renewed this long before it expires (half its life if it is short-lived)

NO_CREDENTIALS = (
    "no Google Cloud credentials were found. Set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file "
    '(or give its path as the transformer option ["vertex-gemini", {"credentials": "/path/key.json"}]), set '
    f"{ACCESS_TOKEN_ENV} to an access token, or run `gcloud auth application-default login`"
)


class CredentialsProblem(Exception):
    """The credentials cannot be used; the message says which file or variable to fix."""


class StaticToken:
    """A bearer token from the environment, used as it is."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def headers(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> Mapping[str, str]:
        return {"authorization": "Bearer " + self._token}


class BrokenCredentials:
    """Credentials that could not be read: every request gets the same clear error."""

    def __init__(self, provider_name: str, problem: str) -> None:
        self.message = f"Provider {provider_name!r} (vertex-gemini): {problem}."

    async def headers(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> Mapping[str, str]:
        raise UpstreamError(401, self.message, "authentication_error")


class OAuthToken:
    """An OAuth access token got from a Google token endpoint, cached, and renewed by one request at a time."""

    def __init__(
        self, provider_name: str, source: str, info: dict[str, Any], clock: Callable[[], float] = time.time
    ) -> None:
        self._provider_name = provider_name
        self._source = source  # the file the credentials came from, for messages
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.token_uri = str(info.get("token_uri") or DEFAULT_TOKEN_URI)
        self._info = info
        self._key: rsa.RSAPrivateKey | None = None
        if info.get("type", "service_account") == "service_account":
            self._key = _private_key(info, source)

    async def headers(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> Mapping[str, str]:
        token = self._current()
        if token is None:
            async with self._lock:  # the first request renews it; the others wait for that token
                token = self._current()
                if token is None:
                    token = await self._fetch(transport, timeout_ms, proxy_url)
        return {"authorization": "Bearer " + token}

    def _current(self) -> str | None:
        return self._token if self._token is not None and self._clock() < self._renew_at else None

    def grant(self) -> dict[str, str]:
        """The form fields of the token request."""
        if self._key is None:  # an authorized user (gcloud application-default login)
            return {
                "grant_type": "refresh_token",
                "client_id": str(self._info.get("client_id", "")),
                "client_secret": str(self._info.get("client_secret", "")),
                "refresh_token": str(self._info.get("refresh_token", "")),
            }
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self.assertion()}

    def assertion(self) -> str:
        """The signed JWT a service account trades for an access token."""
        assert self._key is not None
        now = int(self._clock())
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if isinstance(self._info.get("private_key_id"), str):
            header["kid"] = self._info["private_key_id"]
        claims = {
            "iss": self._info["client_email"],
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + JWT_LIFETIME_S,
        }
        signing_input = _b64(orjson.dumps(header)) + b"." + _b64(orjson.dumps(claims))
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64(signature)).decode()

    async def _fetch(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> str:
        request = ForwardRequest(
            self.token_uri,
            {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
            urlencode(self.grant()).encode(),
        )
        response = await transport.post(
            request, f"{self._provider_name} (Google token endpoint)", timeout_ms, proxy_url
        )
        payload = await response.read()
        if response.status != 200:
            raise self._refused(response.status, payload)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamError(
                502, f"Provider {self._provider_name!r}: the Google token endpoint sent no access token. Try again."
            )
        lifetime = data.get("expires_in") if isinstance(data, dict) else None
        seconds = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 else float(JWT_LIFETIME_S)
        self._token = token
        self._renew_at = self._clock() + seconds - min(REFRESH_BEFORE_S, seconds / 2)
        return token

    def _refused(self, status: int, payload: bytes) -> UpstreamError:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        detail = ""
        if isinstance(data, dict):
            words = [data.get("error"), data.get("error_description")]
            detail = ": " + ", ".join(w for w in words if isinstance(w, str) and w) if any(words) else ""
        who = f"Provider {self._provider_name!r} (vertex-gemini)"
        if status in (400, 401, 403):
            return UpstreamError(
                401,
                f"{who}: Google refused the credentials from {self._source} (HTTP {status}{detail}). Check that the "
                "key is valid and not deleted or disabled, and that this machine's clock is right.",
                "authentication_error",
            )
        return UpstreamError(
            status if status == 429 or status >= 500 else 502,
            f"{who}: the Google token endpoint {self.token_uri} answered HTTP {status}{detail}. Try again.",
        )


class GoogleCredentials:
    """One provider's Vertex credentials (a `Credentials`): constructing it reads nothing; the source is found and
    read the first time a token or the key file's contents are needed, and kept."""

    def __init__(
        self,
        provider_name: str,
        options: Mapping[str, Any],
        env: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._provider_name = provider_name
        self._options = options
        self._env = env
        self._clock = clock
        self._loaded: tuple[StaticToken | OAuthToken | BrokenCredentials, dict[str, Any]] | None = None

    def source(self) -> StaticToken | OAuthToken | BrokenCredentials:
        """Where the token comes from (loaded now if it was not yet)."""
        return self._load()[0]

    def key_file(self) -> dict[str, Any]:
        """The key file's contents (for its project id); empty for a token from the environment."""
        return self._load()[1]

    async def headers(self, transport: Transport, timeout_ms: int, proxy_url: str | None) -> Mapping[str, str]:
        return await self.source().headers(transport, timeout_ms, proxy_url)

    def _load(self) -> tuple[StaticToken | OAuthToken | BrokenCredentials, dict[str, Any]]:
        if self._loaded is None:
            self._loaded = load_credentials(self._provider_name, self._options, self._env, self._clock)
        return self._loaded


def load_credentials(
    provider_name: str,
    options: Mapping[str, Any],
    env: Mapping[str, str],
    clock: Callable[[], float] = time.time,
) -> tuple[StaticToken | OAuthToken | BrokenCredentials, dict[str, Any]]:
    """The credentials to use, and the key file's contents (for its project id; empty for a token)."""
    explicit = options.get("credentials")
    if isinstance(explicit, str) and explicit:
        return _from_file(provider_name, Path(explicit).expanduser(), "the transformer option credentials", clock)
    token = env.get(ACCESS_TOKEN_ENV, "").strip()
    if token:
        return StaticToken(token), {}
    path = env.get(CREDENTIALS_ENV, "").strip()
    if path:
        return _from_file(provider_name, Path(path).expanduser(), CREDENTIALS_ENV, clock)
    adc = _default_adc_file(env)
    if adc is not None and adc.is_file():
        return _from_file(provider_name, adc, "gcloud's application default credentials", clock)
    return BrokenCredentials(provider_name, NO_CREDENTIALS), {}


def _from_file(
    provider_name: str, path: Path, named_by: str, clock: Callable[[], float]
) -> tuple[OAuthToken | BrokenCredentials, dict[str, Any]]:
    source = f"{path} (from {named_by})"
    try:
        info = orjson.loads(path.read_bytes())
    except OSError as exc:
        return BrokenCredentials(provider_name, f"cannot read the credentials file {source}: {exc.strerror}"), {}
    except orjson.JSONDecodeError:
        return BrokenCredentials(provider_name, f"the credentials file {source} is not JSON"), {}
    if not isinstance(info, dict):
        return BrokenCredentials(provider_name, f"the credentials file {source} is not a JSON object"), {}
    kind = info.get("type", "service_account")
    needed = {
        "service_account": ("client_email", "private_key"),
        "authorized_user": ("client_id", "client_secret", "refresh_token"),
    }.get(kind)
    if needed is None:
        problem = (
            f"the credentials file {source} has type {kind!r}; use a service-account key file or "
            "`gcloud auth application-default login`"
        )
        return BrokenCredentials(provider_name, problem), {}
    missing = [field for field in needed if not isinstance(info.get(field), str) or not info[field]]
    if missing:
        problem = f"the credentials file {source} lacks {', '.join(missing)}"
        return BrokenCredentials(provider_name, problem), {}
    try:
        return OAuthToken(provider_name, source, info, clock), info
    except CredentialsProblem as exc:
        return BrokenCredentials(provider_name, str(exc)), {}


def _default_adc_file(env: Mapping[str, str]) -> Path | None:
    config = env.get("CLOUDSDK_CONFIG")
    if config:
        return Path(config) / "application_default_credentials.json"
    home = env.get("HOME")
    return Path(home) / ".config" / "gcloud" / "application_default_credentials.json" if home else None


def _private_key(info: dict[str, Any], source: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CredentialsProblem(f"the private_key in {source} is not a valid PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsProblem(f"the private_key in {source} is not an RSA key")
    return key


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
