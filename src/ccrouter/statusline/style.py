"""Rendering `ccr statusline`: ccrouter's own one-line summary, and CCR's `StatusLine` module lists in its
"default" and "powerline" styles. Pure: variables in, one line out.

Only modules that the interpreter has loaded anyway (json loads `re`) are imported: the statusline runs several
times a second and its whole budget is 100 ms, about 15 of which is the interpreter starting.

CCR's config shape (1.0.73, `src/utils/statusline.ts`):
`"StatusLine": {"currentStyle": "default" | "powerline", "default": {"modules": [...]}, "powerline": {...}}`,
each module `{"type": "workDir" | "gitBranch" | "model" | "usage" | "script" | ..., "icon": "...",
"text": "{{var}}", "color": "bright_blue" | "#rrggbb", "background": "bg_blue" | "#rrggbb" | "bg_#rrggbb"}`.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing costs ~4 ms to import; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

RESET = "\x1b[0m"
SEPARATOR = "\ue0b0"  # the powerline arrow (needs a Powerline or Nerd font, as in CCR)
PLAIN_JOIN = " · "

# Named colours as CCR spells them: foreground `name`, background `bg_name`.
_SGR = {
    "black": 30,
    "red": 31,
    "green": 32,
    "yellow": 33,
    "blue": 34,
    "magenta": 35,
    "cyan": 36,
    "white": 37,
    "bright_black": 90,
    "bright_red": 91,
    "bright_green": 92,
    "bright_yellow": 93,
    "bright_blue": 94,
    "bright_magenta": 95,
    "bright_cyan": 96,
    "bright_white": 97,
}
_XTERM16 = (
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
    (192, 192, 192),
    (128, 128, 128),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (0, 0, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)
_EXTRA_RGB = {"bright_orange": (255, 95, 0), "bright_purple": (135, 0, 255)}  # CCR's 202 and 129
_DEFAULT_SEGMENT_RGB = (33, 150, 243)  # CCR's fallback segment background
# Patterns are compiled where they are used (re caches them): the plain line needs none of them.
_HEX = r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})"
_VARIABLE = r"\{\{(\w+)\}\}"
_CONTROL = dict.fromkeys([*range(32), 127])  # str.translate table that deletes control characters (ESC too)

# Icons of CCR's themes (Nerd Font code points), and the plain ones used where those cannot show.
_ICON_FOLDER, _ICON_BRANCH, _ICON_ROBOT = "\U000f024b", "\ue725", "\U000f06a9"

# Text for a module that names its type but no `text`.
DEFAULT_TEXT = {
    "workDir": "{{workDirName}}",
    "gitBranch": "{{gitBranch}}",
    "model": "{{model}}",
    "usage": "↑{{inputTokens}} ↓{{outputTokens}}",
    "cost": "{{cost}}",
    "savings": "{{savings}}",
    "budget": "{{budget}}",
}


def powerline_theme(simple_icons: bool) -> list[Mapping[str, Any]]:
    """The powerline modules when the config names the style but lists none: CCR's, with the route (scenario
    and the real `provider,model`) in place of CCR's model read from the transcript."""
    folder, branch, robot = ("", "", "") if simple_icons else (_ICON_FOLDER, _ICON_BRANCH, _ICON_ROBOT)
    return [
        {"type": "workDir", "icon": folder, "text": "{{workDirName}}", "color": "white", "background": "bg_blue"},
        {"type": "gitBranch", "icon": branch, "text": "{{gitBranch}}", "color": "white", "background": "bg_magenta"},
        {"type": "model", "icon": robot, "text": "{{route}}", "color": "black", "background": "bg_bright_cyan"},
        {"type": "usage", "icon": "↑", "text": "{{inputTokens}}", "color": "black", "background": "bg_bright_green"},
        {"type": "usage", "icon": "↓", "text": "{{outputTokens}}", "color": "black", "background": "bg_bright_yellow"},
        {"type": "cost", "icon": "", "text": "{{cost}}", "color": "white", "background": "bg_bright_black"},
        {"type": "savings", "icon": "saved", "text": "{{savings}}", "color": "black", "background": "bg_green"},
        {"type": "budget", "icon": "", "text": "{{budget}}", "color": "white", "background": "bg_red"},
    ]


