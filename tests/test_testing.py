"""The test helpers, on the shipped machines (as a user would use them)."""

from __future__ import annotations

from hypothesis import given, settings
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    ClientMachine,
    ConnectionMachine,
    EchoClientMachine,
    EchoMachine,
    GreetingClientMachine,
    GreetingMachine,
)
from statemachines.testing import (
    Transition,
    TransitionRecorder,
    inputSequences,
    reachableStates,
    rejectedPairs,
    uncoveredTransitions,
)

from .helpers import RecordingLink, Wire, lost

SHIPPED = [
    ConnectionMachine,
    EchoMachine,
    GreetingMachine,
    ClientMachine,
    EchoClientMachine,
    GreetingClientMachine,
]


class ShapeTests(SynchronousTestCase):
    def test_everyShippedStateIsReachable(self) -> None:
        for cls in SHIPPED:
            self.assertEqual(
                reachableStates(cls), list(cls.blueprint.states), cls.__name__
            )

    def test_rejectedPairsArePinned(self) -> None:
        """A change to what the server lifecycle rejects shows up here."""
        self.assertEqual(
            rejectedPairs(ConnectionMachine),
            [
                ("idle", name)
                for name in ConnectionMachine.blueprint.inputs
                if name not in ("connectionMade", "failed")
            ]
            + [
                ("connected", "connectionMade"),
                ("receiving", "connectionMade"),
                ("closing", "connectionMade"),
                ("closed", "connectionMade"),
                ("closed", "dataArrived"),
                ("closed", "messageReceived"),
                ("closed", "badFrame"),
                ("closed", "timeout"),
                ("closed", "connectionLost"),
            ],
        )

    def test_unreachableStateFound(self) -> None:
        from automat import MethodicalMachine

        from statemachines import StateMachine

        class Island(StateMachine):
            m = MethodicalMachine()

            @m.state(initial=True)
            def here(self) -> None:
                "here"

            @m.state()
            def island(self) -> None:
                "no way in"

            @m.input()
            def go(self) -> None:
                "go"

            here.upon(go, enter=here, outputs=[])
            island.upon(go, enter=here, outputs=[])

        self.assertEqual(reachableStates(Island), ["here"])


class InputSequenceTests(SynchronousTestCase):
    @settings(max_examples=100, deadline=None)
    @given(
        inputSequences(
            GreetingMachine,
            {
                "connectionMade": lambda: (RecordingLink(),),
                "messageReceived": lambda: (b"Bob",),
                "badFrame": lambda: ("bad",),
                "failed": lambda: ("oops",),
                "connectionLost": lambda: (lost(),),
                "nameAccepted": lambda: ("Bob",),
                "nameRejected": lambda: ("bad",),
                "nameRejectedTooOften": lambda: ("bad",),
            },
        )
    )
    def test_anySequenceIsHandled(
        self, steps: list[tuple[str, tuple[object, ...]]]
    ) -> None:
        """Whatever arrives, in whatever state: no exception, a known state."""
        machine = GreetingMachine(Clock())
        with capturedLogs():
            for name, args in steps:
                getattr(machine, name)(*args)
        self.assertIn(machine.state, GreetingMachine.blueprint.states)


class RecorderTests(SynchronousTestCase):
    def test_recordsAndRestores(self) -> None:
        wire = Wire(EchoMachine)
        other = Wire(EchoMachine)
        with capturedLogs(), TransitionRecorder(wire.machine) as recorder:
            wire.send(b"hi")
            other.send(b"not recorded")
        self.assertEqual(
            recorder.transitions,
            [
                Transition("EchoMachine", "connected", "dataArrived", "connected"),
                Transition("EchoMachine", "connected", "messageReceived", "receiving"),
            ],
        )
        self.assertFalse(wire.machine.tracing)

    def test_coverageOfAGreetingSession(self) -> None:
        wire = Wire(GreetingMachine)
        with capturedLogs(), TransitionRecorder(wire.machine) as recorder:
            wire.send(b"", b"Alice", b"hello")
            wire.lose()
        uncovered = uncoveredTransitions(GreetingMachine, recorder.transitions)
        self.assertNotIn(("naming", "nameAccepted"), uncovered)
        self.assertNotIn(("naming", "nameRejected"), uncovered)
        self.assertIn(("naming", "nameRejectedTooOften"), uncovered)
        self.assertIn(("closing", "timeout"), uncovered)
