"""
What a client does to get a connection (`DialingMachine`): inputs and
public building blocks, no states of its own, which a lifecycle's states
(and a subclass's) put together.
"""

from __future__ import annotations

from twisted.internet.error import ConnectionRefusedError
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.client import ClientMachine
from statemachines.dialing import DialingMachine
from statemachines.engine import Machine, inherited
from statemachines.engine.drawing import chartOf

from .helpers import RecordingLink, lost, makeClient, refused


class Handshaking(ClientMachine):
    """A client with a handshake state of its own, built from the blocks."""

    _machine = Machine()
    parent = inherited(_machine, ClientMachine)

    @_machine.state(within=parent.open)
    def handshaking(self) -> None:
        "The server's hello is awaited."

    parent.connected.upon(parent.messageReceived, enter=handshaking, outputs=[])
    handshaking.upon(
        parent.messageReceived,
        enter=parent.receiving,
        outputs=[parent.countSuccess, parent.onMessage],
    )
    handshaking.upon(  # no hello: a failed attempt
        parent.connectionLost,
        enter=parent.reconnecting,
        outputs=[parent.disconnected, parent.countFailure, parent.scheduleRetry],
    )


class DeclarationTests(SynchronousTestCase):
    def test_noStatesOfItsOwn(self) -> None:
        """The lifecycle declares the states: the client's diagram has no parent."""
        self.assertEqual(list(DialingMachine.blueprint.states), [])
        for name in ("start", "stop", "connectionFailed", "attemptsExhausted"):
            self.assertIn(name, DialingMachine.blueprint.inputs)
        self.assertIsNone(chartOf(ClientMachine).parent)


class BuildingBlockTests(SynchronousTestCase):
    def test_aSubclassStateCountsAFailedAttempt(self) -> None:
        machine, dialer, clock = makeClient(Handshaking)
        machine.start()
        link = dialer.succeed()
        machine.messageReceived(b"banner")
        self.assertEqual(machine.state, "handshaking")
        with capturedLogs():
            machine.connectionLost(lost())
        self.assertEqual((machine.state, machine.failedAttempts), ("reconnecting", 1))
        self.assertIsNot(machine.link, link)
        [retry] = clock.getDelayedCalls()
        self.assertEqual(retry.getTime(), 2.0)  # retryPolicy(1)

    def test_aSubclassStateCountsASuccess(self) -> None:
        machine, dialer, clock = makeClient(Handshaking)
        machine.start()
        with capturedLogs():
            dialer.fail(refused())
        clock.advance(2)
        dialer.succeed()
        machine.messageReceived(b"banner")
        machine.messageReceived(b"hello")
        self.assertEqual((machine.state, machine.failedAttempts), ("receiving", 0))

    def test_connectDeadlineFailsTheAttempt(self) -> None:
        machine, dialer, clock = makeClient(replyTimeout=5)
        waiter = machine.whenConnected(failAfterFailures=1)
        machine.start()
        with capturedLogs():
            clock.advance(5)
        self.assertEqual((dialer.cancels, machine.state), (1, "reconnecting"))
        self.assertEqual(
            str(self.failureResultOf(waiter, TimeoutError).value),
            "no connection within 5 s",
        )

    def test_aConnectionMadeAfterStopIsAbandoned(self) -> None:
        machine, dialer, clock = makeClient()
        machine.start()
        machine.stop()
        self.assertEqual(dialer.cancels, 1)
        late = RecordingLink()
        machine.connectionMade(late)  # the endpoint connected anyway
        self.assertTrue(late.aborted)
        self.assertEqual(machine.state, "stopped")

    def test_givingUpFailsTheWaitersWithTheLastFailure(self) -> None:
        machine, dialer, clock = makeClient(maxAttempts=1)
        waiter = machine.whenConnected()
        stopped = machine.whenStopped()
        machine.start()
        with capturedLogs():
            dialer.fail(refused())
        self.failureResultOf(waiter, ConnectionRefusedError)
        self.successResultOf(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
