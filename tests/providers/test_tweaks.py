"""CCR's transformer names as tweaks: fixture cases through the real adapter, and each tweak's edges."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccrouter.config.loading import parse_config
from ccrouter.config.model import TransformerUse
from ccrouter.config.transformers import TRANSFORMERS, Kind
from ccrouter.errors import ConfigError, UpstreamError
from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter
from ccrouter.providers.openai_chat.refusals import (
    LLAMA_CPP_HINT,
    THINKING_HINT,
    TOOLS_HINT,
    VLLM_HINT,
    capability_hint,
)
from ccrouter.providers.openai_chat.stream import ChatStreamState
from ccrouter.providers.openai_chat.tweaks.chain import NO_TWEAKS, FilteredStreamState, build_chain
from ccrouter.providers.openai_chat.tweaks.params import without_cache_control
from ccrouter.providers.openai_chat.tweaks.think_tags import THINK_TAGS, TagSplitter, ask_for_reasoning
from ccrouter.providers.openai_chat.tweaks.tool_arguments import RepairArguments, repair_arguments
from ccrouter.providers.openai_chat.tweaks.tooluse import EXIT_TOOL, REMINDER, ExitToolFilter, force_tool_use
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    decode_events,
    random_pieces,
    read_json,
    read_jsonl,
    same_stream,
    sdk_message,
    single_bytes,
)
from tests.support.openai_chat_cases import stream_bytes as chat_stream_bytes
from tests.support.openai_chat_cases import stream_reads
from tests.support.paths import FIXTURES_DIR
from tests.support.tweak_cases import (
    FIXTURES,
    cases,
    context,
    provider_for,
    run_stream,
    setup,
    translate_request,
    translate_response,
    translate_stream,
)

REQUEST_CASES = cases("anthropic_request.json")
RESPONSE_CASES = cases("openai_response.json")
STREAM_CASES = cases("openai_stream.jsonl")


def _names_in(block: Any) -> set[str]:
    names: set[str] = set()
    for key, value in block.items():
        uses = value if key == "use" else value.get("use", [])
        names |= {(use[0] if isinstance(use, list) else use).lower() for use in uses}
    return names


def test_every_tweak_has_a_fixture_case() -> None:
    used: set[str] = set()
    for case in FIXTURES.iterdir():
        used |= _names_in(read_json(case / "uses.json")["transformer"])
    tweaks = {entry.name for entry in TRANSFORMERS.values() if entry.kind is Kind.TWEAK and entry.factory is not None}
    assert tweaks <= used, tweaks - used


# ---------------------------------------------------------------------------------------------------------------
# Fixture cases


@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda p: p.name)
def test_request_fixture(case: Path) -> None:
    assert translate_request(case) == read_json(case / "expected_openai_request.json")


@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda p: p.name)
def test_the_clients_body_is_never_modified(case: Path) -> None:
    """Fallbacks send the same body to another adapter: no tweak may change it (tool schemas are shared)."""
    adapter, target = setup(case)
    body = read_json(case / "anthropic_request.json")
    before = copy.deepcopy(body)
    adapter.build_request(body, context(target, bool(body.get("stream"))))
    assert body == before


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda p: p.name)
def test_response_fixture(case: Path) -> None:
    assert translate_response(case) == read_json(case / "expected_anthropic.json")


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda p: p.name)
def test_stream_fixture(case: Path) -> None:
    assert translate_stream(case) == read_jsonl(case / "expected_events.jsonl")


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda p: p.name)
def test_stream_through_anthropic_sdk(case: Path) -> None:
    out, _ = run_stream(case, [b"".join(stream_reads(case))])
    assert sdk_message(out) == read_json(case / "expected_sdk_message.json")


def _stream_data(case: Path) -> bytes:
    return b"".join(stream_reads(case))


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda p: p.name)
def test_stream_split_into_single_bytes(case: Path) -> None:
    out, _ = run_stream(case, single_bytes(_stream_data(case)))
    assert same_stream(out, case)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), case=st.sampled_from(STREAM_CASES))
def test_stream_split_at_random_boundaries(seed: int, case: Path) -> None:
    out, _ = run_stream(case, random_pieces(_stream_data(case), seed, most_cuts=30))
    assert same_stream(out, case)


# ---------------------------------------------------------------------------------------------------------------
# The chain


def test_no_tweaks_leaves_the_plain_path_alone() -> None:
    """Without tweaks (or with request-only ones) a stream runs on the bare state machine: no per-chunk work."""
    assert build_chain(()) is NO_TWEAKS
    assert build_chain([TransformerUse("openai"), TransformerUse("anthropic")]) is NO_TWEAKS
    state = ChatStreamState("m", 1)
    assert NO_TWEAKS.stream_state(state) is state
    request_only = build_chain([TransformerUse("maxtoken", {"max_tokens": 10}), TransformerUse("deepseek")])
    assert request_only.stream == () and request_only.completion == () and request_only.body == ()
    assert len(request_only.request) == 2
    assert isinstance(build_chain([TransformerUse("enhancetool")]).stream_state(state), FilteredStreamState)


def test_reply_hooks_run_in_reverse_chain_order(tmp_path: Path) -> None:
    """The last tweak to touch the request is the first to see the reply."""
    for tag in ("a", "b"):
        (tmp_path / f"{tag}.py").write_text(
            f'name = "mark-{tag}"\n'
            "def transform_request(request, options):\n"
            f'    request["order"] = request.get("order", "") + "{tag}"\n'
            "def transform_response(completion, options):\n"
            f'    completion["choices"][0]["message"]["content"] += "{tag}"\n'
        )
    config = {
        "Providers": [
            {
                "name": "p",
                "api_base_url": "https://p.test/v1",
                "models": ["m"],
                "transformer": {"use": ["mark-a"], "m": {"use": ["mark-b"]}},
            }
        ],
        "Router": {"default": "p,m"},
        "transformers": [{"path": str(tmp_path / "a.py")}, {"path": str(tmp_path / "b.py")}],
    }
    provider = parse_config(orjson.dumps(config).decode(), {}).provider("p")
    assert provider is not None
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    target = provider_target(provider)
    sent = orjson.loads(adapter.build_request({"messages": [], "max_tokens": 5}, context(target, False)).body)
    assert sent["order"] == "ab"
    reply = b'{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}'
    message = orjson.loads(adapter.parse_reply(reply, context(target, False)).body)
    assert message["content"] == [{"type": "text", "text": "xba"}]


def provider_target(provider: Any) -> Any:
    from ccrouter.config.model import Target

    return Target(provider, provider.models[0])


# ---------------------------------------------------------------------------------------------------------------
# Options, checked when the config loads


@pytest.mark.parametrize(
    ("use", "fragment"),
    [
        ("maxtoken", "maxtoken needs options"),
        (["maxtoken", {"max_token": 100}], "maxtoken needs options"),
        (["maxtoken", {"max_tokens": 0}], "positive whole number"),
        (["sampling", {"temprature": 0.5}], "sampling does not know 'temprature'"),
        (["sampling", {"temperature": "hot"}], "sampling's temperature must be a number"),
        (["reasoning", {"enable": "no"}], "reasoning's enable must be true or false"),
    ],
)
def test_bad_options_are_refused_with_the_key_path(use: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        provider_for({"use": ["deepseek"], "test-model": {"use": [use]}})
    assert "Providers[0].transformer.test-model.use[0]" in str(caught.value)
    assert fragment in str(caught.value)


def test_maxtoken_accepts_the_camel_case_key_and_numeric_strings() -> None:
    for options in ({"maxTokens": 100}, {"max_tokens": "100"}):
        chain = build_chain([TransformerUse("maxtoken", options)])
        assert chain.apply_request({"max_tokens": 5000}, {}) == {"max_tokens": 100}


# ---------------------------------------------------------------------------------------------------------------
# Request tweaks' edges


def test_maxtoken_caps_max_completion_tokens_too_whatever_the_order() -> None:
    for names in (["maxcompletiontokens", "maxtoken"], ["maxtoken", "maxcompletiontokens"]):
        uses = [TransformerUse(n, {"max_tokens": 100} if n == "maxtoken" else None) for n in names]
        assert build_chain(uses).apply_request({"max_tokens": 5000}, {}) == {"max_completion_tokens": 100}


def test_customparams_merges_objects_deeply_and_keeps_plain_values() -> None:
    chain = build_chain([TransformerUse("customparams", {"extra_body": {"a": {"x": 1}}, "temperature": 0, "seed": 7})])
    request = {"temperature": 0.5, "extra_body": {"a": {"y": 2}, "b": 3}}
    assert chain.apply_request(request, {}) == {
        "temperature": 0.5,
        "extra_body": {"a": {"y": 2, "x": 1}, "b": 3},
        "seed": 7,
    }


def test_cleancache_removes_every_cache_control_and_shares_the_rest() -> None:
    case = FIXTURES / "cleancache"
    body = read_json(case / "anthropic_request.json")
    before = copy.deepcopy(body)
    cleaned = without_cache_control(body)
    assert b"cache_control" not in orjson.dumps(cleaned)
    assert body == before
    assert cleaned["messages"][1] is body["messages"][1]  # untouched parts are shared, not copied
    plain = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert without_cache_control(plain) is plain


def test_tooluse_leaves_requests_without_tools_or_with_an_explicit_choice_alone() -> None:
    no_tools: dict[str, Any] = {"messages": [], "tools": []}
    assert force_tool_use(no_tools) is no_tools
    server_only = {"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    assert force_tool_use(server_only) is server_only
    tool = {"name": "Bash", "input_schema": {"type": "object"}}
    declined = {"messages": [], "tools": [tool], "tool_choice": {"type": "none"}}
    assert force_tool_use(declined) is declined
    named = force_tool_use({"messages": [], "tools": [tool], "tool_choice": {"type": "tool", "name": "Bash"}})
    assert named["tool_choice"] == {"type": "tool", "name": "Bash"}
    assert [t["name"] for t in named["tools"]] == ["Bash", EXIT_TOOL]
    assert named["system"] == REMINDER
    kept = force_tool_use({"messages": [], "tools": [tool], "system": "Be brief.", "tool_choice": {"type": "auto"}})
    assert kept["system"] == f"Be brief.\n\n{REMINDER}" and kept["tool_choice"] == {"type": "any"}


def test_forcereasoning_asks_again_after_a_tool_result() -> None:
    request = {"messages": [{"role": "user", "content": "go"}, {"role": "tool", "tool_call_id": "1", "content": "ok"}]}
    out = ask_for_reasoning(request, {})
    assert out["messages"][-1]["role"] == "user" and "<reasoning_content>" in out["messages"][-1]["content"]
    blocks = ask_for_reasoning({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]}, {})
    assert blocks["messages"][0]["content"][0] == {"type": "text", "text": "q"}
    assert "<reasoning_content>" in blocks["messages"][0]["content"][1]["text"]


# ---------------------------------------------------------------------------------------------------------------
# enhancetool


@pytest.mark.parametrize(
    ("arguments", "repaired"),
    [
        ('{"command": "ls"}', '{"command": "ls"}'),  # valid: the very same text
        ("", "{}"),
        ("   ", "{}"),
        ('{"a": 1,}', '{"a":1}'),
        ("{'a': 'b'}", '{"a":"b"}'),
        ('{"command": "ls -la', '{"command":"ls -la"}'),
        ("{a: 1, // note\n}", '{"a":1}'),
        ("[1, 2]", '{"_raw":"[1, 2]"}'),
        ("no json here", '{"_raw":"no json here"}'),
    ],
)
def test_repair_arguments(arguments: str, repaired: str) -> None:
    assert repair_arguments(arguments) == repaired


def _tool_chunk(calls: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": finish}]}


def test_repair_releases_a_call_whose_index_is_reused_by_a_new_call() -> None:
    repair = RepairArguments()
    first = _tool_chunk([{"index": 0, "id": "a", "function": {"name": "Bash", "arguments": "{'x': 1"}}])
    out = repair.feed(first)
    assert out[0]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "id": "a", "function": {"name": "Bash"}}]
    out = repair.feed(_tool_chunk([{"index": 0, "id": "b", "function": {"name": "Read", "arguments": "{}"}}]))
    assert out[0]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"x":1}'}}]
    assert out[1]["choices"][0]["delta"]["tool_calls"][0]["id"] == "b"
    assert repair.flush()[0]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
    assert repair.flush() == []


# ---------------------------------------------------------------------------------------------------------------
# extrathinktag / forcereasoning: the tag splitter


def _split_all(pieces: list[str]) -> tuple[str, str]:
    splitter = TagSplitter(*THINK_TAGS)
    reasoning = text = ""
    for piece in pieces:
        r, t = splitter.feed(piece)
        reasoning, text = reasoning + r, text + t
    r, t = splitter.flush()
    return reasoning + r, text + t


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 60), max_size=12))
def test_think_tags_split_anywhere(cuts: list[int]) -> None:
    text = "  <think>\nweigh it </thin k> up</think>\n\nAnswer: <think>x</think>"
    assert _split_all(_cut(text, cuts)) == ("weigh it </thin k> up", "Answer: <think>x</think>")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="<>/thinkab \n", max_size=30), cuts=st.lists(st.integers(0, 30), max_size=8))
def test_text_that_does_not_start_with_the_tag_is_kept_whole(text: str, cuts: list[int]) -> None:
    if text.lstrip().startswith("<think>"):
        return
    assert _split_all(_cut(text, cuts)) == ("", text)


def test_a_reply_cut_inside_the_reasoning_keeps_it_as_thinking() -> None:
    assert _split_all(["<think>half a thou", "ght</th"]) == ("half a thought</th", "")


# ---------------------------------------------------------------------------------------------------------------
# tooluse in streams


def _text_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def test_exit_tool_text_follows_earlier_text_as_its_own_paragraph_and_other_calls_stay() -> None:
    state = FilteredStreamState(ChatStreamState("m", 1), [ExitToolFilter()])
    events = state.feed(_text_chunk("Let me check."))
    events += state.feed(_tool_chunk([{"index": 0, "id": "x", "function": {"name": EXIT_TOOL, "arguments": ""}}]))
    events += state.feed(_tool_chunk([{"index": 0, "function": {"arguments": '{"response": "All good."}'}}]))
    events += state.feed(_tool_chunk([{"index": 1, "id": "b", "function": {"name": "Bash", "arguments": "{}"}}]))
    events += state.feed(_tool_chunk([], "tool_calls"))
    events += state.finish()
    texts = [e[1]["delta"]["text"] for e in events if e[0] == "content_block_delta" and "text" in e[1]["delta"]]
    assert "".join(texts) == "Let me check.\n\nAll good."
    starts = [e[1]["content_block"]["type"] for e in events if e[0] == "content_block_start"]
    assert starts == ["text", "tool_use"]
    assert state.stop_reason == "tool_use"


# ---------------------------------------------------------------------------------------------------------------
# Plugins


def _plugin_provider(tmp_path: Path, source: str, options: dict[str, Any] | None = None, use: Any = "mine") -> Any:
    plugin = tmp_path / "mine.py"
    plugin.write_text(source)
    config = {
        "Providers": [
            {"name": "p", "api_base_url": "https://p.test/v1", "models": ["m"], "transformer": {"use": [use]}}
        ],
        "Router": {"default": "p,m"},
        "transformers": [{"path": str(plugin), "options": options or {}}],
    }
    provider = parse_config(orjson.dumps(config).decode(), {}).provider("p")
    assert provider is not None
    return provider, plugin


def test_plugin_options_merge_and_it_may_change_its_copy_freely(tmp_path: Path) -> None:
    source = (
        'name = "Mine"\n'
        "def transform_request(request, options):\n"
        '    request["tools"][0]["function"]["parameters"]["x"] = dict(options)\n'
        '    options["changed"] = True\n'
    )
    provider, _ = _plugin_provider(tmp_path, source, {"a": 1, "b": 2}, ["MINE", {"b": 3}])
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    body = {"messages": [], "tools": [{"name": "T", "input_schema": {"type": "object"}}]}
    for _ in range(2):
        sent = orjson.loads(adapter.build_request(body, context(provider_target(provider), False)).body)
        assert sent["tools"][0]["function"]["parameters"]["x"] == {"a": 1, "b": 3}
    assert body["tools"][0]["input_schema"] == {"type": "object"}  # the client's schema is untouched


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def transform_response(c, o):\n    raise KeyError('choices')\n", "KeyError: 'choices'"),
        ("def transform_response(c, o):\n    return 42\n", "it returned int, not a dict"),
    ],
)
def test_a_failing_plugin_is_named_in_a_400(tmp_path: Path, source: str, problem: str) -> None:
    from ccrouter.errors import GatewayError

    provider, plugin = _plugin_provider(tmp_path, 'name = "mine"\n' + source)
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    with pytest.raises(GatewayError) as caught:
        adapter.parse_reply(b'{"choices": []}', context(provider_target(provider), False))
    assert caught.value.status == 400 and caught.value.error_type == "invalid_request_error"
    assert "'mine'" in caught.value.message and str(plugin) in caught.value.message
    assert problem in caught.value.message and "transform_response" in caught.value.message


def test_a_request_plugin_returning_what_json_cannot_hold_is_named(tmp_path: Path) -> None:
    from ccrouter.errors import GatewayError

    provider, plugin = _plugin_provider(
        tmp_path, 'name = "mine"\ndef transform_request(r, o):\n    r["ids"] = {1, 2}\n    return r\n'
    )
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    with pytest.raises(GatewayError) as caught:
        adapter.build_request({"messages": []}, context(provider_target(provider), False))
    assert caught.value.status == 400 and str(plugin) in caught.value.message
    assert "transform_request" in caught.value.message and "JSON cannot hold" in caught.value.message


def test_a_plugin_failing_mid_stream_ends_it_with_an_error_event(tmp_path: Path) -> None:
    source = 'name = "mine"\ndef transform_chunk(chunk, options):\n    if chunk.get("usage"):\n        1 / 0\n'
    provider, plugin = _plugin_provider(tmp_path, source)
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    translator = adapter.stream_translator(context(provider_target(provider), True))
    out = translator.feed(chat_stream_bytes(FIXTURES_DIR / "openai_chat/stream_text_usage_chunk"))
    out += translator.finish()
    events = decode_events(out)
    assert events[-1]["event"] == "error"
    assert "ZeroDivisionError" in events[-1]["data"]["error"]["message"]
    assert str(plugin) in events[-1]["data"]["error"]["message"]


def test_plugin_chunks_may_be_dropped_or_multiplied(tmp_path: Path) -> None:
    source = (
        'name = "mine"\n'
        "def transform_chunk(chunk, options):\n"
        '    delta = (chunk.get("choices") or [{}])[0].get("delta", {})\n'
        '    if delta.get("content") == "drop":\n'
        "        return []\n"
        '    if delta.get("content") == "twice":\n'
        "        return [chunk, chunk]\n"
    )
    provider, _ = _plugin_provider(tmp_path, source)
    adapter = OpenAIChatAdapter(provider, provider.transformers_for("m"))
    translator = adapter.stream_translator(context(provider_target(provider), True))
    chunks = [_text_chunk("twice"), _text_chunk("drop"), _text_chunk(" end", "stop")]
    raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    events = decode_events(translator.feed(raw) + translator.finish())
    text = "".join(e["data"]["delta"].get("text", "") for e in events if e["event"] == "content_block_delta")
    assert text == "twicetwice end"


def test_a_plugin_hook_that_is_not_a_function_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="transform_request must be a function"):
        _plugin_provider(tmp_path, 'name = "mine"\ntransform_request = 5\n')


def test_a_plugin_may_not_take_a_wire_format_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="selects a built-in wire format"):
        _plugin_provider(tmp_path, 'name = "Anthropic"\n', use="anthropic")


# ---------------------------------------------------------------------------------------------------------------
# Estimates stay the caller's


def test_stream_usage_reads_through_the_filters() -> None:
    state = FilteredStreamState(ChatStreamState("m", INPUT_TOKENS), [RepairArguments()])
    assert state.usage.input_tokens == INPUT_TOKENS and state.stop_reason is None and not state.ended
    state.feed({"id": "c", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2}})
    assert (state.usage.input_tokens, state.usage.output_tokens) == (10, 2)


# ---------------------------------------------------------------------------------------------------------------
# Servers that refuse tools or thinking: their error, plus what to do


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("registry.ollama.ai/library/gemma3:4b does not support tools", TOOLS_HINT),
        ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', VLLM_HINT),
        ("tools param requires --jinja flag", LLAMA_CPP_HINT),
        ("Unsupported param: tools", LLAMA_CPP_HINT),
        ("No endpoints found that support tool use. To learn more about provider routing, visit: ...", TOOLS_HINT),
        ("deepseek-reasoner does not support Function Calling", TOOLS_HINT),
        ("Tools are not supported for this model", TOOLS_HINT),
        ("tool_choice is not supported", TOOLS_HINT),
        ('"llama3.1:8b" does not support thinking', THINKING_HINT),
        ('think value "medium" is not supported for this model', THINKING_HINT),
        ("Unsupported parameter: 'reasoning_effort' is not supported with this model.", THINKING_HINT),
        ("`reasoning_effort` is not supported with this model", THINKING_HINT),
        ("reasoning is not supported", THINKING_HINT),
        ("Rate limit exceeded", None),
        ("Invalid tool_call_id: call_1 not found", None),
        ("model 'qwen3' not found, try pulling it first", None),
        ("messages with role 'tool' must be a response to a preceding message with 'tool_calls'", None),
    ],
)
def test_capability_hints(text: str, hint: str | None) -> None:
    assert capability_hint(text) == hint


def test_the_adapter_keeps_the_providers_text_and_adds_the_hint() -> None:
    provider = provider_for({"use": []})
    adapter = OpenAIChatAdapter(provider)
    payload = b'{"error":{"message":"registry.ollama.ai/library/gemma3:4b does not support tools","type":"api_error"}}'
    assert adapter.error_message(400, payload) == (
        f"registry.ollama.ai/library/gemma3:4b does not support tools. {TOOLS_HINT}"
    )
    assert adapter.error_message(429, b'{"error":{"message":"Slow down."}}') == "Slow down."
    ok_with_error = b'{"error":{"message":"No endpoints found that support tool use.","code":404}}'
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_reply(ok_with_error, context(provider_target(provider), False))
    assert caught.value.status == 404 and "`tooluse`" in caught.value.message


def test_an_in_stream_refusal_carries_the_hint_too() -> None:
    state = ChatStreamState("m", 1)
    events = state.feed({"error": {"message": '"gemma3:4b" does not support thinking', "code": 400}})
    assert events[0][0] == "error" and THINKING_HINT in events[0][1]["error"]["message"]
    assert '"gemma3:4b" does not support thinking' in events[0][1]["error"]["message"]
