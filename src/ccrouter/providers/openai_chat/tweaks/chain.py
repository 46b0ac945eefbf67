"""A provider's transformer list for one model -> a `TweakChain`, built once per adapter.

Request hooks run in the chain's order: the provider's `use`, then the model's own `use`, as CCR applies them.
Reply hooks run in the reverse order, so the last tweak to touch the request is the first to see the reply
(CCR runs the provider's list reversed and then the model's list reversed). A chain without reply hooks leaves
the stream state machine alone: no work per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccrouter.config.model import TransformerUse
from ccrouter.config.transformers import TRANSFORMERS, Kind
from ccrouter.providers.base import Usage
from ccrouter.providers.openai_chat.stream import ChatStreamState, StreamState
from ccrouter.providers.openai_chat.tweaks.hooks import JSON, BodyHook, ChunkFilter, CompletionHook, RequestHook, Tweak
from ccrouter.providers.openai_chat.tweaks.plugins import PluginError, plugin_tweak
from ccrouter.providers.registry import load_factory
from ccrouter.providers.stream_events import Event

TweakFactory = Callable[[Mapping[str, Any] | None], Tweak]
"""A tweak entry's factory, in the transformer registry: the use's options -> its hooks."""


@dataclass(frozen=True, slots=True)
class TweakChain:
    body: tuple[BodyHook, ...] = ()
    request: tuple[RequestHook, ...] = ()
    completion: tuple[CompletionHook, ...] = ()  # in reply order
    stream: tuple[Callable[[], ChunkFilter], ...] = ()  # in reply order

    def apply_body(self, body: JSON) -> JSON:
        for hook in self.body:
            body = hook(body)
        return body

    def apply_request(self, request: JSON, body: JSON) -> JSON:
        for hook in self.request:
            request = hook(request, body)
        return request

    def apply_completion(self, completion: JSON) -> JSON:
        for hook in self.completion:
            completion = hook(completion)
        return completion

    def stream_state(self, state: ChatStreamState) -> StreamState:
        """`state` itself when no tweak filters streams, else `state` behind this stream's filters."""
        if not self.stream:
            return state
        return FilteredStreamState(state, [make() for make in self.stream])


NO_TWEAKS = TweakChain()


def build_chain(uses: Iterable[TransformerUse]) -> TweakChain:
    tweaks: list[Tweak] = []
    for use in uses:
        if use.plugin is not None:  # a plugin of the same name replaces a built-in, as in CCR
            tweaks.append(plugin_tweak(use.plugin, use.options))
        else:  # wire-format names (anthropic, gemini, ...) and `openai` tweak nothing
            entry = TRANSFORMERS.get(use.name)
            if entry is not None and entry.kind is Kind.TWEAK and entry.factory is not None:
                make: TweakFactory = load_factory(entry)
                tweaks.append(make(use.options))
    if not tweaks:
        return NO_TWEAKS
    return TweakChain(
        body=tuple(t.body for t in tweaks if t.body is not None),
        request=tuple(t.request for t in tweaks if t.request is not None),
        completion=tuple(t.completion for t in reversed(tweaks) if t.completion is not None),
        stream=tuple(t.stream for t in reversed(tweaks) if t.stream is not None),
    )


class FilteredStreamState:
    """A `ChatStreamState` behind chunk filters, with the interface the stream translator uses."""

    __slots__ = ("_filters", "_state")

    def __init__(self, state: ChatStreamState, filters: list[ChunkFilter]) -> None:
        self._state = state
        self._filters = filters

    @property
    def usage(self) -> Usage:
        return self._state.usage

    @property
    def stop_reason(self) -> str | None:
        return self._state.stop_reason

    @property
    def ended(self) -> bool:
        return self._state.ended

    def feed(self, chunk: JSON) -> list[Event]:
        try:
            chunks = [chunk]
            for chunk_filter in self._filters:
                chunks = [out for piece in chunks for out in chunk_filter.feed(piece)]
        except PluginError as exc:
            return self._state.fail(exc.error_type, exc.message)
        return self._feed_state(chunks)

    def finish(self) -> list[Event]:
        if self._state.ended:
            return []
        try:
            chunks: list[JSON] = []
            for chunk_filter in self._filters:
                chunks = [out for piece in chunks for out in chunk_filter.feed(piece)] + chunk_filter.flush()
        except PluginError as exc:
            return self._state.fail(exc.error_type, exc.message)
        return self._feed_state(chunks) + self._state.finish()

    def fail(self, error_type: str, message: str) -> list[Event]:
        return self._state.fail(error_type, message)

    def _feed_state(self, chunks: list[JSON]) -> list[Event]:
        if len(chunks) == 1:
            return self._state.feed(chunks[0])
        events: list[Event] = []
        for piece in chunks:
            events += self._state.feed(piece)
        return events
