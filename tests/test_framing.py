"""
The framers: the same messages as Twisted's receivers whatever the chunking,
every byte accounted for when a machine switches away, linear in what
arrives.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import (
    Int32StringReceiver,
    LineReceiver,
    NetstringReceiver,
)
from twisted.trial.unittest import SynchronousTestCase

from statemachines.framing import (
    FRAMINGS,
    DotFramer,
    EndOfText,
    FixedLengthFramer,
    FrameError,
    Framer,
    Int32Framer,
    LineFramer,
    NetstringFramer,
    RawFramer,
    framerFactory,
    lfLines,
)

TOO_LONG = "too long"


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in zip(points, points[1:], strict=False)]


def feed(framer: Framer, chunks: list[bytes]) -> list[object]:
    """What an adapter delivers: messages, then "too long" at a FrameError."""
    events: list[object] = []
    for chunk in chunks:
        try:
            events.extend(framer.messages(chunk))
        except FrameError:
            events.append(TOO_LONG)
            return events
    return events


class LineReference(LineReceiver):
    def __init__(self, limit: int, delimiter: bytes) -> None:
        self.MAX_LENGTH = limit
        self.delimiter = delimiter
        self.events: list[object] = []

    def lineReceived(self, line: bytes) -> None:
        self.events.append(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.events.append(TOO_LONG)
        self.transport.loseConnection()


def upToGivingUp(events: list[object]) -> list[object]:
    # LineReceiver keeps splitting after it gave up only until it notices the
    # transport closing; compare up to the first "too long".
    return events[: events.index(TOO_LONG) + 1] if TOO_LONG in events else events


PIECES = st.sampled_from([b"\r\n", b"\r", b"\n", b"a", b"bc", b"\x00\xff", b"x" * 7])
STREAMS = st.lists(PIECES, max_size=40).map(b"".join)
CUTS = st.lists(st.integers(min_value=0), max_size=10)


class LineFramerTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(
        stream=STREAMS,
        cuts=CUTS,
        limit=st.integers(1, 12),
        delimiter=st.sampled_from([b"\r\n", b"\n"]),
    )
    def test_sameAsLineReceiver(
        self, stream: bytes, cuts: list[int], limit: int, delimiter: bytes
    ) -> None:
        reference = LineReference(limit, delimiter)
        reference.makeConnection(StringTransport())
        events: list[object] = []
        framer = LineFramer(limit, delimiter)
        for chunk in chunked(stream, cuts):
            reference.dataReceived(chunk)
            if TOO_LONG not in events:
                events.extend(feed(framer, [chunk]))
        self.assertEqual(upToGivingUp(events), upToGivingUp(reference.events))

    def test_manyLinesInOneChunk(self) -> None:
        framer = LineFramer()
        self.assertEqual(
            len(list(framer.messages(b"0123456789abcdef\r\n" * 50000))), 50000
        )

    def test_lfFraming(self) -> None:
        framer = FRAMINGS["line-lf"](100)
        self.assertEqual(list(framer.messages(b"a\r\nb\nc")), [b"a\r", b"b"])
        self.assertEqual(framer.frame(b"x"), b"x\n")

    def test_frameRefusesOnlyTheDelimiter(self) -> None:
        framer = LineFramer()
        self.assertEqual(
            b"".join(
                framer.frame(line) for line in (b"a\nb", b"a\rb", b"\n\r", b"", b"\r")
            ),
            b"a\nb\r\na\rb\r\n\n\r\r\n\r\n\r\r\n",
        )
        for bad in (b"\r\n", b"a\r\nb", b"ab\r\n"):
            self.assertRaises(ValueError, framer.frame, bad)
        self.assertRaises(ValueError, lfLines().frame, b"a\nb")

    def test_errorMessageIsText(self) -> None:
        self.assertEqual(LineFramer().errorMessage("bad é"), "Error: bad é".encode())
        for framer in (
            Int32Framer(),
            NetstringFramer(),
            RawFramer(),
            FixedLengthFramer(3),
        ):
            self.assertIsNone(framer.errorMessage("bad"))

    def test_emptyDelimiterRefused(self) -> None:
        self.assertRaises(ValueError, LineFramer, 10, b"")

    def test_aLongLineWaitsInPieces(self) -> None:
        """
        A piece of a long line costs about its own size, not the size of the
        line so far (joining on every read is quadratic: 15.8 s for 32 MiB).
        """
        piece = b"x" * 65536
        framer = LineFramer(64 * 1024 * 1024)
        for _ in range(200):  # 12.5 MiB waiting
            self.assertEqual(list(framer.messages(piece)), [])
        tracemalloc.start()
        try:
            framer.messages(b"\r" + piece)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak, 4 * len(piece))
        [line] = framer.messages(b"\r\n")
        self.assertEqual(len(line), 201 * 65536 + 1)
        self.assertEqual(line, piece * 200 + b"\r" + piece)

    def test_delimiterAcrossPieces(self) -> None:
        framer = LineFramer(100, b"<END>")
        events = feed(framer, [b"ab<", b"E", b"N", b"D", b">cd<EN", b"D>"])
        self.assertEqual(events, [b"ab", b"cd"])


def netstringStream(messages: list[bytes]) -> bytes:
    return b"".join(b"%d:%s," % (len(m), m) for m in messages)


MESSAGES = st.lists(st.binary(max_size=30), max_size=8)


class BinaryFramerTests(SynchronousTestCase):
    def reference(
        self, receiverClass: type, limit: int, chunks: list[bytes]
    ) -> list[object]:
        events: list[object] = []

        class Reference(receiverClass):  # type: ignore[misc,valid-type]
            MAX_LENGTH = limit

            def stringReceived(self, string: bytes) -> None:
                events.append(string)

            def lengthLimitExceeded(self, length: int) -> None:
                events.append(TOO_LONG)
                self.transport.loseConnection()

        receiver = Reference()
        receiver.makeConnection(StringTransport())
        for chunk in chunks:
            if TOO_LONG in events or receiver.transport.disconnecting:
                break
            receiver.dataReceived(chunk)
        return events

    @settings(max_examples=300, deadline=None)
    @given(messages=MESSAGES, cuts=CUTS, limit=st.integers(0, 40))
    def test_int32SameAsInt32StringReceiver(
        self, messages: list[bytes], cuts: list[int], limit: int
    ) -> None:
        stream = b"".join(Int32Framer().frame(m) for m in messages)
        chunks = chunked(stream, cuts)
        self.assertEqual(
            upToGivingUp(feed(Int32Framer(limit), chunks)),
            upToGivingUp(self.reference(Int32StringReceiver, limit, chunks)),
        )

    @settings(max_examples=300, deadline=None)
    @given(messages=MESSAGES, cuts=CUTS)
    def test_netstringSameAsNetstringReceiver(
        self, messages: list[bytes], cuts: list[int]
    ) -> None:
        stream = netstringStream(messages)
        chunks = chunked(stream, cuts)
        self.assertEqual(feed(NetstringFramer(100), chunks), messages)
        self.assertEqual(self.reference(NetstringReceiver, 100, chunks), messages)

    def test_badNetstrings(self) -> None:
        for bad in (b"x:", b"01:a,", b":,", b"3:abcX", b"99999999999:", b"200:"):
            with self.subTest(bad=bad):
                self.assertEqual(feed(NetstringFramer(100), [bad]), [TOO_LONG])

    @settings(max_examples=200, deadline=None)
    @given(
        stream=st.binary(max_size=200),
        cuts=CUTS,
        length=st.integers(1, 9),
    )
    def test_fixedLength(self, stream: bytes, cuts: list[int], length: int) -> None:
        framer = FixedLengthFramer(length)
        events = feed(framer, chunked(stream, cuts))
        whole = len(stream) // length * length
        self.assertEqual(
            events, [stream[i : i + length] for i in range(0, whole, length)]
        )
        self.assertEqual(framer.unconsumed(), stream[whole:])
        self.assertRaises(ValueError, framer.frame, b"x" * (length + 1))
        self.assertRaises(ValueError, FixedLengthFramer, 0)

    def test_rawIsWhateverArrived(self) -> None:
        self.assertEqual(feed(RawFramer(), [b"ab", b"", b"c\r\n"]), [b"ab", b"c\r\n"])


TEXT_LINES = st.lists(
    st.sampled_from(
        [b"", b".", b"..", b".x", b"x.", b"a\rb", b"a\nb", b"\xff", b"text"]
    ),
    max_size=8,
)


def readText(framer: DotFramer, chunks: list[bytes]) -> tuple[bytes, EndOfText | None]:
    """What a DotFramer delivers for ``chunks``: the text's pieces joined, its end."""
    pieces: list[bytes] = []
    end = None
    for chunk in chunks:  # after the end, what follows waits in the framer
        for message in framer.messages(chunk):
            if isinstance(message, EndOfText):
                end = message
            else:
                assert end is None, "a piece after the end"
                pieces.append(message)
    return b"".join(pieces), end


class DotFramerTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(lines=TEXT_LINES, after=st.binary(max_size=10), cuts=CUTS)
    def test_textUpToTheDotUnstuffedUnderAnySplit(
        self, lines: list[bytes], after: bytes, cuts: list[int]
    ) -> None:
        text = b"".join(line + b"\r\n" for line in lines)
        framer = DotFramer(1000)
        wire = framer.frame(text)
        self.assertTrue(wire.endswith(b"\r\n.\r\n") or wire == b".\r\n")
        got, end = readText(framer, chunked(wire + after, cuts))
        self.assertEqual(got, text)
        assert end is not None
        self.assertFalse(end.oversized)
        self.assertEqual(framer.unconsumed(), after)

    def test_onlyCRLFDotCRLFEnds(self) -> None:
        framer = DotFramer(1000)
        got, end = readText(
            framer, [b"a\n.\nb\r\n.\nc\n.\r\nd\r.\r\n", b"\r\n.\r\nMAIL"]
        )
        # Lines end at CRLF only, so ".\nc\n." is one line: its first dot goes.
        self.assertEqual(got, b"a\n.\nb\r\n\nc\n.\r\nd\r.\r\n\r\n")
        self.assertIsNotNone(end)
        self.assertEqual(framer.unconsumed(), b"MAIL")

    @settings(max_examples=300, deadline=None)
    @given(
        extra=st.integers(-3, 3),
        cuts=st.lists(st.integers(0, 40), max_size=4),
    )
    def test_aTextOfAboutTheLimitUnderAnySplit(
        self, extra: int, cuts: list[int]
    ) -> None:
        """Exactly the limit is whole; one byte over is oversized; never lost."""
        limit = 30
        text = b"y" * (limit + extra - 2) + b"\r\n"
        stream = text + b".\r\nNEXT"
        points = {len(stream) - c for c in cuts if c <= len(stream)}
        framer = DotFramer(limit)
        got, end = readText(framer, chunked(stream, sorted(points)))
        assert end is not None
        self.assertEqual(end.size, len(text))
        if len(text) <= limit:
            self.assertFalse(end.oversized)
            self.assertEqual(got, text)
        else:
            self.assertTrue(end.oversized)
        self.assertEqual(framer.unconsumed(), b"NEXT")

    def test_overTheLimitIsCountedNotDelivered(self) -> None:
        framer = DotFramer(10)
        got, end = readText(framer, [b"0123456789\r\n"] * 100 + [b".\r\nQUIT\r\n"])
        assert end is not None
        self.assertEqual((end.oversized, end.size), (True, 1200))
        self.assertLessEqual(len(got), 10)
        self.assertEqual(framer.unconsumed(), b"QUIT\r\n")

    def test_aLongTextIsDeliveredAsItArrives(self) -> None:
        """Each read is passed on: the framer holds four bytes, not the text."""
        piece = b"x" * 65534 + b"\r\n"
        framer = DotFramer(64 * 1024 * 1024)
        delivered = 0
        for n in range(1, 161):  # 10 MiB
            [got] = framer.messages(piece)
            delivered += len(got)
            self.assertGreater(len(got), 65530)
            self.assertGreaterEqual(delivered, n * len(piece) - 4)  # held: 4
        got, end = readText(framer, [b".\r\n"])
        assert end is not None
        self.assertEqual(end.size, 160 * len(piece))


