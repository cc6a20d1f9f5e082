"""
`protocols.sendnow`: bytes for an idle TCP connection go to the socket at
once; anything else takes the transport's own buffered ``write``, in order.
Real sockets (a socket pair), a memory reactor to see write registrations.
"""

from __future__ import annotations

import socket

from twisted.internet.protocol import Protocol
from twisted.internet.tcp import Connection
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from protocols import sendnow
from protocols.adapter import MachineAdapter
from statemachines import EchoMachine
from statemachines.framing import LineFramer


def write(transport: object, data: bytes) -> None:
    """What the adapter does: at once, and what is left through the buffer."""
    rest = sendnow.sendAtOnce(transport, data)
    if rest:
        transport.write(rest)  # type: ignore[attr-defined]


class Pair:
    """A TCP-like connection over a socket pair; ``other`` is the peer's end."""

    def __init__(self, test: SynchronousTestCase) -> None:
        self.reactor = MemoryReactorClock()
        mine, self.other = socket.socketpair()
        mine.setblocking(False)
        self.other.setblocking(False)
        test.addCleanup(mine.close)
        test.addCleanup(self.other.close)
        self.connection = Connection(mine, Protocol(), self.reactor)
        self.connection.connected = True

    def received(self) -> bytes:
        """What the peer can read now."""
        chunks = []
        while True:
            try:
                chunk = self.other.recv(1 << 20)
            except BlockingIOError:
                return b"".join(chunks)
            chunks.append(chunk)

    def fill(self) -> bytes:
        """Fill the socket's kernel buffers; what was sent."""
        sent = []
        while True:
            try:
                count = self.connection.socket.send(b"f" * 65536)
            except BlockingIOError:
                return b"".join(sent)
            sent.append(b"f" * count)

    def flush(self) -> bytes:
        """Read everything, letting the transport send what it buffered."""
        got = []
        while True:
            got.append(self.received())
            if self.connection not in self.reactor.writers:
                got.append(self.received())
                return b"".join(got)
            self.connection.doWrite()


class SendNowTests(SynchronousTestCase):
    def test_theInstalledTwistedHasWhatItReads(self) -> None:
        self.assertTrue(sendnow.DIRECT)

    def test_anIdleConnectionSendsAtOnce(self) -> None:
        pair = Pair(self)
        write(pair.connection, b"hello\r\n")
        self.assertEqual(pair.received(), b"hello\r\n")
        self.assertEqual(pair.reactor.writers, set())  # no reactor turn needed

    def test_whatTheKernelDoesNotTakeIsBufferedInOrder(self) -> None:
        pair = Pair(self)
        pair.connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        data = bytes(range(256)) * 4096  # 1 MiB: more than the kernel takes
        write(pair.connection, data)
        self.assertIn(pair.connection, pair.reactor.writers)
        write(pair.connection, b"after")  # behind what is buffered
        self.assertEqual(pair.flush(), data + b"after")

    def test_aFullSocketTakesNothingAndAllIsBuffered(self) -> None:
        pair = Pair(self)
        filled = pair.fill()
        write(pair.connection, b"waits")
        self.assertEqual(pair.connection._tempDataBuffer, [b"waits"])
        self.assertEqual(pair.flush(), filled + b"waits")

    def test_bytesAlreadyBufferedGoFirst(self) -> None:
        pair = Pair(self)
        pair.connection.write(b"first ")
        write(pair.connection, b"second")
        self.assertEqual(pair.received(), b"")
        self.assertEqual(pair.flush(), b"first second")

    def test_tlsGoesThroughTheTLSLayer(self) -> None:
        pair = Pair(self)
        toTLS: list[bytes] = []
        pair.connection.TLS = True  # what startTLS sets
        pair.connection.protocol.write = toTLS.append  # type: ignore[attr-defined]
        write(pair.connection, b"secret")
        self.assertEqual(toTLS, [b"secret"])
        self.assertEqual(pair.received(), b"")

    def test_anAbortedConnectionSendsNothing(self) -> None:
        pair = Pair(self)
        pair.connection.abortConnection()
        write(pair.connection, b"never")
        self.assertEqual(pair.received(), b"")

    def test_aHalfClosedConnectionSendsNothing(self) -> None:
        pair = Pair(self)
        pair.connection._writeDisconnected = True
        write(pair.connection, b"never")
        self.assertEqual(pair.received(), b"")

    def test_aClosingConnectionBuffersSoTheCloseFollowsTheBytes(self) -> None:
        pair = Pair(self)
        pair.connection.write(b"x")
        pair.connection.loseConnection()
        write(pair.connection, b"y")
        self.assertEqual(pair.received(), b"")
        self.assertEqual(pair.connection._tempDataBuffer, [b"x", b"y"])

    def test_otherTransportsWrite(self) -> None:
        transport = StringTransport()
        write(transport, b"as usual")
        self.assertEqual(transport.value(), b"as usual")


class AdapterTests(SynchronousTestCase):
    """The adapter over a real TCP connection: replies go at once."""

    def connect(self) -> tuple[Pair, MachineAdapter]:
        pair = Pair(self)
        adapter = MachineAdapter(EchoMachine(pair.reactor), LineFramer())
        pair.connection.protocol = adapter
        adapter.makeConnection(pair.connection)
        return pair, adapter

    def test_aReplyGoesAtOnceAndNoProducerIsNeeded(self) -> None:
        pair, adapter = self.connect()
        adapter.dataReceived(b"one\r\ntwo\r\n")
        self.assertEqual(pair.received(), b"one\r\ntwo\r\n")
        self.assertEqual(pair.reactor.writers, set())
        self.assertIsNone(pair.connection.producer)  # an idle connection stays small

    def test_repliesThatMustWaitRegisterTheProducerWhichPauses(self) -> None:
        pair, adapter = self.connect()
        filled = pair.fill()
        pair.connection.bufferSize = 100
        adapter.dataReceived(b"x" * 60 + b"\r\n")
        self.assertIs(pair.connection.producer, adapter)
        self.assertFalse(pair.connection.producerPaused)
        adapter.dataReceived(b"y" * 60 + b"\r\n")  # over bufferSize: stop reading
        self.assertTrue(pair.connection.producerPaused)
        expected = filled + b"x" * 60 + b"\r\n" + b"y" * 60 + b"\r\n"
        self.assertEqual(pair.flush(), expected)
        self.assertFalse(pair.connection.producerPaused)  # drained: reading again

    def test_aFramersBytearrayIsSentWhetherOrNotTheSocketTakesIt(self) -> None:
        class ByteArrays(LineFramer):
            def frame(self, message: bytes) -> bytes:
                return bytearray(super().frame(message))  # type: ignore[return-value]

        pair = Pair(self)
        adapter = MachineAdapter(EchoMachine(pair.reactor), ByteArrays())
        pair.connection.protocol = adapter
        adapter.makeConnection(pair.connection)
        adapter.machine.send(b"at once")
        filled = pair.fill()
        adapter.machine.send(b"buffered")
        self.assertEqual(pair.flush(), b"at once\r\n" + filled + b"buffered\r\n")
