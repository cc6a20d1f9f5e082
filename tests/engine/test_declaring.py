"""
The per-class machine layer: subclasses extend a machine without changing
their parent or their siblings, overrides by name are honoured, and errors
inside a machine never escape to the caller.
"""

from __future__ import annotations

from typing import Any

from automat import MethodicalMachine
from twisted.trial.unittest import SynchronousTestCase

from statemachines import ANY, Machine, StateMachine, inherited, rejects
from statemachines.connection import ConnectionMachine
from statemachines.echo import EchoMachine
from statemachines.engine.automatinternals import transitionsOf
from statemachines.engine.machine import builtOf
from statemachines.greeting import GreetingMachine

from ..helpers import connected
from ..sample_machines import Door, Endings, PoliteGreetingMachine


def snapshot(cls: type[StateMachine]) -> object:
    blueprint = cls.blueprint
    return (
        blueprint.initial,
        list(blueprint.states),
        list(blueprint.inputs),
        [(k, t.enter, t.outputs) for k, t in blueprint.transitions.items()],
        {
            (t.state, t.input, t.enter, t.outputs)
            for t in transitionsOf(builtOf(cls).automatMachine)
        },
    )


class AutomatAloneTests(SynchronousTestCase):
    """
    The problem this layer solves, shown on plain Automat so the tests below
    are known to be able to fail.
    """

    def test_subclassUponRewritesParent(self) -> None:
        class Plain:
            m = MethodicalMachine()

            @m.state(initial=True)
            def a(self) -> None:
                "a"

            @m.input()
            def go(self) -> None:
                "go"

        before = len(transitionsOf(Plain.m))

        class Child(Plain):
            vars(Plain)["a"].upon(vars(Plain)["go"], enter=vars(Plain)["a"], outputs=[])

        self.assertEqual(len(transitionsOf(Plain.m)), before + 1)


