"""The shape of the package, read from its source with `ast`: which module may import which.

ccrouter is a few wings over a few shared leaves, each wing allowed to lean only on what lies below it:

    leaves      errors, paths, files, sse, recent, tokens, user_code (and the package's own __init__)
    config      parses and edits the config file
    providers   translates between the Anthropic Messages format and each provider's wire format (no I/O)
    service     starts, finds and stops the background service (standard library only: fast commands)
    ledger      the usage ledger: rows, prices, the SQLite store and its writer, budgets
    gateway     the ASGI router: routing, dispatch, logs, hot reload
    statusline  `ccr statusline` (standard library only: Claude Code runs it every few seconds)
    cli         the `ccr` commands
    entry       the console script

Every import counts, at module level or inside a function (a lazy import is still a dependency), and so do imports
under `if TYPE_CHECKING:`, except when looking for import cycles, which only module-level imports that run make.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "ccrouter"
MAX_LINES = 400
STDLIB = frozenset(sys.stdlib_module_names)

LEAVES = frozenset(f"{PACKAGE}.{name}" for name in ("errors", "paths", "files", "sse", "recent", "tokens", "user_code"))
WINGS = ("config", "providers", "service", "ledger", "gateway", "dashboard", "statusline", "cli")
# Who may import whom, by layer: a module imports from its own layer or a lower one, never upward.
LAYER = {
    "leaf": 0,
    "config": 1,
    "providers": 2,
    "service": 2,
    "ledger": 2,
    "gateway": 3,
    "dashboard": 3,
    "statusline": 3,
    "cli": 4,
    "entry": 5,
}


@dataclass(frozen=True)
class Import:
    importer: str  # the module with the import statement
    target: str  # the imported module (a submodule when `from package import submodule`)
    line: int
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        kind = "in a function" if self.in_function else "at module level"
        return f"{self.importer} (line {self.line}) imports {self.target} {kind}"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((SRC / PACKAGE).rglob("*.py"))}


def wing_of(module: str) -> str:
    """The wing a ccrouter module belongs to: one of WINGS, "leaf" or "entry"."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in WINGS:
        return parts[1]
    return "entry" if module == f"{PACKAGE}.entry" else "leaf"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative imports resolved against `importer`)."""
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, child.lineno, in_function, type_only))
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(module, child)
                for alias in child.names:
                    submodule = f"{source}.{alias.name}"
                    target = submodule if submodule in MODULES else source
                    found.append(Import(module, target, child.lineno, in_function, type_only))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), in_function, True)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), in_function, type_only)
            else:
                visit(child, in_function, type_only)

    visit(tree, False, False)
    return found


IMPORTS = {module: imports_of(module) for module in MODULES}


def all_imports() -> Iterator[Import]:
    for imports in IMPORTS.values():
        yield from imports


def top(name: str) -> str:
    return name.partition(".")[0]


def within(name: str, *prefixes: str) -> bool:
    """Whether `name` is one of the `prefixes` (dotted module names) or a module inside one."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def ours(*names: str) -> tuple[str, ...]:
    return tuple(f"{PACKAGE}.{name}" for name in names)


def report(rule: str, broken: list[Import]) -> str:
    lines = dict.fromkeys(i.where() for i in broken)  # `from m import a, b` is one line
    return f"{rule}\n" + "\n".join(f"  {line}" for line in lines)


# ---------------------------------------------------------------------------------------------------------------
# The checks of the checker: it sees what it must see


def test_every_wing_and_leaf_is_found() -> None:
    assert {wing_of(m) for m in MODULES} == {*WINGS, "leaf", "entry"}
    assert set(MODULES) >= LEAVES


def test_imports_are_read_at_every_depth() -> None:
    imports = {(i.target, i.in_function) for i in IMPORTS[f"{PACKAGE}.entry"]}
    assert (f"{PACKAGE}.cli.main", True) in imports  # the console script loads the CLI lazily
    loaded = _loaded_at_import(f"{PACKAGE}.gateway.server")
    assert loaded[f"{PACKAGE}.config.loading"][0] == f"{PACKAGE}.gateway.server"


# ---------------------------------------------------------------------------------------------------------------
# (a) No import cycles


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (or a module importing itself), as a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(_a_cycle_through(sorted(component), graph))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _a_cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete cycle inside a strongly connected component, from its first module back to it."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component


def test_cycles_are_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c", "a"], ["e", "e"]]


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in all_imports():
        if i.in_function or i.type_only or i.target not in MODULES:
            continue
        graph[i.importer].add(i.target)
        parts = i.target.split(".")
        for depth in range(1, len(parts)):  # importing a module runs the __init__ of every package above it
            parent = ".".join(parts[:depth])
            if parent != i.importer and parent in MODULES:
                graph[i.importer].add(parent)
    cycles = _cycles(graph)
    assert not cycles, "Module-level imports form cycles (break each by moving what both need to a lower module):\n" + (
        "\n".join("  " + " -> ".join(cycle) for cycle in cycles)
    )


# ---------------------------------------------------------------------------------------------------------------
# (b) What each wing may import


def test_providers_only_translate() -> None:
    forbidden_wings = ours("gateway", "cli", "service", "statusline")
    io = ("aiohttp", "socket", "subprocess", "sqlite3", "urllib")
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) == "providers"
        and (within(i.target, *forbidden_wings) or (within(i.target, *io) and i.target != "urllib.parse"))
    ]
    assert not broken, report(
        "ccrouter.providers.* translates formats: it never imports ccrouter.gateway/cli/service/statusline, nor does "
        "I/O (aiohttp, socket, subprocess, sqlite3, urllib but its string functions in urllib.parse): the gateway "
        "owns the connections.",
        broken,
    )


