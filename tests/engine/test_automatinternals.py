"""
The one reader of Automat's internals: what it reads, that it says clearly
when an Automat lacks something, that nothing else reads them, and
`Machine`, whose transitions match by parameter name.

No ``from __future__ import annotations`` here, on purpose: annotations are
real objects in this module, as in most users' modules, while the shipped
machines' are strings.
"""

import re
from pathlib import Path

from automat import MethodicalMachine
from twisted.trial.unittest import SynchronousTestCase

from statemachines import EchoMachine, Machine, inherited
from statemachines.engine import automatinternals

from ..helpers import Wire

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

    def test_persistenceMethodsRecognised(self) -> None:
        machine = MethodicalMachine()

        def save(self: object, state: object) -> object:
            return state

        self.assertEqual(
            automatinternals.persistenceOf(machine.serializer()(save)),
            ("serializer", save),
        )
        self.assertEqual(
            automatinternals.persistenceOf(machine.unserializer()(save)),
            ("unserializer", save),
        )
        self.assertIsNone(automatinternals.persistenceOf(save))
        self.assertIsNone(automatinternals.persistenceOf(vars(Door)["push"]))

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
            automatinternals.checkAutomat()
        message = str(caught.exception)
        self.assertIn(automatinternals.SUPPORTED, message)
        self.assertIn("MethodicalMachine." + SYMBOL, message)

    def test_installedAutomatPasses(self) -> None:
        automatinternals.checkAutomat()


class OneReaderTests(SynchronousTestCase):
    def test_onlyThisModuleReadsAutomatInternals(self) -> None:
        readers = sorted(
            str(path.relative_to(ROOT))
            for folder in ("statemachines", "protocols", "tests")
            for path in (ROOT / folder).rglob("*.py")
            if PRIVATE.search(path.read_text(encoding="utf-8"))
        )
        self.assertEqual(readers, ["statemachines/engine/automatinternals.py"])


class AnnotationsNeverMatterTests(SynchronousTestCase):
    """Parameters match by name, however (and whether) they are annotated."""

    def test_annotatedOutputOnAnInheritedInput(self) -> None:
        class Shouting(EchoMachine):
            _machine = Machine()
            parent = inherited(_machine, EchoMachine)

            @_machine.state(within=parent.open)
            def shouting(self) -> None:
                "Every message comes back in capitals."

            @_machine.output()
            def _shout(self, message: bytes) -> None:
                self.send(message.upper())

            @_machine.output()
            def _shoutAgain(self, message: "bytes | None") -> None:
                self.send((message or b"").upper())

            parent.connected.upon(
                parent.messageReceived, enter=shouting, outputs=[_shout]
            )
            shouting.upon(parent.messageReceived, enter=shouting, outputs=[_shoutAgain])

        wire = Wire(Shouting)
        wire.send(b"hey", b"you")
        self.assertEqual(wire.received(), [b"HEY", b"YOU"])

    def test_plainMethodicalMachineStandInsMatchByName(self) -> None:
        class Whisper(EchoMachine):
            _machine = MethodicalMachine()
            parent = inherited(_machine, EchoMachine)

            @_machine.output()
            def _whisper(self, message: bytes) -> None:
                self.send(message.lower())

            parent.connected.upon(
                parent.messageReceived, enter=parent.receiving, outputs=[_whisper]
            )

        wire = Wire(Whisper)
        wire.send(b"HUSH")
        self.assertEqual(wire.received(), [b"hush"])

    def test_parameterTheInputLacksNamedClearly(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Greedy(EchoMachine):
                _machine = Machine()
                parent = inherited(_machine, EchoMachine)

                @_machine.output()
                def _weigh(self, message: bytes, scale: int) -> None:
                    pass

                parent.connected.upon(
                    parent.messageReceived, enter=parent.receiving, outputs=[_weigh]
                )

        self.assertEqual(
            str(caught.exception),
            f"{type(self).__name__}.test_parameterTheInputLacksNamedClearly."
            "<locals>.Greedy: output '_weigh' takes 'scale', which input "
            "'messageReceived' (in state 'connected') does not give",
        )

    def test_machineStatesBehaveAsAutomats(self) -> None:
        class Door:
            machine = Machine()

            @machine.state(initial=True, serialized="S")
            def shut(self) -> None:
                "shut"

            @machine.state()
            def open(self) -> None:
                "open"

            @machine.input()
            def push(self, force: int) -> None:
                "push"

            @machine.output()
            def _creak(self, force: int) -> int:
                return force

            shut.upon(push, enter=open, outputs=[_creak])

        door = Door()
        self.assertEqual(door.push(3), [3])  # type: ignore[call-arg]
        self.assertEqual(
            automatinternals.automatStateOf(door, vars(Door)["machine"]), "open"
        )
