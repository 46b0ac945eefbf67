"""The repository stands on its own: a fresh `git clone` of it, in a temporary folder with nothing beside it (no
`shared/` folder, no `node_modules`, no `.venv`), passes the inner loop (`pytest -m "not e2e and not process"`).

It runs with this venv's Python, `PYTHONPATH` pointing at the clone's `src`, so that the clone's code and tests
are the ones tested (checked first), not this working tree's. `git clone` copies what is committed: with a dirty
working tree this tests HEAD, not the uncommitted changes. Marked `process` (and `e2e`, by where it lives): it
runs git and a whole pytest session, 40-60 s on two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.process

INNER_LOOP = ["-m", "pytest", "-m", "not e2e and not process", "-q", "-x", "-p", "no:cacheprovider"]
# What would point the clone's tests at this machine's setup instead of the clone's own.
_DROPPED_ENV = ("PYTHONPATH", "CCR_HOME", "CLAUDE_PATH", "CLAUDE_BIN", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")


def test_a_fresh_clone_passes_the_inner_loop(tmp_path: Path) -> None:
    clone = tmp_path / "ccrouter"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ccrouter"]  # nothing beside it
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env["PYTHONPATH"] = str(clone / "src")

    where = subprocess.run(
        [sys.executable, "-c", "import ccrouter; print(ccrouter.__file__)"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()).is_relative_to(clone / "src"), where.stdout

    result = subprocess.run(
        [sys.executable, *INNER_LOOP],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
