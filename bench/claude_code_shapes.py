"""Claude Code's request shapes: its tools, system blocks, user id and tool-use turns (generated text)."""

from __future__ import annotations

import json
import random
from typing import Any

from fake_text import WORDS, code_lines, numbered, prose, sentence, tool_use_id, uuid4

Json = dict[str, Any]


def schema(properties: Json, required: list[str]) -> Json:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


def string(desc: str, **extra: Any) -> Json:
    return {"type": "string", "description": desc, **extra}


def core_tools(rng: random.Random) -> list[Json]:
    """Claude Code's built-in tools: real names and schemas, generated descriptions of realistic length."""
    todo_item = {
        "type": "object",
        "properties": {
            "content": string("The imperative form of the task", minLength=1),
            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
            "activeForm": string("The present continuous form of the task", minLength=1),
        },
        "required": ["content", "status", "activeForm"],
        "additionalProperties": False,
    }
    question = {
        "type": "object",
        "properties": {
            "question": string("The complete question to ask the user"),
            "header": string("Very short label displayed as a chip"),
            "multiSelect": {"type": "boolean", "description": "Allow several options to be selected"},
            "options": {
                "type": "array",
                "minItems": 2,
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {"label": string("Option label"), "description": string("What this option means")},
                    "required": ["label", "description"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["question", "header", "options", "multiSelect"],
        "additionalProperties": False,
    }
    specs: list[tuple[str, int, Json, list[str]]] = [
        (
            "Task",
            6000,
            {
                "description": string("A short (3-5 word) description of the task"),
                "prompt": string("The task for the agent to perform"),
                "subagent_type": string("The type of specialized agent to use for this task"),
                "model": {"type": "string", "enum": ["sonnet", "opus", "haiku"]},
            },
            ["description", "prompt", "subagent_type"],
        ),
        (
            "Bash",
            11000,
            {
                "command": string("The command to execute"),
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
                "description": string("Clear, concise description of what this command does in 5-10 words"),
                "run_in_background": {"type": "boolean", "description": "Run this command in the background"},
                "dangerouslyDisableSandbox": {"type": "boolean", "description": "Run without the sandbox"},
            },
            ["command"],
        ),
        (
            "Glob",
            900,
            {"pattern": string("The glob pattern to match files against"), "path": string("The directory to search")},
            ["pattern"],
        ),
        (
            "Grep",
            2500,
            {
                "pattern": string("The regular expression pattern to search for in file contents"),
                "path": string("File or directory to search in"),
                "glob": string("Glob pattern to filter files"),
                "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
                "-B": {"type": "number", "description": "Lines to show before each match"},
                "-A": {"type": "number", "description": "Lines to show after each match"},
                "-C": {"type": "number", "description": "Lines to show before and after each match"},
                "-n": {"type": "boolean", "description": "Show line numbers in output"},
                "-i": {"type": "boolean", "description": "Case insensitive search"},
                "type": string("File type to search"),
                "head_limit": {"type": "number", "description": "Limit output to first N lines/entries"},
                "offset": {"type": "number", "description": "Skip first N lines/entries"},
                "multiline": {"type": "boolean", "description": "Enable multiline mode"},
            },
            ["pattern"],
        ),
        ("ExitPlanMode", 1200, {"plan": string("The plan you came up with")}, ["plan"]),
        (
            "Read",
            2000,
            {
                "file_path": string("The absolute path to the file to read"),
                "offset": {"type": "number", "description": "The line number to start reading from"},
                "limit": {"type": "number", "description": "The number of lines to read"},
            },
            ["file_path"],
        ),
        (
            "Edit",
            1500,
            {
                "file_path": string("The absolute path to the file to modify"),
                "old_string": string("The text to replace"),
                "new_string": string("The text to replace it with (must be different from old_string)"),
                "replace_all": {
                    "type": "boolean",
                    "default": False,
                    "description": "Replace all occurrences",
                },
            },
            ["file_path", "old_string", "new_string"],
        ),
        (
            "Write",
            900,
            {
                "file_path": string("The absolute path to the file to write"),
                "content": string("The content to write to the file"),
            },
            ["file_path", "content"],
        ),
        (
            "NotebookEdit",
            900,
            {
                "notebook_path": string("The absolute path to the Jupyter notebook file to edit"),
                "cell_id": string("The ID of the cell to edit"),
                "new_source": string("The new source for the cell"),
                "cell_type": {"type": "string", "enum": ["code", "markdown"]},
                "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]},
            },
            ["notebook_path", "new_source"],
        ),
        (
            "WebFetch",
            1600,
            {"url": string("The URL to fetch content from", format="uri"), "prompt": string("What to extract")},
            ["url", "prompt"],
        ),
        (
            "TodoWrite",
            9000,
            {"todos": {"type": "array", "items": todo_item, "description": "The updated todo list"}},
            ["todos"],
        ),
        (
            "WebSearch",
            1100,
            {
                "query": string("The search query to use", minLength=2),
                "allowed_domains": {"type": "array", "items": {"type": "string"}},
                "blocked_domains": {"type": "array", "items": {"type": "string"}},
            },
            ["query"],
        ),
        (
            "BashOutput",
            600,
            {"bash_id": string("The ID of the background shell"), "filter": string("Optional regular expression")},
            ["bash_id"],
        ),
        ("KillShell", 300, {"shell_id": string("The ID of the background shell to kill")}, ["shell_id"]),
        (
            "AskUserQuestion",
            1200,
            {"questions": {"type": "array", "minItems": 1, "maxItems": 4, "items": question}},
            ["questions"],
        ),
        ("Skill", 1500, {"command": string("The skill name (no arguments)")}, ["command"]),
        (
            "SlashCommand",
            1200,
            {"command": string("The slash command to execute with its arguments")},
            ["command"],
        ),
    ]
    return [
        {"name": name, "description": prose(rng, size), "input_schema": schema(props, req)}
        for name, size, props, req in specs
    ]


_MCP_SERVERS = {
    "github": [
        "create_issue", "get_issue", "list_issues", "update_issue", "add_issue_comment",
        "create_pull_request", "get_pull_request", "list_pull_requests", "merge_pull_request",
        "get_file_contents",
        "create_or_update_file", "search_code", "search_repositories", "list_commits", "create_branch",
    ],
    "playwright": [
        "browser_navigate", "browser_click", "browser_type", "browser_snapshot", "browser_take_screenshot",
        "browser_press_key", "browser_select_option", "browser_hover", "browser_wait_for", "browser_close",
        "browser_evaluate", "browser_file_upload",
    ],
    "postgres": ["query", "list_tables", "describe_table", "explain"],
    "linear": [
        "list_issues", "get_issue", "create_issue", "update_issue", "list_projects", "list_teams",
        "create_comment", "search_documentation",
    ],
    "context7": ["resolve-library-id", "get-library-docs"],
    "slack": ["list_channels", "post_message", "reply_to_thread", "get_channel_history", "search_messages"],
}  # fmt: skip


def mcp_tools(rng: random.Random, count: int) -> list[Json]:
    """MCP tools as Claude Code forwards them: `mcp__server__tool`, draft-07 schemas, shorter descriptions."""
    flat = [(server, tool) for server, tools in _MCP_SERVERS.items() for tool in tools]
    out: list[Json] = []
    for server, tool in flat[:count]:
        props: Json = {}
        n_props = rng.randint(2, 7)
        for i in range(n_props):
            pname = f"{rng.choice(WORDS)}_{i}"
            kind = rng.choice(["string", "string", "number", "boolean", "array", "enum"])
            if kind == "array":
                props[pname] = {"type": "array", "items": {"type": "string"}, "description": sentence(rng)}
            elif kind == "enum":
                props[pname] = {
                    "type": "string",
                    "enum": rng.sample(WORDS, 3),
                    "description": sentence(rng),
                }
            else:
                props[pname] = {"type": kind, "description": sentence(rng)}
        required = sorted(rng.sample(sorted(props), k=max(1, n_props // 2)))
        out.append(
            {
                "name": f"mcp__{server}__{tool}",
                "description": prose(rng, rng.randint(200, 900)),
                "input_schema": schema(props, required),
            }
        )
    return out


def claude_code_system(rng: random.Random) -> list[Json]:
    """Billing line, identity line and a big main prompt, as Claude Code sends them."""
    main = "\n\n".join(
        f"# {rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}\n{prose(rng, rng.randint(600, 2400))}"
        for _ in range(16)
    )
    env = (
        "<env>\nWorking directory: /home/dev/project\nIs directory a git repo: Yes\nPlatform: linux\n"
        "OS Version: Linux 6.8.0\nToday's date: 2025-10-01\n</env>"
    )
    return [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli"},
        {
            "type": "text",
            "text": "You are Claude Code, Anthropic's official CLI for Claude.",
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "text", "text": main + "\n\n" + env, "cache_control": {"type": "ephemeral"}},
    ]


def user_id(rng: random.Random) -> str:
    return json.dumps(
        {"device_id": f"{rng.getrandbits(256):064x}", "account_uuid": uuid4(rng), "session_id": uuid4(rng)}
    )


def tool_turn(rng: random.Random, turn: int) -> tuple[Json, Json]:
    """One assistant tool_use turn and the user tool_result turn answering it."""
    tid = tool_use_id(rng)
    kind = turn % 4
    path = f"/home/dev/project/src/{rng.choice(WORDS)}_{turn}.py"
    if kind == 0:
        call: Json = {"file_path": path}
        name = "Read"
        result = numbered(code_lines(rng, rng.randint(40, 110)))
    elif kind == 1:
        call = {
            "pattern": f"def {rng.choice(WORDS)}_",
            "path": "/home/dev/project",
            "output_mode": "content",
        }
        name = "Grep"
        result = "\n".join(f"src/{rng.choice(WORDS)}.py:{rng.randint(1, 900)}:{line}" for line in code_lines(rng, 30))
    elif kind == 2:
        call = {"command": "python -m pytest -q tests/", "description": "Run the test suite"}
        name = "Bash"
        result = "\n".join(f"tests/test_{rng.choice(WORDS)}.py ....F.. [{i * 7}%]" for i in range(14))
        result += "\n" + prose(rng, 600) + "\n3 failed, 120 passed in 4.21s"
    else:
        old = "\n".join(code_lines(rng, 4))
        call = {"file_path": path, "old_string": old, "new_string": old.replace("return", "return  # fixed")}
        name = "Edit"
        result = f"The file {path} has been updated. Here's the result of running `cat -n` on a snippet:\n"
        result += numbered(code_lines(rng, 12))
    assistant: Json = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": sentence(rng, 10, 30)},
            {"type": "tool_use", "id": tid, "name": name, "input": call},
        ],
    }
    user: Json = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": result}]}
    return assistant, user
