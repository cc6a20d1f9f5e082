"""
What every machine with a connection shares (TransportMachine): the error
policy (a rejected input or a failing hook is logged and fails the
connection; when even that cannot be handled, the connection is aborted,
never looping), and one ``send()``.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from protocols.adapter import MachineAdapter
from protocols.client import ClientAdapter
from statemachines.client import ClientMachine
from statemachines.connection import ConnectionMachine
from statemachines.echo import EchoMachine
from statemachines.framing import LineFramer
from statemachines.transport import TransportMachine

from .helpers import RecordingDialer, connected


class LastResortTests(SynchronousTestCase):
    def test_stateWithoutFailedAborts(self) -> None:
        """A subclass state that cannot even fail: log, abort, never loop."""
        from automat import MethodicalMachine

        from statemachines import inherited, rejects

        class Limbo(ConnectionMachine):
            _machine = MethodicalMachine()
            parent = inherited(_machine, ConnectionMachine)

            @_machine.state()
            def limbo(self) -> None:
                "Accepts nothing at all."

            parent.connected.upon(parent.messageReceived, enter=limbo, outputs=[])
            # Deliberately deaf (a state that ignores these is otherwise refused):
            deaf = rejects(limbo, [parent.connectionLost, parent.timeout], "limbo")

        machine, link, clock = connected(Limbo)
        machine.messageReceived(b"in")
        with capturedLogs() as events:
            machine.messageReceived(b"again")
        self.assertEqual(
            [(e["log_level"].name, e["input"]) for e in events],
            [("warn", "messageReceived"), ("error", "failed")],
        )
        self.assertTrue(link.aborted)
        self.assertEqual(machine.state, "limbo")


class SendContractTests(SynchronousTestCase):
    """
    One ``send()`` for servers and clients: with no connection (before it is
    made, once it is gone, while a client reconnects) the message is dropped
    with a warning naming the machine, and nothing is raised, as Twisted's
    ``transport.write`` drops what is written once the connection is gone.
    """

    def assertDropped(
        self, machine: TransportMachine, send: Callable[[], None]
    ) -> None:
        with capturedLogs() as events:
            send()  # raises nothing
        [event] = events
        self.assertEqual(
            (event["log_level"], event["machine"], event["length"]),
            (LogLevel.warn, machine, len(b"late")),
        )
        self.assertIn("no connection", formatEvent(event))

    def test_oneSendForServersAndClients(self) -> None:
        self.assertIs(ConnectionMachine.send, TransportMachine.send)
        self.assertIs(ClientMachine.send, TransportMachine.send)

    def test_serverLateSendAfterTheConnectionIsGone(self) -> None:
        clock = Clock()
        machine = EchoMachine(clock)
        adapter, transport = MachineAdapter(machine, LineFramer()), StringTransport()
        adapter.makeConnection(transport)
        machine.send(b"hi")
        machine.close()
        adapter.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(machine.state, "closed")
        clock.callLater(1, machine.send, b"late")  # a timer it forgot
        self.assertDropped(machine, lambda: clock.advance(1))
        self.assertEqual(transport.value(), b"hi\r\n")

    def test_serverSendBeforeTheConnection(self) -> None:
        machine = ConnectionMachine(Clock())
        self.assertDropped(machine, lambda: machine.send(b"late"))

    def test_clientLateSendWhileReconnecting(self) -> None:
        dialer, clock = RecordingDialer(), Clock()
        machine = ClientMachine(dialer, clock, retryPolicy=lambda n: 5.0)
        machine.start()
        adapter = ClientAdapter(machine, LineFramer(), dialer.attempts[-1])
        transport = StringTransport()
        with capturedLogs():
            adapter.makeConnection(transport)  # fires the dial: connected
            machine.send(b"hi")
            adapter.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(machine.state, "reconnecting")
        clock.callLater(1, machine.send, b"late")  # a timer it forgot
        self.assertDropped(machine, lambda: clock.advance(1))
        self.assertEqual(
            (transport.value(), machine.state), (b"hi\r\n", "reconnecting")
        )
        self.assertIsNone(machine.quitReason)  # not an error: the client goes on

    def test_clientSendAfterStop(self) -> None:
        dialer, clock = RecordingDialer(), Clock()
        machine = ClientMachine(dialer, clock)
        machine.start()
        with capturedLogs():
            dialer.succeed()
            machine.stop()
            machine.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(machine.state, "stopped")
        self.assertDropped(machine, lambda: machine.send(b"late"))
        fresh = ClientMachine(RecordingDialer(), Clock())  # not started
        self.assertDropped(fresh, lambda: fresh.send(b"late"))
