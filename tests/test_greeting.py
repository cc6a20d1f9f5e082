"""
Greeting, server and client: the client's handshake with a fake dialer and
a Clock, and the server on the wire through the real adapters, on every
framing, with name validation.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.greeting import (
    BLANK,
    JOINERS,
    GreetingClientMachine,
    GreetingMachine,
    GreetingRefused,
    InvalidName,
    stripSpaces,
    validateName,
)
from statemachines.greeting import REFUSED_CATEGORIES as REFUSED

from .helpers import RecordingLink, Wire, lost, makeClient


class GreetingClientTests(SynchronousTestCase):
    def connect(self) -> tuple[GreetingClientMachine, RecordingLink, Clock]:
        machine, dialer, clock = makeClient(GreetingClientMachine, name="Alice")
        machine.start()
        link = RecordingLink()
        machine.connectionMade(link)
        return machine, link, clock

    def test_greeted(self) -> None:
        machine, link, clock = self.connect()
        greeted = machine.whenGreeted()
        echoed = machine.echo([b"later"])
        self.assertEqual(link.sent, [])  # nothing before the banner
        machine.messageReceived(b"Hello! What is your name?")
        self.assertEqual((machine.state, link.sent), ("naming", [b"Alice"]))
        machine.messageReceived(b"Hello, Alice!")
        self.assertEqual(self.successResultOf(greeted), "Hello, Alice!")
        self.assertEqual(link.sent, [b"Alice", b"later"])
        machine.messageReceived(b"later")
        self.assertEqual(self.successResultOf(echoed), [b"later"])
        self.assertEqual(self.successResultOf(machine.whenGreeted()), "Hello, Alice!")

    def test_refusedStops(self) -> None:
        machine, link, clock = self.connect()
        greeted = machine.whenGreeted()
        machine.messageReceived(b"Hello! What is your name?")
        with capturedLogs():
            machine.messageReceived(b"Error: name is empty")
        failure = self.failureResultOf(greeted, GreetingRefused)
        self.assertEqual(str(failure.value), "name is empty")
        self.assertEqual((machine.state, link.closing), ("quitting", True))
        machine.messageReceived(b"What is your name?")
        machine.connectionLost(lost())
        self.assertEqual((machine.state, clock.getDelayedCalls()), ("stopped", []))

    def test_aGreetingForSomeoneElseIsAProtocolBreak(self) -> None:
        for greeting in (
            b"Hello, Mallory!",
            b"Hello, \x1b[2JAlice!",
            b"Hello, Alice!!",
        ):
            machine, link, clock = self.connect()
            greeted = machine.whenGreeted()
            machine.messageReceived(b"Hello! What is your name?")
            with capturedLogs():
                machine.messageReceived(greeting)
            self.assertEqual(
                machine.quitReason,
                "the server broke the protocol: expected 'Hello, Alice!', got "
                + repr(greeting),
            )
            self.assertTrue(link.aborted)
            machine.connectionLost(lost())
            self.failureResultOf(greeted)

    def test_wrongBannerDropsTheConnection(self) -> None:
        machine, link, clock = self.connect()
        with capturedLogs() as events:
            machine.messageReceived(b"SSH-2.0-OpenSSH")
        self.assertEqual([e.get("log_failure") for e in events], [None])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(
            machine.quitReason,
            "the server broke the protocol: expected the banner,"
            " got b'SSH-2.0-OpenSSH'",
        )
        self.assertTrue(link.aborted)

    def test_greetsAgainAfterReconnect(self) -> None:
        machine, link, clock = self.connect()
        machine.messageReceived(b"Hello! What is your name?")
        machine.connectionLost(lost())
        clock.advance(2.0)
        link2 = RecordingLink()
        machine.connectionMade(link2)
        machine.messageReceived(b"Hello! What is your name?")
        self.assertEqual(link2.sent, [b"Alice"])
        machine.messageReceived(b"Hello, Alice!")
        self.assertEqual(self.successResultOf(machine.whenGreeted()), "Hello, Alice!")


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

    def test_validNameResetsTheCountOfInvalidOnes(self) -> None:
        wire = Wire(GreetingMachine)
        wire.send(b"", b"\xff")
        self.assertEqual(wire.machine.invalidNames, 2)
        wire.send(b"Alice")
        self.assertEqual(wire.machine.invalidNames, 0)
        self.assertEqual(wire.machine.state, "receiving")

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

    def test_invisibleAndSeparatorCharactersRefused(self) -> None:
        for character, reason in [
            ("\u202e", "invisible formatting characters"),  # right-to-left override
            ("\u200b", "invisible formatting characters"),  # zero-width space
            ("\ufeff", "invisible formatting characters"),  # BOM
            ("\u2028", "line separators"),
            ("\u2029", "paragraph separators"),
        ]:
            with self.assertRaises(InvalidName) as caught:
                validateName(f"Al{character}ice".encode())
            self.assertEqual(str(caught.exception), f"name contains {reason}")

    def test_unassignedAndPrivateUseRefused(self) -> None:
        for character, reason in [
            ("\u0378", "unassigned characters"),
            ("\ufdd0", "unassigned characters"),  # a noncharacter
            ("\uffff", "unassigned characters"),
            ("\U000e0080", "unassigned characters"),
            ("\ue000", "private-use characters"),
            ("\U000f0000", "private-use characters"),
        ]:
            with self.assertRaises(InvalidName) as caught:
                validateName(f"Al{character}".encode())
            self.assertEqual(str(caught.exception), f"name contains {reason}")

    def test_joinersBetweenCharactersThatShow(self) -> None:
        for name in (
            "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627",  # Persian, a ZWNJ
            "\u0dc1\u0dca\u200d\u0dbb\u0dd3",  # Sinhala, a ZWJ
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family emoji
            "\U0001f3f3\ufe0f\u200d\U0001f308",  # the rainbow flag
        ):
            self.assertEqual(validateName(name.encode()), name)
        for name in ("\u200dAl", "Al\u200c", "A\u200d\u200dl", "A\u200d l"):
            with self.assertRaises(InvalidName, msg=repr(name)):
                validateName(name.encode())

    def test_spacesOfAnyWidthAreStripped(self) -> None:
        self.assertEqual(validateName("\u3000Bob\u00a0 ".encode()), "Bob")

    def test_aNameMustShowSomething(self) -> None:
        for blank in "\u00a0 \u3000 \u2003".split(" "):  # spaces: stripped
            with self.assertRaises(InvalidName, msg=repr(blank)) as caught:
                validateName(f" {blank}{blank} ".encode())
            self.assertEqual(str(caught.exception), "name is empty")
        for blank in "\u3164 \u115f \u2800 \u034f \ufe0f".split(" "):
            with self.assertRaises(InvalidName, msg=repr(blank)) as caught:
                validateName(f" {blank}\u00a0{blank} ".encode())
            self.assertEqual(str(caught.exception), "name shows nothing")
        # Between letters they are part of the name.
        self.assertEqual(validateName("Jo\u00a0Ann".encode()), "Jo\u00a0Ann")
        self.assertEqual(validateName("e\u0301".encode()), "e\u0301")

    def test_invisibleCharacterOnTheWire(self) -> None:
        wire = Wire(GreetingMachine)
        wire.received()
        wire.send("\u202eecilA".encode())
        self.assertEqual(
            wire.received(),
            [
                b"Error: name contains invisible formatting characters",
                b"What is your name?",
            ],
        )

    @given(st.binary(max_size=80))
    def test_acceptedNamesObeyTheRules(self, raw: bytes) -> None:
        try:
            name = validateName(raw)
        except InvalidName as e:
            self.assertTrue(str(e).startswith("name "))
            return
        self.assertEqual(name, stripSpaces(raw.decode("utf-8")))
        self.assertTrue(1 <= len(name) <= 64)
        self.assertFalse(name.isspace())
        self.assertFalse(
            any(unicodedata.category(c) in REFUSED for c in name if c not in JOINERS)
        )
        self.assertNotIn(name[0], JOINERS)
        self.assertNotIn(name[-1], JOINERS)

    @given(st.text(min_size=1, max_size=64).map(stripSpaces))
    def test_printableTextAccepted(self, text: str) -> None:
        if not text or any(unicodedata.category(c) in REFUSED for c in text):
            return
        if not any(unicodedata.category(c)[0] in "LN" and c not in BLANK for c in text):
            return  # no letter or digit: it may show nothing
        self.assertEqual(validateName(text.encode()), text)


class StopDuringHandshakeTests(SynchronousTestCase):
    def test_verdictAfterAStopIsNoEchoReply(self) -> None:
        machine, dialer, clock = makeClient(GreetingClientMachine, name="Bob")
        machine.start()
        link = dialer.succeed()
        machine.messageReceived(b"Hello! What is your name?")
        machine.stop()
        with capturedLogs() as events:
            machine.messageReceived(b"Hello, Bob!")
        self.assertEqual([e for e in events if e["log_level"].name != "debug"], [])
        self.assertFalse(link.aborted)  # type: ignore[attr-defined]
        self.assertIsNone(machine.quitReason)


class HalfCloseTests(SynchronousTestCase):
    def test_nameThenHalfCloseGetsTheGreetingThenTheClose(self) -> None:
        wire = Wire(GreetingMachine)
        wire.received()
        wire.send(b"Ada", b"echo me")
        wire.adapter.readConnectionLost()
        self.assertEqual(wire.received(), [b"Hello, Ada!", b"echo me"])
        self.assertTrue(wire.transport.disconnecting)

    def test_halfCloseBeforeAName(self) -> None:
        wire = Wire(GreetingMachine)
        wire.adapter.readConnectionLost()
        self.assertEqual(wire.machine.state, "closing")
        self.assertTrue(wire.transport.disconnecting)
