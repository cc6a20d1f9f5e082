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
    ConnectionMachine,
    EchoMachine,
    GreetingMachine,
    inherited,
)
from statemachines.testing import (
    inputSequences,
    reachableStates,
    rejectedPairs,
    unhandledPairs,
)

from .helpers import ROOT, TIMEOUT, RecordingLink, Wire, lost
from .helpers import SHIPPED_MACHINES as SHIPPED


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
                ("closed", "peerFinished"),
                ("closed", "connectionLost"),
                ("closed", "timeout"),
                ("closed", "secured"),
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
                "no way in from here"

            @m.state()
            def isle(self) -> None:
                "entered from island only"

            @m.input()
            def go(self) -> None:
                "go"

            here.upon(go, enter=here, outputs=[])
            island.upon(go, enter=isle, outputs=[])
            isle.upon(go, enter=island, outputs=[])

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


class TimeLimitTests(SynchronousTestCase):
    def test_aTestThatLoopsForeverFails(self) -> None:
        """The suite's time limit turns a hang into a failed test."""
        here = Path(self.mktemp())
        (here / "loopers").mkdir(parents=True)
        (here / "loopers" / "__init__.py").write_text("import tests  # the limit\n")
        (here / "loopers" / "test_loop.py").write_text(
            "from twisted.trial.unittest import SynchronousTestCase\n"
            "class Loop(SynchronousTestCase):\n"
            "    def test_forever(self):\n"
            "        while True:\n"
            "            pass\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "twisted.trial", "loopers"],
            capture_output=True,
            timeout=TIMEOUT,
            cwd=here,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(here), str(ROOT)]),
                "TXMACHINES_TEST_TIME_LIMIT": "1",
            },
        )
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(b"TestTimedOut", result.stdout)
        self.assertIn(b"FAILED (errors=1)", result.stdout)
