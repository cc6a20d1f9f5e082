"""
Building (`statemachines.engine.building`): Automat's public
``MethodicalMachine`` API, used as documented, on the machines built from
it: ``state`` (``initial``, ``terminal``, ``serialized``), ``input``,
``output``, ``upon`` (with ``collector``), ``serializer``, ``unserializer``
and ``asDigraph`` - each behaves as it does on a plain Automat class, on the
state the machine actually runs in, subclasses included.
"""

from __future__ import annotations

from typing import Any

from automat import MethodicalMachine
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines import Machine, MachineError, StateMachine, inherited


class Vault(StateMachine):
    """A machine using every public declaration Automat offers."""

    _machine = MethodicalMachine()

    def __init__(self) -> None:
        self.log: list[str] = []
        self.errors: list[MachineError] = []
        self.saved: Any = None

    def machineError(self, error: MachineError) -> None:
        self.errors.append(error)

    @_machine.state(initial=True, serialized="LOCKED")
    def locked(self) -> None:
        "Locked."

    @_machine.state(serialized="UNLOCKED")
    def unlocked(self) -> None:
        "Unlocked."

    @_machine.state(terminal=True)
    def destroyed(self) -> None:
        "Gone for good; declared without serialized=."

    @_machine.input()
    def unlock(self, code: int, who: str = "nobody") -> None:
        "Try a code."

    @_machine.input()
    def lock(self) -> None:
        "Lock it."

    @_machine.input()
    def blowUp(self) -> None:
        "The end."

    @_machine.output()
    def _check(self, code: int) -> int:
        self.log.append(f"code {code}")
        return code

    @_machine.output()
    def _greet(self, who: str) -> str:
        self.log.append(f"hello {who}")
        return who

    @_machine.output()
    def _click(self) -> str:
        return "click"

    @_machine.serializer()
    def save(self, state: Any) -> dict[str, Any]:
        return {"state": state}

    @_machine.unserializer()
    def restore(self, blob: dict[str, Any]) -> Any:
        return blob["state"]

    locked.upon(unlock, enter=unlocked, outputs=[_check, _greet])
    unlocked.upon(lock, enter=locked, outputs=[_click], collector="".join)
    unlocked.upon(blowUp, enter=destroyed, outputs=[])
    locked.upon(blowUp, enter=destroyed, outputs=[])


class ArmouredVault(Vault):
    """A subclass adding a state, with a serialized name, via `inherited`."""

    _machine = MethodicalMachine()
    parent = inherited(_machine, Vault)

    @_machine.state(serialized="ARMOURED")
    def armoured(self) -> None:
        "Armoured."

    @_machine.input()
    def arm(self) -> None:
        "Arm it."

    parent.locked.upon(arm, enter=armoured, outputs=[])
    armoured.upon(parent.blowUp, enter=armoured, outputs=[])


class PlainVault:
    """`Vault`'s declarations on plain Automat: the reference."""

    _machine = MethodicalMachine()

    @_machine.state(initial=True, serialized="LOCKED")
    def locked(self) -> None:
        "Locked."

    @_machine.state(serialized="UNLOCKED")
    def unlocked(self) -> None:
        "Unlocked."

    @_machine.input()
    def unlock(self) -> None:
        "Unlock."

    @_machine.serializer()
    def save(self, state: Any) -> Any:
        return state

    @_machine.unserializer()
    def restore(self, state: Any) -> Any:
        return state

    locked.upon(unlock, enter=unlocked, outputs=[])


