"""An Anthropic Messages request as the gateway reads it: the body parsed and checked once, and the facts about it.

`MessagesRequest.parse` is the only place a `/v1/messages` body is parsed; everything after it (subagent tag,
routing, token estimate, adapters) reads the value it returns. Claude Code's session id, working directory and
gateway hint headers are picked out here, so no later step goes back to the body or the headers for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from ccrouter.errors import BadRequest

SESSION_HEADER = "x-claude-code-session-id"
# Claude Code names its working directory in an environment message (a `system` message near the start) or, in
# older versions, in the system prompt.
_WORKING_DIRECTORY = ("Primary working directory: ", "Working directory: ")
_FIRST_MESSAGES = 4  # where the environment message sits


@dataclass(frozen=True, slots=True)
class ClaudeCodeHints:
    """The hint headers Claude Code sends a gateway about a request (carried for routing and logs to use)."""

    request_class: str | None = None  # x-claude-code-request-class: main, subagent, compaction, auxiliary, ...
    agent_type: str | None = None  # x-claude-code-agent-type
    agent_id: str | None = None  # x-claude-code-agent-id
    prompt_id: str | None = None  # x-claude-code-prompt-id
    compaction: str | None = None  # x-claude-code-compaction

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> ClaudeCodeHints:
        return cls(
            headers.get("x-claude-code-request-class"),
            headers.get("x-claude-code-agent-type"),
            headers.get("x-claude-code-agent-id"),
            headers.get("x-claude-code-prompt-id"),
            headers.get("x-claude-code-compaction"),
        )


class MessagesRequest:
    """One `/v1/messages` request: its body (valid in the fields the gateway relies on) and what it says."""

    __slots__ = ("_cache_key", "_project", "body", "headers", "hints", "model", "session_id", "stream")

    def __init__(self, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        """`body` must have passed `check_messages_body`; `headers` have lower-case names."""
        self.body = body
        self.headers = headers
        self.model: str = body["model"]
        self.stream = body.get("stream") is True
        self.session_id = session_id_of(body, headers)
        self.hints = ClaudeCodeHints.of(headers)
        self._project: str | bool | None = False  # False until looked up
        self._cache_key: str | bool | None = False

    @classmethod
    def parse(cls, raw: bytes, headers: Mapping[str, str]) -> MessagesRequest:
        """The request, or a `BadRequest` that says what is wrong with the body."""
        return cls(check_messages_body(parse_json_object(raw)), headers)

    @property
    def cache_key(self) -> str | None:
        """A stable key for the session's prompt cache at providers that take one: the session id, hashed (the
        provider learns that requests belong together, not Claude Code's id). Worked out once per request."""
        if self._cache_key is False:
            sid = self.session_id
            self._cache_key = (
                None if sid is None else "ccr-" + hashlib.blake2b(sid.encode(), digest_size=12).hexdigest()
            )
        return self._cache_key if isinstance(self._cache_key, str) else None

    @property
    def project(self) -> str | None:
        """Claude Code's working directory, when the request names it (looked up on first use)."""
        if self._project is False:
            self._project = working_directory_of(self.body)
        return self._project if isinstance(self._project, str) else None


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON ({exc}). Send an Anthropic Messages JSON object."
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object (an Anthropic Messages request).")
    return body


def parse_messages_body(raw: bytes) -> dict[str, Any]:
    """A Messages body from its bytes, checked (`check_messages_body`)."""
    return check_messages_body(parse_json_object(raw))


def check_messages_body(body: dict[str, Any]) -> dict[str, Any]:
    """`body` itself once its model, messages, max_tokens and stream have the types the gateway relies on."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest('model: this field is required and must be a string, such as "claude-sonnet-4-5".')
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest("messages: this field is required and must be a list of {role, content} objects.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
            raise BadRequest(f'messages.{i}: each message must be an object with role "user" or "assistant".')
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise BadRequest(f"messages.{i}.content: must be a string or a list of content blocks.")
    if "max_tokens" in body and (not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool)):
        raise BadRequest("max_tokens: must be a whole number.")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("stream: must be true or false.")
    return body


def session_id_of(body: dict[str, Any], headers: Mapping[str, str]) -> str | None:
    """Claude Code's session id: `metadata.user_id` (a JSON string, or the older `..._session_<id>` form),
    else the `x-claude-code-session-id` header."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = orjson.loads(user_id)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str):
                return str(parsed["session_id"])
        elif "_session_" in user_id:
            return user_id.rsplit("_session_", 1)[1] or None
    return headers.get(SESSION_HEADER) or None


def working_directory_of(body: dict[str, Any]) -> str | None:
    """The working directory Claude Code's environment text names: in a `system` message among the first few
    (Claude Code 2.1+), else in the system prompt; None when neither names one."""
    messages = body.get("messages")
    texts: list[Any] = []
    if isinstance(messages, list):
        for message in messages[:_FIRST_MESSAGES]:
            if isinstance(message, dict) and message.get("role") == "system":
                texts.append(message.get("content"))
    texts.append(body.get("system"))
    for content in texts:
        for text in _texts(content):
            found = _directory_in(text)
            if found:
                return found
    return None


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
    return []


def _directory_in(text: str) -> str | None:
    for label in _WORKING_DIRECTORY:
        start = text.find(label)
        if start >= 0 and (start == 0 or text[start - 1] in " \n-\t"):
            start += len(label)
            end = text.find("\n", start)
            directory = (text[start:] if end < 0 else text[start:end]).strip()
            return directory or None
    return None
