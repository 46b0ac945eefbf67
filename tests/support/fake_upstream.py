"""A scripted provider on loopback: a real aiohttp server, in its own thread, that records what it receives.

Tests queue replies (`json_reply`, `sse_reply`, `error_reply`, `stalled_reply`) and then assert on exactly what
the provider received (path, headers, JSON body) and whether the client went away mid-answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    client_port: int = 0  # which pooled connection carried the request


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    chunks: list[bytes] | None = None  # streamed with `delay` seconds between chunks
    delay: float = 0.0
    stall_after: int | None = None  # stop sending (keep the connection open) after this many chunks
    headers_delay: float = 0.0  # wait this long before answering at all
    headers: dict[str, str] = field(default_factory=dict)
    reset_after: int | None = None  # reset the connection (TCP RST) after this many chunks


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, body=json.dumps(data).encode(), headers=headers or {})


def error_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Scripted:
    return json_reply(data, status, headers)


def sse_reply(events: list[Any], delay: float = 0.0, done: bool = True, stall_after: int | None = None) -> Scripted:
    """OpenAI-style `data:` lines (dicts are JSON-encoded; bytes are sent as they are)."""
    chunks = [e if isinstance(e, bytes) else b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return Scripted(content_type="text/event-stream", chunks=chunks, delay=delay, stall_after=stall_after)


def anthropic_sse_reply(events: list[tuple[str, dict[str, Any]]], delay: float = 0.0) -> Scripted:
    chunks = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
    return Scripted(content_type="text/event-stream", chunks=chunks, delay=delay)


class ScriptedUpstream:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: deque[Scripted] = deque()
        self.default: Callable[[Received], Scripted] | None = None
        self.client_went_away = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def queue(self, *replies: Scripted) -> None:
        self.replies.extend(replies)

    async def _start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        received = Received(
            request.method, request.path, request.query_string, dict(request.headers), body, peer[1] if peer else 0
        )
        self.received.append(received)
        if self.replies:
            reply = self.replies.popleft()
        elif self.default is not None:
            reply = self.default(received)
        else:
            reply = error_reply(500, {"error": {"message": "the scripted upstream has no reply queued"}})
        if reply.headers_delay:
            try:
                await asyncio.sleep(reply.headers_delay)
            except asyncio.CancelledError:
                self.client_went_away.set()
                raise
        if reply.chunks is None:
            return web.Response(
                status=reply.status, body=reply.body, content_type=reply.content_type, headers=reply.headers
            )
        response = web.StreamResponse(
            status=reply.status, headers={"content-type": reply.content_type, **reply.headers}
        )
        await response.prepare(request)
        try:
            for i, chunk in enumerate(reply.chunks):
                if reply.stall_after is not None and i >= reply.stall_after:
                    await asyncio.sleep(3600)
                if reply.reset_after is not None and i >= reply.reset_after:
                    _reset(request)
                    return response
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.client_went_away.set()
            raise
        return response


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset, as a crashing provider or a broken network does."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


# ---------------------------------------------------------------------------------------------------------------
# OpenAI chat-completions replies, streamed or not


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_usage_chunk(prompt: int = 12, completion: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def openai_text_stream(text: str, pieces: int = 3) -> Scripted:
    size = max(1, len(text) // pieces)
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": part}) for part in parts]
    events += [_chunk({}, "stop"), openai_usage_chunk()]
    return sse_reply(events)


def openai_tool_call_stream(call_id: str, name: str, arguments: dict[str, Any]) -> Scripted:
    raw = json.dumps(arguments)
    half = len(raw) // 2
    events = [
        _chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
                ],
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": raw[:half]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": raw[half:]}}]}),
        _chunk({}, "tool_calls"),
        openai_usage_chunk(),
    ]
    return sse_reply(events)


def openai_text_reply(text: str, stream: bool) -> Scripted:
    return openai_text_stream(text) if stream else openai_completion(text)


def openai_completion(text: str, prompt: int = 12, completion: int = 5) -> Scripted:
    return json_reply(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
    )


def openai_tool_messages(body: Any) -> list[str]:
    """The contents of the `role: "tool"` messages of an OpenAI chat request."""
    messages = body.get("messages") if isinstance(body, dict) else None
    return [str(m.get("content")) for m in messages or [] if isinstance(m, dict) and m.get("role") == "tool"]


def openai_tool_names(body: Any) -> list[str]:
    tools = body.get("tools") if isinstance(body, dict) else None
    return [t["function"]["name"] for t in tools or [] if isinstance(t, dict) and "function" in t]


def bash_tool_loop(marker: str, call_id: str = "call_bash_1") -> Callable[[Received], Scripted]:
    """A provider for Claude Code's tool loop: asks for `echo MARKER` with Bash, then answers with text that quotes
    the tool's output once the result comes back. Claude Code's side calls get a short answer."""

    def reply(received: Received) -> Scripted:
        body = received.body
        results = openai_tool_messages(body)
        if results:
            return openai_text_stream(f"All done. The tool said: {results[-1].strip()}")
        if "Bash" in openai_tool_names(body):
            return openai_tool_call_stream(call_id, "Bash", {"command": f"echo {marker}", "description": "Echo"})
        return openai_text_reply("ok", bool(body.get("stream")))

    return reply