class StateTests(SynchronousTestCase):
    def test_initial(self) -> None:
        self.assertEqual(Vault().state, "locked")
        self.assertEqual(Vault.blueprint.initial, "locked")

    def test_terminal(self) -> None:
        """
        ``terminal=`` is informational in Automat: accepted, and a state (on
        `Machine` it means more: see tests/engine/test_liveness.py).
        """
        vault = Vault()
        vault.blowUp()
        self.assertEqual((vault.state, vault.errors), ("destroyed", []))
        vault.lock()
        self.assertEqual([e.kind for e in vault.errors], ["rejected"])

    def test_serialized(self) -> None:
        self.assertEqual(Vault.blueprint.states["locked"].serialized, "LOCKED")
        self.assertEqual(Vault.blueprint.serializedOf("unlocked"), "UNLOCKED")
        self.assertEqual(Vault.blueprint.serializedOf("destroyed"), "destroyed")

    def test_onMachine(self) -> None:
        """`Machine`, txmachines' MethodicalMachine, takes the same arguments."""

        class Small(StateMachine):
            m = Machine()

            @m.state(initial=True, serialized="A")
            def a(self) -> None:
                "a"

            @m.state(terminal=True)
            def b(self) -> None:
                "b"

            @m.input()
            def go(self) -> None:
                "go"

            @m.serializer()
            def save(self, state: Any) -> Any:
                return state

            a.upon(go, enter=b, outputs=[])

        small = Small()
        self.assertEqual(small.save(), "A")
        small.go()
        self.assertEqual((small.state, small.save()), ("b", "b"))


class InputOutputUponTests(SynchronousTestCase):
    def test_inputRunsOutputsWithTheirParameters(self) -> None:
        vault = Vault()
        self.assertEqual(vault.unlock(1234, who="Ada"), [1234, "Ada"])
        self.assertEqual(vault.log, ["code 1234", "hello Ada"])
        self.assertEqual(vault.state, "unlocked")

    def test_inputDefaults(self) -> None:
        vault = Vault()
        self.assertEqual(vault.unlock(1), [1, "nobody"])

    def test_inputKeepsItsNameAndDoc(self) -> None:
        self.assertEqual(
            (Vault.unlock.__name__, Vault.unlock.__doc__), ("unlock", "Try a code.")
        )

    def test_outputIsAPlainMethod(self) -> None:
        """Outputs are installed as the methods they are (see `building`)."""
        self.assertEqual(Vault()._click(), "click")

    def test_uponCollector(self) -> None:
        vault = Vault()
        vault.unlock(1)
        self.assertEqual(vault.lock(), "click")

    def test_uponWithoutEnterStays(self) -> None:
        class Counter(StateMachine):
            m = MethodicalMachine()

            def __init__(self) -> None:
                self.count = 0

            @m.state(initial=True)
            def counting(self) -> None:
                "counting"

            @m.input()
            def tick(self) -> None:
                "tick"

            @m.output()
            def _add(self) -> int:
                self.count += 1
                return self.count

            counting.upon(tick, outputs=[_add])

        counter = Counter()
        counter.tick()
        self.assertEqual((counter.tick(), counter.state), ([2], "counting"))

    def test_rejectedInput(self) -> None:
        vault = Vault()
        vault.lock()
        self.assertEqual(vault.errors, [MachineError("rejected", "locked", "lock")])


class SerializerTests(SynchronousTestCase):
    def test_initialState(self) -> None:
        self.assertEqual(Vault().save(), {"state": "LOCKED"})

    def test_afterATransition(self) -> None:
        vault = Vault()
        vault.unlock(1)
        self.assertEqual(vault.save(), {"state": "UNLOCKED"})

    def test_stateWithoutSerializedIsNamed(self) -> None:
        vault = Vault()
        vault.blowUp()
        self.assertEqual(vault.save(), {"state": "destroyed"})

    def test_asAutomatDoes(self) -> None:
        """Where Automat's result is usable, the engine's is the same."""
        plain = PlainVault()
        vault = Vault()
        results = [(plain.save(), vault.save()["state"])]
        plain.unlock()
        vault.unlock(0)
        results.append((plain.save(), vault.save()["state"]))
        self.assertEqual(results, [("LOCKED", "LOCKED"), ("UNLOCKED", "UNLOCKED")])

    def test_inSubclass(self) -> None:
        vault = ArmouredVault()
        vault.arm()
        self.assertEqual(vault.save(), {"state": "ARMOURED"})
        other = ArmouredVault()
        other.unlock(1)
        self.assertEqual(other.save(), {"state": "UNLOCKED"})

    def test_serializerDeclaredInSubclass(self) -> None:
        class Noted(Vault):
            _machine = MethodicalMachine()

            @_machine.serializer()
            def note(self, state: Any) -> str:
                return f"in {state}"

        noted = Noted()
        noted.unlock(1)
        self.assertEqual(noted.note(), "in UNLOCKED")

    def test_serializerOnParentsMachine(self) -> None:
        """A subclass with no machine of its own may use its parent's."""

        class Peeking(Vault):
            @Vault._machine.serializer()
            def peek(self, state: Any) -> Any:
                return state

        peeking = Peeking()
        peeking.blowUp()
        self.assertEqual(peeking.peek(), "destroyed")

    def test_duplicateSerializedRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Muddled(Vault):
                _machine = MethodicalMachine()
                parent = inherited(_machine, Vault)

                @_machine.state(serialized="LOCKED")
                def jammed(self) -> None:
                    "jammed"

                parent.locked.upon(parent.lock, enter=jammed, outputs=[])

        message = str(caught.exception)
        self.assertIn("Muddled", message)
        self.assertIn("'jammed'", message)
        self.assertIn("'locked'", message)


