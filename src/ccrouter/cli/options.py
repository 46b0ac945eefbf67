"""What every `ccr` command gets from the group: the config file the user named (`ccr --config PATH`), if any.

The config loader is imported only when a command loads the config: `ccr stop`, `ccr logs` and `ccr statusline`
never pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ccrouter.paths import default_config_path, home_dir

if TYPE_CHECKING:
    from ccrouter.config.model import Config


@dataclass
class Options:
    config_path: Path | None  # as the user wrote it; None for the default

    @property
    def home(self) -> Path:
        """`$CCR_HOME`: the pid file, the lock, the `ccr code` sessions."""
        return Path(home_dir())

    def resolved_config_path(self) -> Path:
        return (self.config_path or Path(default_config_path())).expanduser().resolve()

    def load(self) -> Config:
        """The validated config; raises ConfigError (which `ccr` reports with exit code 2)."""
        from ccrouter.config.loading import load_config

        return load_config(self.resolved_config_path())
