"""
`protocols.lingering`: a server that closes on a peer still sending keeps
reading (and discarding) for a bounded time, so the replies it wrote reach
the peer instead of being destroyed by the RST a close with unread data
makes.
"""

from __future__ import annotations

import select
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides

from protocols.adapter import MachineAdapter
from protocols.client import ClientAdapter
from protocols.lingering import DEFAULT_LINGER_TIMEOUT, Lingering
from protocols.server import MachineServerFactory
from statemachines import EchoMachine
from statemachines.connection import DEFAULT_CLOSE_TIMEOUT
from statemachines.framing import LineFramer

from ..certificates import Authority, endpointQuote
from ..helpers import TIMEOUT, serveInSubprocess, untilDraining

MiB = 1 << 20
PEER = IPv4Address("TCP", "127.0.0.1", 4321)


class HalfClosingTransport(StringTransport):
    """A ``StringTransport`` that can shut its write side, as TCP's can."""

    writeClosed = False

    def loseWriteConnection(self) -> None:
        self.writeClosed = True


def serving(
    **options: Any,
) -> tuple[MachineAdapter, HalfClosingTransport, Clock]:
    """An echo connection from a server factory (``options``), on a clock."""
    clock = Clock()
    options.setdefault("maxFrameLength", 16)
    factory = MachineServerFactory(lambda: EchoMachine(clock), clock=clock, **options)
    adapter = factory.buildProtocol(PEER)
    transport = HalfClosingTransport()
    adapter.makeConnection(transport)
    return adapter, transport, clock


