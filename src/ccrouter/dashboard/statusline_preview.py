"""The StatusLine editor's preview: the line `ccr statusline` would draw for a sample session, as coloured
segments a page can show (the terminal's escape codes turned into colours, never sent as text)."""

from __future__ import annotations

import re
from typing import Any

from ccrouter.statusline import style

SAMPLE = {
    "workDirName": "my-project",
    "gitBranch": "main",
    "claudeModel": "Claude Sonnet 4.5",
    "scenario": "think",
    "provider": "deepseek",
    "modelName": "deepseek-reasoner",
    "model": "deepseek,deepseek-reasoner",
    "route": "think → deepseek,deepseek-reasoner",
    "inputTokens": "12.3k",
    "outputTokens": "1.2k",
    "totalInputTokens": "48.1k",
    "totalOutputTokens": "5.6k",
    "requests": "14",
    "cost": "$0.0123",
    "savings": "$0.41",
    "budget": "",
    "failure": "",
}
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_BASIC = ("#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5")
_BRIGHT = ("#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff")


def preview(status_line: Any) -> dict[str, Any]:
    """{"line": the text, "segments": [{"text", "fg", "bg", "bold"}]} for the StatusLine config `status_line`."""
    drawn = style.render(status_line if isinstance(status_line, dict) else {}, SAMPLE, "ok", True, False)
    segments = segments_of(drawn)
    return {"line": "".join(s["text"] for s in segments), "segments": segments}


def segments_of(text: str) -> list[dict[str, Any]]:
    """Split a line with SGR escape codes into runs of text with their colours (CSS hex or None)."""
    segments: list[dict[str, Any]] = []
    state: dict[str, Any] = {"fg": None, "bg": None, "bold": False}
    position = 0
    for match in _SGR.finditer(text):
        if match.start() > position:
            segments.append({"text": style.clean(text[position : match.start()]), **state})
        _apply(state, [int(p) if p else 0 for p in match.group(1).split(";")])
        position = match.end()
    if position < len(text):
        segments.append({"text": style.clean(text[position:]), **state})
    return [s for s in segments if s["text"]]


def _apply(state: dict[str, Any], codes: list[int]) -> None:
    index = 0
    while index < len(codes):
        code = codes[index]
        if code == 0:
            state.update(fg=None, bg=None, bold=False)
        elif code == 1:
            state["bold"] = True
        elif code in (39, 49):
            state["fg" if code == 39 else "bg"] = None
        elif 30 <= code <= 37 or 40 <= code <= 47:
            state["fg" if code < 40 else "bg"] = _BASIC[code % 10]
        elif 90 <= code <= 97 or 100 <= code <= 107:
            state["fg" if code < 100 else "bg"] = _BRIGHT[code % 10]
        elif code in (38, 48) and codes[index + 1 : index + 2] == [2] and len(codes) >= index + 5:
            r, g, b = (max(0, min(255, c)) for c in codes[index + 2 : index + 5])
            state["fg" if code == 38 else "bg"] = f"#{r:02x}{g:02x}{b:02x}"
            index += 4
        elif code in (38, 48) and codes[index + 1 : index + 2] == [5] and len(codes) >= index + 3:
            state["fg" if code == 38 else "bg"] = _xterm(codes[index + 2])
            index += 2
        index += 1


def _xterm(number: int) -> str:
    """An xterm 256-colour index as CSS hex."""
    if number < 8:
        return _BASIC[number]
    if number < 16:
        return _BRIGHT[number - 8]
    if number < 232:
        n = number - 16
        r, g, b = (0 if v == 0 else 55 + v * 40 for v in (n // 36, (n // 6) % 6, n % 6))
        return f"#{r:02x}{g:02x}{b:02x}"
    level = 8 + (min(number, 255) - 232) * 10
    return f"#{level:02x}{level:02x}{level:02x}"
