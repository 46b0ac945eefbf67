#!/usr/bin/env python3
"""Capture what the real Claude Code sends for each routing case, into ``tests/fixtures/claude_code/routing/``.

Every case runs the real CLI (print mode, or the TUI under tmux) against the recording server of
``record_claude_code.py`` with the gateway hint headers and model discovery on, as ``ccr code`` runs it, and keeps
one or more of the requests it sent as ``<case>.json`` (the body as received) and ``<case>.headers.json`` (method,
path, size, headers with secrets redacted). The routing tests replay each capture twice: with its hint headers,
and with them stripped (what a client without ``CLAUDE_CODE_GATEWAY_HINT_HEADERS`` sends: the bodies are the same,
as the ``plain_no_hints`` capture shows), and expect the same scenario both ways.

Usage::

    python tests/tools/capture_routing.py [--out DIR] [--only CASE,...] [--no-interactive]

Nothing in the fixtures is edited by hand. Values that differ per capture: session, prompt and agent ids, the
temporary working directory, the ``cc_version`` suffix, tool-use ids.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: `tests.support`

import record_claude_code as recorder
from tests.support import claude_cli
from tests.support.claude_tui import ClaudeTui, wait_until

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code" / "routing"
HINTS = {"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1", "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}
TAG = "<CCR-SUBAGENT-MODEL>fast,fast-model</CCR-SUBAGENT-MODEL>"
DISCOVERED = [("claude-ccr/route/think", "think → fast,fast-model"), ("claude-ccr/fast,fast-model", "fast,fast-model")]

Record = dict[str, Any]
Pick = Callable[[list[Record]], dict[str, Record]]


def messages(records: list[Record]) -> list[Record]:
    return [r for r in records if r["method"] == "POST" and r["path"].split("?", 1)[0] == "/v1/messages"]


def request_class(record: Record) -> str:
    return str(record["headers"].get("x-claude-code-request-class", ""))


def first(records: list[Record], cls: str) -> Record:
    return next(r for r in messages(records) if request_class(r) == cls)


def main_turn(records: list[Record]) -> dict[str, Record]:
    return {"": first(records, "main")}


def subagent_and_main(records: list[Record]) -> dict[str, Record]:
    return {"": first(records, "subagent"), ".main": first(records, "main")}


def tool_loop(records: list[Record]) -> dict[str, Record]:
    turns = [r for r in messages(records) if request_class(r) == "main"]
    return {"": turns[0], ".followup": turns[1]}


def tool_result_followup(records: list[Record]) -> dict[str, Record]:
    return {"": [r for r in messages(records) if request_class(r) == "main"][1]}


@dataclass
class Case:
    name: str
    args: list[str]
    mode: str = "text"
    env: dict[str, str] = field(default_factory=dict)
    hints: bool = True
    agent_type: str = "Explore"
    agent_file: str | None = None  # the body of ~/.claude/agents/<agent_type>.md
    pick: Pick = main_turn


PRINT_CASES = [
    Case("plain", ["-p", "Say hello."]),
    Case("plain_no_hints", ["-p", "Say hello."], hints=False, pick=lambda records: {"": messages(records)[0]}),
    Case("effort_high", ["-p", "Say hello.", "--effort", "high"]),
    Case("effort_low", ["-p", "Say hello.", "--effort", "low"]),
    Case("ultrathink", ["-p", "ultrathink: say hello."]),
    Case("plan_mode", ["-p", "Say hello.", "--permission-mode", "plan"]),
    Case("custom_model", ["-p", "Say hello."], env={"ANTHROPIC_MODEL": "my-custom-model"}),
    Case(
        "custom_model_effort_xhigh",
        ["-p", "Say hello.", "--effort", "xhigh"],
        env={"ANTHROPIC_MODEL": "my-custom-model"},
    ),
    Case("explicit_model", ["-p", "Say hello.", "--model", "fast,fast-model"]),
    Case("discovered_model", ["-p", "Say hello.", "--model", "claude-ccr/fast,fast-model"]),
    Case("older_model", ["-p", "Say hello.", "--model", "claude-sonnet-4-20250514"]),
    Case(
        "older_model_budget",
        ["-p", "Say hello.", "--model", "claude-sonnet-4-20250514"],
        env={"MAX_THINKING_TOKENS": "63999"},
    ),
    Case("tool_loop", ["-p", "Run echo hi with Bash.", "--allowedTools", "Bash"], mode="tool", pick=tool_loop),
    Case("explore_agent", ["-p", "Explore the directory."], mode="agent", pick=subagent_and_main),
    Case("plan_agent", ["-p", "Plan a change."], mode="agent", agent_type="Plan", pick=subagent_and_main),
    Case(
        "custom_agent",
        ["-p", "List files with the lister agent."],
        mode="agent",
        agent_type="lister",
        agent_file="You list files.\n",
        pick=subagent_and_main,
    ),
    Case(
        "tagged_agent",
        ["-p", "List files with the tagged agent."],
        mode="agent",
        agent_type="tagged",
        agent_file=f"{TAG}\nYou list files.\n",
        pick=subagent_and_main,
    ),
    Case("tag_in_prompt", ["-p", f"{TAG} Say hello."]),
    Case(
        "tag_in_tool_result",
        ["-p", "Run the echo command with Bash.", "--allowedTools", "Bash"],
        mode="tool",
        env={"RECORD_TOOL_COMMAND": f"echo '{TAG}'"},
        pick=tool_result_followup,
    ),
]


def run_print(case: Case, work: Path) -> list[Record]:
    home = work / case.name / "home"
    project = home / "project"
    project.mkdir(parents=True)
    if case.agent_file is not None:
        agents = home / ".claude" / "agents"
        agents.mkdir(parents=True)
        front = f"---\nname: {case.agent_type}\ndescription: Lists files. Use it to list files.\n---\n"
        (agents / f"{case.agent_type}.md").write_text(front + case.agent_file, encoding="utf-8")
    env = {**(HINTS if case.hints else {}), **case.env}
    tool_command = env.pop("RECORD_TOOL_COMMAND", "echo hi")
    scenario = recorder.Scenario(case.mode, tool_command, agent_type=case.agent_type, models=DISCOVERED)
    with recorder.RecordingServer(work / case.name / "requests", scenario) as server:
        result = claude_cli.run_claude([*case.args, "--output-format", "json"], server.base_url, home, env, cwd=project)
        records = list(server.recorder.records)
    if result.returncode != 0:
        raise RuntimeError(f"{case.name}: claude exited {result.returncode}: {result.stderr[-1000:]}")
    return records


def run_interactive(work: Path) -> dict[str, Record]:
    """A prompt (its title chore and main turn), `/compact`, then `/model` picking a discovered gateway model and
    one more prompt."""
    scenario = recorder.Scenario("text", models=DISCOVERED)
    with recorder.RecordingServer(work / "requests", scenario) as server:
        records = server.recorder.records
        tui = ClaudeTui(work, server.base_url, dict(HINTS))
        try:
            tui.wait_for_prompt()
            tui.type("Say hello.")
            wait_until(lambda: {"auxiliary", "main"} <= {request_class(r) for r in messages(records)}, 30, settle=2.0)
            tui.type("/compact")
            wait_until(lambda: any(request_class(r) == "compaction" for r in messages(records)), 30, settle=3.0)
            tui.type("/model")
            wait_until(lambda: "From gateway" in tui.screen(), 15, settle=1.0)
            option = next(line for line in tui.screen().splitlines() if "fast,fast-model" in line and "From" in line)
            position = int(option.strip().lstrip("\u276f ").split(".", 1)[0])
            tui.keys(*["Down"] * (position - 1), "Enter")
            time.sleep(2.0)
            count = len(messages(records))
            tui.type("Say hi again.")
            wait_until(lambda: len(messages(records)) > count, 30, settle=2.0)
        finally:
            tui.close()
        captured = list(records)
    posts = messages(captured)
    picked = {
        "title_chore": first(captured, "auxiliary"),
        "interactive_main": first(captured, "main"),
        "compaction": first(captured, "compaction"),
        "picked_model": [r for r in posts if str(r["body"].get("model", "")).startswith("claude-ccr/")][-1],
    }
    picked["model_discovery"] = next(r for r in captured if r["path"].startswith("/v1/models"))
    return picked


def save(dest: Path, name: str, record: Record) -> None:
    if record["body"] is not None:
        (dest / f"{name}.json").write_text(json.dumps(record["body"], indent=2, ensure_ascii=False) + "\n", "utf-8")
    meta = {k: record[k] for k in ("method", "path", "body_bytes", "headers")}
    (dest / f"{name}.headers.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"  {name}: {record['method']} {record['path']} ({record['body_bytes']} bytes)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", default="", help="comma-separated case names (print cases, or 'interactive')")
    parser.add_argument("--no-interactive", action="store_true")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name}
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cc-routing-"))
    try:
        for case in PRINT_CASES:
            if only and case.name not in only:
                continue
            print(f"[{case.name}]", file=sys.stderr)
            for suffix, record in case.pick(run_print(case, work)).items():
                save(args.out, case.name + suffix, record)
        if not args.no_interactive and (not only or "interactive" in only):
            if shutil.which("tmux") is None:
                print("[interactive] tmux not found: skipped", file=sys.stderr)
            else:
                print("[interactive]", file=sys.stderr)
                for name, record in run_interactive(work / "interactive").items():
                    save(args.out, name, record)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
