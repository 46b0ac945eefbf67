"""Anthropic Messages request -> Gemini `GenerateContentRequest` body.

Built from a whitelist, so Anthropic-only fields (cache_control, metadata, context_management, output_config,
safeguards, defer_loading, ...) never reach Gemini. Messages are translated in `gemini_contents`, tool schemas in
`gemini_schema`.

Thinking: `{"type": "enabled", budget_tokens}` -> `thinkingBudget` (capped at what the model family takes; Gemini
3 still accepts a budget); `adaptive` -> `thinkingLevel` from `output_config.effort` on Gemini 3, else a budget
from the effort (none given: -1, Gemini's own dynamic budget); disabled or absent -> no `thinkingConfig` (some
models cannot turn thinking off, so none is forced). `display: "omitted"` asks for no thought summaries.
"""

from __future__ import annotations

from typing import Any

from ccrouter.providers.gemini.contents import build_contents, is_gemini_3_or_later, system_instruction
from ccrouter.providers.gemini.schema import function_parameters, response_schema

MAX_OUTPUT_TOKENS = 65536  # the most any current Gemini model takes; Vertex rejects a larger maxOutputTokens
MAX_STOP_SEQUENCES = 5  # Gemini rejects more
_BUDGET_CAP_FLASH = 24576
_BUDGET_CAP = 32768
_EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 8192}
_EFFORT_LEVELS = {
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "high",
    "xhigh": "high",
}
_FUNCTION_MODES = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}


def build_gemini_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The Gemini request body for an Anthropic Messages body; `body` is not modified."""
    out: dict[str, Any] = {"contents": build_contents(body, model)}
    system = system_instruction(body)
    if system:
        out["systemInstruction"] = {"parts": [{"text": system}]}
    tools, names = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    if names:  # a toolConfig without function declarations is a 400
        config = _tool_config(body.get("tool_choice"), names)
        if config:
            out["toolConfig"] = config
    generation = _generation_config(body, model)
    if generation:
        out["generationConfig"] = generation
    return out


def thinking_config(thinking: Any, output_config: Any, model: str) -> dict[str, Any] | None:
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind not in ("enabled", "adaptive"):
        return None
    config: dict[str, Any] = {"includeThoughts": thinking.get("display") != "omitted"}
    cap = _BUDGET_CAP_FLASH if "flash" in model else _BUDGET_CAP
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            config["thinkingBudget"] = min(budget, cap)
        else:
            config["thinkingBudget"] = -1
        return config
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if is_gemini_3_or_later(model):
        level = _EFFORT_LEVELS.get(effort) if isinstance(effort, str) else None
        if level in ("minimal", "medium") and "flash" not in model:  # Gemini 3 Pro knows only low and high
            level = "low" if level == "minimal" else None
        if level:
            config["thinkingLevel"] = level
        return config
    if isinstance(effort, str) and effort in _EFFORT_BUDGETS:
        config["thinkingBudget"] = _EFFORT_BUDGETS[effort]
    elif isinstance(effort, str) and effort in _EFFORT_LEVELS:  # high, max, xhigh
        config["thinkingBudget"] = cap
    else:
        config["thinkingBudget"] = -1
    return config


def _generation_config(body: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        config["maxOutputTokens"] = min(max_tokens, MAX_OUTPUT_TOKENS)
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")):
        value = body.get(source)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            config[target] = value
    stops = body.get("stop_sequences")
    if isinstance(stops, list):
        kept = [s for s in stops if isinstance(s, str) and s][:MAX_STOP_SEQUENCES]
        if kept:
            config["stopSequences"] = kept
    output_config = body.get("output_config")
    thinking = thinking_config(body.get("thinking"), output_config, model)
    if thinking:
        config["thinkingConfig"] = thinking
    if isinstance(output_config, dict):
        fmt = output_config.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = response_schema(fmt.get("schema"))
            if schema:
                config["responseSchema"] = schema
    return config


def _tools(tools: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Client tools -> one `functionDeclarations` tool; an Anthropic web search server tool -> `googleSearch`.
    Other server tools (code execution, text editor, ...) have no Gemini counterpart and are left out."""
    declarations: list[dict[str, Any]] = []
    search = False
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            search = True
            continue
        if kind not in (None, "custom") or not isinstance(tool.get("name"), str) or not tool["name"]:
            continue
        declaration: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str) and tool["description"]:
            declaration["description"] = tool["description"]
        parameters = function_parameters(tool.get("input_schema"))
        if parameters is not None:
            declaration["parameters"] = parameters
        declarations.append(declaration)
    out: list[dict[str, Any]] = []
    if declarations:
        out.append({"functionDeclarations": declarations})
    if search:
        out.append({"googleSearch": {}})
    return out, [d["name"] for d in declarations]


def _tool_config(choice: Any, names: list[str]) -> dict[str, Any] | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    mode = _FUNCTION_MODES.get(kind) if isinstance(kind, str) else None
    if mode is None:
        return None
    config: dict[str, Any] = {"mode": mode}
    if kind == "tool" and choice.get("name") in names:
        config["allowedFunctionNames"] = [choice["name"]]
    return {"functionCallingConfig": config}
