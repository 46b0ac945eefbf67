"""What every `ccr` command gets from the group: the config file the user named (`ccr --config PATH`), if any.

The config loader is imported only when a command loads the config: `ccr stop`, `ccr logs` and `ccr statusline`
never pay for it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ccrouter.errors import ConfigError
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

    def load(self, *, run_user_code: bool = True) -> Config:
        """The validated config; raises ConfigError (which `ccr` reports with exit code 2). A missing file gets
        the next step, `ccr init`, as the full command to paste. `run_user_code=False` reads the transformer
        plugin files without running them, for commands that only read the config."""
        path = self.resolved_config_path()
        if not path.exists() and not path.is_symlink():
            raise ConfigError(self.missing_config_message(path))
        from ccrouter.config.loading import load_config

        return load_config(path, run_user_code=run_user_code)

    def missing_config_message(self, path: Path) -> str:
        from ccrouter.service.claude_code import ccr_invocation

        init = [*ccr_invocation(), *(["--config", str(path)] if self.config_path is not None else []), "init"]
        return (
            f"No config file at {_shown(path)}. Write a starter one with: {shlex.join(init)}\n"
            "Then edit it (it says what each line does), and run this again. "
            "Or point to a config of yours with `ccr --config PATH` or $CCR_HOME."
        )


def _shown(path: Path) -> str:
    """`path` with the home folder as `~`, as people write it."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
