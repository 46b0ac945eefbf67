"""The real Claude Code TUI (2.1.332, under tmux) through ccrouter: the session title goes to background, `/compact`
to compaction, and `/model` lists the router's routes and models; picking one routes the session there. With the
gateway hint headers on (as `ccr code` runs it) and off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_claude_code_routing import HINTS, Script, config
from tests.support.claude_cli import require_claude
from tests.support.claude_tui import ClaudeTui, wait_until
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter

DISCOVERY = {"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}


def records(router: RouterProcess) -> list[dict[str, Any]]:
    return router.request_records()


def where(record: dict[str, Any]) -> tuple[str, str]:
    return record["scenario"], f"{record['provider']},{record['model']}"


@pytest.mark.parametrize("hints", [True, False], ids=["hint-headers", "body-only"])
def test_title_compact_and_model_picker_through_the_router(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path, hints: bool
) -> None:
    require_claude()
    upstream.default = Script()
    router = start_router(config(upstream))
    tui = ClaudeTui(tmp_path, router.url, {**DISCOVERY, **(HINTS if hints else {})})
    try:
        tui.wait_for_prompt()
        tui.type("Say hello.")
        assert wait_until(lambda: {"auxiliary", "main"} <= {r["request_class"] for r in records(router)}, 60), (
            records(router),
            tui.screen(),
        )
        first = records(router)
        assert {where(r) for r in first if r["request_class"] == "auxiliary"} == {("background", "p,background")}
        assert {where(r) for r in first if r["request_class"] == "main"} == {("default", "p,default")}

        tui.type("/compact")
        assert wait_until(lambda: any(r["request_class"] == "compaction" for r in records(router)), 60), tui.screen()
        compactions = [r for r in records(router) if r["request_class"] == "compaction"]
        assert {where(r) for r in compactions} == {("compaction", "p,compaction")}

        tui.type("/model")
        assert wait_until(lambda: "From gateway" in tui.screen(), 30, settle=1.0), tui.screen()
        picker = tui.screen()
        for entry in ("default → p,default", "background → p,background", "think → p,think"):
            assert entry in picker, picker  # the routes come first; the models follow below the fold
        option = next(line for line in picker.splitlines() if "think → p,think" in line)
        position = int(option.strip().lstrip("\u276f ").split(".", 1)[0])
        tui.keys(*["Down"] * (position - 1), "Enter")
        assert wait_until(lambda: "From gateway" not in tui.screen(), 15, settle=1.0), tui.screen()
        before = len(records(router))
        tui.type("Say hi again.")
        assert wait_until(lambda: any(r["request_class"] == "main" for r in records(router)[before:]), 60), tui.screen()
        picked = [r for r in records(router)[before:] if r["request_class"] == "main"]
        assert {(r["requested_model"], *where(r)) for r in picked} == {("claude-ccr/route/think", "think", "p,think")}
    finally:
        tui.close()