# ---------------------------------------------------------------------------------------------------------------
# Numbers


def format_tokens(count: int) -> str:
    if count < 1000:
        return str(max(count, 0))
    if count < 999_950:  # 999,950 would round to "1000.0k"
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def format_cost(usd: float, *, grouped: bool = False) -> str:
    """Dollars: four decimals below 10 cents (a session's cost starts in fractions of a cent: "$0.0123"), cents
    from there ("$0.41"); a negative amount (savings, when the routed model cost more) keeps its sign. `grouped`
    puts commas in the thousands (`ccr usage`'s table)."""
    sign = "-" if usd < 0 else ""
    size = abs(usd)
    if size == 0:
        return "$0.00"
    if size < 0.00005:
        return f"{sign}<$0.0001"
    if size < 0.1:
        return f"{sign}${size:.4f}"
    return f"{sign}${size:,.2f}" if grouped else f"{sign}${size:.2f}"


def clean(text: str) -> str:
    """Text from outside (model names, Claude Code's JSON, git) without control characters or escape codes."""
    return text.translate(_CONTROL)


# ---------------------------------------------------------------------------------------------------------------
# Choosing what to draw


def render(
    status_line: Any,
    variables: Mapping[str, str],
    state: str,
    colors: bool,
    simple_icons: bool,
) -> str:
    """The line for `variables`. `state` is "ok" (a request of the session went through ccrouter), "none" (not
    yet) or "hint" (the service cannot say: `variables["hint"]` says why)."""
    style, configured = _theme(status_line)
    if configured is None and style != "powerline":
        return default_line(variables, state, colors)
    modules = configured if configured is not None else powerline_theme(simple_icons)
    if style == "powerline" and colors:
        line = powerline(modules, variables)
    else:
        line = plain_modules(modules, variables, colors, " " if style != "powerline" else PLAIN_JOIN)
    if not line.strip():
        return default_line(variables, state, colors)
    return line if colors else line.replace("\x1b", "")


def _theme(status_line: Any) -> tuple[str, list[Mapping[str, Any]] | None]:
    """(style name, its module list or None), as CCR picks them: `StatusLine.currentStyle` (default "default"),
    then `StatusLine[style].modules`."""
    if not isinstance(status_line, dict):
        return "default", None
    style = status_line.get("currentStyle")
    style = style if isinstance(style, str) and style else "default"
    section = status_line.get(style)
    modules = section.get("modules") if isinstance(section, dict) else None
    if not isinstance(modules, list) or not modules:
        return style, None
    return style, [m for m in modules if isinstance(m, dict)]


def default_line(variables: Mapping[str, str], state: str, colors: bool) -> str:
    """ccrouter's own line: `ccr ⟩ think → deepseek,deepseek-reasoner · ↑12.3k ↓1.2k · $0.0123 (saved $0.41)`, then
    a budget's warning when one is near its cap, and the latest request's failure."""
    paint = _painter(colors)
    if state == "hint":
        return paint("ccr: " + variables.get("hint", ""), "yellow")
    head = paint("ccr ⟩", "bright_black")
    if state == "none":
        model = variables.get("claudeModel") or "Claude Code"
        return f"{head} {paint(model, 'cyan')}{PLAIN_JOIN}{paint(variables.get('notice', ''), 'bright_black')}"
    parts = [f"{head} {paint(variables.get('scenario') or 'default', 'cyan')} → {paint(variables['model'], 'bold')}"]
    parts.append(f"{paint('↑' + variables['inputTokens'], 'green')} {paint('↓' + variables['outputTokens'], 'yellow')}")
    if variables.get("cost"):
        saved = f" (saved {variables['savings']})" if variables.get("savings") else ""
        parts.append(paint(variables["cost"] + saved, "magenta"))
    if variables.get("budget"):
        parts.append(paint(variables["budget"], "yellow"))
    if variables.get("failure"):
        parts.append(paint(variables["failure"], "red"))
    return PLAIN_JOIN.join(parts)


