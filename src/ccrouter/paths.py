"""Every name ccrouter gives a file or folder on disk, and where `$CCR_HOME` is.

`$CCR_HOME` (else `~/.claude-code-router`) holds the config, the service's pid and lock files and the running
`ccr code` sessions; the log folder sits beside the config file the service was started with. Standard library
only, and light: `ccr statusline` and `ccr logs` import it without loading the config parser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CONFIG_FILE = "config.json"
PID_FILE = "ccr.pid"  # JSON: which process serves which URL, and who started it
LOCK_FILE = "ccr.lock"  # serialises start, stop and `ccr code` sessions
CODE_SESSIONS_DIR = "code-sessions"  # one `<pid>.json` per running `ccr code`
LOG_DIR = "logs"  # beside the config file
LOG_FILE = "ccr-router.log"  # JSON lines, rotated as ccr-router.1.log ... ccr-router.5.log
SERVICE_STDERR_LOG = "service-stderr.log"  # in LOG_DIR: what a background service printed
SERVICE_STDERR_OLD_LOG = "service-stderr.1.log"  # the previous one, moved aside by a start that found it large
BACKUP_SUFFIX = ".bak"  # `config.json.<YYYYmmdd-HHMMSS>.bak`, kept by `ccr model`
UI_SECRET_FILE = "ui.secret"  # 0600: the running service's sign-in secret, which `ccr ui` reads (a new one per start)
LEDGER_FILE = "ledger.db"  # SQLite (WAL): one row per request, its tokens, cost and baseline cost


def home_dir(environ: Mapping[str, str] = os.environ) -> str:
    return os.path.expanduser(environ.get("CCR_HOME") or os.path.join("~", ".claude-code-router"))


def default_config_path(environ: Mapping[str, str] = os.environ) -> str:
    return os.path.join(home_dir(environ), CONFIG_FILE)


def ledger_path(environ: Mapping[str, str] = os.environ) -> str:
    """`$CCR_HOME/ledger.db`: the usage ledger the service writes and `ccr usage` reads."""
    return os.path.join(home_dir(environ), LEDGER_FILE)


def log_dir_of(config_path: str | os.PathLike[str]) -> str:
    """Where the service started with `config_path` writes its logs."""
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), LOG_DIR)
