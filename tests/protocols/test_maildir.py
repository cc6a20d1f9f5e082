"""The Maildir: each message stored for good, atomically, or not at all."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from protocols.maildir import Maildir
from statemachines.smtp import Envelope


class MaildirTests(SynchronousTestCase):
    envelope = Envelope(
        sender=b"a@b",
        recipients=(b"c@d",),
        clientName="client",
        peer=None,
        hostname="mx.example",
        protocol="ESMTP",
    )

    def test_storedAtomicallyWithHeaders(self) -> None:
        box = Maildir(self.mktemp())
        draft = box.begin(self.envelope)
        draft.write(b"Subject: x\r\n\r\n")
        self.assertEqual(list((box.path / "new").iterdir()), [])  # not yet
        draft.write(b"body\r\n")
        name = draft.commit()
        self.assertEqual(list((box.path / "tmp").iterdir()), [])
        stored = (box.path / "new" / name).read_bytes()
        self.assertTrue(
            stored.startswith(
                b"Return-Path: <a@b>\r\nDelivered-To: c@d\r\nReceived: from client"
            )
        )
        self.assertTrue(stored.endswith(b"\r\n\r\nbody\r\n"))
        self.assertIn(b"for <c@d>", stored)

    def test_abortedLeavesNothing(self) -> None:
        box = Maildir(self.mktemp())
        draft = box.begin(self.envelope)
        draft.write(b"half a mess")
        draft.abort()
        self.assertEqual(list((box.path / "tmp").iterdir()), [])
        self.assertEqual(list((box.path / "new").iterdir()), [])

    def test_aFullDiskLeavesNothing(self) -> None:
        """The file's writes and its close fail (ENOSPC): abort still removes it."""
        box = Maildir(self.mktemp())
        draft = box.begin(self.envelope)
        real = draft._file

        class Full:
            def write(self, data: bytes) -> int:
                raise OSError(28, "No space left on device")

            def fileno(self) -> int:
                return real.fileno()

            def close(self) -> None:
                real.close()
                raise OSError(28, "No space left on device")

        draft._file = Full()  # type: ignore[assignment]
        self.assertRaises(OSError, draft.write, b"x" * 100)
        draft.abort()
        self.assertEqual(list((box.path / "tmp").iterdir()), [])

    def test_aFailedCommitLeavesNothing(self) -> None:
        box = Maildir(self.mktemp())
        draft = box.begin(self.envelope)
        (box.path / "new").rmdir()
        self.assertRaises(OSError, draft.commit)
        self.assertEqual(list((box.path / "tmp").iterdir()), [])