def _painter(colors: bool) -> Callable[[str, str], str]:
    def paint(text: str, color: str) -> str:
        if not colors or not text:
            return text
        code = "1" if color == "bold" else str(_SGR[color])
        return f"\x1b[{code}m{text}{RESET}"

    return paint


# ---------------------------------------------------------------------------------------------------------------
# CCR's module lists


def module_text(module: Mapping[str, Any], variables: Mapping[str, str]) -> str:
    """The module's text with `{{var}}` replaced (unknown variables become empty, as in CCR); "" when the module
    has nothing to show. `script` modules (a JavaScript file in CCR) are not run: ccrouter cannot load them."""
    kind = module.get("type")
    if kind == "script":
        return ""
    template = module.get("text")
    if not isinstance(template, str):
        template = DEFAULT_TEXT.get(kind, "") if isinstance(kind, str) else ""
    text = (
        re.sub(_VARIABLE, lambda match: variables.get(match.group(1), ""), template) if "{{" in template else template
    )
    if not text.strip() or text.strip() in ("↑ ↓", "↑", "↓"):
        return ""
    icon = module.get("icon")
    return f"{icon} {text}" if isinstance(icon, str) and icon else text


def plain_modules(modules: Sequence[Mapping[str, Any]], variables: Mapping[str, str], colors: bool, join: str) -> str:
    """CCR's default style: each module in its colours, separated by spaces."""
    parts = []
    for module in modules:
        text = module_text(module, variables)
        if not text:
            continue
        if colors:
            codes = _sgr(module.get("background"), background=True) + _sgr(module.get("color"), background=False)
            text = f"{codes}{text}{RESET}" if codes else text
        parts.append(text)
    return join.join(parts)


def powerline(modules: Sequence[Mapping[str, Any]], variables: Mapping[str, str]) -> str:
    """CCR's powerline style: coloured segments joined by arrows whose colours carry one segment into the next
    (24-bit colour escapes, as CCR). Unlike CCR, the last segment ends with an arrow too, and a module that has
    nothing to show does not leave a wrong-coloured arrow behind."""
    segments: list[tuple[str, tuple[int, int, int], tuple[int, int, int]]] = []
    for module in modules:
        text = module_text(module, variables)
        if not text:
            continue
        background = _rgb(module.get("background") or "bg_bright_blue") or _DEFAULT_SEGMENT_RGB
        foreground = _rgb(module.get("color") or "white") or (255, 255, 255)
        segments.append((text, foreground, background))
    out = []
    for index, (text, foreground, background) in enumerate(segments):
        out.append(f"{_bg(background)}{_fg(foreground)} {text} ")
        if index + 1 < len(segments):
            out.append(f"{_fg(background)}{_bg(segments[index + 1][2])}{SEPARATOR}")
        else:
            out.append(f"{RESET}{_fg(background)}{SEPARATOR}{RESET}")
    return "".join(out)


def _sgr(name: Any, background: bool) -> str:
    """The escape for a colour name (`bright_blue`, `bg_blue`) or hex (`#ff8800`, `bg_#f80`); "" if unknown."""
    if not isinstance(name, str) or not name:
        return ""
    bare = name.removeprefix("bg_")
    if bare in _SGR:
        return f"\x1b[{_SGR[bare] + (10 if background else 0)}m"
    rgb = _hex(bare)
    if rgb is None:
        return ""
    return _bg(rgb) if background else _fg(rgb)


def _rgb(name: Any) -> tuple[int, int, int] | None:
    if not isinstance(name, str):
        return None
    bare = name.removeprefix("bg_")
    if bare in _SGR:
        code = _SGR[bare]
        return _XTERM16[code - 30 if code < 90 else code - 90 + 8]
    return _EXTRA_RGB.get(bare) or _hex(bare)


def _hex(text: str) -> tuple[int, int, int] | None:
    match = re.fullmatch(_HEX, text.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _fg(rgb: tuple[int, int, int]) -> str:
    return f"\x1b[38;2;{rgb[0]};{rgb[1]};{rgb[2]}m"


def _bg(rgb: tuple[int, int, int]) -> str:
    return f"\x1b[48;2;{rgb[0]};{rgb[1]};{rgb[2]}m"
