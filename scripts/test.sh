#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the checks and the whole test suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# The real Claude Code CLI, pinned (on Node 20 an unpinned install picks an old release).
if [ ! -x node_modules/.bin/claude ] || ! node_modules/.bin/claude --version 2>/dev/null | grep -q '^2\.1\.332'; then
    npm install --no-save --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code@2.1.332
fi
export CLAUDE_BIN="$PWD/node_modules/.bin/claude"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/pytest -q "$@"
