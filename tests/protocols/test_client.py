"""The client side of protocols: `EndpointDialer` and its dials."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

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
