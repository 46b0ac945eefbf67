"""`try_route` end to end through the router served in process (the app `ccr start` serves, its gateway, network
client and ledger) with a scripted provider: the answer streams back as it comes, the summary's tokens and cost are
the provider's, the request goes through routing, fallback and the ledger like any other, and bad payloads get a
400 that says what to send."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, MutableMapping
from typing import Any

import orjson
import pytest

from ccrouter.dashboard.live import LiveFeed
from ccrouter.dashboard.try_route import MAX_TOKENS, SESSION_PREFIX, try_route
from ccrouter.errors import GatewayError
from ccrouter.ledger.aggregate import UsageTotals
from ccrouter.ledger.store import SqliteLedger
from ccrouter.paths import LEDGER_FILE
from ccrouter.providers.base import REDACTED
from tests.support.fake_upstream import ScriptedUpstream, error_reply, openai_text_stream, sse_reply
from tests.support.inprocess import InProcessRouter, InProcessServer, ServeRouter
from tests.support.router_setup import openai_provider
from tests.support.waiting import wait_until

PRICE = {"input": 3.0, "output": 15.0}  # USD per million tokens
PROVIDER_KEY = "sk-test-provider-key-123456"  # openai_provider's
TEXT = "Hello from the scripted provider"


def config_of(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "Providers": [openai_provider(upstream), openai_provider(upstream, name="backup", models=["backup-model"])],
        "Router": {"default": "fake,fake-model", "background": "backup,backup-model"},
        "Prices": {"fake,fake-model": PRICE, "backup,backup-model": PRICE},
        **extra,
    }


class Tried:
    """What the browser got from one `try_route`: the ASGI messages, the events in the body."""

    def __init__(self, messages: list[MutableMapping[str, Any]]) -> None:
        self.messages = messages
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        self.events: list[tuple[str, Any]] = []
        for block in self.body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
            if "event" in fields:
                self.events.append((fields["event"], orjson.loads(fields["data"])))

    @property
    def summary(self) -> dict[str, Any]:
        name, data = self.events[-1]
        assert name == "ccr-summary"
        return dict(data)

    def text(self) -> str:
        return "".join(d["delta"].get("text", "") for n, d in self.events if n == "content_block_delta")


def on_router_loop(server: InProcessServer, work: Coroutine[Any, Any, Any]) -> Any:
    """Run `work` on the loop that serves the router (its network client lives there)."""
    loop = server._server.loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work, loop).result(60)


def try_it(server: InProcessServer, router: InProcessRouter, feed: LiveFeed, payload: Any) -> Tried:
    messages: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    on_router_loop(server, try_route(router.app.gateway, feed, payload, send))
    return Tried(messages)


def ledger_totals(router: InProcessRouter, session_id: str) -> UsageTotals:
    """The ledger's sums of one session, read as `ccr usage` reads them (nothing before the file exists)."""
    path = router.home / LEDGER_FILE
    if not path.exists():
        return UsageTotals()
    ledger = SqliteLedger(path, read_only=True)
    try:
        return ledger.totals(session_id=session_id)
    finally:
        ledger.close()


def served_with_feed(serve_router: ServeRouter, config: dict[str, Any]) -> tuple[InProcessRouter, LiveFeed]:
    router = serve_router(config)
    gateway = router.app.gateway
    feed = LiveFeed(lambda: gateway.runtime.redact)
    gateway.sinks.append(feed)
    return router, feed


def test_a_route_streams_back_and_the_summary_has_the_providers_tokens_and_cost(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream))
    upstream.queue(openai_text_stream(TEXT))  # reports 12 prompt and 5 completion tokens
    tried = try_it(router_server, router, feed, {"target": "default", "prompt": "Say hello."})

    start = tried.messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert dict(start["headers"])[b"content-type"].startswith(b"text/event-stream")
    assert dict(start["headers"])[b"cache-control"] == b"no-store"
    assert [m.get("more_body") for m in tried.messages[1:]][-1] is False
    names = [name for name, _ in tried.events]
    assert names[0] == "message_start" and "message_stop" in names and names[-1] == "ccr-summary"
    assert tried.text() == TEXT
    summary = tried.summary
    assert summary == {
        "request_id": summary["request_id"], "provider": "fake", "model": "fake-model", "scenario": "default",
        "status": 200, "latency_ms": summary["latency_ms"], "ttft_ms": summary["ttft_ms"], "input_tokens": 12,
        "output_tokens": 5, "cost_usd": pytest.approx((12 * 3.0 + 5 * 15.0) / 1_000_000), "error": None,
    }  # fmt: skip
    assert summary["latency_ms"] > 0 and summary["ttft_ms"] is not None

    [sent] = upstream.received
    assert sent.body["model"] == "fake-model" and sent.body["stream"] is True
    assert MAX_TOKENS in (sent.body.get("max_tokens"), sent.body.get("max_completion_tokens"))
    assert sent.body["messages"][-1] == {"role": "user", "content": "Say hello."}

    record = feed.find(summary["request_id"])
    assert record is not None and record.session_id is not None and record.session_id.startswith(SESSION_PREFIX)
    session_id = record.session_id
    wait_until(lambda: ledger_totals(router, session_id).requests == 1, "the ledger row")  # written like any
    assert ledger_totals(router, session_id).cost_usd == pytest.approx(summary["cost_usd"])


