"""
Wire behaviour of echo and greeting through the real adapters, on every
framing, over StringTransport: exact bytes, bad input, arbitrary splits.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.echo import EchoMachine
from statemachines.greeting import GreetingMachine, InvalidName, validateName

from .helpers import Wire, frame, unframe

FRAMED = ["line", "netstring", "int32"]
BINARY = bytes(range(256)).replace(b"\r\n", b"")


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


class GreetingWireTests(SynchronousTestCase):
    def test_dialogue(self) -> None:
        wire = Wire(GreetingMachine, "line")
        self.assertEqual(wire.transport.value(), b"Hello! What is your name?\r\n")
        wire.transport.clear()
        wire.adapter.dataReceived(b"  Alice  \r\nhow are you\r\n\xff\x00\r\n")
        self.assertEqual(
            wire.transport.value(),
            b"Hello, Alice!\r\nhow are you\r\n\xff\x00\r\n",
        )
        self.assertEqual(wire.machine.state, "receiving")

    def test_unicodeName(self) -> None:
        wire = Wire(GreetingMachine, "line")
        wire.received()
        wire.send("Zo\u00eb \u6771".encode())
        self.assertEqual(wire.received(), ["Hello, Zo\u00eb \u6771!".encode()])

    def test_invalidNamesThenGoodbye(self) -> None:
        wire = Wire(GreetingMachine, "line")
        wire.received()
        wire.send(b"   ")
        self.assertEqual(
            wire.received(), [b"Error: name is empty", b"What is your name?"]
        )
        wire.send(b"\xc3\x28")
        self.assertEqual(
            wire.received(), [b"Error: name is not valid UTF-8", b"What is your name?"]
        )
        self.assertFalse(wire.transport.disconnecting)
        wire.send(b"x" * 65)
        self.assertEqual(
            wire.received(), [b"Error: name is longer than 64 characters", b"Goodbye."]
        )
        self.assertTrue(wire.transport.disconnecting)
        wire.send(b"Alice")  # already closing: ignored
        self.assertEqual(wire.received(), [])
        wire.lose()
        self.assertEqual(wire.machine.state, "closed")

    def test_validNameResetsTheCount(self) -> None:
        wire = Wire(GreetingMachine, "line")
        wire.send(b"", b"", b"Bob")
        self.assertEqual(wire.received()[-1], b"Hello, Bob!")
        self.assertEqual(wire.machine.state, "receiving")

    def test_controlCharacters(self) -> None:
        wire = Wire(GreetingMachine, "line")
        wire.received()
        wire.send(b"Bo\x07b")
        self.assertEqual(wire.received()[0], b"Error: name contains control characters")

    def test_greetingOnNetstring(self) -> None:
        wire = Wire(GreetingMachine, "netstring")
        self.assertEqual(wire.received(), [b"Hello! What is your name?"])
        wire.send(b"Carol", b"bin\r\n\x00")
        self.assertEqual(wire.received(), [b"Hello, Carol!", b"bin\r\n\x00"])

    def test_overlongNameLine(self) -> None:
        wire = Wire(GreetingMachine, "line", maxFrameLength=32)
        wire.received()
        wire.send(b"n" * 40)
        self.assertEqual(wire.received(), [b"Error: line longer than 32 bytes"])
        self.assertTrue(wire.transport.disconnecting)


class ValidateNameTests(SynchronousTestCase):
    def test_limits(self) -> None:
        self.assertEqual(validateName(b"a" * 64), "a" * 64)
        self.assertEqual(validateName("\u00e9".encode() * 64), "\u00e9" * 64)
        self.assertRaises(InvalidName, validateName, b"a" * 65)
        self.assertEqual(validateName(b" \t "[0:1] + b"Al Bo "), "Al Bo")
        self.assertRaises(InvalidName, validateName, b"tab\there")

    @given(st.binary(max_size=80))
    def test_acceptedNamesObeyTheRules(self, raw: bytes) -> None:
        try:
            name = validateName(raw)
        except InvalidName as e:
            self.assertTrue(str(e).startswith("name "))
            return
        self.assertEqual(name, raw.decode("utf-8").strip(" "))
        self.assertTrue(1 <= len(name) <= 64)
        self.assertFalse(any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name))

    @given(st.text(min_size=1, max_size=64).map(lambda s: s.strip(" ")))
    def test_printableTextAccepted(self, text: str) -> None:
        if not text or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
            return
        self.assertEqual(validateName(text.encode()), text)
