"""
StateMachine at run time: a rejected input or an output that raises becomes
a MachineError handed to machineError, and never escapes to the caller.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from statemachines import Machine, MachineError, StateMachine
from statemachines.engine.machine import builtOf

from ..sample_machines import Door


class GuardTests(SynchronousTestCase):
    def test_rejectedInputReported(self) -> None:
        door = Door()
        result = door.pull()
        self.assertIsNone(result)
        self.assertEqual(door.errors, [MachineError("rejected", "shut", "pull")])
        self.assertEqual(door.state, "shut")

    def test_outputExceptionReported(self) -> None:
        class Jammed(Door):
            def _creak(self) -> None:
                raise RuntimeError("jammed")

        door = Jammed()
        door.push()
        [error] = door.errors
        self.assertEqual(
            (error.kind, error.state, error.input), ("failed", "open", "push")
        )
        assert error.failure is not None
        self.assertTrue(error.failure.check(RuntimeError))

    def test_errorInErrorHandlerDoesNotLoop(self) -> None:
        unhandled: list[MachineError] = []

        class Fragile(Door):
            def machineError(self, error: MachineError) -> None:
                self.pull()  # rejected again, while handling

            def machineErrorUnhandled(self, error: MachineError) -> None:
                unhandled.append(error)

        Fragile().pull()
        self.assertEqual(unhandled, [MachineError("rejected", "shut", "pull")])


class QueueAfterFailureTests(SynchronousTestCase):
    def test_inputQueuedByAnOutputThatRaisesStillRuns(self) -> None:
        """On a plain StateMachine (default machineError) too."""

        class Relay(StateMachine):
            m = Machine()

            def __init__(self) -> None:
                self.log: list[str] = []

            @m.state(initial=True)
            def a(self) -> None:
                "a"

            @m.state()
            def b(self) -> None:
                "b"

            @m.input()
            def go(self) -> None:
                "go"

            @m.input()
            def after(self) -> None:
                "after"

            @m.output()
            def _queueThenFail(self) -> None:
                self.after()  # queued: runs once this transition is over
                raise RuntimeError("after queueing")

            @m.output()
            def _ran(self) -> None:
                self.log.append(f"after, in {self.state}")

            a.upon(go, enter=b, outputs=[_queueThenFail])
            b.upon(after, enter=a, outputs=[_ran])

        relay = Relay()
        relay.go()
        self.assertEqual(relay.log, ["after, in a"])
        self.assertEqual(relay.state, "a")
        # Nothing is left queued: the same again runs the same, once.
        relay.go()
        self.assertEqual(relay.log, ["after, in a", "after, in a"])
        self.assertEqual(relay.state, "a")


class BuiltOfTests(SynchronousTestCase):
    def test_whatTheEngineBuilt(self) -> None:
        """The tables run; Automat's machine is the one the class declares."""
        built = builtOf(Door)
        self.assertEqual(set(built.tables), set(Door.blueprint.states))
        self.assertEqual(set(built.tracedTables), set(Door.blueprint.states))
        self.assertEqual(set(built.automatInputs), set(Door.blueprint.inputs))
        self.assertIn(built.automatMachine, list(vars(Door).values()))
        self.assertIsNot(builtOf(type("Sub", (Door,), {})), built)

    def test_noStatesNoMachine(self) -> None:
        with self.assertRaises(TypeError) as caught:
            builtOf(StateMachine)
        self.assertEqual(
            str(caught.exception), "StateMachine declares no states: it has no machine"
        )
