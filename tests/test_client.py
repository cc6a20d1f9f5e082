"""
Client machines with a fake dialer and a Clock: the reconnecting lifecycle,
echo request matching across reconnections, and the greeting handshake.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from statemachines.client import ClientMachine
from statemachines.echo import ClientStopped, EchoClientMachine
from statemachines.greeting import (
    GreetingClientMachine,
    GreetingRefused,
)
from statemachines.transport import NO_LINK

from .helpers import RecordingDialer, RecordingLink, lost


def make(
    cls: type[ClientMachine] = ClientMachine, **kw: Any
) -> tuple[Any, RecordingDialer, Clock]:
    dialer, clock = RecordingDialer(), Clock()
    machine = cls(dialer, clock, retryPolicy=lambda n: 2.0 * n, **kw)
    return machine, dialer, clock


def refused() -> Failure:
    return Failure(ConnectionRefusedError())


class LifecycleTests(SynchronousTestCase):
    def test_startDials(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        self.assertEqual((machine.state, dialer.dials), ("connecting", 1))
        machine.start()  # already started
        self.assertEqual(dialer.dials, 1)

    def test_connectAndReceive(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        self.assertEqual(machine.state, "connected")
        machine.messageReceived(b"hi")
        self.assertEqual(machine.state, "receiving")
        machine.send(b"out")
        self.assertEqual(link.sent, [b"out"])

    def test_failedAttemptsBackOffAndReset(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        with capturedLogs():
            machine.connectionFailed(refused())
        self.assertEqual(machine.state, "reconnecting")
        [call] = clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 2.0)
        clock.advance(2.0)
        self.assertEqual((machine.state, dialer.dials), ("connecting", 2))
        with capturedLogs():
            machine.connectionFailed(refused())
        [call] = clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 2.0 + 4.0)
        clock.advance(4.0)
        machine.connectionMade(RecordingLink())
        self.assertEqual(machine.failedAttempts, 0)
        machine.connectionLost(lost())  # a loss is not a failed attempt:
        [call] = clock.getDelayedCalls()  # retryPolicy(0), as ClientService
        self.assertEqual(call.getTime(), clock.seconds() + 0.0)

    def test_unexpectedLossReconnects(self) -> None:
        for messages in ([], [b"m"]):
            machine, dialer, clock = make()
            machine.start()
            machine.connectionMade(RecordingLink())
            for m in messages:
                machine.messageReceived(m)
            machine.connectionLost(lost())
            self.assertEqual(machine.state, "reconnecting")
            self.assertIs(machine.link, NO_LINK)
            clock.advance(2.0)
            self.assertEqual((machine.state, dialer.dials), ("connecting", 2))

    def test_stopWhileConnectedDoesNotReconnect(self) -> None:
        machine, dialer, clock = make(closeTimeout=3)
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        stopped = machine.whenStopped()
        machine.stop()
        self.assertEqual((machine.state, link.closing), ("closing", True))
        machine.messageReceived(b"late reply")  # still delivered while closing
        self.assertNoResult(stopped)
        machine.connectionLost(lost())
        self.assertEqual(machine.state, "stopped")
        self.successResultOf(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(dialer.dials, 1)

    def test_stopAbortsAfterCloseTimeout(self) -> None:
        machine, dialer, clock = make(closeTimeout=3)
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        machine.stop()
        clock.advance(3)
        self.assertTrue(link.aborted)
        machine.connectionLost(lost())
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))

    def test_stopWhileConnectingCancels(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        machine.stop()
        self.assertEqual((machine.state, dialer.cancels), ("stopped", 1))
        # The cancelled attempt's outcome arrives late, either way:
        machine.connectionFailed(refused())
        late = RecordingLink()
        machine.connectionMade(late)
        self.assertEqual(machine.state, "stopped")
        self.assertTrue(late.aborted)

    def test_stopWhileReconnectingCancelsTimer(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        with capturedLogs():
            machine.connectionFailed(refused())
        machine.stop()
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))
        clock.advance(100)
        self.assertEqual(dialer.dials, 1)

    def test_stopBeforeStartAndTwice(self) -> None:
        machine, dialer, clock = make()
        machine.stop()
        self.successResultOf(machine.whenStopped())
        machine.stop()
        self.assertEqual((machine.state, dialer.dials), ("stopped", 0))

    def test_restartAfterStop(self) -> None:
        machine, dialer, clock = make()
        machine.stop()
        machine.start()
        self.assertEqual((machine.state, dialer.dials), ("connecting", 1))

    def test_badFrameAbortsThenReconnects(self) -> None:
        machine, dialer, clock = make()
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        with capturedLogs() as events:
            machine.badFrame("garbage")
        self.assertTrue(link.aborted)
        self.assertEqual([e["reason"] for e in events if "reason" in e], ["garbage"])
        machine.connectionLost(lost())
        self.assertEqual(machine.state, "reconnecting")

    def test_rejectedInputLoggedNotRaised(self) -> None:
        machine, dialer, clock = make()
        with capturedLogs() as events:
            machine.timeout()  # no timer can be pending in idle
        [warning] = [e for e in events if e["log_level"].name == "warn"]
        self.assertEqual((warning["state"], warning["input"]), ("idle", "timeout"))
        self.assertEqual(machine.state, "idle")


class Loop:
    """An echo server in a test: what the machine sends comes straight back."""

    def __init__(self, machine: EchoClientMachine) -> None:
        self.machine = machine
        self.link = RecordingLink()
        machine.connectionMade(self.link)

    def echoAll(self) -> None:
        sent, self.link.sent = self.link.sent, []
        for m in sent:
            self.machine.messageReceived(m)


class EchoClientTests(SynchronousTestCase):
    def test_repliesInOrder(self) -> None:
        machine, dialer, clock = make(EchoClientMachine)
        machine.start()
        loop = Loop(machine)
        first = machine.echo([b"a", b"b"])
        second = machine.echo([b"c"])
        self.assertEqual(loop.link.sent, [b"a", b"b", b"c"])
        loop.echoAll()
        self.assertEqual(self.successResultOf(first), [b"a", b"b"])
        self.assertEqual(self.successResultOf(second), [b"c"])
        self.assertEqual(self.successResultOf(machine.echo([])), [])

    def test_queuedUntilConnected(self) -> None:
        machine, dialer, clock = make(EchoClientMachine)
        d = machine.echo([b"early"])
        machine.start()
        loop = Loop(machine)
        self.assertEqual(loop.link.sent, [b"early"])
        loop.echoAll()
        self.assertEqual(self.successResultOf(d), [b"early"])

    def test_unansweredResentAfterReconnect(self) -> None:
        machine, dialer, clock = make(EchoClientMachine)
        machine.start()
        loop = Loop(machine)
        d = machine.echo([b"1", b"2", b"3"])
        machine.messageReceived(b"1")
        machine.connectionLost(lost())
        d2 = machine.echo([b"4"])
        clock.advance(2.0)
        loop = Loop(machine)
        self.assertEqual(loop.link.sent, [b"2", b"3", b"4"])
        loop.echoAll()
        self.assertEqual(self.successResultOf(d), [b"1", b"2", b"3"])
        self.assertEqual(self.successResultOf(d2), [b"4"])

    def test_rawRepliesCutByLength(self) -> None:
        machine, dialer, clock = make(EchoClientMachine, boundaries=False)
        machine.start()
        Loop(machine)
        d = machine.echo([b"abc", b"", b"defg"])
        machine.messageReceived(b"ab")
        machine.messageReceived(b"cde")
        self.assertNoResult(d)
        machine.messageReceived(b"fg")
        self.assertEqual(self.successResultOf(d), [b"abc", b"", b"defg"])

    def test_stopFailsOutstanding(self) -> None:
        machine, dialer, clock = make(EchoClientMachine)
        machine.start()
        Loop(machine)
        d = machine.echo([b"never answered"])
        machine.stop()
        machine.connectionLost(lost())
        self.failureResultOf(d, ClientStopped)
        self.failureResultOf(machine.echo([b"after"]), ClientStopped)

    def test_unsolicitedReplyIsAnError(self) -> None:
        machine, dialer, clock = make(EchoClientMachine)
        machine.start()
        loop = Loop(machine)
        with capturedLogs():
            machine.messageReceived(b"who asked?")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertTrue(loop.link.aborted)


class GreetingClientTests(SynchronousTestCase):
    def connect(self) -> tuple[GreetingClientMachine, RecordingLink, Clock]:
        machine, dialer, clock = make(GreetingClientMachine, name="Alice")
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        return machine, link, clock

    def test_greeted(self) -> None:
        machine, link, clock = self.connect()
        greeted = machine.whenGreeted()
        echoed = machine.echo([b"later"])
        self.assertEqual(link.sent, [])  # nothing before the banner
        machine.messageReceived(b"Hello! What is your name?")
        self.assertEqual((machine.state, link.sent), ("naming", [b"Alice"]))
        machine.messageReceived(b"Hello, Alice!")
        self.assertEqual(self.successResultOf(greeted), "Hello, Alice!")
        self.assertEqual(link.sent, [b"Alice", b"later"])
        machine.messageReceived(b"later")
        self.assertEqual(self.successResultOf(echoed), [b"later"])
        self.assertEqual(self.successResultOf(machine.whenGreeted()), "Hello, Alice!")

    def test_refusedStops(self) -> None:
        machine, link, clock = self.connect()
        greeted = machine.whenGreeted()
        machine.messageReceived(b"Hello! What is your name?")
        with capturedLogs():
            machine.messageReceived(b"Error: name is empty")
        failure = self.failureResultOf(greeted, GreetingRefused)
        self.assertEqual(str(failure.value), "name is empty")
        self.assertEqual((machine.state, link.closing), ("quitting", True))
        machine.messageReceived(b"What is your name?")
        machine.connectionLost(lost())
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))

    def test_wrongBannerDropsTheConnection(self) -> None:
        machine, link, clock = self.connect()
        with capturedLogs():
            machine.messageReceived(b"SSH-2.0-OpenSSH")
        self.assertEqual(len(self.flushLoggedErrors()), 1)
        self.assertTrue(link.aborted)

    def test_greetsAgainAfterReconnect(self) -> None:
        machine, link, clock = self.connect()
        machine.messageReceived(b"Hello! What is your name?")
        machine.connectionLost(lost())
        clock.advance(2.0)
        link2 = RecordingLink()
        machine.connectionMade(link2)
        machine.messageReceived(b"Hello! What is your name?")
        self.assertEqual(link2.sent, [b"Alice"])
        machine.messageReceived(b"Hello, Alice!")
        self.assertEqual(self.successResultOf(machine.whenGreeted()), "Hello, Alice!")
