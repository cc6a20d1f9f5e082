"""
Every transition of the server-side lifecycle, and the rule that every
(state, input) pair is either declared or rejected, for every shipped server
machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.connection import ConnectionMachine
from statemachines.echo import EchoMachine
from statemachines.greeting import GreetingMachine

from .helpers import RecordingLink, connected, lost


class Recorder(ConnectionMachine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[object] = []

    def onConnected(self) -> None:
        self.events.append("connected")

    def onMessage(self, message: bytes) -> None:
        self.events.append(message)

    def onDisconnected(self, reason: object) -> None:
        self.events.append("disconnected")


class TransitionTests(SynchronousTestCase):
    def test_connectionMade(self) -> None:
        machine, link, clock = connected(Recorder, idleTimeout=30)
        self.assertEqual(machine.state, "connected")
        self.assertEqual(machine.events, ["connected"])
        self.assertIs(machine.link, link)
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), 30)

    def test_messagesMoveToReceiving(self) -> None:
        machine, link, clock = connected(Recorder)
        machine.messageReceived(b"one")
        self.assertEqual(machine.state, "receiving")
        machine.messageReceived(b"two")
        self.assertEqual(machine.events, ["connected", b"one", b"two"])

    def test_arrivingBytesRestartTheIdleTimer(self) -> None:
        machine, link, clock = connected(Recorder, idleTimeout=30)
        for _ in range(3):
            clock.advance(20)
            machine.dataArrived()  # bytes, not necessarily a whole message
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(29.9)
        self.assertEqual((machine.state, link.errors), ("connected", []))
        clock.advance(0.1)  # 30 s after the last bytes
        self.assertEqual((machine.state, link.errors), ("closing", ["idle timeout"]))

    def test_idleTimeout(self) -> None:
        for messages in ([], [b"x"]):
            machine, link, clock = connected(Recorder, idleTimeout=30, closeTimeout=5)
            for m in messages:
                machine.messageReceived(m)
            clock.advance(30)
            self.assertEqual(machine.state, "closing")
            self.assertEqual(link.errors, ["idle timeout"])
            self.assertTrue(link.closing)
            self.assertFalse(link.aborted)
            [timer] = clock.getDelayedCalls()
            self.assertEqual(timer.getTime(), 35)

    def test_idleTimeoutDisabled(self) -> None:
        machine, link, clock = connected(Recorder, idleTimeout=None)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_closeTimeoutAborts(self) -> None:
        machine, link, clock = connected(Recorder, closeTimeout=5)
        machine.close()
        self.assertEqual(
            (machine.state, link.closing, link.errors), ("closing", True, [])
        )
        clock.advance(5)
        self.assertTrue(link.aborted)
        self.assertEqual(machine.state, "closing")
        machine.connectionLost(lost())
        self.assertEqual(machine.state, "closed")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_badFrame(self) -> None:
        machine, link, clock = connected(Recorder)
        machine.badFrame("line too long")
        self.assertEqual(
            (machine.state, link.errors, link.closing),
            ("closing", ["line too long"], True),
        )

    def test_closingIgnoresLateEvents(self) -> None:
        machine, link, clock = connected(Recorder)
        machine.close()
        with capturedLogs() as events:
            machine.messageReceived(b"late")
            machine.badFrame("late garbage")
            machine.close()
        self.assertEqual(machine.events, ["connected"])
        self.assertEqual(link.errors, [])
        self.assertEqual([e for e in events if e["log_level"].name != "debug"], [])

    def test_connectionLostFromEveryLiveState(self) -> None:
        for steps in ([], [b"m"]):
            machine, link, clock = connected(Recorder)
            for m in steps:
                machine.messageReceived(m)
            closed = machine.whenClosed()
            self.assertNoResult(closed)
            machine.connectionLost(lost())
            self.assertEqual(machine.state, "closed")
            self.assertEqual(machine.events[-1], "disconnected")
            self.assertIsNone(self.successResultOf(closed))
            self.assertEqual(clock.getDelayedCalls(), [])
            self.assertIsNone(self.successResultOf(machine.whenClosed()))
            machine.close()  # harmless once closed
            self.assertEqual(machine.state, "closed")

    def test_closeObserversAllCalledInOrder(self) -> None:
        """
        Every observer hears of the close once, in the order they asked,
        after ``onDisconnected``; one that raises does not keep the later
        ones from hearing, and its exception is logged, not raised.
        """
        machine, link, clock = connected(Recorder)
        heard: list[str] = []

        def broken(m: object) -> None:
            heard.append("broken")
            raise ZeroDivisionError("an observer's bug")

        machine.notifyClosed(lambda m: heard.append(f"first {m is machine}"))
        machine.notifyClosed(broken)
        closed = machine.whenClosed()
        machine.notifyClosed(lambda m: heard.append(f"last {m.state}"))
        with capturedLogs() as events:
            machine.connectionLost(lost())
        self.assertEqual(
            [e["log_failure"].type for e in events if "log_failure" in e],
            [ZeroDivisionError],
        )
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(heard, ["first True", "broken", "last closed"])
        self.assertEqual(machine.events[-1], "disconnected")
        self.assertIsNone(self.successResultOf(closed))
        machine.notifyClosed(lambda m: heard.append("after"))
        self.assertEqual(heard[-1], "after")

    def test_manyCloseObservers(self) -> None:
        """However many wait for the close, every one hears (no recursion)."""
        machine, link, clock = connected(Recorder)
        waiting = [machine.whenClosed() for _ in range(20_000)]
        machine.connectionLost(lost())
        self.assertEqual([d for d in waiting if not d.called], [])

    def test_hookRaisingClosesWithInternalError(self) -> None:
        class Broken(Recorder):
            def onMessage(self, message: bytes) -> None:
                raise ZeroDivisionError("bug in a hook")

        machine, link, clock = connected(Broken)
        with capturedLogs() as events:
            machine.messageReceived(b"boom")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(
            (machine.state, link.errors, link.closing),
            ("closing", ["internal error"], True),
        )
        [event] = [e for e in events if "log_failure" in e]
        self.assertEqual(
            (event["state"], event["input"]), ("receiving", "messageReceived")
        )


# -- every pair: declared, or rejected ----------------------------------------

Driver = Callable[[ConnectionMachine], None]

ROUTES: dict[str, list[Driver]] = {
    "idle": [],
    "connected": [lambda m: m.connectionMade(RecordingLink())],
    "receiving": [
        lambda m: m.connectionMade(RecordingLink()),
        lambda m: m.messageReceived(b"Alice"),
    ],
    "closing": [lambda m: m.connectionMade(RecordingLink()), lambda m: m.close()],
    "closed": [
        lambda m: m.connectionMade(RecordingLink()),
        lambda m: m.connectionLost(lost()),
    ],
}

ARGUMENTS: dict[str, tuple[object, ...]] = {
    "connectionMade": (RecordingLink(),),
    "messageReceived": (b"Bob",),
    "badFrame": ("bad",),
    "failed": ("oops",),
    "connectionLost": (lost(),),
    "nameAccepted": ("Bob",),
    "nameRejected": ("bad name",),
    "nameRejectedTooOften": ("bad name",),
}


class EveryPairTests(SynchronousTestCase):
    """
    For each shipped server machine, each state the public API can reach, and
    each input: the input either takes its declared transition or is
    rejected, which is logged with state and input and closes the connection.
    """

    def checkMachine(self, machineClass: type[ConnectionMachine]) -> None:
        blueprint = machineClass.blueprint
        reachable = [s for s in blueprint.states if s in ROUTES]
        self.assertEqual(
            set(blueprint.states) - set(reachable), {"naming"} & set(blueprint.states)
        )
        for state in reachable:
            for inputName in blueprint.inputs:
                machine = machineClass(Clock())
                for step in ROUTES[state]:
                    step(machine)
                self.assertEqual(machine.state, state)
                with capturedLogs() as events:
                    getattr(machine, inputName)(*ARGUMENTS.get(inputName, ()))
                declared = blueprint.transitions.get((state, inputName))
                warnings = [e for e in events if e["log_level"].name == "warn"]
                if declared is not None:
                    self.assertEqual(warnings, [], (state, inputName))
                    if inputName not in ("messageReceived",):
                        self.assertEqual(
                            machine.state, declared.enter, (state, inputName)
                        )
                else:
                    [warning] = warnings
                    self.assertEqual(
                        (warning["state"], warning["input"]), (state, inputName)
                    )
                    onFailure = blueprint.transitions[state, "failed"]
                    self.assertEqual(machine.state, onFailure.enter)
                    if state in ("connected", "receiving", "closing"):
                        link = machine.link
                        assert isinstance(link, RecordingLink)
                        self.assertTrue(link.closing or link.aborted)

    def test_connectionMachine(self) -> None:
        self.checkMachine(ConnectionMachine)

    def test_echo(self) -> None:
        self.checkMachine(EchoMachine)

    def test_greeting(self) -> None:
        self.checkMachine(GreetingMachine)

    def test_greetingNaming(self) -> None:
        """``naming`` is only occupied while a name is judged: probe it there."""
        for inputName in GreetingMachine.blueprint.inputs:
            seen: list[str] = []

            class Probe(GreetingMachine):
                probe = inputName
                states = seen

                def _judgeName(self, message: bytes) -> None:
                    self.states.append(self.state)
                    getattr(self, self.probe)(*ARGUMENTS.get(self.probe, ()))

            machine, link, clock = connected(Probe)
            with capturedLogs() as events:
                machine.messageReceived(b"Bob")
            self.assertEqual(seen, ["naming"])
            declared = GreetingMachine.blueprint.transitions.get(("naming", inputName))
            warnings = [e for e in events if e["log_level"].name == "warn"]
            if declared is not None:
                self.assertEqual(warnings, [], inputName)
            else:
                [warning] = warnings
                self.assertEqual(
                    (warning["state"], warning["input"]), ("naming", inputName)
                )
                self.assertEqual(machine.state, "closing")
                self.assertEqual(link.errors, ["protocol violation"])
