"""Where ccrouter keeps its files: `$CCR_HOME`, else `~/.claude-code-router`.

Standard library only, and light: `ccr statusline` and `ccr logs` use it without loading the config parser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def home_dir(environ: Mapping[str, str] = os.environ) -> str:
    return os.path.expanduser(environ.get("CCR_HOME") or os.path.join("~", ".claude-code-router"))
