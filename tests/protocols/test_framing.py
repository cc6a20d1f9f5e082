"""
The line adapter splits exactly like Twisted's LineReceiver: same lines, same
limit, same point of giving up, whatever the chunking.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineReceiver
from twisted.trial.unittest import SynchronousTestCase

from protocols.framing import LineAdapter, adapterFor


class Events:
    def __init__(self) -> None:
        self.events: list[object] = []

    def connectionMade(self, link: object) -> None:
        pass

    def dataArrived(self) -> None:
        pass

    def messageReceived(self, message: bytes) -> None:
        self.events.append(message)

    def badFrame(self, reason: str) -> None:
        self.events.append("too long")

    def connectionLost(self, reason: object) -> None:
        pass


class Reference(LineReceiver):
    def __init__(self, limit: int) -> None:
        self.MAX_LENGTH = limit
        self.events: list[object] = []

    def lineReceived(self, line: bytes) -> None:
        self.events.append(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.events.append("too long")
        self.transport.loseConnection()


PIECES = st.sampled_from([b"\r\n", b"\r", b"\n", b"a", b"bc", b"\x00\xff", b"x" * 7])


class LineFramingTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(
        stream=st.lists(PIECES, max_size=40).map(b"".join),
        cuts=st.lists(st.integers(min_value=0), max_size=10),
        limit=st.integers(1, 12),
    )
    def test_sameAsLineReceiver(
        self, stream: bytes, cuts: list[int], limit: int
    ) -> None:
        points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        chunks = [stream[a:b] for a, b in zip(points, points[1:], strict=False)]
        reference = Reference(limit)
        reference.makeConnection(StringTransport())
        sink = Events()
        ours = LineAdapter(sink, limit)  # type: ignore[arg-type]
        transport = StringTransport()
        ours.makeConnection(transport)
        for chunk in chunks:
            reference.dataReceived(chunk)
            if sink.events[-1:] == ["too long"]:
                transport.loseConnection()
            ours.dataReceived(chunk)

        # LineReceiver keeps splitting after it gave up only until it notices
        # the transport closing; compare up to the first "too long".
        def upToGivingUp(events: list[object]) -> list[object]:
            return (
                events[: events.index("too long") + 1]
                if "too long" in events
                else events
            )

        self.assertEqual(upToGivingUp(sink.events), upToGivingUp(reference.events))

    def test_manyLinesInOneChunk(self) -> None:
        sink = Events()
        adapter = LineAdapter(sink)  # type: ignore[arg-type]
        adapter.makeConnection(StringTransport())
        adapter.dataReceived(b"0123456789abcdef\r\n" * 50000)
        self.assertEqual(len(sink.events), 50000)

    def test_sendRefusesOnlyTheDelimiter(self) -> None:
        adapter = LineAdapter(Events())  # type: ignore[arg-type]
        transport = StringTransport()
        adapter.makeConnection(transport)
        for line in (b"a\nb", b"a\rb", b"\n\r", b"", b"\r"):
            adapter.sendMessage(line)
        self.assertEqual(transport.value(), b"a\nb\r\na\rb\r\n\n\r\r\n\r\n\r\r\n")
        for bad in (b"\r\n", b"a\r\nb", b"ab\r\n"):
            self.assertRaises(ValueError, adapter.sendMessage, bad)


class AdapterForTests(SynchronousTestCase):
    def test_unknownFraming(self) -> None:
        with self.assertRaises(ValueError) as caught:
            adapterFor("smoke-signals")
        self.assertIn("line, netstring, int32, raw", str(caught.exception))
