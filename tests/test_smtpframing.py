"""
SMTP's framers and its bare-LF policy (`statemachines.smtpframing`): the
framers alone, then the receiver under each policy, with the 2023 "SMTP
smuggling" sequences.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.framing import DotFramer, EndOfText, LineFramer
from statemachines.smtp import SMTPMachine
from statemachines.smtpframing import (
    BARE_LF,
    BareLineFeed,
    StrictCommandLines,
    StrictText,
    commandFramer,
    textFramer,
)

from . import test_smtp as smtp

HEAD = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
REFUSED = b"521 5.5.2 localhost bare LF received, closing connection"
# The smuggling of 2023: an end of text some servers take, then a forged
# second message; only CRLF . CRLF ends a text here.
SMUGGLED = b"MAIL FROM:<admin@bank>\r\nRCPT TO:<c@d>\r\nDATA\r\nforged\r\n"
SMUGGLING = [b"text\n.\n" + SMUGGLED, b"text\r\n.\n" + SMUGGLED]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *cuts})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


class FramerTests(SynchronousTestCase):
    def test_eachPolicyHasItsFramers(self) -> None:
        self.assertIsInstance(commandFramer("reject"), StrictCommandLines)
        self.assertIs(type(commandFramer("accept")), LineFramer)
        self.assertIsInstance(textFramer("reject", 10), StrictText)
        self.assertIs(type(textFramer("accept", 10)), DotFramer)

    def test_commandLinesEndInCRLF(self) -> None:
        framer = StrictCommandLines(4096)
        self.assertEqual(list(framer.messages(b"EHLO x\r\nNO")), [b"EHLO x"])
        self.assertEqual(list(framer.messages(b"OP\r")), [])
        self.assertEqual(list(framer.messages(b"\nQUIT\r\n")), [b"NOOP", b"QUIT"])
        self.assertEqual(framer.frame(b"250 OK"), b"250 OK\r\n")
        with self.assertRaises(ValueError):
            framer.frame(b"250 a\nb")

    def test_aBareLFInACommandLineIsTheLastThingDelivered(self) -> None:
        framer = StrictCommandLines(4096)
        delivered = list(framer.messages(b"NOOP\r\nEHLO x\nMAIL FROM:<a>\r\n"))
        self.assertEqual(delivered, [b"NOOP", BARE_LF])
        self.assertEqual(list(framer.messages(b"QUIT\r\n")), [])

    @given(cuts=st.lists(st.integers(0, 60), max_size=6), at=st.integers(1, 4))
    def test_switchingAfterALineLeavesTheRestAsItCame(
        self, cuts: list[int], at: int
    ) -> None:
        data = b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\ntext\n.\r\n"
        framer, delivered, fed = StrictCommandLines(4096), 0, 0
        for piece in split(data, cuts):
            fed += len(piece)
            for _ in framer.messages(piece):
                delivered += 1
                if delivered == at:
                    break
            if delivered == at:
                break
        end = len(b"\r\n".join(data.split(b"\r\n")[:at])) + 2
        self.assertEqual(framer.unconsumed(), data[end:fed])

    def test_aBareLFInTheTextIsRefused(self) -> None:
        for text in [b"a\nb\r\n.\r\n", b"\n.\r\n", b"a\r\n\n.\r\n", *SMUGGLING]:
            framer = StrictText(1000)
            self.assertEqual(list(framer.messages(text)), [BARE_LF], text)
            self.assertEqual(list(framer.messages(b"more\r\n.\r\n")), [], text)

    def test_aBareLFAfterTheTextIsNotTheTexts(self) -> None:
        framer = StrictText(1000)
        pieces = list(framer.messages(b"a\r\n.\r\nNOOP\n"))
        self.assertEqual(pieces, [b"a\r\n", EndOfText(3, False)])
        self.assertEqual(framer.unconsumed(), b"NOOP\n")

    @settings(max_examples=200)
    @given(cuts=st.lists(st.integers(0, 40), max_size=8))
    def test_aCRLFSplitAnywhereIsNoBareLF(self, cuts: list[int]) -> None:
        text = b"\r\nSubject: a\r\n\r\n..dot\r\n\r\n\xff\r\n.\r\n"
        framer = StrictText(1000)
        pieces = [m for piece in split(text, cuts) for m in framer.messages(piece)]
        self.assertEqual([p for p in pieces if isinstance(p, BareLineFeed)], [])
        unstuffed = b"\r\nSubject: a\r\n\r\n.dot\r\n\r\n\xff\r\n"
        self.assertEqual(b"".join(pieces), unstuffed)
        self.assertIsInstance(pieces[-1], EndOfText)


class RejectTests(SynchronousTestCase):
    """The default, as Postfix 3.9: 521 5.5.2, closed, nothing stored."""

    def assertRefused(self, wire: smtp.Wire[SMTPMachine]) -> None:
        self.assertEqual(wire.received()[-1:], [REFUSED])
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.machine.state, "closing")

    def test_theDefault(self) -> None:
        self.assertEqual(SMTPMachine(Clock(), smtp.ListMailbox()).bareLF, "reject")
        with self.assertRaises(ValueError) as caught:
            SMTPMachine(Clock(), smtp.ListMailbox(), bareLF="strip")
        self.assertIn("reject, accept", str(caught.exception))

    def test_aCommandEndingInABareLFIsRefusedAtOnce(self) -> None:
        for line in [b"NOOP\n", b"EHLO x\nMAIL FROM:<evil>\r\n", b"\n"]:
            wire, _ = smtp.session()
            wire.received()
            with capturedLogs() as events:
                wire.sendBytes(line)
            self.assertRefused(wire)
            self.assertEqual(len(events), 1, line)

    def test_aBareLFInTheTextIsRefusedAndNothingStored(self) -> None:
        ended = [s + b".\r\n" for s in SMUGGLING]
        for text in [b"one\ntwo\r\n.\r\n", *SMUGGLING, *ended]:
            wire, box = smtp.session()
            wire.sendBytes(HEAD)
            with capturedLogs():
                wire.sendBytes(text + b"QUIT\r\n")
            self.assertRefused(wire)
            self.assertEqual(box.texts, [], text)
            self.assertEqual(len(box.drafts), 1, text)  # no second message
            self.assertTrue(box.drafts[0].aborted, text)

    def test_aCRLFSessionIsServedAsBefore(self) -> None:
        wire, box = smtp.session()
        wire.sendBytes(smtp.TRANSACTION)
        self.assertEqual(smtp.codes(wire), smtp.TRANSACTION_CODES)
        self.assertEqual(len(box.texts), 1)


class AcceptTests(SynchronousTestCase):
    """``accept``: what the server did before the policy, byte for byte."""

    def test_aBareLFInACommandIs500AndTheSessionGoesOn(self) -> None:
        wire, _ = smtp.session(bareLF="accept")
        wire.received()
        wire.sendBytes(b"NOOP\n")  # not a line end: nothing yet
        self.assertEqual(wire.received(), [])
        wire.sendBytes(b"\r\nEHLO x\nMAIL FROM:<evil>\r\nNOOP\r\n")
        self.assertEqual(
            wire.received(),
            [b"500 5.5.2 bare CR or LF in a command"] * 2 + [b"250 2.0.0 OK"],
        )
        self.assertFalse(wire.transport.disconnecting)

    def test_aBareLFInTheTextIsText(self) -> None:
        wire, box = smtp.session(bareLF="accept")
        wire.sendBytes(HEAD + b"one\ntwo\r\n.\r\n")
        self.assertEqual(box.texts, [b"one\ntwo\r\n"])

    def test_noSmugglingEither(self) -> None:
        for text in SMUGGLING:
            wire, box = smtp.session(bareLF="accept")
            wire.sendBytes(HEAD + text + b".\r\nQUIT\r\n")
            unstuffed = text.replace(b"\r\n.", b"\r\n")
            self.assertEqual(box.texts, [unstuffed], text)  # one message, all text
            self.assertEqual(smtp.codes(wire)[-2:], [b"250 ", b"221 "])
