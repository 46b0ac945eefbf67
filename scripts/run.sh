#!/usr/bin/env bash
# Set up ccrouter on a fresh machine and run it in the foreground with ~/.claude-code-router/config.json
# (or $CCR_HOME/config.json). Usage: scripts/run.sh [--config PATH]
#
# The first run creates .venv and installs ccrouter into it (editable: later source changes need no reinstall).
# Later runs install nothing, and so start offline, unless pyproject.toml changed since (its checksum is kept in
# .venv/.ccrouter-installed) or .venv/bin/ccr is gone. With no config yet, ccr says how to write one (`ccr init`).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.ccrouter-installed
want="$(cksum < pyproject.toml)"
if [[ ! -x .venv/bin/ccr || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
    printf '%s\n' "$want" > "$stamp"
fi
exec .venv/bin/ccr "$@" start --foreground