class SubclassingTests(SynchronousTestCase):
    def test_parentUnchangedBySubclass(self) -> None:
        before = snapshot(Door)

        class LockableDoor(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.state()
            def locked(self) -> None:
                "Locked."

            @_machine.input()
            def lock(self) -> None:
                "Lock it."

            @_machine.output()
            def _click(self) -> None:
                self.log.append("click")

            parent.shut.upon(lock, enter=locked, outputs=[_click])
            locked.upon(parent.push, enter=locked, outputs=[])

        self.assertEqual(snapshot(Door), before)
        self.assertIn("locked", LockableDoor.blueprint.states)
        self.assertNotIn("locked", Door.blueprint.states)

        self.assertFalse(hasattr(Door, "lock"))
        door = Door()
        door.push()
        self.assertEqual((door.state, door.log), ("open", ["creak"]))

        lockable = LockableDoor()
        lockable.lock()
        lockable.push()
        self.assertEqual((lockable.state, lockable.log), ("locked", ["click"]))
        lockable2 = LockableDoor()
        lockable2.push()
        lockable2.pull()
        self.assertEqual(lockable2.log, ["creak", "slam"])

    def test_siblingsIsolated(self) -> None:
        class Left(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.input()
            def kick(self) -> None:
                "Kick."

            parent.open.upon(kick, enter=parent.open, outputs=[])

        class Right(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.input()
            def knock(self) -> None:
                "Knock."

            parent.shut.upon(knock, enter=parent.shut, outputs=[])

        self.assertIn("kick", Left.blueprint.inputs)
        self.assertNotIn("knock", Left.blueprint.inputs)
        self.assertIn("knock", Right.blueprint.inputs)
        self.assertNotIn("kick", Right.blueprint.inputs)
        self.assertNotIn("kick", Door.blueprint.inputs)
        right = Right()
        right.knock()
        self.assertEqual(right.errors, [])
        self.assertFalse(hasattr(Right, "kick"))

    def test_subclassReplacesInheritedTransition(self) -> None:
        class Heavy(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.output()
            def _groan(self) -> None:
                self.log.append("groan")

            parent.shut.upon(parent.push, enter=parent.open, outputs=[_groan])

        heavy, door = Heavy(), Door()
        heavy.push()
        door.push()
        self.assertEqual((heavy.log, door.log), (["groan"], ["creak"]))
        self.assertEqual(
            Heavy.blueprint.transitions["shut", "push"].declaredBy, "Heavy"
        )
        self.assertEqual(Door.blueprint.transitions["shut", "push"].declaredBy, "Door")

    def test_outputOverriddenByPlainMethodRuns(self) -> None:
        class Quiet(Door):
            def _creak(self) -> None:
                self.log.append("silence")

        quiet = Quiet()
        quiet.push()
        self.assertEqual(quiet.log, ["silence"])
        door = Door()
        door.push()
        self.assertEqual(door.log, ["creak"])

    def test_outputOverriddenByDecoratedOutputRuns(self) -> None:
        class Loud(Door):
            _machine = MethodicalMachine()

            @_machine.output()
            def _creak(self) -> None:
                self.log.append("CREAK")

        loud = Loud()
        loud.push()
        self.assertEqual(loud.log, ["CREAK"])

    def test_grandchildInheritsExtension(self) -> None:
        class Child(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.input()
            def wave(self) -> None:
                "Wave."

            parent.open.upon(wave, enter=parent.open, outputs=[])

        class Grandchild(Child):
            def _slam(self) -> None:
                self.log.append("thud")

        g = Grandchild()
        g.push()
        g.wave()
        g.pull()
        self.assertEqual((g.log, g.errors), (["creak", "thud"], []))
        self.assertEqual(list(Grandchild.blueprint.inputs), ["push", "pull", "wave"])

    def test_inputReplacedByPlainMethodIsRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Broken(Door):
                def push(self) -> None:
                    pass

        self.assertIn("push", str(caught.exception))

    def test_inheritedUnknownName(self) -> None:
        with self.assertRaises(AttributeError) as caught:
            inherited(MethodicalMachine(), Door).window  # noqa: B018
        self.assertIn("'window'", str(caught.exception))

    def test_twoMachinesInOneClass(self) -> None:
        with self.assertRaises(TypeError):

            class Twice(StateMachine):
                a = MethodicalMachine()
                b = MethodicalMachine()

    def test_inputOnClassKeepsItsNameAndDoc(self) -> None:
        self.assertEqual(
            (Door.push.__name__, Door.push.__doc__), ("push", "Push the door.")
        )

    def test_shippedMachinesParentsUnchanged(self) -> None:
        """Greeting extends echo; echo and the lifecycle keep their tables."""
        self.assertEqual(
            EchoMachine.blueprint.transitions["connected", "messageReceived"].enter,
            "receiving",
        )
        self.assertEqual(
            GreetingMachine.blueprint.transitions["connected", "messageReceived"].enter,
            "naming",
        )
        self.assertNotIn("naming", EchoMachine.blueprint.states)
        self.assertNotIn("naming", ConnectionMachine.blueprint.states)
        echo, link, _ = connected(EchoMachine)
        echo.messageReceived(b"hi")
        self.assertEqual((echo.state, link.sent), ("receiving", [b"hi"]))


class DeclarationMistakeTests(SynchronousTestCase):
    def test_starArgumentsRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Starry(Door):
                _machine = MethodicalMachine()

                @_machine.input()
                def shove(self, *args: object) -> None:
                    "shove"

                parent = inherited(_machine, Door)
                parent.shut.upon(shove, enter=parent.shut, outputs=[])

        self.assertIn("input 'shove' takes *args", str(caught.exception))

    def test_outputParameterTheInputLacksRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Greedy(Door):
                def _creak(self, loudness: int) -> None:  # type: ignore[override]
                    pass

        message = str(caught.exception)
        self.assertIn("output '_creak' takes 'loudness'", message)
        self.assertIn("input 'push'", message)
        assertOneSentenceNaming(self, caught.exception, "Greedy", "_creak")

    def test_standInsServeTheClassBodyOnly(self) -> None:
        seen: list[Any] = []

        class Kept(Door):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Door)

            @_machine.input()
            def wave(self) -> None:
                "wave"

            parent.open.upon(wave, enter=parent.open, outputs=[])
            seen.append(parent)

        self.assertFalse(hasattr(Kept, "parent"))
        for name in ("shut", "open"):  # open was used in the body
            with self.assertRaises(TypeError) as caught:
                getattr(seen[0], name)
            self.assertIn("already built", str(caught.exception))

    def test_inheritedFromANonParentRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Stranger(StateMachine):
                _machine = MethodicalMachine()
                parent = inherited(_machine, Door)

                @_machine.state(initial=True)
                def here(self) -> None:
                    "here"

                parent.shut.upon(parent.push, enter=here, outputs=[])

        self.assertIn("not one of its parents", str(caught.exception))

    def test_stateReplacedByPlainMethodRefused(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Flat(Door):
                def shut(self) -> None:  # type: ignore[override]
                    pass

        self.assertIn("replaces the state 'shut'", str(caught.exception))


def assertOneSentenceNaming(
    test: SynchronousTestCase, error: BaseException, cls: str, culprit: str
) -> None:
    """``error`` is a one-sentence TypeError naming ``cls`` and ``culprit``."""
    message = str(error)
    test.assertIsInstance(error, TypeError)
    test.assertIn(f".{cls}", message)  # its qualified name: defined in a test
    test.assertIn(repr(culprit), message)
    test.assertNotIn("\n", message)
    test.assertNotIn(". ", message)


class CaughtAtClassCreationTests(SynchronousTestCase):
    """
    Each declaration mistake is a TypeError when the class is created, whose
    one sentence names the class and the state, input or output at fault.
    """

    def test_targetStateOfAnotherMachine(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Stray(StateMachine):
                m = MethodicalMachine()

                @m.state(initial=True)
                def here(self) -> None:
                    "here"

                @m.input()
                def go(self) -> None:
                    "go"

                here.upon(go, enter=vars(Endings)["won"], outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Stray", "won")
        self.assertIn("another machine", str(caught.exception))

    def test_parentStateAsTargetWithoutInherited(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Lockable(Door):
                m = MethodicalMachine()
                parent = inherited(m, Door)

                @m.state()
                def locked(self) -> None:
                    "locked"

                @m.input()
                def lock(self) -> None:
                    "lock"

                parent.shut.upon(lock, enter=locked, outputs=[])
                locked.upon(lock, enter=Door.shut, outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Lockable", "shut")
        self.assertIn("inherited(machine, Door).shut", str(caught.exception))

    def test_parentStateUponWithoutInherited(self) -> None:
        """Would silently add a transition to the parent's own automaton."""
        before = len(transitionsOf(builtOf(Door).automatMachine))
        with self.assertRaises(TypeError) as caught:

            class Lockable(Door):
                m = MethodicalMachine()

                @m.input()
                def lock(self) -> None:
                    "lock"

                Door.shut.upon(lock, enter=Door.shut, outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Lockable", "shut")
        after = len(transitionsOf(builtOf(Door).automatMachine))
        self.assertEqual(after, before)

    def test_parentInputWithoutInherited(self) -> None:
        """Automat's upon() used to fail on it with an AttributeError."""
        for declare in (MethodicalMachine, Machine):
            with self.assertRaises(TypeError) as caught:

                class Lockable(Door):
                    m = declare()

                    @m.state()
                    def locked(self) -> None:
                        "locked"

                    @m.input()
                    def lock(self) -> None:
                        "lock"

                    inherited(m, Door).shut.upon(lock, enter=locked, outputs=[])
                    locked.upon(Door.push, enter=locked, outputs=[])

            assertOneSentenceNaming(self, caught.exception, "Lockable", "push")

    def test_parentOutputWithoutInherited(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Creaky(Door):
                m = MethodicalMachine()
                parent = inherited(m, Door)
                parent.open.upon(
                    parent.push,
                    enter=parent.open,
                    outputs=[Door._creak],  # type: ignore[list-item]
                )

        assertOneSentenceNaming(self, caught.exception, "Creaky", "_creak")

    def test_outputParameterTheInputCannotSupply(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Weighing(Door):
                m = Machine()
                parent = inherited(m, Door)

                @m.output()
                def _weigh(self, grams: int) -> None:
                    pass

                parent.open.upon(parent.push, enter=parent.open, outputs=[_weigh])

        assertOneSentenceNaming(self, caught.exception, "Weighing", "_weigh")
        self.assertIn("'grams'", str(caught.exception))

    def test_stateNothingCanEnter(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Forgetful(StateMachine):
                m = MethodicalMachine()

                @m.state(initial=True)
                def first(self) -> None:
                    "first"

                @m.state()
                def forgotten(self) -> None:
                    "declared, never wired"

                @m.input()
                def go(self) -> None:
                    "go"

                first.upon(go, enter=first, outputs=[])
                forgotten.upon(go, enter=first, outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Forgetful", "forgotten")

    def test_subclassStateNothingCanEnter(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Attic(Door):
                m = MethodicalMachine()
                parent = inherited(m, Door)

                @m.state()
                def attic(self) -> None:
                    "no stairs"

                attic.upon(parent.pull, enter=parent.shut, outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Attic", "attic")

    def test_enterableStatesThroughTheMergedTable(self) -> None:
        """
        A parent's states are entered by inherited transitions, and a parent's
        state a subclass routes around is not the subclass's mistake.
        """

        class Bypass(Door):
            m = MethodicalMachine()
            parent = inherited(m, Door)

            @m.state()
            def ajar(self) -> None:
                "ajar"

            parent.shut.upon(parent.push, enter=ajar, outputs=[])  # open: orphaned
            ajar.upon(parent.pull, enter=parent.shut, outputs=[])

        self.assertEqual(list(Bypass.blueprint.states), ["shut", "open", "ajar"])
        for cls in (Door, Endings, PoliteGreetingMachine, GreetingMachine):
            self.assertTrue(cls.blueprint.states)

    def test_noInitialState(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Startless(StateMachine):
                m = MethodicalMachine()

                @m.state()
                def somewhere(self) -> None:
                    "somewhere"

                @m.input()
                def go(self) -> None:
                    "go"

                somewhere.upon(go, enter=somewhere, outputs=[])

        assertOneSentenceNaming(self, caught.exception, "Startless", "somewhere")
        self.assertIn("no initial state", str(caught.exception))

    def test_rejectingAName(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class ByName(Door):
                byName = rejects("shut", ANY, "a name, not a state")

        assertOneSentenceNaming(self, caught.exception, "ByName", "shut")

    def test_rejectingAnUnknownState(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Unknown(Door):
                m = MethodicalMachine()
                parent = inherited(m, Door)
                elsewhere = rejects(vars(Endings)["won"], ANY, "not ours")

        assertOneSentenceNaming(self, caught.exception, "Unknown", "won")

    def test_rejectingAnUnknownInput(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Unknown(Door):
                m = MethodicalMachine()
                parent = inherited(m, Door)
                elsewhere = rejects(ANY, vars(Endings)["win"], "not ours")

        assertOneSentenceNaming(self, caught.exception, "Unknown", "win")

    def test_rejectingAParentsStateWithoutInherited(self) -> None:
        """Once silently accepted, by name."""
        with self.assertRaises(TypeError) as caught:

            class Direct(Door):
                shutShut = rejects(Door.shut, Door.pull, "not a stand-in")  # type: ignore[arg-type]

        assertOneSentenceNaming(self, caught.exception, "Direct", "shut")
        self.assertIn("inherited(machine, Door)", str(caught.exception))
