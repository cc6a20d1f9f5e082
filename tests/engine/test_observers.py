"""Tracing: every transition as a structured event, off by default."""

from __future__ import annotations

from automat import MethodicalMachine
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines import EchoMachine, StateMachine
from statemachines.engine.machine import builtOf

from ..helpers import Wire


def traces(events: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (e["oldState"], e["input"], e["newState"], e["outputs"])
        for e in events
        if e.get("log_namespace") == "txmachines.trace"
    ]


class TracingTests(SynchronousTestCase):
    def test_offByDefault(self) -> None:
        with capturedLogs() as events:
            wire = Wire(EchoMachine)
            wire.send(b"hi")
        self.assertEqual(traces(events), [])
        self.assertFalse(wire.machine.tracing)

    def test_everyTransitionWhenOn(self) -> None:
        wire = Wire(EchoMachine)
        wire.machine.setTracing(True)
        self.assertTrue(wire.machine.tracing)
        with capturedLogs() as events:
            wire.send(b"hi")
            wire.machine.close()
        self.assertEqual(
            traces(events),
            [
                ("connected", "dataArrived", "connected", ("startIdleTimer",)),
                ("connected", "messageReceived", "receiving", ("onMessage",)),
                ("receiving", "closeRequested", "closing", ("loseConnection",)),
            ],
        )
        [event] = [e for e in events if e.get("input") == "messageReceived"]
        self.assertEqual(event["machineClass"], "EchoMachine")
        self.assertEqual(event["machineId"], id(wire.machine))
        self.assertEqual(wire.received(), [b"hi"])  # behaviour is unchanged

    def test_offAgain(self) -> None:
        wire = Wire(EchoMachine)
        wire.machine.setTracing(True)
        wire.machine.setTracing(False)
        with capturedLogs() as events:
            wire.send(b"hi")
        self.assertEqual(traces(events), [])

    def test_switchedFromAnOutputTakesEffectAfterTheTransition(self) -> None:
        class SelfTracing(StateMachine):
            m = MethodicalMachine()

            @m.state(initial=True)
            def a(self) -> None:
                "a"

            @m.input()
            def go(self) -> None:
                "go"

            @m.output()
            def _traceMe(self) -> None:
                self.setTracing(True)

            a.upon(go, enter=a, outputs=[_traceMe])

        machine = SelfTracing()
        with capturedLogs() as events:
            machine.go()
            self.assertTrue(machine.tracing)
            machine.go()
        self.assertEqual(traces(events), [("a", "go", "a", ("_traceMe",))])

    def test_freeWhenOff(self) -> None:
        # What an untraced machine runs (its input functions, with their
        # inline self-loops, and its plain tables) has no tracing in it at
        # all: the traced tables are separate code.
        built = builtOf(EchoMachine)
        plain, traced = built.tables, built.tracedTables
        for name in EchoMachine.blueprint.inputs:
            self.assertNotIn("TRACE", getattr(EchoMachine, name).__source__)
        for state, table in plain.items():
            for transition in table.values():
                self.assertNotIn("TRACE", transition.__source__)
            for transition in traced[state].values():
                self.assertIn("TRACE(self", transition.__source__)


class ObserverFailureTests(SynchronousTestCase):
    def test_raisingObserverIsLoggedAndTheMachineGoesOn(self) -> None:
        from statemachines.engine.observers import OBSERVERS

        def broken(*args: object) -> None:
            raise RuntimeError("observer bug")

        wire = Wire(EchoMachine)
        wire.machine.setTracing(True)
        OBSERVERS.add(broken)
        self.addCleanup(OBSERVERS.remove, broken)
        with capturedLogs() as events:
            wire.send(b"hi")
        self.assertEqual(wire.received(), [b"hi"])
        self.assertEqual(wire.machine.state, "receiving")
        failures = [e for e in events if "log_failure" in e]
        self.assertTrue(failures)
        self.assertTrue(failures[0]["log_failure"].check(RuntimeError))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), len(failures))
