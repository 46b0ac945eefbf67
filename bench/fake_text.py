"""Deterministic filler for the benchmark bodies: pseudo-English prose, Python-looking code, ids."""

from __future__ import annotations

import random

WORD_TEXT = (
    "the a of to in and is for that with on as this by be are file function value return type request "
    "response server client module config error test string list object key path line code change update "
    "should must when if then use using call first next each new old read write edit run command output "
    "input user model tool result message stream token cache session router provider gateway handler "
    "parse build check make sure before after only never always project repository branch commit review "
    "python node shell directory import class method field default option argument status state event "
    "buffer chunk block content text json schema property required description example note important"
)
WORDS = WORD_TEXT.split()


def sentence(rng: random.Random, lo: int = 8, hi: int = 20) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + "."


def prose(rng: random.Random, n_bytes: int) -> str:
    """Pseudo-English text of about n_bytes characters."""
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        s = sentence(rng)
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def code_lines(rng: random.Random, n_lines: int) -> list[str]:
    """Python-looking source lines."""
    lines: list[str] = []
    while len(lines) < n_lines:
        name = "_".join(rng.choice(WORDS) for _ in range(2))
        args = ", ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        lines.append(f"def {name}({args}) -> dict[str, object]:")
        lines.append(f'    """{sentence(rng, 5, 10)}"""')
        for _ in range(rng.randint(2, 8)):
            var = rng.choice(WORDS)
            lines.append(f"    {var} = {rng.choice(WORDS)}.{rng.choice(WORDS)}({rng.choice(WORDS)!r})")
        lines.append(f"    return {{'{rng.choice(WORDS)}': {rng.choice(WORDS)}}}")
        lines.append("")
    return lines[:n_lines]


def numbered(lines: list[str]) -> str:
    """Claude Code's Read tool output format: right-aligned line numbers and an arrow."""
    return "\n".join(f"{i:>6}\u2192{line}" for i, line in enumerate(lines, 1))


def uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def tool_use_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "toolu_01" + "".join(rng.choice(alphabet) for _ in range(22))
