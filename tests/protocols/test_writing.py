"""
`protocols.writing`, backpressure: a peer that sends without reading cannot
make the server buffer without bound, and everyone else is still served.
"""

from __future__ import annotations

import select
import signal
import socket
import time

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from protocols.client import ClientAdapter
from statemachines import EchoMachine
from statemachines.framing import LineFramer

from ..helpers import TIMEOUT, Wire, residentBytes, serveInSubprocess, untilDraining

MiB = 1 << 20


class ProducerTests(SynchronousTestCase):
    def test_adapterIsTheTransportsStreamingProducer(self) -> None:
        """From the first reply that waits in the transport's buffer on."""
        wire = Wire(EchoMachine)
        transport: StringTransport = wire.transport
        self.assertIsNone(transport.producer)
        wire.send(b"waits")  # a StringTransport buffers everything
        self.assertIs(transport.producer, wire.adapter)
        self.assertTrue(transport.streaming)
        wire.adapter.pauseProducing()  # the write buffer is full: stop reading
        self.assertEqual(transport.producerState, "paused")
        wire.adapter.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_unregistersBeforeClosing(self) -> None:
        """A paused producer would keep a closing TCP connection open."""
        wire = Wire(EchoMachine)
        wire.send(b"waits")
        wire.adapter.pauseProducing()
        wire.machine.close()
        self.assertIsNone(wire.transport.producer)
        self.assertTrue(wire.transport.disconnecting)
        wire.machine.send(b"after the close")  # and never registers again
        self.assertIsNone(wire.transport.producer)

    def test_clientUnregistersWhenTheServerFinishes(self) -> None:
        """
        A client closes when the server finishes sending (a half-close);
        a paused producer would keep that connection open too.
        """
        ready: Deferred[object] = Deferred()
        adapter = ClientAdapter(EchoMachine(Clock()), LineFramer(), ready)
        transport = StringTransport()
        adapter.makeConnection(transport)
        self.assertIs(self.successResultOf(ready), adapter)
        adapter.sendMessage(b"waits")  # a StringTransport buffers everything
        adapter.pauseProducing()
        self.assertIs(transport.producer, adapter)
        adapter.readConnectionLost()
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)


class RealTCPTests(SynchronousTestCase):
    def test_peerThatNeverReads(self) -> None:
        proc, port = serveInSubprocess(self, "echo")
        before = residentBytes(proc.pid)
        chunk = memoryview((b"x" * 8190 + b"\r\n") * 8)  # 64 KiB of lines
        cap = 256 * MiB
        sent = 0
        with socket.create_connection(("127.0.0.1", port)) as hog:
            hog.setblocking(False)
            while sent < cap:
                try:
                    sent += hog.send(chunk[sent % len(chunk) :])
                except BlockingIOError:
                    # No room: wait for the server to read some more.  If it
                    # reads nothing for 2 s, it has stopped reading from us.
                    _, writable, _ = select.select([], [hog], [], 2.0)
                    if not writable:
                        break
            growth = residentBytes(proc.pid) - before
            self.assertLess(sent, 64 * MiB, "the server kept reading from the hog")
            self.assertLess(growth, 64 * MiB)
            with socket.create_connection(
                ("127.0.0.1", port), timeout=TIMEOUT
            ) as other:
                other.sendall(b"still served?\r\n")
                self.assertEqual(other.recv(100), b"still served?\r\n")


def fillEveryBuffer(hog: socket.socket) -> None:
    """Send lines without reading until every buffer to the server is full."""
    chunk = (b"y" * 8190 + b"\r\n") * 8
    hog.setblocking(False)
    while True:
        try:
            hog.send(chunk)
        except BlockingIOError:
            if not select.select([], [hog], [], 2.0)[1]:
                return


class ShutdownTests(SynchronousTestCase):
    def test_boundedWithAPeerThatNeverReads(self) -> None:
        """SIGTERM: the server flushes what it can, aborts the rest, and exits."""
        proc, port = serveInSubprocess(self, "echo", "--close-timeout", "2")
        with socket.create_connection(("127.0.0.1", port)) as hog:
            fillEveryBuffer(hog)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=TIMEOUT)
            elapsed = time.monotonic() - start
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertLess(elapsed, 2 + 5)  # the close timeout, plus slack
        self.assertIn(b"aborting: the peer did not close", stderr)
        self.assertIn(b"stopped; connections closed: 1", stderr)

    def test_secondSignalAbortsTheDrain(self) -> None:
        """A second SIGTERM while draining: abort what is left, exit cleanly."""
        proc, port = serveInSubprocess(self, "echo", "--close-timeout", "60")
        assert proc.stderr is not None
        with socket.create_connection(("127.0.0.1", port)) as hog:
            fillEveryBuffer(hog)
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            seen = untilDraining(self, proc)
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=TIMEOUT)
            elapsed = time.monotonic() - start
        stderr = seen + rest
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertLess(elapsed, 10)  # not the 60 s close timeout
        self.assertIn(b"second signal: connections aborted: 1", stderr)
        self.assertNotIn(b"Traceback", stderr)
        self.assertNotIn(b"ReactorNotRunning", stderr)
