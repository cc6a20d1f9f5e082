"""
The client lifecycle with a fake dialer and a Clock: connecting,
reconnecting, stopping, and the scenarios of Twisted's own ClientService
tests (twisted/application/test/test_internet.py, ClientServiceTests),
ported to our client machine through the public API only.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from protocols.adapter import MachineAdapter
from statemachines.client import ClientMachine
from statemachines.echo import ClientStopped, EchoClientMachine
from statemachines.framing import LineFramer
from statemachines.greeting import GreetingClientMachine
from statemachines.transport import NO_LINK

from .helpers import RecordingDialer, RecordingLink, lost, makeClient, refused

RETRY = 2.0


class LifecycleTests(SynchronousTestCase):
    def test_startDials(self) -> None:
        machine, dialer, clock = makeClient()
        machine.start()
        self.assertEqual((machine.state, dialer.dials), ("connecting", 1))
        machine.start()  # already started
        self.assertEqual(dialer.dials, 1)

    def test_connectAndReceive(self) -> None:
        machine, dialer, clock = makeClient()
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        self.assertEqual(machine.state, "connected")
        machine.messageReceived(b"hi")
        self.assertEqual(machine.state, "receiving")
        machine.send(b"out")
        self.assertEqual(link.sent, [b"out"])

    def test_failedAttemptsBackOffAndReset(self) -> None:
        machine, dialer, clock = makeClient()
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
        self.assertEqual(machine.failedAttempts, 2)  # nothing useful came yet
        machine.messageReceived(b"hello")  # the first exchange: attempts succeeded
        self.assertEqual(machine.failedAttempts, 0)
        machine.connectionLost(lost())  # a loss after it is not a failed attempt:
        [call] = clock.getDelayedCalls()  # retryPolicy(0), as ClientService
        self.assertEqual(call.getTime(), clock.seconds() + 0.0)

    def test_unexpectedLossReconnects(self) -> None:
        for messages in ([], [b"m"]):
            machine, dialer, clock = makeClient()
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
        machine, dialer, clock = makeClient(closeTimeout=3)
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
        machine, dialer, clock = makeClient(closeTimeout=3)
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        machine.stop()
        clock.advance(3)
        self.assertTrue(link.aborted)
        machine.connectionLost(lost())
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))

    def test_stopWhileConnectingCancels(self) -> None:
        machine, dialer, clock = makeClient()
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
        machine, dialer, clock = makeClient()
        machine.start()
        with capturedLogs():
            machine.connectionFailed(refused())
        machine.stop()
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))
        clock.advance(100)
        self.assertEqual(dialer.dials, 1)

    def test_stopBeforeStartAndTwice(self) -> None:
        machine, dialer, clock = makeClient()
        machine.stop()
        self.successResultOf(machine.whenStopped())
        machine.stop()
        self.assertEqual((machine.state, dialer.dials), ("stopped", 0))

    def test_restartAfterStop(self) -> None:
        machine, dialer, clock = makeClient()
        machine.stop()
        machine.start()
        self.assertEqual((machine.state, dialer.dials), ("connecting", 1))

    def test_badFrameStopsTheClientForGood(self) -> None:
        """A server that breaks the protocol will not mend it on a reconnect."""
        machine, dialer, clock = makeClient()
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        stopped = machine.whenStopped()
        with capturedLogs() as events:
            machine.badFrame("line longer than 16384 bytes")
        self.assertTrue(link.aborted)
        self.assertEqual(
            machine.quitReason,
            "the server broke the protocol: line longer than 16384 bytes",
        )
        [event] = [e for e in events if e["log_level"].name == "error"]
        self.assertIn("broke the protocol", event["why"])
        machine.connectionLost(lost())
        self.assertEqual(machine.state, "stopped")
        self.successResultOf(stopped)
        self.assertEqual((dialer.dials, clock.getDelayedCalls()), (1, []))

    def test_failingHookStopsTheClientNamingTheError(self) -> None:
        class Picky(ClientMachine):
            def onMessage(self, message: bytes) -> None:
                raise ValueError(f"did not expect {message!r}")

        machine, dialer, clock = makeClient(Picky)
        machine.start()
        machine.connectionMade(RecordingLink())
        with capturedLogs():
            machine.messageReceived(b"junk")
        self.flushLoggedErrors(ValueError)
        self.assertEqual(
            machine.quitReason, "the server broke the protocol: did not expect b'junk'"
        )
        self.assertEqual(machine.state, "closing")

    def test_rejectedInputLoggedNotRaised(self) -> None:
        machine, dialer, clock = makeClient()
        with capturedLogs() as events:
            machine.timeout()  # no timer can be pending in idle
        [warning] = [e for e in events if e["log_level"].name == "warn"]
        self.assertEqual((warning["state"], warning["input"]), ("idle", "timeout"))
        self.assertEqual(machine.state, "idle")


class Prepared(ClientMachine):
    """Records when onConnected (ClientService's prepareConnection) runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared: list[object] = []

    def onConnected(self) -> None:
        self.prepared.append(self.link)


class ClientServiceParityTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.dialer = RecordingDialer()
        self.client = Prepared(self.dialer, self.clock, retryPolicy=lambda n: RETRY)
        self.links: list[RecordingLink] = []

    def connect(self) -> RecordingLink:
        link = RecordingLink()
        self.links.append(link)
        self.client.connectionMade(link)
        return link

    def fail(self) -> Failure:  # type: ignore[override]
        failure = Failure(ConnectionRefusedError())
        with capturedLogs():
            self.client.connectionFailed(failure)
        return failure

    def stop(self) -> Any:
        d = self.client.whenStopped()
        self.client.stop()
        return d

    def test_startService(self) -> None:
        self.client.start()
        self.assertEqual(self.dialer.dials, 1)

    def test_stopServiceWhileConnected(self) -> None:
        self.client.start()
        link = self.connect()
        stopped = self.stop()
        self.assertNoResult(stopped)
        self.assertTrue(link.closing)
        self.client.connectionLost(lost())
        self.successResultOf(stopped)

    def test_startServiceWaitsForDisconnect(self) -> None:
        self.client.start()
        self.connect()
        stopped = self.stop()
        self.client.start()
        self.assertNoResult(stopped)
        self.assertEqual(self.dialer.dials, 1)
        self.client.connectionLost(lost())
        self.assertEqual(self.dialer.dials, 2)
        self.successResultOf(stopped)

    def test_startServiceWhileStopping(self) -> None:
        self.client.start()
        first = self.connect()
        stopped = self.stop()
        nextConnection = self.client.whenConnected()
        self.assertNoResult(nextConnection)
        self.client.start()
        self.assertNoResult(nextConnection)
        self.assertNoResult(stopped)
        self.assertTrue(first.closing)
        self.client.connectionLost(lost())
        self.successResultOf(stopped)
        second = self.connect()
        self.assertIs(self.successResultOf(nextConnection), second)
        self.assertNoResult(self.stop())

    def test_startServiceWhileStopped(self) -> None:
        self.successResultOf(self.stop())
        self.failureResultOf(self.client.whenConnected(), CancelledError)
        self.client.start()
        link = self.connect()
        self.assertIs(self.successResultOf(self.client.whenConnected()), link)

    def test_stopServiceWhileRetrying(self) -> None:
        self.client.start()
        self.fail()
        self.successResultOf(self.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopServiceWhileConnecting(self) -> None:
        self.client.start()
        self.successResultOf(self.stop())
        self.assertEqual(self.dialer.cancels, 1)

    def test_clientConnected(self) -> None:
        self.client.start()
        link = self.connect()
        self.assertIs(self.successResultOf(self.client.whenConnected()), link)
        self.assertEqual(self.client.prepared, [link])

    def test_clientConnectionFailed(self) -> None:
        self.client.start()
        self.fail()
        self.assertEqual(self.dialer.dials, 1)
        self.clock.advance(RETRY)
        self.assertEqual(self.dialer.dials, 2)

    def test_clientConnectionLost(self) -> None:
        self.client.start()
        self.connect()
        self.client.connectionLost(lost())
        later = self.client.whenConnected()
        self.assertNoResult(later)
        self.clock.advance(RETRY)
        second = self.connect()
        self.assertIs(self.successResultOf(later), second)

    def test_clientConnectionLostWhileStopping(self) -> None:
        self.client.start()
        self.connect()
        stopped = self.stop()
        self.client.connectionLost(lost())
        self.failureResultOf(self.client.whenConnected(), CancelledError)
        self.successResultOf(stopped)

    def test_startTwice(self) -> None:
        self.client.start()
        self.client.start()
        self.assertEqual(self.dialer.dials, 1)

    def test_whenConnectedLater(self) -> None:
        self.client.start()
        d = self.client.whenConnected()
        self.assertNoResult(d)
        link = self.connect()
        self.assertIs(self.successResultOf(d), link)

    def test_whenConnectedFails(self) -> None:
        self.client.start()
        a0 = self.client.whenConnected()
        a1 = self.client.whenConnected(failAfterFailures=1)
        a2 = self.client.whenConnected(failAfterFailures=2)
        a3 = self.client.whenConnected(failAfterFailures=3)
        f1 = self.fail()
        self.assertNoResult(a0)
        self.assertIs(self.failureResultOf(a1, ConnectionRefusedError), f1)
        self.assertNoResult(a2)
        self.clock.advance(RETRY)
        self.assertEqual(self.dialer.dials, 2)
        f2 = self.fail()
        self.assertIs(self.failureResultOf(a2, ConnectionRefusedError), f2)
        self.assertNoResult(a3)
        self.clock.advance(RETRY)
        link = self.connect()
        self.assertIs(self.successResultOf(a0), link)
        self.assertIs(self.successResultOf(a3), link)
        a4 = self.client.whenConnected(failAfterFailures=1)
        self.assertIs(self.successResultOf(a4), link)

    def test_whenConnectedStopService(self) -> None:
        self.client.start()
        waiters = [
            self.client.whenConnected(),
            self.client.whenConnected(),
            self.client.whenConnected(failAfterFailures=1),
        ]
        self.stop()
        self.clock.advance(RETRY)
        for d in waiters:
            self.failureResultOf(d, CancelledError)

    def test_retryCancelled(self) -> None:
        self.client.start()
        self.fail()
        stopped = self.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.successResultOf(stopped)

    def test_stopServiceBeforeStartService(self) -> None:
        self.successResultOf(self.stop())

    def test_whenConnectedErrbacksOnStopService(self) -> None:
        self.client.start()
        d = self.client.whenConnected()
        self.stop()
        self.failureResultOf(d, CancelledError)

    def test_stopServiceWhileDisconnecting(self) -> None:
        self.client.start()
        self.connect()
        first, second = self.stop(), self.stop()
        self.client.connectionLost(lost())
        self.successResultOf(first)
        self.successResultOf(second)

    def test_stopServiceWhileRestarting(self) -> None:
        self.client.start()
        self.connect()
        first = self.stop()
        self.client.start()
        second = self.stop()
        self.client.connectionLost(lost())
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual((self.client.state, self.dialer.dials), ("stopped", 1))

    def test_stopServiceOnStoppedService(self) -> None:
        self.assertIsNone(self.successResultOf(self.stop()))
        self.assertIsNone(self.successResultOf(self.stop()))

    def test_prepareConnectionCalledOnReconnect(self) -> None:
        self.client.start()
        first = self.connect()
        self.client.connectionLost(lost())
        self.clock.advance(RETRY)
        second = self.connect()
        self.assertEqual(self.client.prepared, [first, second])


class BeyondClientServiceTests(SynchronousTestCase):
    def test_maxAttemptsGivesUp(self) -> None:
        clock, dialer = Clock(), RecordingDialer()
        client = ClientMachine(dialer, clock, retryPolicy=lambda n: 1.0, maxAttempts=3)
        client.start()
        waiter = client.whenConnected()
        stopped = client.whenStopped()
        failures = []
        with capturedLogs() as events:
            for _ in range(3):
                failures.append(Failure(ConnectionRefusedError()))
                client.connectionFailed(failures[-1])
                clock.advance(1.0)
        self.assertEqual(dialer.dials, 3)
        self.assertEqual(client.state, "stopped")
        self.assertIs(
            self.failureResultOf(waiter, ConnectionRefusedError), failures[-1]
        )
        self.successResultOf(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertTrue(any("giving up" in e["log_format"] for e in events))

    def test_restartResetsTheCount(self) -> None:
        """A client started again after giving up has all its attempts again."""
        clock, dialer = Clock(), RecordingDialer()
        client = ClientMachine(dialer, clock, retryPolicy=lambda n: 1.0, maxAttempts=2)
        client.start()
        with capturedLogs():
            for _ in range(2):
                client.connectionFailed(Failure(ConnectionRefusedError()))
                clock.advance(1.0)
            self.assertEqual(client.state, "stopped")
            client.start()
            client.connectionFailed(Failure(ConnectionRefusedError()))
        self.assertEqual((client.state, client.failedAttempts), ("reconnecting", 1))

    def test_usefulExchangeResetsTheCount(self) -> None:
        clock, dialer = Clock(), RecordingDialer()
        client = ClientMachine(dialer, clock, retryPolicy=lambda n: 1.0, maxAttempts=2)
        client.start()
        with capturedLogs():
            client.connectionFailed(Failure(ConnectionRefusedError()))
            clock.advance(1.0)
            client.connectionMade(RecordingLink())
            client.messageReceived(b"a reply")
            client.connectionLost(lost())
            clock.advance(0.0)
            client.connectionFailed(Failure(ConnectionRefusedError()))
        self.assertEqual(client.state, "reconnecting")

    def test_serverThatClosesAtOnceUsesUpTheAttempts(self) -> None:
        """Connections that bring nothing are failed attempts: no endless loop."""
        clock, dialer = Clock(), RecordingDialer()
        client = ClientMachine(dialer, clock, retryPolicy=lambda n: 1.0, maxAttempts=3)
        client.start()
        with capturedLogs():
            for _ in range(3):
                client.connectionMade(RecordingLink())
                client.connectionLost(lost())
                clock.advance(1.0)
        self.assertEqual((client.state, dialer.dials), ("stopped", 3))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_noDelayedCallOnceStoppedFromAnyState(self) -> None:
        routes = {
            "idle": [],
            "connecting": ["start"],
            "connected": ["start", "connect"],
            "reconnecting": ["start", "refuse"],
            "closing": ["start", "connect", "stop"],
            "restarting": ["start", "connect", "stop", "start"],
        }
        for state, steps in routes.items():
            clock = Clock()
            client = ClientMachine(RecordingDialer(), clock, retryPolicy=lambda n: 1.0)
            with capturedLogs():
                for step in steps:
                    if step == "connect":
                        client.connectionMade(RecordingLink())
                    elif step == "refuse":
                        client.connectionFailed(Failure(ConnectionRefusedError()))
                    else:
                        getattr(client, step)()
                self.assertEqual(client.state, state)
                client.stop()
                if client.state == "closing":
                    client.connectionLost(lost())
            self.assertEqual(
                (client.state, clock.getDelayedCalls()), ("stopped", []), state
            )


class StopsOnFirstMessage(ClientMachine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heard: list[bytes] = []

    def onMessage(self, message: bytes) -> None:
        self.heard.append(message)
        self.stop()


class StopMidChunkTests(SynchronousTestCase):
    def test_linesAfterAStopInTheSameChunkAreNotDelivered(self) -> None:
        machine = StopsOnFirstMessage(RecordingDialer(), Clock())
        machine.start()
        adapter = MachineAdapter(machine, LineFramer())
        adapter.makeConnection(StringTransport())
        adapter.dataReceived(b"one\r\ntwo\r\nthree\r\n")
        self.assertEqual(machine.heard, [b"one"])
        self.assertEqual(machine.state, "closing")


class DeadlineTests(SynchronousTestCase):
    """Every connection attempt and every awaited reply has a deadline."""

    def test_connectionAttemptTimesOut(self) -> None:
        machine, dialer, clock = makeClient(replyTimeout=5, maxAttempts=1)
        machine.start()
        stopped = machine.whenStopped()
        with capturedLogs():
            clock.advance(5)
        self.assertEqual(dialer.cancels, 1)
        self.assertEqual(machine.state, "stopped")
        self.successResultOf(stopped)
        assert machine.lastFailure is not None
        self.assertEqual(
            machine.lastFailure.getErrorMessage(), "no connection within 5 s"
        )

    def test_echoReplyTimesOut(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine, replyTimeout=3)
        machine.start()
        link = dialer.succeed()
        d = machine.echo([b"hi", b"there"])
        clock.advance(2)
        machine.messageReceived(b"hi")  # one reply: a fresh deadline for the next
        clock.advance(2.9)
        self.assertEqual(machine.state, "receiving")
        with capturedLogs():
            clock.advance(0.1)
        self.assertTrue(link.aborted)  # type: ignore[attr-defined]
        self.assertEqual(
            machine.quitReason,
            "the server sent nothing for 3 s while we waited for a reply to b'there'",
        )
        machine.connectionLost(lost())
        self.assertEqual(machine.state, "stopped")
        self.failureResultOf(d, ClientStopped)

    def test_answeredEchoLeavesNoDeadline(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine, replyTimeout=3)
        machine.start()
        dialer.succeed()
        machine.echo([b"hi"])
        machine.messageReceived(b"hi")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_greetingWaitsForTheBannerAndTheVerdict(self) -> None:
        for replies, waitedFor in (
            ([], "the banner"),
            ([b"Hello! What is your name?"], "the verdict on our name"),
        ):
            machine, dialer, clock = makeClient(
                GreetingClientMachine, name="Ada", replyTimeout=4
            )
            machine.start()
            dialer.succeed()
            for reply in replies:
                machine.messageReceived(reply)
            with capturedLogs():
                clock.advance(4)
            self.assertEqual(machine.state, "closing")
            assert machine.quitReason is not None
            self.assertTrue(machine.quitReason.endswith(f"waited for {waitedFor}"))

    def test_noDeadlineWhenOff(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine, replyTimeout=0)
        machine.start()
        dialer.succeed()
        machine.echo([b"hi"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_lateReplyWhileClosingKeepsTheCloseDeadline(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine, closeTimeout=10)
        machine.start()
        link = dialer.succeed()
        machine.echo([b"hi"])
        machine.stop()
        machine.messageReceived(b"hi")  # answered while closing
        with capturedLogs():
            clock.advance(10)
        self.assertTrue(link.aborted)  # type: ignore[attr-defined]


class HookAndRunTests(SynchronousTestCase):
    """Found by attacking: the lifecycle survives what hooks and dialers do."""

    def test_failingOnDisconnectedStillStopsCleanly(self) -> None:
        class Fragile(EchoClientMachine):
            def onDisconnected(self, reason: object) -> None:
                raise RuntimeError("hook bug")

        machine, dialer, clock = makeClient(Fragile)
        machine.start()
        dialer.succeed()
        d = machine.echo([b"x"])
        stopped = machine.whenStopped()
        machine.stop()
        with capturedLogs():
            machine.connectionLost(lost())
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(machine.state, "stopped")
        self.successResultOf(stopped)
        self.failureResultOf(d, ClientStopped)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_failingOnDisconnectedStillReconnects(self) -> None:
        class Fragile(ClientMachine):
            def onDisconnected(self, reason: object) -> None:
                raise RuntimeError("hook bug")

        machine, dialer, clock = makeClient(Fragile)
        machine.start()
        dialer.succeed()
        machine.messageReceived(b"useful")
        with capturedLogs():
            machine.connectionLost(lost())
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(machine.state, "reconnecting")
        clock.advance(0)
        self.assertEqual(dialer.dials, 2)

    def test_quitReasonBelongsToOneRun(self) -> None:
        machine, dialer, clock = makeClient(replyTimeout=0)
        machine.start()
        dialer.succeed()
        with capturedLogs():
            machine.badFrame("too long")
        machine.connectionLost(lost())
        self.assertIsNotNone(machine.quitReason)
        machine.start()
        self.assertIsNone(machine.quitReason)

    def test_dialerThatRaisesCountsAsFailedAttempts(self) -> None:
        class Broken:
            def dial(self, machine: object) -> object:
                raise OSError("no route")

        clock = Clock()
        machine = ClientMachine(
            Broken(), clock, retryPolicy=lambda n: 1.0, maxAttempts=3
        )  # type: ignore[arg-type]
        waiter = machine.whenConnected(failAfterFailures=1)
        with capturedLogs():
            machine.start()
            clock.advance(1)
            clock.advance(1)
        self.flushLoggedErrors(OSError)
        self.assertEqual(machine.state, "stopped")
        self.failureResultOf(waiter, ConnectionError)
        self.assertEqual(clock.getDelayedCalls(), [])
