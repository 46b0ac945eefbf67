"""The benchmark's request bodies, built deterministically (seeded) and written to bench/.cache/workloads/.

Three workloads, each as an Anthropic Messages body (what Claude Code sends to a gateway) and as the
OpenAI chat-completions body a gateway would forward for it (what the "direct" runs send to the mock):

    small   ~2 KB, non-stream: short system prompt, two tools, a few turns
    stream  the same as small with `"stream": true` (the mock answers with 100 SSE chunks)
    large   ~214 KB, non-stream, shaped like a real Claude Code turn: `system` as text blocks with
            cache_control, ~60 tools with realistic JSON schemas, a long history of tool_use / tool_result
            turns, `metadata.user_id` as a JSON string holding a session_id

If tests/fixtures/claude_code/main_turn.json exists (a recorded Claude Code body), the large workload takes
its system prompt and tools from it and fills the history up to the target size.

Run: python bench/workloads.py [--out DIR]   (prints the files and their sizes)
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from claude_code_shapes import (
    claude_code_system,
    core_tools,
    mcp_tools,
    schema,
    string,
    tool_turn,
    user_id,
)
from fake_text import code_lines, numbered, prose, sentence, tool_use_id

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / ".cache" / "workloads"
RECORDED_TURN = REPO_DIR / "tests" / "fixtures" / "claude_code" / "main_turn.json"

ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
UPSTREAM_MODEL = "bench-model"
SMALL_TARGET_BYTES = 2 * 1024
LARGE_TARGET_BYTES = 214 * 1024
WORKLOADS = ("small", "stream", "large")

Json = dict[str, Any]


def _size(body: Json) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _load_recorded_turn() -> Json | None:
    if not RECORDED_TURN.is_file():
        return None
    try:
        body = json.loads(RECORDED_TURN.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        return None
    return body


def build_large(target: int = LARGE_TARGET_BYTES, seed: int = 214) -> Json:
    rng = random.Random(seed)
    recorded = _load_recorded_turn()
    if recorded is not None:
        system = recorded.get("system") or claude_code_system(rng)
        tools = list(recorded["tools"])
    else:
        system = claude_code_system(rng)
        tools = core_tools(rng)
    tools += mcp_tools(rng, max(0, 60 - len(tools)))  # a user with a few MCP servers: ~60 tools in all
    first_user: Json = {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<system-reminder>\nAs you answer the user's questions, you can use the following "
                "context:\n# claudeMd\n" + prose(rng, 3000) + "\n</system-reminder>",
            },
            {"type": "text", "text": "The tests in tests/test_router.py fail after the refactor; fix them."},
        ],
    }
    body: Json = {
        "model": ANTHROPIC_MODEL,
        "messages": [first_user],
        "system": system,
        "tools": tools,
        "metadata": {"user_id": user_id(rng)},
        "max_tokens": 32000,
        "stream": False,
    }
    turn = 0
    final_text = {"type": "text", "text": "Continue.", "cache_control": {"type": "ephemeral"}}
    while True:
        assistant, user = tool_turn(rng, turn)
        body["messages"] += [assistant, user]
        turn += 1
        if _size(body) + 120 >= target:
            break
    body["messages"][-1]["content"].append(final_text)
    # Trim the largest tool result so the body lands on the target size.
    results = [b for m in body["messages"] for b in m["content"] if b.get("type") == "tool_result"]
    biggest = max(results, key=lambda b: len(b["content"]))
    while (excess := _size(body) - target) > 0:
        biggest["content"] = biggest["content"][: len(biggest["content"]) - excess]
    return body


def build_small(stream: bool, seed: int = 2) -> Json:
    rng = random.Random(seed)
    tools = [
        {
            "name": "Read",
            "description": "Reads a file from the local filesystem.",
            "input_schema": schema({"file_path": string("The absolute path to the file to read")}, ["file_path"]),
        },
        {
            "name": "Bash",
            "description": "Executes a given bash command.",
            "input_schema": schema({"command": string("The command to execute")}, ["command"]),
        },
    ]
    tid = tool_use_id(rng)
    body: Json = {
        "model": ANTHROPIC_MODEL,
        "max_tokens": 1024,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "messages": [
            {"role": "user", "content": "What does src/config.py do? " + sentence(rng)},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me read it."},
                    {
                        "type": "tool_use",
                        "id": tid,
                        "name": "Read",
                        "input": {"file_path": "/p/src/config.py"},
                    },
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": ""}]},
        ],
        "tools": tools,
        "metadata": {"user_id": user_id(rng)},
        "stream": stream,
    }
    # Fill the tool result so the body is ~2 KB.
    pad = SMALL_TARGET_BYTES - _size(body)
    body["messages"][2]["content"][0]["content"] = numbered(code_lines(rng, 40))[: max(pad, 0)]
    return body


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def to_openai(body: Json) -> Json:
    """The OpenAI chat-completions body a translating gateway would send upstream for this Anthropic body."""
    messages: list[Json] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _text_of(system)})
    for msg in body["messages"]:
        content = msg["content"]
        if isinstance(content, str):
            messages.append({"role": msg["role"], "content": content})
            continue
        if msg["role"] == "assistant":
            out: Json = {"role": "assistant", "content": _text_of(content) or None}
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b["input"], ensure_ascii=False)},
                }
                for b in content
                if b.get("type") == "tool_use"
            ]
            if calls:
                out["tool_calls"] = calls
            messages.append(out)
            continue
        for block in content:
            if block.get("type") == "tool_result":
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": block["tool_use_id"],
                        "content": _text_of(block["content"]),
                    }
                )
        text = _text_of(content)
        if text:
            messages.append({"role": "user", "content": text})
    out_body: Json = {"model": UPSTREAM_MODEL, "messages": messages, "max_tokens": body["max_tokens"]}
    if body.get("tools"):
        out_body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["input_schema"],
                },
            }
            for t in body["tools"]
        ]
    if body.get("stream"):
        out_body["stream"] = True
        out_body["stream_options"] = {"include_usage": True}
    return out_body


def build_all() -> dict[str, Json]:
    return {"small": build_small(stream=False), "stream": build_small(stream=True), "large": build_large()}


def write_all(out_dir: Path = DEFAULT_OUT) -> dict[str, dict[str, Path]]:
    """Write `<name>.anthropic.json` and `<name>.openai.json` for every workload; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, dict[str, Path]] = {}
    for name, body in build_all().items():
        entry: dict[str, Path] = {}
        for fmt, data in (("anthropic", body), ("openai", to_openai(body))):
            path = out_dir / f"{name}.{fmt}.json"
            raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
            if not path.is_file() or path.read_bytes() != raw:
                path.write_bytes(raw)
            entry[fmt] = path
        paths[name] = entry
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for name, entry in write_all(args.out).items():
        for fmt, path in entry.items():
            print(f"{name:7s} {fmt:9s} {path.stat().st_size:>8d} B  {path}")


if __name__ == "__main__":
    main()
