"""Whether the config file shows keys to the other users of this machine.

`ccr init` references every key as `"$VAR"`, so the file it writes holds none. A config written by hand may hold a
provider's `api_key` or the router's `APIKEY` itself, and an editor or `cp` leaves it 0644: anyone who can log in
reads the keys. The service's start (a warning in its log) and `ccr config check` say so, with the `chmod` to run.
Standard library only (the config as written, through `config.light`): `ccr start` must start fast.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ccrouter.config.light import read_config_dict

_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_TO_OTHERS = stat.S_IRGRP | stat.S_IROTH


def exposed_keys_warning(config_path: Path) -> str | None:
    """What to tell the user when the config at `config_path` holds keys written out and group or others may read
    it; None when it is private, holds none, or cannot be read."""
    try:
        mode = stat.S_IMODE(os.stat(config_path).st_mode)
    except OSError:
        return None
    if not mode & _SHOWN_TO_OTHERS:
        return None
    keys = written_keys(read_config_dict(config_path))
    if not keys:
        return None
    return (
        f'{config_path} holds {", ".join(keys)} written out (not as a "$VAR" reference), and other users of this '
        f"machine can read it (mode {mode:04o}). Run `chmod 600 {shlex.quote(str(config_path))}`, or move the keys "
        'into environment variables and write "$VAR" in their place.'
    )


def written_keys(data: Mapping[str, Any]) -> list[str]:
    """The key paths of the secrets `data` (a config as written) holds in clear: APIKEY and each provider's
    api_key, unless the value is only `$VAR` / `${VAR}` references."""
    found = ["APIKEY"] if _written(data.get("APIKEY")) else []
    key = "Providers" if "Providers" in data else "providers"
    providers = data.get(key)
    if isinstance(providers, list):
        found += [
            f"{key}[{i}].api_key"
            for i, provider in enumerate(providers)
            if isinstance(provider, dict) and _written(provider.get("api_key"))
        ]
    return found


def _written(value: Any) -> bool:
    return isinstance(value, str) and bool(_REFERENCE.sub("", value).strip())
