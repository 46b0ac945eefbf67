"""What to do when an OpenAI-compatible server refuses tools or thinking: a hint added to its own error text.

Local servers are where this happens most: Ollama ("registry.ollama.ai/library/gemma3:4b does not support
tools", '"llama3.1:8b" does not support thinking'), llama.cpp ("tools param requires --jinja flag",
"Unsupported param: tools"), vLLM ('"auto" tool choice requires --enable-auto-tool-choice and
--tool-call-parser to be set'); hosted ones say it too (OpenRouter "No endpoints found that support tool use",
OpenAI "Unsupported parameter: 'reasoning_effort' is not supported with this model").
"""

from __future__ import annotations

import re

_TOOLS = re.compile(
    r"does not support (?:tools|function.?calling|tool.?(?:use|calling|calls))"
    r"|(?:tools?|tool_choice) param requires --jinja|unsupported param: tool"
    r"|enable-auto-tool-choice|endpoints found that support tool"
    r"|(?:\btools?|tool_choice|tool.?(?:use|calling|calls)|function.?calling)['\"`]? "
    r"(?:is |are )?(?:not supported|unsupported)",
    re.IGNORECASE,
)
_THINKING = re.compile(
    r"does not support (?:thinking|reasoning)|think value"
    r"|(?:thinking|reasoning|reasoning_effort|enable_thinking)['\"`]? (?:is |are )?(?:not supported|unsupported)"
    r"|unrecognized request argument supplied: (?:reasoning|thinking|enable_thinking)",
    re.IGNORECASE,
)

TOOLS_HINT = (
    "ccrouter: this model or server does not take tools, which Claude Code sends with almost every request. "
    "Route this scenario to a model that supports tools (the Router keys of config.json), or add the `tooluse` "
    'transformer to this provider ("transformer": {"use": ["tooluse"]}): it asks for tool use with tool_choice '
    '"required", which some servers serve when they refuse automatic tool choice.'
)
VLLM_HINT = (
    "ccrouter: vLLM serves automatic tool choice only when started with --enable-auto-tool-choice and "
    "--tool-call-parser (the parser for this model). Without them, add the `tooluse` transformer to this provider "
    '("transformer": {"use": ["tooluse"]}): vLLM serves its tool_choice "required" as it is; or route this '
    "scenario to another model."
)
LLAMA_CPP_HINT = (
    "ccrouter: llama.cpp takes tools only when llama-server runs with --jinja (the model's own chat template). "
    "Restart it with --jinja, or route this scenario to another model (the Router keys of config.json)."
)
THINKING_HINT = (
    "ccrouter: this model does not take thinking/reasoning settings, which Claude Code asks for. Add "
    '["reasoning", {"enable": false}] to this provider\'s transformer list to stop sending them, or route thinking '
    "requests (Router.think) to a model that reasons."
)


def capability_hint(text: str) -> str | None:
    """What to do, when the provider's error text says tools or thinking are not supported; else None."""
    if _TOOLS.search(text):
        lowered = text.lower()
        if "enable-auto-tool-choice" in lowered:
            return VLLM_HINT
        if "--jinja" in lowered or "unsupported param: tool" in lowered:
            return LLAMA_CPP_HINT
        return TOOLS_HINT
    if _THINKING.search(text):
        return THINKING_HINT
    return None


def with_capability_hint(text: str) -> str:
    hint = capability_hint(text)
    return f"{text.rstrip().rstrip('.')}. {hint}" if hint else text