def test_the_gateway_does_not_reach_into_the_commands() -> None:
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) == "gateway" and within(i.target, *ours("cli", "service", "statusline"))
    ]
    assert not broken, report("ccrouter.gateway.* never imports ccrouter.cli/service/statusline.", broken)


def test_the_dashboard_sits_on_the_gateway_and_only_the_server_mounts_it() -> None:
    broken = [
        i
        for i in all_imports()
        if (wing_of(i.importer) == "dashboard" and within(i.target, *ours("cli", "service", "gateway.server")))
        or (
            wing_of(i.importer) == "gateway"
            and i.importer != f"{PACKAGE}.gateway.server"
            and within(i.target, *ours("dashboard"))
            and not i.type_only
        )
    ]
    assert not broken, report(
        "ccrouter.dashboard.* reads the gateway's state and never imports ccrouter.cli/service or "
        "ccrouter.gateway.server; in the gateway only gateway.server (which builds the app) imports the dashboard.",
        broken,
    )


def test_config_imports_only_the_standard_library_json5_and_its_leaves() -> None:
    allowed = ours("errors", "paths", "files", "user_code", "config")
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) == "config"
        and top(i.target) not in STDLIB | {"json5"}
        and not (top(i.target) == PACKAGE and within(i.target, *allowed))
    ]
    assert not broken, report(
        "ccrouter.config.* imports only the standard library, json5, "
        "and ccrouter.errors/paths/files/user_code/config.*.",
        broken,
    )


def test_the_ledger_leans_only_on_its_config_and_the_leaves() -> None:
    allowed = ours(
        "errors",
        "paths",
        "files",
        "untrusted",
        "config.ledger_section",
        "config.budget_rules",
        "config.model",
        "ledger",
    )
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) == "ledger"
        and top(i.target) not in STDLIB | {"genai_prices", "psycopg"}
        and not (top(i.target) == PACKAGE and within(i.target, *allowed))
    ]
    assert not broken, report(
        "ccrouter.ledger.* imports only the standard library (sqlite3 included), genai_prices, psycopg, "
        "ccrouter.errors/paths/files/untrusted, its own config sections (config.ledger_section, config.budget_rules, "
        "config.model) and ccrouter.ledger.*: a PostgreSQL store or `ccr usage` must not drag the gateway in.",
        broken,
    )


def test_service_and_statusline_stay_light() -> None:
    allowed = {
        "service": ours("paths", "files", "errors", "config.light", "service"),
        "statusline": ours("paths", "files", "errors", "config.light", "service", "statusline"),
    }
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) in allowed
        and top(i.target) not in STDLIB
        and not within(i.target, *allowed[wing_of(i.importer)])
    ]
    assert not broken, report(
        "ccrouter.service.* and ccrouter.statusline.* import only the standard library and "
        "ccrouter.paths/files/errors/config.light/service.* (statusline also ccrouter.statusline.*): "
        "`ccr status` and the statusline must start fast.",
        broken,
    )


def _loaded_at_import(module: str) -> dict[str, list[str]]:
    """Every ccrouter module that importing `module` loads (module-level imports that run, followed), each with
    the chain of imports that loads it."""
    chains = {module: [module]}
    queue = [module]
    while queue:
        current = queue.pop(0)
        for i in IMPORTS[current]:
            if not i.in_function and not i.type_only and i.target in MODULES and i.target not in chains:
                chains[i.target] = [*chains[current], i.target]
                queue.append(i.target)
    return chains


def test_the_cli_loads_the_gateway_and_the_config_parser_lazily() -> None:
    heavy = ours("gateway", "providers", "config.loading")
    broken = [
        " -> ".join(chain)
        for module in MODULES
        if wing_of(module) == "cli"
        for target, chain in _loaded_at_import(module).items()
        if within(target, *heavy) and not any(within(link, *heavy) for link in chain[:-1])  # the first one reached
    ]
    assert not broken, (
        "ccrouter.cli.* loads the gateway, the providers and the config parser (ccrouter.config.loading) only "
        "inside the function that needs them, never at module level, not even through another module: every `ccr` "
        "command would pay for them.\n" + "\n".join(f"  {line}" for line in dict.fromkeys(broken))
    )


def test_the_leaves_import_no_wing() -> None:
    broken = [
        i
        for i in all_imports()
        if wing_of(i.importer) == "leaf" and top(i.target) == PACKAGE and wing_of(i.target) != "leaf"
    ]
    assert not broken, report(
        "The shared leaves (ccrouter.errors, paths, files, sse, recent, tokens, user_code) never import a wing.",
        broken,
    )


# ---------------------------------------------------------------------------------------------------------------
# (c) Modules a reader can hold in their head


def test_no_module_over_400_lines() -> None:
    long = {m: n for m, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"Modules over {MAX_LINES} lines (split each by job):\n" + "\n".join(
        f"  {m}: {n} lines" for m, n in sorted(long.items())
    )


# ---------------------------------------------------------------------------------------------------------------
# (d) Nothing imports upward


def test_nothing_imports_upward() -> None:
    broken = [
        i
        for i in all_imports()
        if top(i.target) == PACKAGE and i.target in MODULES and LAYER[wing_of(i.target)] > LAYER[wing_of(i.importer)]
    ]
    order = " < ".join("/".join(w for w, rank in LAYER.items() if rank == r) for r in sorted(set(LAYER.values())))
    assert not broken, report(f"A module imports only from its own layer or a lower one ({order}).", broken)
