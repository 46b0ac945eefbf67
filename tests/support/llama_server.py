"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) as a provider on loopback.

scripts/test.sh builds llama-cpp-python[server] into the venv once (5-8 minutes on two cores); the model is the
tiny random-weight GGUF from tests/harness/tiny_gguf.py. The server runs as a child process on a free port, with
`chat_format` chatml-function-calling, and is stopped by its pid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.router_process import free_port, stop_process

N_CTX = 2048
MODEL_ALIAS = "tiny-random"


def require_llama_cpp() -> None:
    """Fail under CI (scripts/test.sh must have built it), else skip, when llama_cpp's server is missing."""
    import pytest

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("sse_starlette") is None:
        message = "llama-cpp-python[server] is not installed in this venv (scripts/test.sh builds it, 5-8 minutes)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class LlamaServer:
    def __init__(self, model: Path, log_path: Path, chat_format: str = "chatml-function-calling") -> None:
        self.port = free_port()
        self.model = model
        self.alias = MODEL_ALIAS
        self.log_path = log_path
        self.chat_format = chat_format
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LlamaServer:
        # One thread: the model is tiny, and the machine's other core belongs to the router and the test.
        args = {
            "model_alias": self.alias,
            "n_ctx": N_CTX,
            "n_threads": 1,
            "n_threads_batch": 1,
            "seed": 1234,
            "verbose": False,
        }
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model)]
        command += ["--chat_format", self.chat_format, "--host", "127.0.0.1", "--port", str(self.port)]
        for key, value in args.items():
            command += [f"--{key}", str(value)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:  # not listening yet, or still loading (an HTTP error)
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"llama_cpp.server did not answer /v1/models within {timeout} s: {self.log()}")

    def models(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/v1/models", timeout=5) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)
