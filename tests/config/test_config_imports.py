"""The config package stands alone: the standard library, json5, the shared leaves and itself, nothing else."""

from __future__ import annotations

import ast
import sys

from tests.support.paths import REPO_ROOT

CONFIG = REPO_ROOT / "src" / "ccrouter" / "config"
SHARED_LEAVES = {"ccrouter.errors", "ccrouter.paths", "ccrouter.files", "ccrouter.user_code"}


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _allowed(module: str) -> bool:
    top = module.partition(".")[0]
    if top == "ccrouter":
        return module in SHARED_LEAVES or module == "ccrouter.config" or module.startswith("ccrouter.config.")
    return top in sys.stdlib_module_names or top == "json5"


def test_config_imports_only_the_standard_library_json5_the_shared_leaves_and_itself() -> None:
    wrong = {
        path.name: sorted(m for m in _imports(path.read_text(encoding="utf-8")) if not _allowed(m))
        for path in sorted(CONFIG.glob("*.py"))
    }
    assert {name: modules for name, modules in wrong.items() if modules} == {}


def test_the_light_reader_uses_the_standard_library_only() -> None:
    modules = _imports((CONFIG / "light.py").read_text(encoding="utf-8"))
    assert all(m.partition(".")[0] in sys.stdlib_module_names or m == "json5" for m in modules)
    assert not any(m.startswith("ccrouter") for m in modules)
