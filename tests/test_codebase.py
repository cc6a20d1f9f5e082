"""
The repository's own rules, checked on its source: module sizes, private
names kept private, and tests that mirror the modules they test.

Private names: a name that starts with one underscore belongs to the module
that defines it (as a function, class, or attribute it assigns).  Another of
this project's modules must not use it, as ``obj._name`` or in an import: it
goes through public API instead.  Two exceptions, by design:

- the engine's own attributes on a machine instance, named ``_txm...``, are
  shared by the engine's modules (``statemachines/engine/``), and by no one
  else;
- the names of Twisted's and Automat's internals are read in one module each
  (``protocols/sendnow.py``, ``statemachines/engine/automatinternals.py``);
  they are not this project's names, so this check does not see them.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("statemachines", "protocols")
MAX_LINES = 500
MAX_ADAPTER_LINES = 350

# Test files that span modules rather than mirror one (see tests/__init__.py).
SPANNING = {
    "tests/test_end_to_end.py",
    "tests/test_properties.py",
    "tests/test_lifecycle.py",
    "tests/test_readme.py",
    "tests/test_tutorial.py",
    "tests/test_codebase.py",
}


def isPrivate(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def sources(*folders: str) -> dict[str, ast.Module]:
    """Every Python file under ``folders``, parsed, by its path from the root."""
    return {
        path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(), str(path))
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def definedPrivates(tree: ast.Module) -> set[str]:
    """The private names a module defines: functions, classes, assignments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Name):
                        names.add(part.id)
                    elif isinstance(part, ast.Attribute):
                        names.add(part.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if isPrivate(name)}


def usedPrivates(tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, name)`` for each private attribute or imported private name."""
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isPrivate(node.attr):
            used.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and (
            node.level or (node.module or "").split(".")[0] in (*PACKAGES, "tests")
        ):
            used += [(node.lineno, a.name) for a in node.names if isPrivate(a.name)]
    return used


def privateNameViolations(
    modules: dict[str, ast.Module], users: dict[str, ast.Module]
) -> list[str]:
    """Where one of ``users`` uses a private name only another module defines."""
    defined = {path: definedPrivates(tree) for path, tree in modules.items()}
    owners: dict[str, set[str]] = defaultdict(set)
    for path, names in defined.items():
        for name in names:
            owners[name].add(path)
    found = []
    for path, tree in users.items():
        own = defined.get(path) or definedPrivates(tree)
        for line, name in usedPrivates(tree):
            others = owners.get(name, set()) - {path}
            if name in own or not others:
                continue
            engine = "statemachines/engine/"
            if (
                name.startswith("_txm")
                and path.startswith(engine)
                and all(o.startswith(engine) for o in others)
            ):
                continue
            found.append((path, line, name, ", ".join(sorted(others))))
    return [
        f"{path}:{line}: {name} (of {others})"
        for path, line, name, others in sorted(found, key=lambda f: (f[0], f[1]))
    ]


class ModuleSizeTests(SynchronousTestCase):
    def test_noModuleOverTheLimit(self) -> None:
        """Each module has one job: none in the packages over 500 lines."""
        over = {}
        for package in PACKAGES:
            for path in (ROOT / package).rglob("*.py"):
                lines = len(path.read_text().splitlines())
                if lines > MAX_LINES:
                    over[path.relative_to(ROOT).as_posix()] = lines
        self.assertEqual(over, {})

    def test_theAdapterIsThin(self) -> None:
        lines = (ROOT / "protocols" / "adapter.py").read_text().splitlines()
        self.assertLessEqual(len(lines), MAX_ADAPTER_LINES)


class PrivateNameTests(SynchronousTestCase):
    maxDiff = None

    def test_noModuleUsesAnothersPrivateNames(self) -> None:
        modules = sources(*PACKAGES)
        self.assertEqual(privateNameViolations(modules, modules), [])

    def test_testsUseOnlyPublicNames(self) -> None:
        """Tests go through public API (a fake's own private names aside)."""
        modules = sources(*PACKAGES)
        tests = sources("tests", "benchmarks")
        self.assertEqual(privateNameViolations(modules, tests), [])

    def test_theCheckFindsAViolation(self) -> None:
        """The check itself: a use of another module's private name is found."""
        owner = ast.parse("def _helper():\n    pass\nclass A:\n    _slot = 1\n")
        user = ast.parse("from statemachines.owner import _helper\nx = thing._slot\n")
        engineUser = ast.parse("x = machine._txmTables\n")
        modules = {
            "statemachines/owner.py": owner,
            "statemachines/engine/a.py": ast.parse("m._txmTables = 1\n"),
        }
        found = privateNameViolations(
            modules,
            {
                "protocols/user.py": user,
                "statemachines/engine/b.py": engineUser,
                "protocols/c.py": engineUser,
            },
        )
        self.assertEqual(
            found,
            [
                "protocols/c.py:1: _txmTables (of statemachines/engine/a.py)",
                "protocols/user.py:1: _helper (of statemachines/owner.py)",
                "protocols/user.py:2: _slot (of statemachines/owner.py)",
            ],
        )


class MirrorTests(SynchronousTestCase):
    def test_eachTestFileIsNamedAfterAModule(self) -> None:
        """
        ``tests/test_X.py`` tests ``statemachines/X.py``,
        ``tests/engine/test_X.py`` ``statemachines/engine/X.py``,
        ``tests/protocols/test_X.py`` ``protocols/X.py``; the rest span
        modules and are listed here.
        """
        homes = {
            "tests": "statemachines",
            "tests/engine": "statemachines/engine",
            "tests/protocols": "protocols",
        }
        orphans = []
        for path in sorted((ROOT / "tests").rglob("test_*.py")):
            relative = path.relative_to(ROOT).as_posix()
            folder = path.parent.relative_to(ROOT).as_posix()
            module = re.sub(r"^test_", "", path.stem)
            home = homes.get(folder)
            if relative in SPANNING:
                continue
            if home is None or not (ROOT / home / f"{module}.py").exists():
                orphans.append(relative)
        self.assertEqual(orphans, [])

    def test_eachSpanningFileExists(self) -> None:
        """A file named as spanning that was renamed or removed is noticed."""
        gone = sorted(path for path in SPANNING if not (ROOT / path).exists())
        self.assertEqual(gone, [])
