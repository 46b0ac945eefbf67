#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the checks and the whole test suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
cksum < pyproject.toml > .venv/.ccrouter-installed  # scripts/run.sh then finds ccrouter installed and starts offline

# --- Debian packages the tests drive -----------------------------------------------------------------------------
# PostgreSQL and Redis for the team-mode tests (tests/support/postgres_server.py, redis_server.py: their own servers
# in temporary folders on free loopback ports, stopped by pid; the packages' own services are not used) and chromium
# for the dashboard's browser tests (Playwright launches it by its path; it never downloads a browser).
# Installed only when missing.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || ! command -v redis-server >/dev/null \
        || ! [ -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql redis-server chromium >/dev/null
fi
# --- end of the Debian packages ---------------------------------------------------------------------------------

# llama-cpp-python's OpenAI-compatible server for tests/test_llama_cpp_e2e.py. It builds from source (5-8 minutes on
# two cores), so only when this venv lacks it; pip caches the wheel. CPU only, portable (no -march=native), and
# without the multimodal library, llama.cpp's tests, tools, examples and server, which the Python server does not use.
if ! .venv/bin/python -c 'import importlib.metadata as m, llama_cpp.server.app; assert m.version("llama_cpp_python") == "0.3.36"' >/dev/null 2>&1; then
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF" \
        nice -n 10 .venv/bin/python -m pip install --quiet 'llama-cpp-python[server]==0.3.36'
fi

# The real Claude Code CLI, pinned (on Node 20 an unpinned install picks an old release).
if [ ! -x node_modules/.bin/claude ] || ! node_modules/.bin/claude --version 2>/dev/null | grep -q '^2\.1\.332'; then
    npm install --no-save --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code@2.1.332
fi
export CLAUDE_BIN="$PWD/node_modules/.bin/claude"

.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/pytest -q "$@"
