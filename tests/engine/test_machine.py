"""
StateMachine at run time: a rejected input or an output that raises becomes
a MachineError handed to machineError, and never escapes to the caller.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from statemachines import MachineError

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
