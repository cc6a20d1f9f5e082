"""
The per-class machine layer: subclasses extend a machine without changing
their parent or their siblings, overrides by name are honoured, and errors
inside a machine never escape to the caller.
"""

from __future__ import annotations

from typing import Any

from automat import MethodicalMachine
from twisted.trial.unittest import SynchronousTestCase

from statemachines import StateMachine, inherited
from statemachines.connection import ConnectionMachine
from statemachines.echo import EchoMachine
from statemachines.engine.automatinternals import transitionsOf
from statemachines.greeting import GreetingMachine

from ..helpers import connected
from ..sample_machines import Door


def snapshot(cls: type[StateMachine]) -> object:
    blueprint = cls.blueprint
    return (
        blueprint.initial,
        list(blueprint.states),
        list(blueprint.inputs),
        [(k, t.enter, t.outputs) for k, t in blueprint.transitions.items()],
        {
            (t.state, t.input, t.enter, t.outputs)
            for t in transitionsOf(cls._automatMachine)  # type: ignore[arg-type]
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
