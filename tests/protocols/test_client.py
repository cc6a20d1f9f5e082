"""
The client side of protocols: `EndpointDialer` and its dials, and
`ClientAdapter`'s rule that a TLS connection is made once its handshake is.
"""

from __future__ import annotations

from typing import Any

from service_identity import VerificationError
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from protocols.client import EndpointDialer
from statemachines.echo import EchoClientMachine


class StubbornEndpoint:
    """An endpoint whose attempts cannot be cancelled; the test connects them."""

    def __init__(self) -> None:
        self.pending: list[tuple[Factory, Deferred[Any]]] = []

    def connect(self, factory: Factory) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()  # no canceller: cancel() just fails it
        self.pending.append((factory, d))
        return d

    def complete(self) -> tuple[Any, StringTransport]:
        factory, d = self.pending.pop(0)
        adapter = factory.buildProtocol(None)
        transport = StringTransport()
        adapter.makeConnection(transport)
        return adapter, transport


class EndpointDialerTests(SynchronousTestCase):
    def test_connectionThatArrivesAfterTheDialWasCancelledIsAborted(self) -> None:
        endpoint = StubbornEndpoint()
        machine = EchoClientMachine(EndpointDialer(endpoint), Clock())
        machine.start()
        machine.stop()
        self.assertEqual(machine.state, "stopped")
        with capturedLogs() as events:
            adapter, transport = endpoint.complete()
            adapter.connectionLost(None)
        self.assertTrue(transport.disconnected)  # aborted
        self.assertEqual(machine.state, "stopped")
        self.assertEqual([e for e in events if e["log_level"].name != "debug"], [])

    def test_dialFiresWithTheAdapterOnceConnected(self) -> None:
        endpoint = StubbornEndpoint()
        dialer = EndpointDialer(endpoint)
        machine = EchoClientMachine(dialer, Clock())
        ready = dialer.dial(machine)
        self.assertNoResult(ready)
        adapter, _ = endpoint.complete()
        self.assertIs(self.successResultOf(ready), adapter)


def tlsTransport() -> StringTransport:
    transport = StringTransport()
    directlyProvides(transport, ISSLTransport)
    return transport


class HandshakeRuleTests(SynchronousTestCase):
    """A client's connection counts as made once its TLS handshake is done."""

    def client(self, tls: bool = True) -> tuple[EchoClientMachine, Any, Any]:
        """A started client whose dial connected: machine, adapter, transport."""
        endpoint = FakeEndpoint(tls)
        machine = EchoClientMachine(EndpointDialer(endpoint), Clock())
        machine.start()
        return machine, endpoint.adapters[0], endpoint.transports[0]

    def test_connectedOnlyAfterTheHandshake(self) -> None:
        machine, adapter, _ = self.client()
        self.assertEqual(machine.state, "connecting")
        adapter.handshakeCompleted()
        self.assertEqual(machine.state, "connected")
        self.assertIs(machine.link, adapter)

    def test_lossDuringTheHandshakeIsAFailedAttempt(self) -> None:
        machine, adapter, _ = self.client()
        reason = Failure(VerificationError(errors=["hostname mismatch"]))
        with capturedLogs():
            adapter.connectionLost(reason)
        self.assertEqual(machine.state, "reconnecting")
        self.assertEqual(machine.failedAttempts, 1)
        self.assertIs(machine.lastFailure, reason)

    def test_handshakeThatFailedVerificationIsNotAConnection(self) -> None:
        # Twisted reports the handshake complete even when verification
        # failed inside it; the transport is aborting by then.
        machine, adapter, transport = self.client()
        transport.abortConnection()
        adapter.handshakeCompleted()
        self.assertEqual(machine.state, "connecting")
        with capturedLogs():
            adapter.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(machine.state, "reconnecting")

    def test_plainTransportConnectsAtOnce(self) -> None:
        machine, adapter, _ = self.client(tls=False)
        self.assertEqual(machine.state, "connected")
        self.assertIs(machine.link, adapter)

    def test_stopDuringTheHandshakeAbortsIt(self) -> None:
        endpoint = FakeEndpoint()
        machine = EchoClientMachine(EndpointDialer(endpoint), Clock())
        machine.start()
        [transport] = endpoint.transports
        stopped = machine.whenStopped()
        machine.stop()
        self.assertTrue(transport.disconnected)  # aborted
        self.successResultOf(stopped)
        endpoint.adapters[0].connectionLost(Failure(ConnectionLost()))
        self.assertEqual(machine.state, "stopped")


class FakeEndpoint:
    """Connects at once, over a fake (TLS) transport, and keeps what it built."""

    def __init__(self, tls: bool = True) -> None:
        self.tls = tls
        self.transports: list[StringTransport] = []
        self.adapters: list[Any] = []

    def connect(self, factory: Factory) -> Any:
        adapter = factory.buildProtocol(None)
        transport = tlsTransport() if self.tls else StringTransport()
        assert adapter is not None
        adapter.makeConnection(transport)
        self.transports.append(transport)
        self.adapters.append(adapter)
        return succeed(adapter)