class LingeringTests(SynchronousTestCase):
    """The lingering close over a fake transport and a clock."""

    def closedOnALongLine(
        self, **options: Any
    ) -> tuple[MachineAdapter, HalfClosingTransport, Clock]:
        adapter, transport, clock = serving(**options)
        adapter.dataReceived(b"hi\r\n" + b"x" * 100)
        self.assertEqual(
            transport.value(), b"hi\r\nError: line longer than 16 bytes\r\n"
        )
        self.assertEqual(adapter.machine.state, "closing")
        return adapter, transport, clock

    def test_halfClosesAndReadsOn(self) -> None:
        """
        A close half-closes (after the replies, which the transport sends
        first) and reads on, even if backpressure had paused reading.
        """
        adapter, transport, clock = serving()
        transport.pauseProducing()  # the write buffer had filled
        adapter.machine.close()
        self.assertTrue(transport.writeClosed)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(transport.producerState, "producing")
        self.assertIsInstance(adapter.framer, Lingering)

    def test_whatArrivesIsDiscarded(self) -> None:
        """Lines after the close are not echoed, nor held."""
        adapter, transport, clock = self.closedOnALongLine()
        transport.clear()
        adapter.dataReceived(b"more\r\n" * 1000 + b"y" * 1000)
        self.assertEqual(transport.value(), b"")
        lingering = adapter.framer
        assert isinstance(lingering, Lingering)
        self.assertEqual(lingering.discarded, 7000)
        self.assertEqual(lingering.unconsumed(), b"")

    def test_silenceCloses(self) -> None:
        """Nothing for ``lingerTimeout`` seconds; each arrival starts it over."""
        adapter, transport, clock = self.closedOnALongLine()
        clock.advance(DEFAULT_LINGER_TIMEOUT - 0.5)
        adapter.dataReceived(b"still sending")
        clock.advance(DEFAULT_LINGER_TIMEOUT - 0.5)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.5)
        self.assertTrue(transport.disconnecting)

    def test_peerFinishingCloses(self) -> None:
        """The peer's EOF ends the lingering at once; the loss cancels its timer."""
        adapter, transport, clock = self.closedOnALongLine()
        adapter.readConnectionLost()
        self.assertTrue(transport.disconnecting)
        adapter.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(adapter.machine.state, "closed")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_lossCancelsTheTimer(self) -> None:
        adapter, transport, clock = self.closedOnALongLine()
        adapter.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_closeTimeoutBoundsIt(self) -> None:
        """A peer that never stops sending is aborted at the close timeout."""
        adapter, transport, clock = self.closedOnALongLine()
        for _ in range(int(DEFAULT_CLOSE_TIMEOUT) - 1):
            clock.advance(1)
            adapter.dataReceived(b"z" * 1000)
        self.assertFalse(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        clock.advance(1)
        self.assertTrue(transport.disconnected)  # aborted

    def test_drainIsBoundedByTheCloseTimeout(self) -> None:
        """``closeAll`` (SIGTERM's drain) fires by the close timeout."""
        clock = Clock()
        factory = MachineServerFactory(lambda: EchoMachine(clock), clock=clock)
        adapter = factory.buildProtocol(PEER)
        transport = HalfClosingTransport()
        adapter.makeConnection(transport)
        done = factory.closeAll()
        self.assertTrue(transport.writeClosed)
        for _ in range(int(DEFAULT_CLOSE_TIMEOUT)):
            clock.advance(1)
            adapter.dataReceived(b"z" * 1000)
        self.assertTrue(transport.disconnected)  # aborted
        adapter.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(done)
        self.assertEqual(factory.machines, {})

    def test_aRefusalLingers(self) -> None:
        """A refused connection is told why, then lingers, as any close."""
        clock = Clock()
        factory = MachineServerFactory(
            lambda: EchoMachine(clock), clock=clock, maxConnections=1
        )
        factory.buildProtocol(PEER).makeConnection(HalfClosingTransport())
        second = factory.buildProtocol(PEER)
        transport = HalfClosingTransport()
        second.makeConnection(transport)
        self.assertEqual(transport.value(), b"Error: too many connections\r\n")
        self.assertTrue(transport.writeClosed)
        self.assertFalse(transport.disconnecting)

    def test_abortDoesNotLinger(self) -> None:
        adapter, transport, clock = serving()
        adapter.machine.link.abortConnection()
        self.assertFalse(transport.writeClosed)
        self.assertTrue(transport.disconnected)

    def test_zeroTurnsItOff(self) -> None:
        adapter, transport, clock = self.closedOnALongLine(lingerTimeout=0)
        self.assertFalse(transport.writeClosed)
        self.assertTrue(transport.disconnecting)

    def test_anotherLength(self) -> None:
        adapter, transport, clock = self.closedOnALongLine(lingerTimeout=5)
        clock.advance(4.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnecting)

    def test_badLength(self) -> None:
        with self.assertRaises(ValueError):
            MachineServerFactory(lambda: EchoMachine(Clock()), lingerTimeout=-1)

    def test_secondCloseChangesNothing(self) -> None:
        adapter, transport, clock = self.closedOnALongLine()
        lingering = adapter.framer
        adapter.loseConnection()
        self.assertIs(adapter.framer, lingering)
        self.assertFalse(transport.disconnecting)

    def test_TLSDoesNotLinger(self) -> None:
        """Twisted's TLS has no half-close: it closes with its close_notify."""
        clock = Clock()
        factory = MachineServerFactory(lambda: EchoMachine(clock), clock=clock)
        adapter = factory.buildProtocol(PEER)
        transport = HalfClosingTransport()
        directlyProvides(transport, ISSLTransport)
        adapter.makeConnection(transport)
        adapter.machine.close()
        self.assertFalse(transport.writeClosed)
        self.assertTrue(transport.disconnecting)

    def test_wireDoesNotLinger(self) -> None:
        """A ``StringTransport`` cannot half-close: closes are as before."""
        adapter = MachineAdapter(EchoMachine(Clock()), LineFramer())
        transport = StringTransport()
        adapter.makeConnection(transport)
        adapter.machine.close()
        self.assertTrue(transport.disconnecting)

    def test_clientDoesNotLinger(self) -> None:
        ready: Deferred[object] = Deferred()
        adapter = ClientAdapter(EchoMachine(Clock()), LineFramer(), ready)
        transport = HalfClosingTransport()
        adapter.makeConnection(transport)
        adapter.readConnectionLost()
        self.assertFalse(transport.writeClosed)
        self.assertTrue(transport.disconnecting)


def floodThenRead(case: SynchronousTestCase, port: int, flood: bytes) -> bytes:
    """
    Connect to ``port`` with small buffers, send all of ``flood`` without
    reading (as far as the server lets it), then read until the server's
    EOF; what was read.  A reset raises `ConnectionResetError`.

    The replies to what ``flood`` asks for are more than the receive buffer
    holds: the rest waits in the server's kernel, which discards it when it
    closes with unread data, or data arrives after its close (and it sends
    RST), unless it lingers.  The send buffer is small so that the peer is
    still sending, not reading, when the server closes.
    """
    with socket.socket() as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        peer.settimeout(TIMEOUT)
        peer.connect(("127.0.0.1", port))
        peer.setblocking(False)
        data = memoryview(flood)
        sent = 0
        while sent < len(data):
            try:
                sent += peer.send(data[sent:])
            except BlockingIOError:
                # Room comes when the server reads; none in TIMEOUT: it stopped.
                if not select.select([], [peer], [], TIMEOUT)[1]:
                    case.fail(f"the server stopped reading after {sent} bytes")
            except (BrokenPipeError, ConnectionResetError):
                break  # it closed on us; what it wrote may still be readable
        peer.settimeout(TIMEOUT)
        received = b""
        while chunk := peer.recv(65536):
            received += chunk
        return received


class FloodingPeerTests(SynchronousTestCase):
    """On real loopback TCP, against ``txmachines serve``."""

    def test_overLongLineThenFlood(self) -> None:
        """
        Echo with a small ``--max-frame``: 12 KiB of lines echoed, then one
        too long; the server answers with an error line and closes while the
        peer is still sending a MiB; the peer, reading late, reads every
        echo and the error line, then EOF.
        """
        proc, port = serveInSubprocess(self, "echo", "--max-frame", "512")
        lines = b"".join(b"%04d\r\n" % i for i in range(2048))  # 12 KiB
        flood = lines + b"x" * 1024 + (b"y" * 1022 + b"\r\n") * 1024
        received = floodThenRead(self, port, flood)
        self.assertEqual(received, lines + b"Error: line longer than 512 bytes\r\n")

    def test_quitThenMoreCommands(self) -> None:
        """
        SMTP: 1,000 pipelined NOOPs, QUIT, and a MiB more; the peer reads
        the banner, every 250, the 221, then EOF.
        """
        maildir = self.mktemp()
        proc, port = serveInSubprocess(self, "smtp", "--maildir", maildir)
        count = 1000
        flood = b"NOOP\r\n" * count + b"QUIT\r\n" + b"NOOP\r\n" * (MiB // 6)
        received = floodThenRead(self, port, flood)
        lines = received.split(b"\r\n")
        self.assertEqual(len(lines), count + 3, received[-200:])
        self.assertTrue(lines[0].startswith(b"220 "), lines[0])
        self.assertEqual({line[:4] for line in lines[1:-2]}, {b"250 "})
        self.assertTrue(lines[-2].startswith(b"221 "), lines[-2])
        self.assertEqual(lines[-1], b"")

    def test_TLSReadsOnUntilThePeerCloses(self) -> None:
        """
        TLS does not half-close (see `protocols.lingering`): its close sends
        close_notify and reads on, so a flooding peer reads every reply too.
        """
        here = Path(self.mktemp())
        authority = Authority.create(here / "ca")
        pem = authority.issue(here / "server.pem")
        listen = f"ssl:0:privateKey={endpointQuote(pem)}:interface=127.0.0.1"
        proc, port = serveInSubprocess(
            self, "echo", "--max-frame", "512", listen=listen
        )
        context = ssl.create_default_context(
            cafile=str(authority.trustRoots / "ca.pem")
        )
        lines = b"".join(b"%04d\r\n" % i for i in range(2048))
        flood = lines + b"x" * 1024 + (b"y" * 1022 + b"\r\n") * 1024
        with socket.socket() as raw:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            raw.settimeout(TIMEOUT)
            raw.connect(("127.0.0.1", port))
            with context.wrap_socket(raw, server_hostname="localhost") as peer:
                peer.sendall(flood)  # only if the server reads it all
                received = b""
                while chunk := peer.recv(65536):  # to the close_notify
                    received += chunk
        self.assertEqual(received, lines + b"Error: line longer than 512 bytes\r\n")


class ShutdownTests(SynchronousTestCase):
    def test_floodingPeerDoesNotHoldTheDrain(self) -> None:
        """
        SIGTERM while a peer sends without end: its connection lingers, and
        is aborted at the close timeout, so the server exits by then.
        """
        proc, port = serveInSubprocess(self, "echo", "--close-timeout", "3")
        assert proc.stderr is not None
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as peer:
            # An echo first: the reactor runs (its signal handlers are in).
            peer.sendall(b"ping\r\n")
            self.assertEqual(peer.recv(100), b"ping\r\n")
            peer.sendall(b"a partial line")
            peer.setblocking(False)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            seen = untilDraining(self, proc)
            chunk = b"f" * 65536
            while proc.poll() is None and time.monotonic() - start < TIMEOUT:
                if not select.select([], [peer], [], 0.5)[1]:
                    continue
                try:
                    peer.send(chunk)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break  # aborted
            _, rest = proc.communicate(timeout=TIMEOUT)
            elapsed = time.monotonic() - start
        self.assertEqual(proc.returncode, 0, rest)
        self.assertLess(elapsed, 3 + 5)  # the close timeout, plus slack
        self.assertIn(b"aborting: the peer did not close", seen + rest)
