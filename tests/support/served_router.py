"""What a test sees of a router it started, however it runs: where it listens, its CCR_HOME and its log records.

`RouterProcess` (a child process) and `InProcessRouter` (the app in this process) both are one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ccrouter.paths import LOG_FILE, log_dir_of


class ServedRouter:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.config_path = home / "config.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, config: dict[str, Any]) -> None:
        """`config` as the home's config file, listening where this router listens."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps({"PORT": self.port, "HOST": "127.0.0.1", **config}, indent=2))

    def log_records(self) -> list[dict[str, Any]]:
        path = Path(log_dir_of(self.config_path)) / LOG_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def request_records(self) -> list[dict[str, Any]]:
        return [r for r in self.log_records() if r.get("msg") == "request"]

    def wait_for_records(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            records = self.request_records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)
