"""The import graph keeps its layers: read from the source (``ast``), not from a running import.

Only imports that run when a module loads count (module level, ``try``/``if`` blocks included);
imports under ``if TYPE_CHECKING:`` and inside functions do not, except where a rule says so.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"clawgate": "gateway", "clawgate.rpc": "rpc", "clawgate.http": "http", "clawgate.store": "store",
           "clawgate.sql": "sql"}  # fmt: skip

GROUPS = ("clawgate.runtime", "clawgate.services", "clawgate.state")
"""Between these, imports go one way: services use the runtime, the composition root uses both."""

KNOWN_EDGES: set[tuple[str, str]] = set()
"""Imports that close a cycle between ``GROUPS`` and are still to be removed: none (the run manager
reads agents' context files through the ``AgentFiles`` protocol since the split of runs)."""

STORE_MAY_IMPORT = ("clawgate.store", "clawgate.sql", "clawgate.errors")
"""``store/`` depends on nothing above it: SQL, its own types and the error tree."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if "__pycache__" not in parts:
                found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level(body: list[ast.stmt], typing_too: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run at load (and, with ``typing_too``, those under ``TYPE_CHECKING``)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test) or typing_too:
                yield from _top_level(node.body, typing_too)
            yield from _top_level(node.orelse, typing_too)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _top_level(block, typing_too)


def _resolve(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The ``clawgate`` modules ``node`` loads (``from pkg import sub`` names the submodule)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name in MODULES)
        return
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base in MODULES:
        yield base
    yield from (f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)


@cache
def imports(module: str, typing_too: bool = False) -> frozenset[str]:
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    return frozenset(t for node in _top_level(tree.body, typing_too) for t in _resolve(module, node))


def _group(module: str) -> str | None:
    return next((g for g in GROUPS if module == g or module.startswith(g + ".")), None)


def _group_edges() -> dict[tuple[str, str], list[str]]:
    """Which group imports which, with the module imports that make each edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module in MODULES:
        source = _group(module)
        for target in imports(module):
            dest = _group(target)
            if source and dest and source != dest and (module, target) not in KNOWN_EDGES:
                edges.setdefault((source, dest), []).append(f"{module} -> {target}")
    return edges


class TestLayers:
    def test_the_graph_reads_every_module(self) -> None:
        """The walk finds the package's modules and their imports (a guard for the rules below)."""
        assert {"clawgate.state", "clawgate.rpc.protocol", "clawgate.http.openai"} <= set(MODULES)
        assert "clawgate.services.agents" in imports("clawgate.state")
        assert "clawgate.rpc.messages" in imports("clawgate.rpc.protocol")

    def test_no_cycle_between_runtime_services_and_state(self) -> None:
        """``clawgate.runtime``, ``clawgate.services`` and ``clawgate.state`` import one another in
        one direction only (``KNOWN_EDGES`` aside)."""
        edges = _group_edges()
        cycles = [
            f"{a} <-> {b}: {edges[(a, b)]} / {edges[(b, a)]}" for a, b in edges if (b, a) in edges and a < b
        ]
        assert not cycles

    def test_known_exceptions_still_exist(self) -> None:
        """An exception that is gone must leave ``KNOWN_EDGES`` too, or it would hide a new one."""
        for module, target in KNOWN_EDGES:
            assert target in imports(module), f"{module} no longer imports {target}: drop the exception"

    def test_services_and_runtime_never_see_the_composition_root(self) -> None:
        """No service or runtime module imports ``clawgate.state`` or ``clawgate.app``, not even for
        types: the composition root builds them, never the other way round."""
        offenders = [
            f"{module} -> {target}"
            for module in MODULES
            if _group(module) in {"clawgate.runtime", "clawgate.services"}
            for target in imports(module, typing_too=True)
            if target in {"clawgate.state", "clawgate.app"}
        ]
        assert not offenders

    def test_store_depends_on_nothing_above_it(self) -> None:
        """``store/`` imports only itself, ``clawgate.sql`` and ``clawgate.errors``."""
        offenders = [
            f"{module} -> {target}"
            for module in MODULES
            if module.startswith("clawgate.store")
            for target in imports(module, typing_too=True)
            if not target.startswith(STORE_MAY_IMPORT) and target != "clawgate"
        ]
        assert not offenders

    def test_protocol_core_loads_without_the_app(self) -> None:
        """``clawgate.rpc.protocol`` (the sans-I/O core) loads alone: no Starlette, no state, no
        service, no database driver."""
        code = (
            "import sys, clawgate.rpc.protocol\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'starlette', 'asyncpg', 'aiohttp'}"
            " or m.startswith(('clawgate.state', 'clawgate.app', 'clawgate.services', 'clawgate.runtime',"
            " 'clawgate.store', 'clawgate.bus')))\n"
            "print(','.join(bad))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert done.stdout.strip() == ""
