"""Reading the config as written, for the commands that must start fast (`ccr statusline`, `ccr status`, `ccr logs`).

No validation and no `$VAR` interpolation: a plain dict of the file's top level, or {} when it is missing or
unreadable. Standard library only: plain JSON is parsed with `json`; only a file that needs JSON5 (comments,
trailing commas) pays for importing json5. Not even `typing` is imported at run time: `ccr statusline` runs on
every prompt.
"""

from __future__ import annotations

import json
import os
import stat

TYPE_CHECKING = False  # mypy reads the block below; at run time `typing` is never imported
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 10 * 1024 * 1024  # as `config.loading.MAX_CONFIG_BYTES`: a real config is a few kB


def read_config_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = _read_text(path)
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


def _read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, when it is a regular file of at most MAX_BYTES: a FIFO would block `ccr status` (the open
    does not wait for a writer here), /dev/zero would never end. ValueError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{os.fspath(path)} is not a regular file")
        data = b""
        while len(data) <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{os.fspath(path)} is larger than {MAX_BYTES} bytes")
    return data.decode("utf-8")
