"""What a fresh interpreter has imported after running a few statements: for the checks that `ccr` commands start
fast because they leave the server stack, the config loader and the service unimported until a command needs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping

# What a `ccr` command that serves nothing must not import: the server stack, the config loader, the service.
SERVER_STACK = (
    "aiohttp",
    "uvicorn",
    "tiktoken",
    "ccrouter.gateway.server",
    "ccrouter.gateway.app",
    "ccrouter.config.model",
    "ccrouter.config.loading",
    "ccrouter.service.control",
    "json5",
)


def imported_of(statements: str, modules: Iterable[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Which of `modules` a fresh interpreter holds after running `statements` (which must not fail)."""
    script = f"{statements}\nimport sys, json\nprint(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.splitlines()[-1])
    return found
