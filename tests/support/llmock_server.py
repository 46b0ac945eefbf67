"""The third-party `llmock` server (PyPI) as a provider on loopback: OpenAI at /v1, Anthropic at /anthropic/v1."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.router_process import free_port, stop_process

# A tool the llmock tests offer: llmock answers a question about the weather with a call to it.
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class LlmockServer:
    def __init__(self, log_path: Path, *extra_args: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlmockServer:
        executable = shutil.which("llmock", path=str(Path(sys.executable).parent))
        assert executable, "llmock is not installed; run scripts/test.sh, which installs the test extras"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    executable,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llmock exited: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/v1/models", timeout=1).close()
                return self
            except urllib.error.HTTPError:  # an answer, even an injected error, means it is up
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("llmock did not start within 20 s")

    def stop(self) -> None:
        stop_process(self.proc)
