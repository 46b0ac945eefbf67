"""`tooluse`: make models that drift into plain answers keep using tools, with an exit tool to leave tool mode.

Before translation the Anthropic body gets the `ExitTool` tool, a forced tool choice and a reminder; in replies,
a call of `ExitTool` becomes its `response` as plain text and the turn ends (`end_turn`) unless other tools were
called too. Differences from CCR's version, which are fixes:

- the reminder goes at the end of the system prompt, not as a `system` message after the conversation, which
  strict chat templates refuse ("system message must be at the beginning") and which moves every turn;
- nothing is added when the request has no tools (CCR still adds the reminder about an `ExitTool` that is not
  there), and an explicit `tool_choice` of the client (`none`, or a named tool) is kept;
- only the `ExitTool` call is turned into text; other calls of the same reply are kept (CCR drops them all when
  `ExitTool` comes first, and ignores it when it does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ccrouter.providers.openai_chat.tweaks.hooks import JSON, Tweak, content_chunk, finish_split, first_choice

EXIT_TOOL = "ExitTool"

REMINDER = (
    "<system-reminder>Tool mode is active. The user expects you to proactively execute the most suitable tool "
    "to help complete the task.\nBefore invoking a tool, you must carefully evaluate whether it matches the "
    "current task. If no available tool is appropriate for the task, you MUST call the `ExitTool` to exit tool "
    "mode — this is the only valid way to terminate tool mode.\nAlways prioritize completing the user's task "
    "effectively and efficiently by using tools whenever appropriate.</system-reminder>"
)

EXIT_TOOL_SPEC: JSON = {
    "name": EXIT_TOOL,
    "description": (
        "Use this tool when you are in tool mode and have completed the task. This is the only valid way to exit "
        "tool mode.\nIMPORTANT: Before using this tool, ensure that none of the available tools are applicable to "
        "the current task. You must evaluate all available options — only if no suitable tool can help you "
        "complete the task should you use ExitTool to terminate tool mode.\nExamples:\n"
        '1. Task: "Use a tool to summarize this document" — Do not use ExitTool if a summarization tool is '
        "available.\n"
        '2. Task: "What\'s the weather today?" — If no tool is available to answer, use ExitTool after reasoning '
        "that none can fulfill the task."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "response": {
                "type": "string",
                "description": (
                    "Your response will be forwarded to the user exactly as returned — the tool will not modify "
                    "or post-process it in any way."
                ),
            }
        },
        "required": ["response"],
    },
}

_TOOL_FINISH = ("tool_calls", "function_call")


def tooluse(options: Mapping[str, Any] | None) -> Tweak:
    return Tweak(body=force_tool_use, completion=exit_completion, stream=ExitToolFilter)


def force_tool_use(body: JSON) -> JSON:
    tools = body.get("tools")
    if not isinstance(tools, list) or not any(_is_client_tool(tool) for tool in tools):
        return body
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "none":
        return body
    out = {**body, "tools": [*tools, EXIT_TOOL_SPEC], "system": _with_reminder(body.get("system"))}
    if kind in (None, "auto"):
        forced: JSON = {"type": "any"}  # the translation sends it as tool_choice "required"
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            forced["disable_parallel_tool_use"] = True
        out["tool_choice"] = forced
    return out


def _is_client_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and tool.get("type") in (None, "custom") and bool(tool.get("name"))


def _with_reminder(system: Any) -> Any:
    if isinstance(system, list):
        return [*system, {"type": "text", "text": REMINDER}]
    if isinstance(system, str) and system:
        return f"{system}\n\n{REMINDER}"
    return REMINDER


def exit_text(arguments: str) -> str:
    """The `response` an ExitTool call carries (its raw arguments when they are beyond repair)."""
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        from ccrouter.providers.openai_chat.tweaks.tool_arguments import repair_arguments

        value = orjson.loads(repair_arguments(arguments))
        if "_raw" in value:
            return arguments
    response = value.get("response") if isinstance(value, dict) else None
    return response if isinstance(response, str) else ""


def _is_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def exit_completion(completion: JSON) -> JSON:
    choice = first_choice(completion)
    message = choice.get("message") if choice else None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not isinstance(calls, list) or choice is None or not isinstance(message, dict):
        return completion
    exits = [call for call in calls if _function_name(call) == EXIT_TOOL]
    if not exits:
        return completion
    texts = [exit_text(_arguments(call)) for call in exits]
    content = message.get("content")
    parts = [content] if isinstance(content, str) and content else []
    message["content"] = "\n\n".join(parts + [text for text in texts if text])
    others = [call for call in calls if _function_name(call) != EXIT_TOOL]
    if others:
        message["tool_calls"] = others
    else:
        del message["tool_calls"]
        if choice.get("finish_reason") in _TOOL_FINISH:
            choice["finish_reason"] = "stop"
    return completion


def _function_name(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    return function.get("name") if isinstance(function, dict) else None


def _arguments(call: Any) -> str:
    arguments = call["function"].get("arguments")
    if isinstance(arguments, dict):
        return orjson.dumps(arguments).decode()
    return arguments if isinstance(arguments, str) else ""


class ExitToolFilter:
    """Streams: an `ExitTool` call is kept from the client; its arguments are gathered and sent as text once they
    form a JSON object (or at the finish); a `tool_calls` finish becomes `stop` when no other tool was called."""

    __slots__ = ("_chunk_id", "_exits", "_last_key", "_loose", "_other_calls", "_ready", "_seen", "_text_seen")

    def __init__(self) -> None:
        self._exits: dict[Any, list[str] | None] = {}  # ExitTool calls by call key: argument parts, None once sent
        self._seen = False  # an ExitTool call came
        self._other_calls = False
        self._last_key: Any = None
        self._loose = 0  # keys for calls of servers that omit `index`
        self._chunk_id: Any = None
        self._text_seen = False  # the reply has text before the ExitTool's, which is then set apart
        self._ready: list[str] = []  # texts of ExitTool calls whose arguments are complete

    def feed(self, chunk: JSON) -> list[JSON]:
        choice = first_choice(chunk)
        if choice is None:
            return [chunk]
        self._chunk_id = chunk.get("id", self._chunk_id)
        delta = choice.get("delta")
        if not self._text_seen and isinstance(delta, dict) and isinstance(delta.get("content"), str):
            self._text_seen = bool(delta["content"])
        calls = delta.get("tool_calls") if isinstance(delta, dict) else None
        if isinstance(delta, dict) and isinstance(calls, list) and calls:
            kept = [call for call in calls if self._keep(call)]
            if len(kept) != len(calls):
                new_delta = {k: v for k, v in delta.items() if k != "tool_calls"}
                if kept:
                    new_delta["tool_calls"] = kept
                choice = {**choice, "delta": new_delta}
                chunk = {**chunk, "choices": [choice, *chunk["choices"][1:]]}
        out = self._texts(self._ready)
        self._ready = []
        finish = choice.get("finish_reason")
        if not finish or not self._seen:
            return [*out, chunk]
        body, end = finish_split(chunk, choice)
        if finish in _TOOL_FINISH and not self._other_calls:
            end["choices"][0]["finish_reason"] = "stop"
        return [*out, body, *self.flush(), end]

    def _keep(self, call: Any) -> bool:
        if not isinstance(call, dict):
            return True
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        starts = bool(call.get("id")) or bool(name)
        index = call.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            key: Any = index
            if starts and key in self._exits and name != EXIT_TOOL:
                self._exits[("moved", len(self._exits), key)] = self._exits.pop(key)  # index reused by another call
        elif starts:
            self._loose += 1
            key = ("loose", self._loose)
        else:
            key = self._last_key
        self._last_key = key
        if name == EXIT_TOOL:
            self._exits[key] = []
            self._seen = True
        if key in self._exits:
            parts = self._exits[key]
            arguments = function.get("arguments")
            if parts is not None and isinstance(arguments, str) and arguments:
                parts.append(arguments)
                if arguments.rstrip().endswith("}") and _is_object("".join(parts)):
                    self._ready.append(exit_text("".join(parts)))
                    self._exits[key] = None
            return False
        if starts:
            self._other_calls = True
        return True

    def flush(self) -> list[JSON]:
        texts = [exit_text("".join(parts)) for parts in self._exits.values() if parts is not None]
        self._exits = dict.fromkeys(self._exits)
        return self._texts(texts)

    def _texts(self, texts: list[str]) -> list[JSON]:
        texts = [text for text in texts if text]
        if not texts:
            return []
        text = "\n\n".join(texts)
        if self._text_seen:
            text = "\n\n" + text
        self._text_seen = True
        return [content_chunk(self._chunk_id, text)]
