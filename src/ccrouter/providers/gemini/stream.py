"""Gemini `streamGenerateContent?alt=sse` -> Anthropic SSE: a state machine and the byte-level translator.

Each SSE event holds one GenerateContentResponse chunk. Gemini's parts come in order and never interleave (a
function call arrives whole, in one part), so one block is open at a time and a call is a complete tool_use
block. The stream has no terminator: it is complete only if a chunk carried a `finishReason`; one that ends
without it ends in an Anthropic `event: error`, never as a short success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ccrouter.errors import error_body
from ccrouter.providers.base import Usage, new_id, provider_error_text
from ccrouter.providers.gemini.response import (
    FAILED_FINISH,
    BlockWriter,
    blocked_prompt,
    candidate_parts,
    failed_finish_message,
    first_candidate,
    message_id,
    read_usage,
    stop_reason,
)
from ccrouter.providers.sse_translation import NOT_JSON, SSETranslator, event_object
from ccrouter.providers.stream_events import CUT_SHORT, Event, message_end, message_start
from ccrouter.sse import SSEEvent


class GeminiStreamState:
    """Feed it parsed chunks; it returns Anthropic `(event name, event data)` pairs."""

    def __init__(
        self,
        model: str,
        input_tokens: int,
        *,
        make_id: Callable[[], str] = new_id,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.model = model
        self._redact = redact  # applied to error messages, which may quote the provider (and its key)
        self.usage = Usage(input_tokens=input_tokens)
        self.stop_reason: str | None = None
        self.ended = False
        self._make_id = make_id
        self._writer = BlockWriter(make_id)
        self._started = False
        self._usage_seen = False
        self._finish: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self.ended:
            return []
        if chunk.get("error") is not None:
            return self.fail(*stream_error(chunk["error"]))
        out: list[Event] = []
        if read_usage(chunk.get("usageMetadata"), self.usage):
            self._usage_seen = True
        if not self._started:
            self._start(chunk.get("responseId"), out)
        candidate = first_candidate(chunk)
        for part in candidate_parts(candidate):
            self._writer.add(part, out)
        finish = candidate.get("finishReason") if candidate else None
        if isinstance(finish, str) and finish in FAILED_FINISH:
            return out + self.fail("api_error", failed_finish_message(candidate or {}))
        if isinstance(finish, str) and finish:
            self._finish = finish
            self.stop_reason = stop_reason(finish, self._writer.has_calls)
        elif blocked_prompt(chunk):
            self._finish = "blocked"
            self.stop_reason = "refusal"
        return out

    def flush(self) -> list[Event]:
        """The text gathered for the open block, as one delta (called after each read)."""
        out: list[Event] = []
        if not self.ended:
            self._writer.flush(out)
        return out

    def finish(self) -> list[Event]:
        """The provider closed the stream: the closing events, or an error if it never said it had finished."""
        if self.ended:
            return []
        if self._finish is None:
            return self.fail("api_error", CUT_SHORT)
        self.ended = True
        out: list[Event] = []
        if not self._started:
            self._start(None, out)
        self._writer.close(out)
        if self._finish != "blocked":
            self.stop_reason = stop_reason(self._finish, self._writer.has_calls)
        return out + message_end(self.stop_reason, self.usage, self._usage_seen)

    @property
    def complete(self) -> bool:
        """A chunk said the answer is finished (whatever arrives later cannot make it incomplete)."""
        return self._finish is not None

    def fail(self, error_type: str, message: str) -> list[Event]:
        """End the stream with an `error` event (what was already said goes out first)."""
        if self.ended:
            return []
        out = self.flush()
        self.ended = True
        return [*out, ("error", error_body(error_type, self._redact(message)))]

    def _start(self, response_id: Any, out: list[Event]) -> None:
        self._started = True
        out.append(message_start(message_id(response_id, self._make_id), self.model, self.usage))


def stream_error(error: Any) -> tuple[str, str]:
    """Gemini's error object (`{code, message, status}`) -> (Anthropic error type, message)."""
    if isinstance(error, dict):
        message = error.get("message")
        text = message if isinstance(message, str) and message else orjson.dumps(error).decode()[:500]
        code, status = error.get("code"), str(error.get("status") or "")
    else:
        text, code, status = str(error)[:500], None, ""
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        kind = "rate_limit_error"
    elif code in (503, 529) or status == "UNAVAILABLE":
        kind = "overloaded_error"
    else:
        kind = "api_error"
    return kind, f"The provider sent an error in its stream: {text}"


class GeminiStreamTranslator(SSETranslator[GeminiStreamState]):
    """Gemini SSE bytes -> Anthropic SSE bytes, around a `GeminiStreamState`.

    A body that is not SSE at all (a proxy that ignored `alt=sse` and sent the JSON array, or a JSON error with
    status 200) is kept and translated whole when the stream ends.
    """

    head_limit = 4 * 1024 * 1024  # a body that is not SSE (a JSON array or error) is kept up to this size
    json_starts = (b"[", b"{")

    def _keep_head(self, head: bytearray, chunk: bytes) -> None:
        if len(head) < self.head_limit:
            head += chunk  # whole reads: the body is parsed, not quoted

    def _translate(self, sse_events: list[SSEEvent]) -> list[Event]:
        state = self._state
        out: list[Event] = []
        for sse in sse_events:
            if not sse.data or sse.data == "[DONE]":  # Gemini sends no terminator; some proxies add one
                continue
            chunk = event_object(sse.data)
            if chunk is None:
                if state.complete:  # trailing junk after the last chunk: the answer is whole already
                    continue
                out += state.fail("api_error", NOT_JSON)
                break
            out += state.feed(chunk)
            if state.ended:
                break
        out += state.flush()
        self._done = state.ended
        self.stop_reason = state.stop_reason
        return out

    def _json_instead_of_stream(self, head: bytes) -> list[Event]:
        """The whole answer as JSON: one GenerateContentResponse, or the array of a stream's chunks."""
        state = self._state
        try:
            data = orjson.loads(head)
        except orjson.JSONDecodeError:
            return state.fail("api_error", "The provider sent something that is not a stream. Try again.")
        chunks = data if isinstance(data, list) else [data]
        out: list[Event] = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error") is not None and not chunk.get("candidates"):
                text = provider_error_text(orjson.dumps(chunk))
                return out + state.fail(stream_error(chunk["error"])[0], f"The provider answered with an error: {text}")
            out += state.feed(chunk)
        return out + state.flush() + state.finish()
