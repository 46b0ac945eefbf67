"""Gemini and Google Cloud stand-ins for tests: scripted Gemini replies, service-account keys, JWT checks, and a
scripted Google token endpoint + Vertex provider on one `ScriptedUpstream`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.fake_upstream import Received, Scripted, error_reply, json_reply, sse_reply

TOKEN_PATH = "/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def gemini_response(
    parts: list[dict[str, Any]], finish: str = "STOP", prompt: int = 20, output: int = 5
) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": "gemini-fake",
        "responseId": "fake-response",
    }


def gemini_reply(parts: list[dict[str, Any]], stream: bool, finish: str = "STOP") -> Scripted:
    """A generateContent answer, or the same as a stream of one chunk per part (no terminator, as Gemini)."""
    if not stream:
        return json_reply(gemini_response(parts, finish))
    chunks: list[Any] = [{"candidates": [{"content": {"role": "model", "parts": [part]}}]} for part in parts[:-1]]
    chunks.append(gemini_response(parts[-1:], finish))
    return sse_reply(chunks, done=False)


def gemini_error(status: int, message: str, gemini_status: str) -> Scripted:
    return error_reply(status, {"error": {"code": status, "message": message, "status": gemini_status}})


def contents_of(received: Received) -> list[dict[str, Any]]:
    body = received.body
    return body.get("contents", []) if isinstance(body, dict) else []


# ---------------------------------------------------------------------------------------------------------------
# Google credentials


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_service_account(
    path: Path, key: rsa.RSAPrivateKey, token_uri: str, project_id: str | None = "sa-project"
) -> Path:
    info: dict[str, Any] = {
        "type": "service_account",
        "private_key_id": "kid-123",
        "private_key": pem_of(key),
        "client_email": "router@sa-project.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": token_uri,
    }
    if project_id is not None:
        info["project_id"] = project_id
    path.write_text(json.dumps(info))
    return path


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt(assertion: str, public_key: rsa.RSAPublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of an RS256 JWT whose signature `public_key` verifies (raises if it does not)."""
    head, claims, signature = assertion.split(".")
    public_key.verify(_unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(_unb64(head)), json.loads(_unb64(claims))


def form_of(received: Received) -> dict[str, str]:
    body = received.body if isinstance(received.body, str) else ""
    return {k: v[0] for k, v in parse_qs(body).items()}


def google_and_vertex(
    gemini: Callable[[Received], Scripted], token: str = "ya29.fake-token", token_status: int = 200
) -> Callable[[Received], Scripted]:
    """A `ScriptedUpstream.default`: the token endpoint at TOKEN_PATH, Gemini (on Vertex) everywhere else."""

    def reply(received: Received) -> Scripted:
        if received.path == TOKEN_PATH:
            if token_status != 200:
                return error_reply(
                    token_status, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                )
            return json_reply({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        return gemini(received)

    return reply
