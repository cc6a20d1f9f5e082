"""
Limits: connections in all and per peer (IPv4 and IPv6), the greeting's name
timeout.  Each gives the peer an Error: line on text framings, logs one
event, and closes only that connection.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from protocols.server import MachineServerFactory
from statemachines import EchoMachine, GreetingMachine

from ..helpers import Wire, lost


def ipv4(host: str, port: int = 40000) -> IPv4Address:
    return IPv4Address("TCP", host, port)


def ipv6(host: str, port: int = 40000) -> IPv6Address:
    return IPv6Address("TCP", host, port)


class ConnectionLimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def factory(
        self, framing: str = "line", **limits: int | None
    ) -> MachineServerFactory:
        return MachineServerFactory(
            lambda: EchoMachine(self.clock), framing, clock=self.clock, **limits
        )

    def connect(
        self, factory: MachineServerFactory, addr: object
    ) -> tuple[object, StringTransport]:
        adapter = factory.buildProtocol(addr)  # type: ignore[arg-type]
        transport = StringTransport(peerAddress=addr)  # type: ignore[arg-type]
        adapter.makeConnection(transport)
        return adapter, transport

    def test_perPeerOnIPv4AndIPv6(self) -> None:
        factory = self.factory(maxPerPeer=2, maxConnections=None)
        for make, host, other in (
            (ipv4, "10.1.1.1", "10.1.1.2"),
            (ipv6, "fe80::1", "fe80::2"),
        ):
            accepted = [self.connect(factory, make(host, port)) for port in (1, 2)]
            with capturedLogs() as events:
                _, refused = self.connect(factory, make(host, 3))
            self.assertEqual(
                refused.value(), b"Error: too many connections from your address\r\n"
            )
            self.assertTrue(refused.disconnecting)
            noteworthy = [e for e in events if e["log_level"] >= LogLevel.info]
            self.assertEqual([e["peer"] for e in noteworthy], [host])
            _, fine = self.connect(factory, make(other))  # another peer: served
            self.assertFalse(fine.disconnecting)
            for _, transport in accepted:
                self.assertFalse(transport.disconnecting)
            # When one closes, that peer may connect again.
            adapter, _ = accepted[0]
            adapter.connectionLost(lost())  # type: ignore[attr-defined]
            _, again = self.connect(factory, make(host, 4))
            self.assertFalse(again.disconnecting)

    def test_total(self) -> None:
        factory = self.factory(maxConnections=2, maxPerPeer=None)
        first, _ = self.connect(factory, ipv4("10.0.0.1"))
        self.connect(factory, ipv6("::1"))
        with capturedLogs():
            _, refused = self.connect(factory, UNIXAddress(b"/tmp/sock"))
        self.assertEqual(refused.value(), b"Error: too many connections\r\n")
        first.connectionLost(lost())  # type: ignore[attr-defined]
        self.assertEqual(len(factory.machines), 1)
        _, accepted = self.connect(factory, ipv4("10.0.0.3"))
        self.assertFalse(accepted.disconnecting)

    def test_binaryFramingRefusesSilently(self) -> None:
        factory = self.factory("int32", maxConnections=None, maxPerPeer=1)
        self.connect(factory, ipv4("10.0.0.1"))
        with capturedLogs():
            _, refused = self.connect(factory, ipv4("10.0.0.1"))
        self.assertEqual(refused.value(), b"")
        self.assertTrue(refused.disconnecting)

    def test_refusedConnectionIsAbortedAfterTheCloseTimeout(self) -> None:
        # A refusal that cannot be flushed (a TLS peer that never completes
        # its handshake, a peer that never reads) does not hold on for good.
        factory = MachineServerFactory(
            lambda: EchoMachine(self.clock), clock=self.clock, closeTimeout=2
        )
        self.connect(factory, ipv4("10.0.0.1"))
        factory.maxPerPeer = 1
        with capturedLogs():
            adapter, refused = self.connect(factory, ipv4("10.0.0.1"))
            self.clock.advance(1.9)
            self.assertFalse(refused.disconnected)  # not aborted yet
            self.clock.advance(0.1)
        self.assertTrue(refused.disconnected)  # aborted

    def test_closeAllClosesRefusedConnectionsToo(self) -> None:
        factory = self.factory(maxConnections=None, maxPerPeer=1)
        self.connect(factory, ipv4("10.0.0.1"))
        with capturedLogs():
            refusedAdapter, _ = self.connect(factory, ipv4("10.0.0.1"))
        self.assertEqual(len(factory.refused), 1)
        done = factory.closeAll()
        for machine in [*factory.machines, *factory.refused]:
            machine.connectionLost(lost())
        self.successResultOf(done)
        self.assertEqual(factory.refused, set())


class NameTimeoutTests(SynchronousTestCase):
    def test_noNameInTime(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=20, idleTimeout=300)
        wire.received()
        for _ in range(3):  # bytes arriving do not extend the name deadline
            wire.clock.advance(6)
            wire.adapter.dataReceived(b"Al")
        wire.clock.advance(1.9)
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs() as events:
            wire.clock.advance(0.1)
        self.assertEqual(wire.received(), [b"Error: no name given in time"])
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(len([e for e in events if e["log_level"].name == "info"]), 1)

    def test_idleTimeoutAfterTheName(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=20, idleTimeout=300)
        wire.clock.advance(10)
        wire.send(b"Alice")
        self.assertEqual(wire.received()[-1], b"Hello, Alice!")
        wire.clock.advance(299.9)
        self.assertFalse(wire.transport.disconnecting)
        wire.clock.advance(0.1)
        self.assertEqual(wire.received(), [b"Error: idle timeout"])

    def test_nameTimeoutOffMeansIdle(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=None, idleTimeout=30)
        wire.clock.advance(30)
        self.assertTrue(wire.transport.disconnecting)

    def test_bothOffMeansNoTimer(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=None, idleTimeout=None)
        self.assertEqual(wire.clock.getDelayedCalls(), [])
        wire.send(b"Alice")
        self.assertEqual(wire.clock.getDelayedCalls(), [])

    def test_nameThenNoIdleTimeoutCancelsTheNameDeadline(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=20, idleTimeout=None)
        wire.send(b"Alice")
        self.assertEqual(wire.clock.getDelayedCalls(), [])
        wire.clock.advance(1000)
        self.assertFalse(wire.transport.disconnecting)
