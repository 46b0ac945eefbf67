"""`scripts/run.sh`, the fresh machine's first command: it installs only when it has to, so later runs start offline,
and with no config it says what to do next (`<repo>/.venv/bin/ccr init`).

The script runs for real (bash), in a copy of the repository's layout in a temporary folder, with stand-ins for
what would need the network: `python3` on PATH (which `python3 -m venv .venv` finds) makes a `.venv/bin/python`
that records each call and, for `-m pip install -e .`, writes a `.venv/bin/ccr` console script that runs this
checkout's ccrouter. So "no pip" below means: run.sh did not invoke pip (nor python3) at all; what is proved is
run.sh's own decision, not that a real pip install works.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.ccr_cli import fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream
from tests.support.paths import REPO_ROOT
from tests.support.router_process import free_port, wait_for_health

CCR_SCRIPT = f"""#!{sys.executable}
import sys
from ccrouter.cli.main import main
sys.exit(main())
"""

VENV_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$RUN_SH_CALLS"
if [[ "$*" == *"pip"* && -n "${RUN_SH_OFFLINE:-}" ]]; then echo "pip: no network" >&2; exit 1; fi
if [[ "$*" == *"pip install"*"-e ."* ]]; then
    cp "$RUN_SH_CCR_SCRIPT" .venv/bin/ccr && chmod +x .venv/bin/ccr
fi
"""

PYTHON3 = """#!/usr/bin/env bash
echo "python3 $*" >> "$RUN_SH_CALLS"
[[ -z "${RUN_SH_OFFLINE:-}" ]] || exit 1
[[ "$*" == "-m venv .venv" ]] || exit 1
mkdir -p .venv/bin && cp "$RUN_SH_VENV_PYTHON" .venv/bin/python && chmod +x .venv/bin/python
"""


class RunSh:
    """A copy of the repository's scripts/run.sh and pyproject.toml, with the stand-ins, and a CCR_HOME."""

    def __init__(self, root: Path) -> None:
        self.repo = root / "repo"
        (self.repo / "scripts").mkdir(parents=True)
        shutil.copy2(REPO_ROOT / "scripts" / "run.sh", self.repo / "scripts" / "run.sh")
        shutil.copy2(REPO_ROOT / "pyproject.toml", self.repo / "pyproject.toml")
        stand_ins = root / "stand-ins"
        (stand_ins / "bin").mkdir(parents=True)
        for name, text in (("ccr", CCR_SCRIPT), ("venv-python", VENV_PYTHON), ("bin/python3", PYTHON3)):
            (stand_ins / name).write_text(text)
            (stand_ins / name).chmod(0o755)
        self.calls = root / "calls.log"
        self.home = root / "ccr-home"
        self.home.mkdir()
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("CCR_HOME", "VIRTUAL_ENV", "PYTHONHOME")},
            "PATH": f"{stand_ins / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "CCR_HOME": str(self.home),
            "RUN_SH_CALLS": str(self.calls),
            "RUN_SH_CCR_SCRIPT": str(stand_ins / "ccr"),
            "RUN_SH_VENV_PYTHON": str(stand_ins / "venv-python"),
        }

    def installs(self) -> list[str]:
        """The calls of python3 and pip since the last look."""
        calls = self.calls.read_text().splitlines() if self.calls.exists() else []
        self.calls.unlink(missing_ok=True)
        return calls

    def run(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.repo / "scripts" / "run.sh")],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def test_first_run_installs_then_says_to_run_ccr_init(tmp_path: Path) -> None:
    run_sh = RunSh(tmp_path)

    first = run_sh.run()

    assert run_sh.installs() == [
        "python3 -m venv .venv",
        "python -m pip install --quiet --upgrade pip",
        "python -m pip install --quiet -e .",
    ]
    assert first.returncode == 2
    ccr = run_sh.repo / ".venv" / "bin" / "ccr"
    assert f"No config file at {run_sh.home / 'config.json'}" in first.stderr
    assert f"Write a starter one with: {ccr} init" in first.stderr
    assert "Traceback" not in first.stderr


def _line_with(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    """The process's stdout up to and including the first line holding `needle` (read within `timeout`)."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"{needle!r} not printed within {timeout} s; stdout so far: {seen!r}")
        seen += line
    return seen


def test_later_runs_install_nothing_and_serve_offline(tmp_path: Path, upstream: ScriptedUpstream) -> None:
    run_sh = RunSh(tmp_path)
    assert run_sh.run().returncode == 2  # installs (no config yet)
    assert len(run_sh.installs()) == 3
    port = free_port()
    (run_sh.home / "config.json").write_text(json.dumps(fake_provider_config(upstream, port)))

    # Offline now: a call of pip (or of python3) would fail, and so fail run.sh (set -e), and is recorded.
    proc = subprocess.Popen(
        ["bash", str(run_sh.repo / "scripts" / "run.sh")],
        env={**run_sh.env, "RUN_SH_OFFLINE": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc=proc)  # type: ignore[arg-type]
        serving = _line_with(proc, "ccrouter serving at", timeout=30)  # printed once it has seen /health answer
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        out = serving + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"ccrouter serving at http://127.0.0.1:{port}" in out
    assert run_sh.installs() == []

    # A changed pyproject.toml (new dependencies, say) installs again; so does a lost .venv/bin/ccr. (Without a
    # config from here on, so that each run ends at once.)
    (run_sh.home / "config.json").unlink()
    with (run_sh.repo / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    run_sh.run()
    assert run_sh.installs() == ["python -m pip install --quiet --upgrade pip", "python -m pip install --quiet -e ."]
    run_sh.run()
    assert run_sh.installs() == []
    (run_sh.repo / ".venv" / "bin" / "ccr").unlink()
    run_sh.run()
    assert run_sh.installs() == ["python -m pip install --quiet --upgrade pip", "python -m pip install --quiet -e ."]
