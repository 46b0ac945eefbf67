"""Reading the config as written, for the commands that must start fast (`ccr statusline`, `ccr status`, `ccr logs`).

No validation and no `$VAR` interpolation: a plain dict of the file's top level, or {} when it is missing or
unreadable. Standard library only: plain JSON is parsed with `json`; only a file that needs JSON5 (comments,
trailing commas) pays for importing json5. Not even `typing` is imported at run time: `ccr statusline` runs on
every prompt.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # mypy reads the block below; at run time `typing` is never imported
if TYPE_CHECKING:
    from typing import Any


def read_config_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError):
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import json5

            data = json5.loads(text)
        except Exception:
            return {}
    return data if isinstance(data, dict) else {}
