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
from statemachines.connection import ConnectionMachine
from statemachines.engine.coverage import declaredEdges, ownTransitions
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
        total = len(declaredEdges(EchoMachine))
        # idle -connectionMade->, and from open: -dataArrived-> (stays),
        # -messageReceived->, -connectionLost->; EchoMachine declares none.
        self.assertEqual(
            lines[:3],
            [
                f"statemachines.echo.EchoMachine: 4/{total}",
                "    own (declared in EchoMachine): 0/0",
                f"    inherited: 4/{total}",
            ],
        )
        # A superstate's edge counts once; the detail names its states.
        self.assertIn(
            "        never: open --timeout--> closing (from ConnectionMachine)",
            lines,
        )
        self.assertIn(
            "        partly: open --dataArrived--> (stays) (from ConnectionMachine): "
            "never in receiving",
            lines,
        )
        self.assertNotIn(
            "        never: connected --dataArrived--> connected "
            "(from ConnectionMachine)",
            lines,
        )
        never = [line for line in lines if line.startswith("        never: ")]
        self.assertEqual(len(never), total - 4)
        self.assertEqual(
            lines[-1],
            f"transition coverage: 4/{total} declared transitions taken "
            f"({400 / total:.1f}%) in 1 machine classes",
        )

    def test_reportSeparatesOwnFromInherited(self) -> None:
        coverage = TransitionCoverage(include=lambda cls: cls is GreetingMachine)
        with capturedLogs():
            coverage.start()
            wire = Wire(GreetingMachine)
            wire.send(b"Ada")  # connected --messageReceived--> naming: own
            coverage.stop()
        report = coverage.report()
        lines = report.splitlines()
        blueprint = GreetingMachine.blueprint
        own = ownTransitions(GreetingMachine)
        self.assertIn(("connected", "messageReceived"), own)  # replaces a parent's
        self.assertIn(("naming", "nameAccepted"), own)
        self.assertNotIn(("closing", "timeout"), own)
        taken = coverage.taken[GreetingMachine]
        edges = declaredEdges(GreetingMachine)
        done = [e for e in edges if any(p in taken for p in e.pairs)]
        ownTaken = len([e for e in done if (e.origin, e.input) in own])
        ownAt = lines.index(
            f"    own (declared in GreetingMachine): {ownTaken}/{len(own)}"
        )
        inheritedAt = lines.index(
            f"    inherited: {len(done) - ownTaken}/{len(edges) - len(own)}"
        )
        neverOwn = "        never: naming --nameRejectedTooOften--> closing"
        neverInherited = (
            "        never: closing --timeout--> closing (from ConnectionMachine)"
        )
        self.assertEqual(len(blueprint.transitions), sum(len(e.pairs) for e in edges))
        self.assertLess(ownAt, lines.index(neverOwn))
        self.assertLess(lines.index(neverOwn), inheritedAt)
        self.assertLess(inheritedAt, lines.index(neverInherited))
        self.assertNotIn("messageReceived--> naming", report)  # taken

    def test_ownTransitionsOfASubclassWithoutAMachine(self) -> None:
        class Quiet(EchoMachine):
            pass

        self.assertEqual(ownTransitions(Quiet), [])
        self.assertEqual(ownTransitions(EchoMachine), [])
        self.assertEqual(
            len(ownTransitions(ConnectionMachine)),
            len(declaredEdges(ConnectionMachine)),
        )

    def test_machineCreatedButNeverMoved(self) -> None:
        coverage = TransitionCoverage(include=lambda cls: cls is EchoMachine)
        coverage.start()
        EchoMachine(Clock())
        coverage.stop()
        total = len(declaredEdges(EchoMachine))
        self.assertEqual(
            coverage.report().splitlines()[0],
            f"statemachines.echo.EchoMachine: 0/{total}",
        )

    def test_noMachineCreated(self) -> None:
        coverage = TransitionCoverage(scope=" under nowhere")
        coverage.start()
        coverage.stop()
        EchoMachine(Clock())  # after stop: not counted
        self.assertEqual(
            coverage.report(),
            "transition coverage: no machine under nowhere was created in this "
            "run, so there is no transition to count",
        )

    def runTrial(self, module: str, modules: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "twisted.trial"]
            + ["--reporter=txmachines-coverage", module],
            env=dict(os.environ, TXMACHINES_COVERAGE_MODULES=modules),
            cwd=ROOT,  # trial runs in _trial_temp
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("PASSED", result.stdout.splitlines()[-1])
        return result.stdout

    def test_trialReporter(self) -> None:
        out = self.runTrial("tests.engine.test_observers", "statemachines.echo")
        total = len(declaredEdges(EchoMachine))
        self.assertRegex(
            out,
            rf"\nstatemachines\.echo\.EchoMachine: \d+/{total}\n"
            rf"    own \(declared in EchoMachine\): 0/0\n"
            rf"    inherited: \d+/{total}\n",
        )
        self.assertIn(
            "        never: closing --timeout--> closing (from ConnectionMachine)",
            out,
        )
        self.assertRegex(out, r"transition coverage: .* in 1 machine classes")
        self.assertNotIn("GreetingMachine", out)

    def test_trialReporterWithoutMachines(self) -> None:
        out = self.runTrial("tests.engine.test_timer", "statemachines.echo")
        self.assertIn(
            "transition coverage: no machine under statemachines.echo "
            "(TXMACHINES_COVERAGE_MODULES) was created in this run",
            out,
        )
