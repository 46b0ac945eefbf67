"""Loading the user's own Python files: custom routers and transformer plugins.

Two ways to look at one: `load_user_module` runs the file (the service, which calls its functions), and
`read_user_source` only reads and parses it (the `ccr` commands that describe a config, which never run the
user's code). A file that cannot be used raises `ccrouter.errors.UserCodeError`, whose message names the file and
the reason, never a stack trace. Whatever the file raises while it loads is caught, even SystemExit or
KeyboardInterrupt: a plugin that calls `sys.exit()` at import is a bad config, not a reason for the service to end.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from ccrouter.errors import UserCodeError

# Statements whose bodies still run at import (so what they bind is module-level); a def's or class's do not.
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar)


def load_user_module(path: str) -> ModuleType:
    """Run the file at `path` as a fresh module (never kept in `sys.modules`) and return it."""
    file = _python_file(path)
    module_name = f"ccrouter_user_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"{file} is not a Python file (it should end in .py).")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's code may raise anything while it loads, even what ends a program
        raise UserCodeError(f"{file} failed to load: {_described(exc)}") from None
    finally:
        sys.modules.pop(module_name, None)
    return module


def read_user_source(path: str) -> ast.Module:
    """The file at `path` parsed, without running any of it: for what can be known of it from its text."""
    file = _python_file(path)
    try:
        source = file.read_bytes()
    except OSError as exc:
        raise UserCodeError(f"{file} cannot be read ({exc.strerror or exc}). Check its permissions.") from None
    try:
        return ast.parse(source, filename=str(file))
    except SyntaxError as exc:
        raise UserCodeError(
            f"{file} is not valid Python (line {exc.lineno}: {exc.msg}). Fix it and try again."
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, nesting too deep for the parser
        raise UserCodeError(
            f"{file} cannot be parsed as Python ({type(exc).__name__}). Fix it and try again."
        ) from None


def module_string(tree: ast.Module, name: str) -> str | None:
    """The text the module's top level last assigns to `name` when that is a plain string (`name = "..."`), else
    None (not assigned, or worked out when the file runs)."""
    found: str | None = None
    for statement in _top_level(tree.body):
        value = _assigned_value(statement, name)
        if value is not None:
            found = value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return found


def binds_name(tree: ast.Module, name: str) -> bool:
    """Whether the module's top level may bind `name`: a def, class, assignment or import of it, or `import *`."""
    return any(_may_bind(statement, name) for statement in _top_level(tree.body))


def _python_file(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserCodeError(f"{file} does not exist or is not a file.")
    if file.suffix != ".py":
        raise UserCodeError(f"{file} is not a Python file (it should end in .py).")
    return file


def _top_level(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement that runs at import, in order: the module's own and those inside its if/try/with/loops."""
    for statement in statements:
        yield statement
        if isinstance(statement, _BLOCKS):
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(statement, block, []))
            for handler in getattr(statement, "handlers", []):
                yield from _top_level(handler.body)


def _may_bind(statement: ast.stmt, name: str) -> bool:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return statement.name == name
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in statement.names)
    return _assigned_value(statement, name) is not None


def _assigned_value(statement: ast.stmt, name: str) -> ast.expr | None:
    """The expression `statement` assigns to `name` (`name = ...`, `name: T = ...`), if it does."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        targets = [statement.target]
    else:
        return None
    return statement.value if any(isinstance(t, ast.Name) and t.id == name for t in targets) else None


def _described(exc: BaseException) -> str:
    """What the file raised, with the next step for what only a program's end should raise."""
    try:
        text = f"{type(exc).__name__}: {exc}"[:500]
    except Exception:  # an exception whose str() raises
        text = type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"{text} (it calls exit() or sys.exit() while loading; a module should only define things)"
    if isinstance(exc, KeyboardInterrupt):
        return f"{text} (loading it was interrupted; start again once it loads)"
    return text