class UnserializerTests(SynchronousTestCase):
    def test_setsTheStateTheMachineRunsIn(self) -> None:
        vault = Vault()
        self.assertIsNone(vault.restore({"state": "UNLOCKED"}))
        self.assertEqual(vault.state, "unlocked")
        self.assertEqual(vault.lock(), "click")  # unlocked's transition ran
        self.assertEqual((vault.state, vault.errors), ("locked", []))

    def test_roundTrip(self) -> None:
        vault = Vault()
        vault.unlock(1)
        copy = Vault()
        copy.restore(vault.save())
        self.assertEqual(copy.state, "unlocked")

    def test_byNameWhenNotSerialized(self) -> None:
        vault = Vault()
        vault.restore({"state": "destroyed"})
        vault.unlock(1)
        self.assertEqual(vault.state, "destroyed")
        self.assertEqual([e.state for e in vault.errors], ["destroyed"])

    def test_asAutomatDoes(self) -> None:
        plain, vault = PlainVault(), Vault()
        plain.restore("UNLOCKED")
        vault.restore({"state": "UNLOCKED"})
        self.assertEqual(plain.save(), vault.save()["state"])

    def test_unknownValue(self) -> None:
        vault = Vault()
        with self.assertRaises(KeyError):
            vault.restore({"state": "AJAR"})
        self.assertEqual(vault.state, "locked")

    def test_inSubclass(self) -> None:
        vault = ArmouredVault()
        vault.restore({"state": "ARMOURED"})
        self.assertEqual(vault.state, "armoured")
        vault.blowUp()  # armoured's own transition: stays armoured
        self.assertEqual((vault.state, vault.errors), ("armoured", []))
        vault.restore({"state": "UNLOCKED"})
        vault.lock()
        self.assertEqual((vault.state, vault.errors), ("locked", []))

    def test_parentDoesNotKnowSubclassStates(self) -> None:
        with self.assertRaises(KeyError):
            Vault().restore({"state": "ARMOURED"})

    def test_keepsTracing(self) -> None:
        vault = Vault()
        vault.setTracing(True)
        with capturedLogs() as events:
            vault.restore({"state": "UNLOCKED"})
            vault.lock()
        self.assertTrue(vault.tracing)
        self.assertEqual(
            [(e["oldState"], e["newState"]) for e in events if "input" in e],
            [("unlocked", "locked")],
        )

    def test_fromAnOutputAppliesAfterTheTransition(self) -> None:
        """Like any change made mid-transition, it waits for the end of it."""

        class Rewinding(Vault):
            def _click(self) -> str:
                self.restore({"state": "UNLOCKED"})
                return "rewound"

        vault = Rewinding()
        vault.unlock(1)
        self.assertEqual(vault.lock(), "rewound")
        self.assertEqual(vault.state, "unlocked")


class AsDigraphTests(SynchronousTestCase):
    def test_mentionsEveryState(self) -> None:
        source = Vault._machine.asDigraph().source
        for state in ("locked", "unlocked", "destroyed"):
            self.assertIn(state, source)
        self.assertIn("unlock", source)

    def test_subclass(self) -> None:
        source = ArmouredVault._machine.asDigraph().source
        for state in ("locked", "unlocked", "destroyed", "armoured"):
            self.assertIn(state, source)
        self.assertNotIn("armoured", Vault._machine.asDigraph().source)
