"""
SMTP's deadlines (`statemachines.smtp`): the whole text of a message has one
(``dataTimeout``, RFC 5321 4.5.3.2's ten minutes), however it trickles in.
"""

from __future__ import annotations

import math
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from protocols.maildir import Maildir
from statemachines.smtp import DEFAULT_DATA_TIMEOUT, SMTPMachine

from . import test_smtp as smtp
from .helpers import Wire

HEAD = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"


def messages(events: list[dict[str, object]]) -> list[str]:
    return [formatEvent(e).partition(">")[2].strip() for e in events]


class DataDeadlineTests(SynchronousTestCase):
    def test_tenMinutesByDefault(self) -> None:
        self.assertEqual(DEFAULT_DATA_TIMEOUT, 600)
        machine = SMTPMachine(Clock(), smtp.ListMailbox(), idleTimeout=None)
        self.assertEqual(machine.dataTimeout, 600)
        for off in (0, None):
            machine = SMTPMachine(Clock(), smtp.ListMailbox(), dataTimeout=off)
            self.assertIsNone(machine.dataTimeout)
        for bad in (-1, math.nan, math.inf, "600"):
            with self.assertRaises(ValueError) as caught:
                SMTPMachine(Clock(), smtp.ListMailbox(), dataTimeout=bad)  # type: ignore[arg-type]
            self.assertIn("dataTimeout", str(caught.exception))

    def test_aTrickleCannotHoldTheText(self) -> None:
        """
        A byte a second restarts the idle timer (5 s) every time, but not
        the deadline of the whole text: 421 at 600 s, nothing stored.
        """
        wire, box = smtp.session(idleTimeout=5)
        wire.sendBytes(HEAD)
        wire.received()
        for _ in range(599):
            wire.advance(1)
            wire.sendBytes(b"x")
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs() as events:
            wire.advance(1)
        self.assertEqual(
            wire.received(), [b"421 4.4.2 localhost timeout, closing connection"]
        )
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.machine.state, "closing")
        self.assertEqual(box.texts, [])
        self.assertTrue(box.drafts[0].aborted)  # at once, not when the peer goes
        self.assertIn(
            "closing: the text did not all arrive within 600 s", messages(events)
        )

    def test_itCountsFromDataNotFromTheSession(self) -> None:
        wire, box = smtp.session(idleTimeout=300, dataTimeout=30)
        wire.sendBytes(b"EHLO x\r\n")
        wire.advance(200)
        wire.sendBytes(HEAD[8:])
        wire.advance(29)
        wire.sendBytes(b"text\r\n.\r\n")
        self.assertEqual(box.texts, [b"text\r\n"])
        wire.sendBytes(HEAD[8:])  # the next message: a deadline of its own
        wire.advance(29)
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs():
            wire.advance(1)
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(len(box.texts), 1)

    def test_offMeansOnlyTheIdleTimeout(self) -> None:
        wire, box = smtp.session(idleTimeout=5, dataTimeout=0)
        wire.sendBytes(HEAD)
        for _ in range(1000):
            wire.advance(4)
            wire.sendBytes(b"x")
        wire.sendBytes(b"\r\n.\r\n")
        self.assertEqual(box.texts, [b"x" * 1000 + b"\r\n"])
        self.assertFalse(wire.transport.disconnecting)

    def test_nothingIsLeftInTheMaildir(self) -> None:
        path = Path(self.mktemp())
        wire: Wire[SMTPMachine] = Wire(
            SMTPMachine, mailbox=Maildir(path), idleTimeout=5, dataTimeout=20
        )
        wire.sendBytes(HEAD)
        for _ in range(19):
            wire.advance(1)
            wire.sendBytes(b"y" * 100)
        self.assertNotEqual(list((path / "tmp").iterdir()), [])  # the draft
        with capturedLogs():
            wire.advance(1)
        self.assertTrue(wire.transport.disconnecting)
        for sub in ("tmp", "new", "cur"):
            self.assertEqual(list((path / sub).iterdir()), [], sub)
