"""The `ccr` console script: `ccr statusline` is answered before click is imported; everything else goes to the CLI.

Claude Code runs its statusLine command several times a second and the statusline's budget is 100 ms; importing
click alone takes about 50 ms here, and the interpreter another 15. So the script's entry point looks at its
arguments first: `ccr statusline` (or `ccr --config PATH statusline`, the form `ccr code` puts in Claude Code's
settings) prints the line and exits without loading click; any other command loads `ccrouter.cli.main` as usual.
"""

from __future__ import annotations

import os
import sys


def statusline_argv(argv: list[str]) -> tuple[bool, str | None]:
    """(whether `argv` is exactly a statusline invocation of `ccr`, the `--config` path it gives)."""
    if not argv:
        return False, None
    program = os.path.basename(argv[0]).removesuffix(".exe")
    if program != "ccr" and not argv[0].endswith(os.path.join("ccrouter", "cli", "main.py")):
        return False, None  # not the `ccr` script nor `python -m ccrouter.cli.main`: leave the importer alone
    args = argv[1:]
    if args == ["statusline"]:
        return True, None
    if len(args) == 3 and args[0] == "--config" and args[2] == "statusline" and args[1]:
        return True, args[1]
    if len(args) == 2 and args[0].startswith("--config=") and args[1] == "statusline" and len(args[0]) > 9:
        return True, args[0].removeprefix("--config=")
    return False, None


def main() -> int:
    """The `ccr` console script."""
    matched, config_path = statusline_argv(sys.argv)
    if matched:
        from ccrouter.statusline.line import main as statusline

        sys.exit(statusline(config_path=os.path.expanduser(config_path) if config_path else None))
    from ccrouter.cli.main import main as cli

    return cli()
