"""
The one reader of Automat's internals: what it reads, that it says clearly
when an Automat lacks something, and that nothing else reads them.
"""

from __future__ import annotations

import re
from pathlib import Path

from automat import MethodicalMachine
from twisted.trial.unittest import SynchronousTestCase

from statemachines.engine import automatinternals

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces, so that this file does not match the pattern itself.
SYMBOL = "_" + "symbol"
PRIVATE = re.compile(
    "|".join(
        re.escape(s)
        for s in (
            "automat" + "._",
            "." + "_automaton",
            "." + "_transitions",
            "." + SYMBOL,
        )
    )
)


class Door:
    machine = MethodicalMachine()

    @machine.state(initial=True, serialized="S")
    def shut(self) -> None:
        "shut"

    @machine.state()
    def open(self) -> None:
        "open"

    @machine.input()
    def push(self) -> None:
        "push"

    @machine.output()
    def _creak(self) -> None:
        pass

    shut.upon(push, enter=open, outputs=[_creak])


class ReadingTests(SynchronousTestCase):
    def test_declarationsReadBack(self) -> None:
        machine = vars(Door)["machine"]
        self.assertEqual(automatinternals.initialStateOf(machine), "shut")
        [t] = automatinternals.transitionsOf(machine)
        self.assertEqual(
            (t.state, t.input, t.enter, t.outputs, t.collector),
            ("shut", "push", "open", ("_creak",), list),
        )
        shut = vars(Door)["shut"]
        self.assertEqual(automatinternals.kindOf(shut), "state")
        self.assertEqual(automatinternals.kindOf(vars(Door)["push"]), "input")
        self.assertEqual(automatinternals.kindOf(vars(Door)["_creak"]), "output")
        self.assertIsNone(automatinternals.kindOf(object()))
        self.assertEqual(automatinternals.serializedOf(shut), "S")
        self.assertTrue(automatinternals.belongsTo(shut, machine))
        self.assertFalse(automatinternals.belongsTo(shut, MethodicalMachine()))

    def test_stateOnAutomatsOwnRuntime(self) -> None:
        door = Door()
        machine = vars(Door)["machine"]
        self.assertIsNone(automatinternals.automatStateOf(door, machine))
        door.push()
        self.assertEqual(automatinternals.automatStateOf(door, machine), "open")


class VersionCheckTests(SynchronousTestCase):
    def test_missingAttributeNamesTheSupportedVersions(self) -> None:
        class Lacking(MethodicalMachine):
            def __init__(self) -> None:
                super().__init__()
                delattr(self, SYMBOL)

        self.patch(automatinternals, "MethodicalMachine", Lacking)
        with self.assertRaises(ImportError) as caught:
            automatinternals._checkAutomat()
        message = str(caught.exception)
        self.assertIn(automatinternals.SUPPORTED, message)
        self.assertIn("MethodicalMachine." + SYMBOL, message)

    def test_installedAutomatPasses(self) -> None:
        automatinternals._checkAutomat()


class OneReaderTests(SynchronousTestCase):
    def test_onlyThisModuleReadsAutomatInternals(self) -> None:
        readers = sorted(
            str(path.relative_to(ROOT))
            for folder in ("statemachines", "protocols", "tests")
            for path in (ROOT / folder).rglob("*.py")
            if PRIVATE.search(path.read_text(encoding="utf-8"))
        )
        self.assertEqual(readers, ["statemachines/engine/automatinternals.py"])
