"""Loading the user's own Python files: custom routers and transformer plugins.

A file that cannot be loaded raises `ccrouter.errors.UserCodeError`, whose message names the file and the reason,
never a stack trace.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ccrouter.errors import UserCodeError


def load_user_module(path: str) -> ModuleType:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserCodeError(f"{file} does not exist or is not a file.")
    module_name = f"ccrouter_user_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"{file} is not a Python file (it should end in .py).")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may raise anything while it loads
        raise UserCodeError(f"{file} failed to load: {type(exc).__name__}: {exc}") from None
    sys.modules.pop(module_name, None)
    return module
