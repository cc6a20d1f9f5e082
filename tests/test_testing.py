"""The test helpers, on the shipped machines (as a user would use them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    inherited,
)
from statemachines.testing import (
    Transition,
    TransitionCoverage,
    TransitionRecorder,
    inputSequences,
    reachableStates,
    rejectedPairs,
    uncoveredTransitions,
    unhandledPairs,
)

from .helpers import TIMEOUT, RecordingLink, Wire, lost

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
                ("closed", "connectionLost"),
                ("closed", "timeout"),
            ],
        )

    def test_everyShippedPairIsHandledOrRejectedOnPurpose(self) -> None:
        for cls in SHIPPED:
            self.assertEqual(unhandledPairs(cls), [], cls.__name__)

    def test_rejectionsAreDeclaredWithReasons(self) -> None:
        blueprint = ConnectionMachine.blueprint
        self.assertEqual(
            blueprint.rejectionOf("closed", "messageReceived"),
            "the connection is gone",
        )
        self.assertEqual(
            blueprint.rejectionOf("receiving", "connectionMade"),
            "a connection is made once",
        )
        self.assertIsNone(blueprint.rejectionOf("receiving", "messageReceived"))

    def test_undecidedPairsFound(self) -> None:
        from automat import MethodicalMachine

        from statemachines import ANY, StateMachine, rejects

        class Door(StateMachine):
            m = MethodicalMachine()

            @m.state(initial=True)
            def shut(self) -> None:
                "shut"

            @m.state()
            def open(self) -> None:
                "open"

            @m.input()
            def push(self) -> None:
                "push"

            @m.input()
            def pull(self) -> None:
                "pull"

            shut.upon(push, enter=open, outputs=[])
            open.upon(pull, enter=shut, outputs=[])
            pushingOpen = rejects(open, push, "it is open already")

        self.assertEqual(unhandledPairs(Door), [("shut", "pull")])

        class KnockableDoor(Door):
            m = MethodicalMachine()
            parent = inherited(m, Door)

            @m.input()
            def knock(self) -> None:
                "knock"

            parent.shut.upon(knock, enter=parent.shut, outputs=[])
            pullingShut = rejects(parent.shut, parent.pull, "it opens outwards")
            knockingOpen = rejects(ANY, knock, "nobody knocks on an open door")

        self.assertEqual(unhandledPairs(KnockableDoor), [])
        self.assertEqual(unhandledPairs(Door), [("shut", "pull")])  # untouched
        self.assertEqual(
            KnockableDoor.blueprint.rejectionOf("open", "push"), "it is open already"
        )
        self.assertIsNone(KnockableDoor.blueprint.rejectionOf("shut", "knock"))

        with self.assertRaises(TypeError) as caught:

            class ByName(Door):
                byName = rejects("shut", ANY, "a name, not a state")

        self.assertIn("a name is not enough", str(caught.exception))

        other = MethodicalMachine()

        @other.state()
        def elsewhere(self: object) -> None:
            "A state of another machine."

        with self.assertRaises(TypeError) as caught:

            class Foreign(Door):
                foreign = rejects(elsewhere, ANY, "not this machine's state")

        self.assertIn("unknown state 'elsewhere'", str(caught.exception))

    def test_deliberateRejectionIsLoggedWithItsReason(self) -> None:
        wire = Wire(EchoMachine)
        with capturedLogs() as events:
            wire.machine.connectionMade(RecordingLink())
        [event] = [e for e in events if e.get("input") == "connectionMade"]
        self.assertEqual(event["why"], "a connection is made once")

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

    def test_recordsWithoutLogging(self) -> None:
        wire = Wire(EchoMachine)
        with capturedLogs() as events, TransitionRecorder(wire.machine) as recorder:
            wire.send(b"hi")
        self.assertEqual(len(recorder.transitions), 2)
        self.assertEqual([e for e in events if "input" in e], [])

    def test_nestedRecordersAndTracing(self) -> None:
        wire = Wire(EchoMachine)
        wire.machine.setTracing(True)
        with capturedLogs() as events:
            with TransitionRecorder(wire.machine) as outer:
                with TransitionRecorder(wire.machine) as inner:
                    wire.send(b"a")
                wire.send(b"b")
            wire.send(b"c")
        self.assertEqual((len(inner.transitions), len(outer.transitions)), (2, 4))
        self.assertTrue(wire.machine.tracing)  # recorders leave logging alone
        self.assertEqual(len([e for e in events if "input" in e]), 6)


class CoverageTests(SynchronousTestCase):
    def test_everyMachineCreatedWhileOn(self) -> None:
        coverage = TransitionCoverage()
        early = EchoMachine(Clock())  # created, but has taken no transition yet
        coverage.start()
        try:
            with capturedLogs():
                early.connectionMade(RecordingLink())
                early.messageReceived(b"x")
                greeter = Wire(GreetingMachine)
                greeter.send(b"Ada")
        finally:
            coverage.stop()
        after = Wire(EchoMachine)
        after.send(b"not counted")
        self.assertEqual(
            coverage.taken[EchoMachine],
            {("idle", "connectionMade"), ("connected", "messageReceived")},
        )
        self.assertIn(("naming", "nameAccepted"), coverage.taken[GreetingMachine])
        self.assertNotIn(
            ("naming", "nameAccepted"), coverage.uncovered(GreetingMachine)
        )
        self.assertIn(("closing", "timeout"), coverage.uncovered(GreetingMachine))

    def test_report(self) -> None:
        coverage = TransitionCoverage(include=lambda cls: cls is EchoMachine)
        with capturedLogs():
            coverage.start()
            Wire(GreetingMachine).send(b"Ada")  # not included
            wire = Wire(EchoMachine)
            wire.send(b"x")
            wire.lose()
            coverage.stop()
        lines = coverage.report().splitlines()
        total = len(EchoMachine.blueprint.transitions)
        # idle -connectionMade->, connected -dataArrived->, -messageReceived->,
        # receiving -connectionLost->
        self.assertEqual(lines[0], f"statemachines.echo.EchoMachine: 4/{total}")
        self.assertIn("    never: closing --timeout-->", lines)
        self.assertNotIn("    never: connected --dataArrived-->", lines)
        self.assertEqual(len(lines), 1 + (total - 4) + 1)
        self.assertEqual(
            lines[-1],
            f"transition coverage: 4/{total} declared transitions taken "
            f"({400 / total:.1f}%) in 1 machine classes",
        )

    def test_trialReporter(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "twisted.trial"]
            + ["--reporter=txmachines-coverage", "tests.engine.test_observers"],
            env=dict(os.environ, TXMACHINES_COVERAGE_MODULES="statemachines.echo"),
            cwd=Path(__file__).resolve().parent.parent,  # trial runs in _trial_temp
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        out = result.stdout
        self.assertRegex(out, r"\nstatemachines\.echo\.EchoMachine: \d+/25\n")
        self.assertIn("    never: closing --timeout-->", out)
        self.assertRegex(out, r"transition coverage: .* in 1 machine classes")
        self.assertNotIn("GreetingMachine", out)
        self.assertIn("PASSED", out.splitlines()[-1])
