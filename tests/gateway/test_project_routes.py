"""Per-project and per-session routes (`$CCR_HOME/<project>/config.json`, `<project>/<session-id>.json`), as the Node
CCR 1.x reads them: checked like the main config, applied without a restart, a broken file logged and left out."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ccrouter.gateway.project_routes import REFRESH_S, project_folder
from tests.support.fake_upstream import ScriptedUpstream, openai_text_reply
from tests.support.inprocess import InProcessRouter, ServeRouter
from tests.support.router_setup import LOOPBACK, openai_provider
from tests.support.served_router import ServedRouter

SESSION = "0b5e7a9c-1111-4222-8333-944445555666"
PROJECT = "/home/ana/my.app"


def config(upstream: ScriptedUpstream) -> dict[str, Any]:
    return {
        "Providers": [openai_provider(upstream, "p", ["main-model", "project-model", "session-model"])],
        "Router": {"default": "p,main-model"},
    }


def ask(router: ServedRouter, project: str = PROJECT, session: str = SESSION) -> str:
    """The model that served a Claude Code-shaped request from `project` in `session`."""
    environment = (
        f"# Environment\nYou have been invoked in the following environment: \n - Primary working directory: {project}"
    )
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 10,
        "metadata": {"user_id": json.dumps({"session_id": session})},
        "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": environment}],
    }
    response = LOOPBACK.post(router.url + "/v1/messages", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.headers["x-ccr-model"])


def write(router: InProcessRouter, name: str, data: Any) -> Path:
    folder = router.home / project_folder(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def served_soon(router: ServedRouter, model: str, **kwargs: str) -> bool:
    """Whether requests go to `model` within a few refresh periods (changes apply within REFRESH_S)."""
    deadline = time.monotonic() + 20 * REFRESH_S
    while time.monotonic() < deadline:
        if ask(router, **kwargs) == model:
            return True
        time.sleep(REFRESH_S / 5)
    return False


def test_the_folder_name_is_the_one_claude_code_gives_the_project() -> None:
    # Observed with Claude Code 2.1.332: /tmp/oddproj/my.proj_x y -> ~/.claude/projects/-tmp-oddproj-my-proj-x-y
    assert project_folder("/tmp/oddproj/my.proj_x y") == "-tmp-oddproj-my-proj-x-y"


def test_project_then_session_routes_override_the_main_ones(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.default = lambda received: openai_text_reply("ok", bool(received.body.get("stream")))
    router = serve_router(config(upstream))
    assert ask(router) == "main-model"
    write(router, "config.json", {"Router": {"default": "p,project-model"}})
    assert served_soon(router, "project-model")
    assert ask(router, project="/home/ana/other") == "main-model"  # another project keeps the main routes
    write(router, f"{SESSION}.json", "// this session only\n{Router: {default: 'p,session-model'}}")
    assert served_soon(router, "session-model")
    assert ask(router, session="another-session") == "project-model"


def test_a_broken_project_file_is_logged_and_left_out(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.default = lambda received: openai_text_reply("ok", bool(received.body.get("stream")))
    router = serve_router(config(upstream))
    path = write(router, "config.json", {"Router": {"default": "nobody,model"}})
    for _ in range(3):
        assert ask(router) == "main-model"
    errors = [r for r in router.log_records() if r.get("msg", "").startswith("project routes not applied")]
    assert len(errors) == 1  # once per version of the file
    assert errors[0]["file"] == str(path) and "'nobody'" in errors[0]["error"] and "Providers" in errors[0]["error"]
    write(router, "config.json", {"Router": {"default": "p,project-model"}})
    assert served_soon(router, "project-model")


def test_a_fifo_as_project_file_is_refused_without_blocking(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """A FIFO has no writer: opening it for reading would block the service's event loop for good."""
    upstream.default = lambda received: openai_text_reply("ok", bool(received.body.get("stream")))
    router = serve_router(config(upstream))
    folder = router.home / project_folder(PROJECT)
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "config.json")
    assert ask(router) == "main-model"  # answered: the project file is left out, not waited for
    errors = [r for r in router.log_records() if r.get("msg", "").startswith("project routes not applied")]
    assert len(errors) == 1 and "not a regular file" in errors[0]["error"], errors
