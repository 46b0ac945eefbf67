#!/usr/bin/env bash
# Set up ccrouter on a fresh machine and run it in the foreground with ~/.claude-code-router/config.json
# (or $CCR_HOME/config.json). Usage: scripts/run.sh [--config PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/ccr "$@" start --foreground