def test_the_answer_reaches_the_page_while_the_provider_is_still_writing(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream))
    first = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "first words"}, "finish_reason": None}]}
    upstream.queue(sse_reply([first, first], stall_after=1))  # then silent, the connection open
    messages: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    loop = router_server._server.loop
    assert loop is not None
    trying = asyncio.run_coroutine_threadsafe(
        try_route(router.app.gateway, feed, {"target": "default", "prompt": "hi"}, send), loop
    )
    wait_until(lambda: b"first words" in b"".join(m.get("body", b"") for m in list(messages)), "the first words")
    assert not trying.done()
    trying.cancel()  # the page went away (App.until_disconnect cancels the handler)
    assert upstream.client_went_away.wait(20)
    wait_until(lambda: bool(feed.requests(status="499")), "the record of the request the page left")
    [left] = feed.requests()
    assert left["session_id"].startswith(SESSION_PREFIX) and left["provider"] == "fake"


def test_a_target_is_sent_as_itself_and_a_route_falls_back_as_configured(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream, fallback={"default": ["backup,backup-model"]}))
    upstream.queue(openai_text_stream("direct"))
    direct = try_it(router_server, router, feed, {"target": "BACKUP,backup-model", "prompt": "hi"})
    assert direct.text() == "direct"
    assert (direct.summary["provider"], direct.summary["scenario"]) == ("backup", "explicit")

    upstream.queue(error_reply(503, {"error": {"message": "overloaded"}}), openai_text_stream("from the fallback"))
    fell_back = try_it(router_server, router, feed, {"target": "default", "prompt": "hi"})
    assert fell_back.text() == "from the fallback"
    assert (fell_back.summary["provider"], fell_back.summary["scenario"]) == ("backup", "default")
    detail = feed.request(fell_back.summary["request_id"])
    assert detail is not None
    assert [(a["target"], a["status"]) for a in detail["attempts"]] == [
        ("fake,fake-model", 503),
        ("backup,backup-model", 200),
    ]
    assert [r.body["model"] for r in upstream.received] == ["backup-model", "fake-model", "backup-model"]


def test_an_error_answer_becomes_an_error_event_then_the_summary(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream))
    upstream.queue(error_reply(400, {"error": {"message": f"bad request, your key {PROVIDER_KEY} is fine"}}))
    tried = try_it(router_server, router, feed, {"target": "default", "prompt": "hi"})
    assert tried.messages[0]["status"] == 200  # the page's stream; the failure is in it
    assert [name for name, _ in tried.events] == ["error", "ccr-summary"]
    error = tried.events[0][1]
    assert error["type"] == "error" and "bad request" in error["error"]["message"]
    assert PROVIDER_KEY not in tried.body.decode() and REDACTED in error["error"]["message"]
    summary = tried.summary
    assert summary["status"] == 400 and summary["provider"] == "fake" and "bad request" in summary["error"]


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ([], "JSON object"),
        (b"{not json", "not JSON"),
        ({"target": "default"}, '"prompt" must be a non-empty string'),
        ({"target": "default", "prompt": "   "}, '"prompt" must be a non-empty string'),
        ({"target": "default", "prompt": "x" * 20_001}, "at most 20,000"),
        ({"prompt": "hi"}, '"target" must be a route name'),
        ({"target": "think", "prompt": "hi"}, "'think' is not a configured route: use a route (default, background)"),
        ({"target": "fake,nope", "prompt": "hi"}, "'fake,nope' is not a configured provider,model"),
        ({"target": "ghost,m", "prompt": "hi"}, "fake,fake-model, backup,backup-model"),
    ],
)
def test_bad_payloads_get_a_400_before_anything_is_sent(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer, payload: Any, says: str
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream))
    with pytest.raises(GatewayError) as caught:
        try_it(router_server, router, feed, payload)
    assert caught.value.status == 400 and says in caught.value.message
    assert upstream.received == [] and feed.requests() == []


def test_the_longest_prompt_is_accepted(
    upstream: ScriptedUpstream, serve_router: ServeRouter, router_server: InProcessServer
) -> None:
    router, feed = served_with_feed(serve_router, config_of(upstream))
    upstream.queue(openai_text_stream("ok"))
    tried = try_it(router_server, router, feed, orjson.dumps({"target": "background", "prompt": "y" * 20_000}))
    assert tried.summary["status"] == 200 and tried.summary["scenario"] == "background"