SWITCHABLE: dict[str, Callable[[], Framer]] = {
    "line": lambda: LineFramer(50),
    "line-lf": lambda: lfLines(50),
    "netstring": lambda: NetstringFramer(50),
    "int32": lambda: Int32Framer(50),
    "fixed": lambda: FixedLengthFramer(3),
}


class UnconsumedTests(SynchronousTestCase):
    """
    Stopping after any message, what was delivered plus what is unconsumed
    is exactly what arrived: the property a framing switch relies on.
    """

    @settings(max_examples=400, deadline=None)
    @given(
        name=st.sampled_from(sorted(SWITCHABLE)),
        messages=st.lists(st.binary(max_size=12), min_size=1, max_size=8),
        cuts=CUTS,
        stopAfter=st.integers(0, 10),
        partial=st.integers(0, 20),
    )
    def test_deliveredPlusUnconsumedIsEverything(
        self,
        name: str,
        messages: list[bytes],
        cuts: list[int],
        stopAfter: int,
        partial: int,
    ) -> None:
        framer = SWITCHABLE[name]()
        if name == "fixed":
            messages = [(m + b"...")[:3] for m in messages]
        if name.startswith("line"):
            end = getattr(framer, "delimiter", b"\n")[-1:]
            messages = [m.replace(end, b"") for m in messages]
        # Whole messages, then the start of one more (an incomplete frame).
        *whole, extra = [framer.frame(m) for m in messages]
        stream = b"".join(whole) + extra[: min(partial, len(extra) - 1)]
        received = b""
        delivered: list[bytes] = []
        for chunk in chunked(stream, cuts):
            received += chunk
            for message in framer.messages(chunk):
                delivered.append(message)
                if len(delivered) > stopAfter:
                    break
            if len(delivered) > stopAfter:
                break
        self.assertEqual(delivered, messages[: len(delivered)])
        consumed = b"".join(framer.frame(m) for m in delivered)
        self.assertEqual(consumed + framer.unconsumed(), received)
        self.assertEqual(framer.unconsumed(), b"")


class FactoryTests(SynchronousTestCase):
    def test_unknownFraming(self) -> None:
        with self.assertRaises(ValueError) as caught:
            framerFactory("smoke-signals")
        self.assertIn("line, line-lf, netstring, int32, raw", str(caught.exception))

    def test_factoriesPassThrough(self) -> None:
        self.assertIs(framerFactory(Int32Framer), Int32Framer)
        self.assertIs(framerFactory("int32"), Int32Framer)

    def test_everyShippedFramerIsAFramer(self) -> None:
        for name, factory in FRAMINGS.items():
            self.assertIsInstance(factory(10), Framer, name)
        self.assertIsInstance(FixedLengthFramer(2), Framer)
