"""
A `Delivery` hands one message to a mailbox: the text a piece at a time,
then committed or discarded; each failure of the mailbox's is one event,
where it happened, and what follows it stores nothing.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.smtpmailbox import Delivery, Envelope

ENVELOPE = Envelope(
    sender=b"a@b",
    recipients=(b"c@d",),
    clientName="client",
    peer=None,
    hostname="localhost",
    protocol="ESMTP",
)


class Broken(Exception):
    """A bug in a mailbox."""


class FakeDraft:
    """A draft that records what it is told, and fails at ``failAt``."""

    def __init__(self, failAt: str, error: Exception) -> None:
        self.failAt, self.error = failAt, error
        self.pieces: list[bytes] = []
        self.committed = self.aborted = 0

    def fail(self, step: str) -> None:
        if step == self.failAt:
            raise self.error

    def write(self, text: bytes) -> None:
        self.fail("write")
        self.pieces.append(text)

    def commit(self) -> str:
        self.fail("store")
        self.committed += 1
        return "id1"

    def abort(self) -> None:
        self.aborted += 1
        self.fail("discard")


class FakeMailbox:
    def __init__(self, failAt: str = "", error: Exception | None = None) -> None:
        self.draft = FakeDraft(failAt, error or OSError(28, "No space left"))
        self.envelopes: list[Envelope] = []

    def begin(self, envelope: Envelope) -> FakeDraft:
        self.envelopes.append(envelope)
        self.draft.fail("begin")
        return self.draft


def deliver(box: FakeMailbox, *pieces: bytes) -> tuple[Delivery, list[dict[str, Any]]]:
    """A delivery into ``box`` with ``pieces`` written, and what it logged."""
    with capturedLogs() as events:
        delivery = Delivery(box, ENVELOPE, Logger(), "the machine")
        for piece in pieces:
            delivery.write(piece)
    return delivery, events


def failures(events: list[dict[str, Any]]) -> list[str]:
    return [e["what"] for e in events if "could not {what}" in e["log_format"]]


class DeliveryTests(SynchronousTestCase):
    def test_committed(self) -> None:
        box = FakeMailbox()
        delivery, events = deliver(box, b"one", b"two")
        self.assertEqual(box.envelopes, [ENVELOPE])
        self.assertEqual(delivery.commit(), "id1")
        self.assertEqual((box.draft.pieces, box.draft.committed), ([b"one", b"two"], 1))
        self.assertEqual((failures(events), delivery.failed), ([], False))
        delivery.abort()  # too late: nothing to discard
        self.assertEqual(box.draft.aborted, 0)

    def test_aborted(self) -> None:
        box = FakeMailbox()
        delivery, _ = deliver(box, b"one")
        delivery.abort()
        delivery.abort()
        self.assertEqual((box.draft.aborted, box.draft.committed), (1, 0))
        self.assertIsNone(delivery.commit())

    def test_eachFailureIsOneEventWhereItHappened(self) -> None:
        """After a failure the text is dropped, and the draft discarded."""
        for step, written, aborted in [
            ("begin", [], 0),  # no draft to discard
            ("write", [], 1),
            ("store", [b"one", b"two"], 1),
        ]:
            box = FakeMailbox(failAt=step)
            delivery, events = deliver(box, b"one", b"two")
            with capturedLogs() as more:
                self.assertIsNone(delivery.commit())
            self.assertEqual(failures(events + more), [step])
            self.assertTrue(delivery.failed)
            self.assertEqual(
                (box.draft.pieces, box.draft.aborted, box.draft.committed),
                (written, aborted, 0),
                step,
            )

    def test_aFailedDiscardIsLogged(self) -> None:
        box = FakeMailbox(failAt="discard")
        delivery, _ = deliver(box, b"one")
        with capturedLogs() as events:
            delivery.abort()
        self.assertEqual(failures(events), ["discard"])

    def test_theDisksErrorsAreOneLine(self) -> None:
        box = FakeMailbox(failAt="write")
        _, events = deliver(box, b"one")
        [event] = events
        self.assertEqual(event["machine"], "the machine")
        self.assertEqual(str(event["why"]), "[Errno 28] No space left")
        self.assertNotIn("log_failure", event)

    def test_aBugIsATraceback(self) -> None:
        box = FakeMailbox(failAt="begin", error=Broken("oops"))
        _, events = deliver(box)
        [event] = events
        self.assertEqual(event["what"], "begin")
        self.assertIsInstance(event["log_failure"].value, Broken)
        self.assertEqual(len(self.flushLoggedErrors(Broken)), 1)
