"""
Echo, server and client: the echo client's request matching across
reconnections with a fake dialer and a Clock, and echo on the wire through
the real adapters, on every framing.
"""

from __future__ import annotations

import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from protocols.client import ClientAdapter
from statemachines.echo import ClientStopped, EchoClientMachine, EchoMachine
from statemachines.framing import LineFramer

from .helpers import (
    TIMEOUT,
    RecordingLink,
    Wire,
    frame,
    lost,
    makeClient,
    serveInSubprocess,
    unframe,
)

FRAMED = ["line", "netstring", "int32"]
BINARY = bytes(range(256)).replace(b"\r\n", b"")


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
        machine, dialer, clock = makeClient(EchoClientMachine)
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
        machine, dialer, clock = makeClient(EchoClientMachine)
        d = machine.echo([b"early"])
        machine.start()
        loop = Loop(machine)
        self.assertEqual(loop.link.sent, [b"early"])
        loop.echoAll()
        self.assertEqual(self.successResultOf(d), [b"early"])

    def test_unansweredResentAfterReconnect(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine)
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
        machine, dialer, clock = makeClient(EchoClientMachine, boundaries=False)
        machine.start()
        Loop(machine)
        d = machine.echo([b"abc", b"", b"defg"])
        machine.messageReceived(b"ab")
        machine.messageReceived(b"cde")
        self.assertNoResult(d)
        machine.messageReceived(b"fg")
        self.assertEqual(self.successResultOf(d), [b"abc", b"", b"defg"])

    def test_stopFailsOutstanding(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine)
        machine.start()
        Loop(machine)
        d = machine.echo([b"never answered"])
        machine.stop()
        machine.connectionLost(lost())
        failure = self.failureResultOf(d, ClientStopped)
        # Says what happened (a load report printed "error: " and nothing):
        self.assertEqual(
            failure.getErrorMessage(),
            "the client stopped before the reply arrived: it was stopped",
        )
        self.failureResultOf(machine.echo([b"after"]), ClientStopped)

    def test_givingUpSaysWhy(self) -> None:
        """Requests outstanding when the client gives up say it gave up, and why."""
        machine, dialer, clock = makeClient(EchoClientMachine, maxAttempts=2)
        machine.start()
        d = machine.echo([b"never sent"])
        with capturedLogs():
            machine.connectionFailed(Failure(ConnectionRefusedError()))
            clock.advance(60)
            machine.connectionFailed(Failure(ConnectionRefusedError()))
        self.assertEqual(machine.state, "stopped")
        failure = self.failureResultOf(d, ClientStopped)
        self.assertEqual(
            failure.value.why,
            "gave up connecting (2 attempts failed):"
            " Connection was refused by other side.",
        )
        self.assertIn("gave up connecting", failure.getErrorMessage())
        # A new run starts afresh: stopped by hand, it says so.
        machine.start()
        d = machine.echo([b"again"])
        machine.stop()
        self.assertEqual(machine.whyStopped(), "it was stopped")
        self.assertEqual(
            self.failureResultOf(d, ClientStopped).value.why, "it was stopped"
        )

    def test_unsolicitedReplyIsAnError(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine)
        machine.start()
        loop = Loop(machine)
        with capturedLogs() as events:
            machine.messageReceived(b"who asked?")
        # The server's fault: said in one line, no traceback, and the client quits.
        self.assertEqual([e.get("log_failure") for e in events], [None])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(
            machine.quitReason,
            "the server broke the protocol: a reply arrived with nothing"
            " outstanding: b'who asked?'",
        )
        self.assertTrue(loop.link.aborted)


