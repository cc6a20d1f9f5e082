"""The Maildir: each message stored for good, atomically, or not at all."""

from __future__ import annotations

import os
import time

from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from protocols import maildir
from protocols.maildir import STALE_AFTER, Maildir
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


class StaleDraftTests(SynchronousTestCase):
    """What deliveries cut short left in ``tmp/``, removed after 36 hours."""

    def setUp(self) -> None:
        self.box = Maildir(self.mktemp())
        self.now = time.time()

    def draft(self, name: str, age: float, mtimeAge: float | None = None) -> None:
        """A file in ``tmp/`` last accessed ``age`` seconds ago."""
        path = self.box.path / "tmp" / name
        path.write_bytes(b"Subject: cut short\r\n")
        modified = age if mtimeAge is None else mtimeAge
        os.utime(path, (self.now - age, self.now - modified))

    def test_filesUnaccessedFor36HoursAreRemoved(self) -> None:
        hour = 60 * 60
        self.assertEqual(STALE_AFTER, 36 * hour)
        self.draft("old", 37 * hour)
        self.draft("older", 400 * hour)
        self.draft("young", 35 * hour)
        self.draft("readLately", 1 * hour, mtimeAge=40 * hour)
        self.draft("writtenLately", 40 * hour, mtimeAge=1 * hour)
        (self.box.path / "tmp" / "directory").mkdir()
        os.utime(self.box.path / "tmp" / "directory", (0, 0))
        (self.box.path / "new" / "delivered").write_bytes(b"")
        os.utime(self.box.path / "new" / "delivered", (0, 0))
        with capturedLogs() as events:
            removed = self.box.removeStaleDrafts(now=self.now)
        self.assertEqual(removed, 2)
        self.assertEqual(
            sorted(p.name for p in (self.box.path / "tmp").iterdir()),
            ["directory", "readLately", "writtenLately", "young"],
        )
        self.assertTrue((self.box.path / "new" / "delivered").exists())
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["log_level"], LogLevel.info)
        self.assertEqual((events[0]["count"], events[0]["files"]), (2, "files"))
        self.assertIn(str(self.box.path / "tmp"), events[0]["tmp"])

    def test_theTimeNowByDefault(self) -> None:
        self.draft("old", STALE_AFTER + 60)
        self.draft("young", STALE_AFTER - 60)
        with capturedLogs():
            self.assertEqual(self.box.removeStaleDrafts(), 1)
        self.assertEqual([p.name for p in (self.box.path / "tmp").iterdir()], ["young"])

    def test_nothingStaleIsNoLine(self) -> None:
        self.draft("young", 60)
        with capturedLogs() as events:
            self.assertEqual(self.box.removeStaleDrafts(now=self.now), 0)
        self.assertEqual(events, [])

    def test_whatCannotBeRemovedIsAWarning(self) -> None:
        """A read-only Maildir still serves: one warning, nothing raised."""
        self.draft("old", STALE_AFTER + 60)

        def unlink(path: object) -> None:
            raise PermissionError(13, "Permission denied", path)

        self.patch(maildir.os, "unlink", unlink)
        with capturedLogs() as events:
            self.assertEqual(self.box.removeStaleDrafts(now=self.now), 0)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["log_level"], LogLevel.warn)
        self.assertEqual(
            (events[0]["count"], events[0]["why"]), (1, "Permission denied")
        )

    def test_noTmpIsAWarning(self) -> None:
        (self.box.path / "tmp").rmdir()
        with capturedLogs() as events:
            self.assertEqual(self.box.removeStaleDrafts(now=self.now), 0)
        self.assertEqual([e["log_level"] for e in events], [LogLevel.warn])
