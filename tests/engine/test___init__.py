"""
The engine package as a whole (``statemachines/engine/__init__.py``): its
modules are layered, each importing only modules below it, so the imports
between them form no cycle.  Every import counts: at module level, inside a
function, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import statemachines.engine

ENGINE = Path(statemachines.engine.__file__).resolve().parent
PACKAGE = "statemachines.engine"


def engineImports(tree: ast.Module, modules: set[str]) -> set[str]:
    """The engine modules ``tree`` imports, wherever in it the import is."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                base = module
            elif node.level == 0 and (module + ".").startswith(PACKAGE + "."):
                base = module[len(PACKAGE) + 1 :]
            else:
                continue
            if base:
                found.add(base.split(".")[0])
            else:  # from . import x; from statemachines.engine import x
                found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return found & modules


def importGraph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module name to the engine modules it imports, from their source."""
    modules = set(sources) - {"__init__"}
    return {
        name: engineImports(ast.parse(text), modules) - {name}
        for name, text in sources.items()
        if name != "__init__"
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle, as the modules around it (first one repeated)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                found.append([*cycle, name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return found


def engineSources() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(ENGINE.glob("*.py"))}


class ImportLayeringTests(SynchronousTestCase):
    def test_noImportCycle(self) -> None:
        """No engine module imports, however indirectly, one that imports it."""
        found = cycles(importGraph(engineSources()))
        self.assertEqual(
            found, [], "import cycles: " + "; ".join(" -> ".join(c) for c in found)
        )

    def test_theGraphSeesEveryKindOfImport(self) -> None:
        """Module-level, function-level and TYPE_CHECKING imports all count."""
        graph = importGraph(
            {
                "__init__": "from .a import x\n",
                "a": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .b import B\n",
                "b": "def f():\n    from statemachines.engine import c\n",
                "c": "import statemachines.engine.a\nfrom . import d\n",
                "d": "from statemachines import engine\nfrom .. import client\n",
            }
        )
        self.assertEqual(graph, {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()})

    def test_theCheckFindsACycle(self) -> None:
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"d2"}, "d2": {"d"}}
        self.assertEqual(cycles(graph), [["a", "b", "c", "a"], ["d", "d2", "d"]])

    def test_theRealGraphIsFound(self) -> None:
        """The check reads the real package: the base class's imports are seen."""
        graph = importGraph(engineSources())
        self.assertIn("machine", graph)
        self.assertIn("blueprint", graph["machine"])
