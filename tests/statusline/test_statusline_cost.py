"""The session's cost, savings and budget warning in `ccr statusline`, from `GET /api/sessions/{id}`
(`total_cost_usd`, `total_savings_usd`, `budget`): the default line, CCR's `{{cost}}` / `{{savings}}` /
`{{budget}}` module variables and the powerline theme. The service is a stand-in serving the endpoint's JSON on
loopback (the real service's endpoint is tested with the service)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ccrouter.statusline.line import statusline
from ccrouter.statusline.style import format_cost
from tests.support.json_server import JsonServer, json_server

SESSION = "5d0c3a7e-9f41-4b2a-8c6d-0e1f2a3b4c5d"
WARNING = "budget daily at 82% of $5.00"
INPUT = json.dumps({"session_id": SESSION, "model": {"display_name": "Opus"}, "workspace": {"current_dir": "/w/app"}})


def activity(**fields: Any) -> dict[str, Any]:
    """`GET /api/sessions/{id}` as the service answers it (SessionStats.as_dict() and the budget warning)."""
    body: dict[str, Any] = {
        "session_id": SESSION,
        "scenario": "think",
        "pinned": False,
        "provider": "deepseek",
        "model": "deepseek-reasoner",
        "status": 200,
        "input_tokens": 12_345,
        "output_tokens": 678,
        "requests": 3,
        "total_input_tokens": 30_000,
        "total_output_tokens": 2_000,
        "total_cost_usd": 0.0123,
        "total_savings_usd": 0.41,
        "budget": None,
        "updated_at": 0.0,
    }
    body.update(fields)
    return body


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def serve(self, body: dict[str, Any]) -> Iterator[JsonServer]:
        """The stand-in service answering for SESSION, recorded in the pid file as `ccr start` records it."""
        with json_server({f"/api/sessions/{SESSION}": (200, body)}) as server:
            pid_file = {"pid": os.getpid(), "host": "127.0.0.1", "port": server.port, "config": ""}
            (self.root / "ccr.pid").write_text(json.dumps(pid_file))
            yield server

    def line(self, **environ: str) -> str:
        return statusline(INPUT, {"CCR_HOME": str(self.root), "TERM": "dumb", **environ})

    def status_line(self, status_line: dict[str, Any]) -> None:
        (self.root / "config.json").write_text(json.dumps({"StatusLine": status_line}))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "ccr-home")


def shown(home: Home, body: dict[str, Any], **environ: str) -> str:
    with home.serve(body) as server:
        line = home.line(**environ)
        assert server.paths() == [f"/api/sessions/{SESSION}"]
        return line


def test_the_default_line_shows_the_sessions_cost_and_savings(home: Home) -> None:
    line = shown(home, activity())
    assert line == "ccr ⟩ think → deepseek,deepseek-reasoner · ↑12.3k ↓678 · $0.0123 (saved $0.41)"


def test_a_budget_warning_follows_the_cost(home: Home) -> None:
    line = shown(home, activity(budget=WARNING))
    assert line == f"ccr ⟩ think → deepseek,deepseek-reasoner · ↑12.3k ↓678 · $0.0123 (saved $0.41) · {WARNING}"


def test_colours_mark_the_budget_warning(home: Home) -> None:
    line = shown(home, activity(budget=WARNING), TERM="xterm-256color")
    assert f"\x1b[33m{WARNING}\x1b[0m" in line


@pytest.mark.parametrize(
    ("cost", "savings", "tail"),
    [
        (0.0123, None, " · $0.0123"),  # no baseline known: no savings claimed
        (None, None, ""),  # a request without a known price: no cost shown, never $0
        (0.0, 0.52, " · $0.00 (saved $0.52)"),  # a free local model
        (0.25, -0.15, " · $0.25 (saved -$0.15)"),  # the routed model cost more than the baseline
        (12.3456, 40.0, " · $12.35 (saved $40.00)"),
    ],
)
def test_cost_and_savings_as_the_service_knows_them(
    home: Home, cost: float | None, savings: float | None, tail: str
) -> None:
    line = shown(home, activity(total_cost_usd=cost, total_savings_usd=savings))
    assert line == "ccr ⟩ think → deepseek,deepseek-reasoner · ↑12.3k ↓678" + tail


def test_a_budget_text_is_shown_without_control_characters_and_cut_to_length(home: Home) -> None:
    line = shown(home, activity(budget="\x1b[31mover\x07 " + "x" * 500))
    assert "\x1b" not in line and "\x07" not in line
    assert line.endswith("· [31mover " + "x" * (160 - len("[31mover ")))


def test_module_variables_cost_savings_and_budget(home: Home) -> None:
    modules = [
        {"type": "model", "text": "{{model}}"},
        {"type": "cost", "text": "spent {{cost}}"},
        {"type": "savings", "text": "saved {{savings}}"},
        {"type": "budget", "icon": "!", "text": "{{budget}}"},
    ]
    home.status_line({"currentStyle": "default", "default": {"modules": modules}})
    assert shown(home, activity(budget=WARNING)) == f"deepseek,deepseek-reasoner spent $0.0123 saved $0.41 ! {WARNING}"
    # a module whose only variable is empty is left out (the budget when none warns)
    assert shown(home, activity()) == "deepseek,deepseek-reasoner spent $0.0123 saved $0.41"


def test_module_types_without_text_use_their_variable(home: Home) -> None:
    home.status_line({"default": {"modules": [{"type": "cost"}, {"type": "savings"}, {"type": "budget"}]}})
    assert shown(home, activity(budget=WARNING)) == f"$0.0123 $0.41 {WARNING}"


def test_the_powerline_theme_shows_savings_and_the_budget(home: Home) -> None:
    home.status_line({"currentStyle": "powerline"})
    plain = shown(home, activity(budget=WARNING), NO_COLOR="1")
    assert "$0.0123 · saved $0.41 · " + WARNING in plain
    assert "saved" not in shown(home, activity(total_savings_usd=None), NO_COLOR="1")


def test_format_cost() -> None:
    amounts = (0.0, 0.00001, 0.0123, 0.09994, 0.1, 0.41, 12.345, -0.15, -0.004)
    expected = ["$0.00", "<$0.0001", "$0.0123", "$0.0999", "$0.10", "$0.41", "$12.35", "-$0.15", "-$0.0040"]
    assert [format_cost(amount) for amount in amounts] == expected
