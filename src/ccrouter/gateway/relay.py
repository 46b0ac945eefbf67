"""Relaying a provider's stream to the client, translated chunk by chunk, with keepalive pings while it is quiet.

The stream is committed (its first translated bytes are in `Opened`, see `dispatch.py`): whatever goes wrong from
here reaches the client as an Anthropic `error` event, never as a silently truncated success, and the record says
what went wrong (from the translator's `error`, not from its bytes). An `error` event is the stream's last: the
client's stream ends right after it and the provider's connection is closed, so nothing more is read (or paid for).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ccrouter.errors import UpstreamError, error_body
from ccrouter.gateway.dispatch import Opened
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.responses import Send, end_stream, start_stream, stream_chunk
from ccrouter.sse import PING, encode_event


async def relay_stream(
    opened: Opened,
    route_headers: list[tuple[str, str]],
    send: Send,
    record: RequestRecord,
    started: float,
    ping_interval_s: float,
    redact: Callable[[str], str],
) -> None:
    """Send the stream `opened` holds; `started` is the request's `perf_counter` start (for the first-token time)."""
    translator, response = opened.translator, opened.response
    assert translator is not None
    await start_stream(send, route_headers)
    clock = _SendClock()
    tail = b""
    ended = opened.ended or translator.error is not None  # an error already sent ends the stream
    if opened.first_bytes:
        record.ttft_ms = round((time.perf_counter() - started) * 1000, 3)
        if ended:
            tail = opened.first_bytes
        else:
            await stream_chunk(send, opened.first_bytes)
    keepalive = None if ended else asyncio.create_task(_keepalive(send, clock, ping_interval_s))
    try:
        if not ended:
            async for chunk in response.chunks():
                out = translator.feed(chunk)
                if out:
                    if record.ttft_ms is None:
                        record.ttft_ms = round((time.perf_counter() - started) * 1000, 3)
                    clock.last = time.monotonic()
                    await stream_chunk(send, out)
                if translator.error is not None:  # the translator's last event: stop reading the provider
                    break
            tail = translator.finish()
    except UpstreamError as exc:
        message = redact(exc.message)
        record.error = message
        error_type = "overloaded_error" if exc.status in (503, 529) else "api_error"
        tail = encode_event("error", error_body(error_type, message))
    finally:
        if keepalive is not None:
            keepalive.cancel()
        record.take_usage(translator.usage)
        record.stop_reason = translator.stop_reason
        response.close()
    if record.error is None:  # the client got the translator's `error` event, or a stream without a stop reason
        failure = translator.error
        if failure is not None:
            record.error = redact(f"the provider's stream ended in an error: {failure.message}")
        elif translator.stop_reason is None:
            record.error = "the provider's stream ended without a stop reason"
    await end_stream(send, tail)


class _SendClock:
    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = time.monotonic()


async def _keepalive(send: Send, clock: _SendClock, interval: float) -> None:
    while True:
        await asyncio.sleep(interval - (time.monotonic() - clock.last))
        if time.monotonic() - clock.last >= interval:
            clock.last = time.monotonic()
            await stream_chunk(send, PING)
