"""Custom tweaks in Python: the plugin files of the config's top-level `transformers: [{path, options}]`.

A plugin file defines a module-level `name` (what provider `use` lists call it) and any of:

    def transform_request(request: dict, options: dict) -> dict | None: ...
        # the chat-completions request about to be sent (after the built-in tweaks before it in the chain)
    def transform_response(completion: dict, options: dict) -> dict | None: ...
        # a non-streamed chat completion, before it becomes an Anthropic message
    def transform_chunk(chunk: dict, options: dict) -> dict | list[dict] | None: ...
        # each streamed chat-completion chunk, parsed; a list passes on several chunks, [] drops it

Returning None means "the argument, as I changed it". `options` is the plugin's `options` from `transformers`,
overridden key by key by the options of the `use` entry (`["my-tweak", {...}]`); each call gets its own copy,
and `transform_request` gets its own copy of the request, so a plugin may change what it is given freely.

When a plugin raises or returns something else, the client gets an Anthropic error naming the plugin and its file
(HTTP 400 before the provider is asked: the failure is the same on every retry, and a 5xx would make Claude Code
retry it ten times; an `error` event when it happens inside a stream).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ccrouter.errors import GatewayError
from ccrouter.providers.openai_chat.tweaks.hooks import JSON, ChunkFilter, CompletionHook, RequestHook, Tweak

if TYPE_CHECKING:
    from ccrouter.config.model import TransformerPlugin


class PluginError(GatewayError):
    """A transformer plugin raised, or returned something that is not a chat-completions dict."""

    def __init__(self, plugin: TransformerPlugin, hook: str, problem: str) -> None:
        super().__init__(
            400,
            f"Transformer plugin {plugin.name!r} ({plugin.path}) failed in {hook}: {problem[:500]}. Fix the "
            f"plugin, or remove {plugin.name!r} from the provider's transformer list.",
            "invalid_request_error",
        )


def plugin_tweak(plugin: TransformerPlugin, use_options: Mapping[str, Any] | None) -> Tweak:
    options = {**plugin.options, **(use_options or {})}
    request_fn = _function(plugin, "transform_request")
    response_fn = _function(plugin, "transform_response")
    chunk_fn = _function(plugin, "transform_chunk")
    return Tweak(
        request=_request_hook(plugin, request_fn, options) if request_fn else None,
        completion=_completion_hook(plugin, response_fn, options) if response_fn else None,
        stream=_chunk_filters(plugin, chunk_fn, options) if chunk_fn else None,
    )


def _function(plugin: TransformerPlugin, hook: str) -> Callable[..., Any] | None:
    fn = getattr(plugin.module, hook, None)
    return fn if callable(fn) else None


def _request_hook(plugin: TransformerPlugin, fn: Callable[..., Any], options: JSON) -> RequestHook:
    def hook(request: JSON, body: JSON) -> JSON:
        own = orjson.loads(orjson.dumps(request))  # its nested values may be shared with the client's body
        result = _dict_result(plugin, "transform_request", _call(plugin, "transform_request", fn, own, options), own)
        try:
            orjson.dumps(result)
        except orjson.JSONEncodeError as exc:
            raise PluginError(plugin, "transform_request", f"it returned a value JSON cannot hold ({exc})") from None
        return result

    return hook


def _completion_hook(plugin: TransformerPlugin, fn: Callable[..., Any], options: JSON) -> CompletionHook:
    def hook(completion: JSON) -> JSON:
        result = _call(plugin, "transform_response", fn, completion, options)
        return _dict_result(plugin, "transform_response", result, completion)

    return hook


def _chunk_filters(plugin: TransformerPlugin, fn: Callable[..., Any], options: JSON) -> Callable[[], ChunkFilter]:
    return lambda: _PluginChunks(plugin, fn, options)


def _call(plugin: TransformerPlugin, hook: str, fn: Callable[..., Any], data: JSON, options: JSON) -> Any:
    try:
        return fn(data, copy.deepcopy(options))
    except Exception as exc:  # the user's code may raise anything
        raise PluginError(plugin, hook, f"{type(exc).__name__}: {exc}") from None


def _dict_result(plugin: TransformerPlugin, hook: str, result: Any, given: JSON) -> JSON:
    if result is None:
        return given
    if not isinstance(result, dict):
        raise PluginError(plugin, hook, f"it returned {type(result).__name__}, not a dict (or None)")
    return result


class _PluginChunks:
    __slots__ = ("_fn", "_options", "_plugin")

    def __init__(self, plugin: TransformerPlugin, fn: Callable[..., Any], options: JSON) -> None:
        self._plugin = plugin
        self._fn = fn
        self._options = options

    def feed(self, chunk: JSON) -> list[JSON]:
        result = _call(self._plugin, "transform_chunk", self._fn, chunk, self._options)
        if result is None:
            return [chunk]
        if isinstance(result, dict):
            return [result]
        if isinstance(result, list) and all(isinstance(item, dict) for item in result):
            return result
        raise PluginError(
            self._plugin, "transform_chunk", f"it returned {type(result).__name__}, not a dict, a list of dicts or None"
        )

    def flush(self) -> list[JSON]:
        return []