class EchoWireTests(SynchronousTestCase):
    def test_echoOnEveryFraming(self) -> None:
        for framing in FRAMED:
            wire = Wire(EchoMachine, framing)
            messages = [b"hello", b"", BINARY, "h\u00e9llo".encode(), b"\xff\xfe\x00"]
            wire.send(*messages)
            self.assertEqual(wire.received(), messages, framing)
            self.assertFalse(wire.transport.disconnecting)

    def test_rawEchoIsByteExact(self) -> None:
        wire = Wire(EchoMachine, "raw")
        wire.send(b"a", BINARY, b"\r\n\x00")
        self.assertEqual(wire.transport.value(), b"a" + BINARY + b"\r\n\x00")

    def test_lineEchoExactBytes(self) -> None:
        wire = Wire(EchoMachine, "line")
        wire.adapter.dataReceived(b"one\r\ntw")
        wire.adapter.dataReceived(b"o\r\n\r\n")
        self.assertEqual(wire.transport.value(), b"one\r\ntwo\r\n\r\n")

    def test_overlongLine(self) -> None:
        wire = Wire(EchoMachine, "line", maxFrameLength=16)
        with capturedLogs() as events:
            wire.adapter.dataReceived(b"short\r\n" + b"x" * 17 + b"\r\nafter\r\n")
        self.assertEqual(
            wire.received(), [b"short", b"Error: line longer than 16 bytes"]
        )
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.machine.state, "closing")
        self.assertTrue(any("line longer" in str(e.get("reason")) for e in events))

    def test_overlongLineWithoutDelimiter(self) -> None:
        wire = Wire(EchoMachine, "line")
        wire.adapter.dataReceived(b"y" * (16 * 1024 + 2))
        self.assertEqual(wire.received(), [b"Error: line longer than 16384 bytes"])
        self.assertTrue(wire.transport.disconnecting)

    def test_defaultLineLimitIs16KiB(self) -> None:
        wire = Wire(EchoMachine, "line")
        wire.send(b"z" * 16384)
        self.assertEqual(wire.received(), [b"z" * 16384])

    def test_badFramesOnBinaryFramingsCloseSilently(self) -> None:
        cases = {
            "netstring": [b"5:hello,", b"999999999:", b"3:abcX", b"x:"],
            "int32": [frame("int32", b"ok"), b"\x7f\xff\xff\xff"],
        }
        for framing, chunks in cases.items():
            for bad in chunks[1:]:
                wire = Wire(EchoMachine, framing, maxFrameLength=100)
                wire.adapter.dataReceived(chunks[0] + bad)
                self.assertEqual(
                    wire.received(),
                    [b"hello" if framing == "netstring" else b"ok"],
                    (framing, bad),
                )
                self.assertTrue(wire.transport.disconnecting, (framing, bad))
                self.assertEqual(wire.machine.state, "closing")
                wire.adapter.dataReceived(bad)  # more garbage while closing
                wire.lose()
                self.assertEqual(wire.machine.state, "closed")

    def test_slowLongLineIsNotIdle(self) -> None:
        wire = Wire(EchoMachine, "line", idleTimeout=10)
        for _ in range(5):
            wire.clock.advance(8)
            wire.adapter.dataReceived(b"slow ")
        wire.adapter.dataReceived(b"line\r\n")
        self.assertEqual(wire.received(), [b"slow " * 5 + b"line"])
        wire.clock.advance(10)
        self.assertEqual(wire.received(), [b"Error: idle timeout"])
        self.assertTrue(wire.transport.disconnecting)

    def test_abruptReset(self) -> None:
        wire = Wire(EchoMachine, "line")
        wire.adapter.dataReceived(b"half a li")
        wire.lose()
        self.assertEqual((wire.machine.state, wire.transport.value()), ("closed", b""))
        self.assertEqual(wire.clock.getDelayedCalls(), [])

    @settings(max_examples=60, deadline=None)
    @given(
        framing=st.sampled_from(FRAMED),
        messages=st.lists(st.binary(max_size=64), max_size=12),
        cuts=st.lists(st.integers(min_value=0), max_size=8),
    )
    def test_anySplitEchoesTheSame(
        self, framing: str, messages: list[bytes], cuts: list[int]
    ) -> None:
        if framing == "line":
            messages = [m.replace(b"\r", b"") for m in messages]
        stream = b"".join(frame(framing, m) for m in messages)
        points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        wire = Wire(EchoMachine, framing)
        for a, b in zip(points, points[1:], strict=False):
            wire.adapter.dataReceived(stream[a:b])
        self.assertEqual(unframe(framing, wire.transport.value()), messages)

    @settings(max_examples=40, deadline=None)
    @given(chunks=st.lists(st.binary(min_size=1, max_size=64), max_size=10))
    def test_rawAnyChunks(self, chunks: list[bytes]) -> None:
        wire = Wire(EchoMachine, "raw")
        for c in chunks:
            wire.adapter.dataReceived(c)
        self.assertEqual(wire.transport.value(), b"".join(chunks))


class HalfCloseTests(SynchronousTestCase):
    """RFC 862: echo until the peer closes; a half-close still gets every reply."""

    def test_peerFinishedGetsEverythingThenTheClose(self) -> None:
        for framing in ["line", "netstring", "int32", "raw"]:
            wire = Wire(EchoMachine, framing=framing)
            wire.send(b"one", b"two")
            wire.adapter.readConnectionLost()  # the peer shut down its sending side
            self.assertEqual(b"".join(wire.received()), b"onetwo", framing)
            self.assertTrue(wire.transport.disconnecting, framing)
            self.assertEqual(wire.machine.state, "closing", framing)

    def test_clientAdapterClosesWhenTheServerFinishes(self) -> None:
        machine, dialer, clock = makeClient(EchoClientMachine)
        adapter = ClientAdapter(machine, LineFramer(), Deferred())
        transport = StringTransport()
        adapter.makeConnection(transport)
        adapter.readConnectionLost()
        self.assertTrue(transport.disconnecting)


class HalfCloseOverTCPTests(SynchronousTestCase):
    """A real peer that sends, then half-closes (as nc -q1 or a pipe does)."""

    def exchange(self, port: int, payload: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), TIMEOUT) as peer:
            peer.sendall(payload)
            peer.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := peer.recv(65536):
                received += chunk
        return received

    def test_everyByteComesBack(self) -> None:
        proc, port = serveInSubprocess(self, "echo")
        for n in range(20):
            line = b"line %d\r\n" % n
            self.assertEqual(self.exchange(port, line), line)
        proc, port = serveInSubprocess(
            self, "echo", "--framing", "raw", "--max-frame", str(2**20)
        )
        payload = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(10):
            self.assertEqual(self.exchange(port, payload), payload)
