"""
Recording the transitions machines take, and transition coverage of a
whole run (also as a trial reporter).
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    EchoMachine,
    GreetingMachine,
)
from statemachines.testing import (
    Transition,
    TransitionCoverage,
    TransitionRecorder,
    uncoveredTransitions,
)

from ..helpers import ROOT, TIMEOUT, RecordingLink, Wire


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
            cwd=ROOT,  # trial runs in _trial_temp
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        out = result.stdout
        self.assertRegex(out, r"\nstatemachines\.echo\.EchoMachine: \d+/31\n")
        self.assertIn("    never: closing --timeout-->", out)
        self.assertRegex(out, r"transition coverage: .* in 1 machine classes")
        self.assertNotIn("GreetingMachine", out)
        self.assertIn("PASSED", out.splitlines()[-1])
