"""
A Maildir that stores each message for good before it is acknowledged: the
SMTP server's mailbox (`statemachines.smtpmailbox.Mailbox`).

Delivery (https://cr.yp.to/proto/maildir.html): write the message to
``tmp/<unique name>`` as it arrives (`MaildirDraft`), then on commit flush
and fsync it, rename it into ``new/``, fsync ``new/``.  A reader never
sees a partial message, and once ``commit`` returns, a crash does not lose
it.  ``Return-Path`` and ``Received`` headers
are prepended, as a final delivery does (RFC 5321 4.4), and one
``Delivered-To`` per envelope recipient, so a sink shows whom each message
was for (Bcc recipients included).

A delivery cut short by a crash (a SIGKILL during DATA) leaves its draft
in ``tmp/``; the specification has those removed once they have not been
accessed for 36 hours, which `Maildir.removeStaleDrafts` does (``serve``
calls it as it opens the Maildir, `protocols.protocolsetup.openResources`).
"""

from __future__ import annotations

import itertools
import os
import socket
import stat
import time
from email.utils import formatdate
from pathlib import Path

from twisted.logger import Logger

from statemachines.smtpmailbox import Envelope

__all__ = ["STALE_AFTER", "Maildir", "MaildirDraft"]

# How long a file in ``tmp/`` goes unaccessed before it is deemed left by a
# delivery that never finished (the Maildir specification's 36 hours).
STALE_AFTER = 36 * 60 * 60


class Maildir:
    """The Maildir at ``path``, created (with ``cur``, ``new``, ``tmp``) if need be."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

    log = Logger()

    def removeStaleDrafts(self, now: float | None = None) -> int:
        """
        Remove the files in ``tmp/`` neither accessed nor modified for
        `STALE_AFTER` seconds (the Maildir specification's 36 hours: what a
        delivery that never finished left), with a log line counting them.
        A file that cannot be removed (a read-only Maildir) is a warning,
        not a failure: the Maildir serves as before.

        @param now: the time to measure their age from; the time now if None.
        @return: how many were removed.
        """
        cutoff = (time.time() if now is None else now) - STALE_AFTER
        tmp = str(self.path / "tmp")
        try:
            entries = list(os.scandir(tmp))
        except OSError as e:
            self.log.warn(
                "could not look for stale files in {tmp}: {why}",
                tmp=tmp,
                why=e.strerror or str(e),
            )
            return 0
        removed, failed, why = 0, 0, ""
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    continue
                if max(info.st_atime, info.st_mtime) >= cutoff:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:  # gone meanwhile (another worker's)
                continue
            except OSError as e:
                failed, why = failed + 1, e.strerror or str(e)
                continue
            removed += 1
        if removed:
            self.log.info(
                "removed {count} stale {files} from {tmp} (not accessed for "
                "{hours} hours: deliveries that never finished)",
                count=removed,
                files="file" if removed == 1 else "files",
                tmp=tmp,
                hours=STALE_AFTER // 3600,
            )
        if failed:
            self.log.warn(
                "could not remove {count} stale {files} from {tmp}: {why}",
                count=failed,
                files="file" if failed == 1 else "files",
                tmp=tmp,
                why=why,
            )
        return removed

    def _uniqueName(self) -> str:
        now = time.time()
        seconds, micro = int(now), int((now - int(now)) * 1_000_000)
        return f"{seconds}.M{micro}P{os.getpid()}Q{next(self._counter)}.{self._host}"

    def begin(self, envelope: Envelope) -> MaildirDraft:
        """A message to ``envelope``'s recipients, written as it arrives."""
        return MaildirDraft(self, envelope, self._uniqueName())


class MaildirDraft:
    """
    One message on its way into a `Maildir`: ``tmp/<name>`` while it
    arrives, ``new/<name>`` once committed.
    """

    def __init__(self, maildir: Maildir, envelope: Envelope, name: str) -> None:
        self.maildir = maildir
        self.name = name
        self.temporary = maildir.path / "tmp" / name
        # Unbuffered: each piece goes to the file as it comes, so a failed
        # write (a full disk) leaves nothing pending for close() to retry.
        self._file = open(self.temporary, "xb", buffering=0)  # closed by commit/abort
        try:
            self._file.write(headers(envelope, name))
        except BaseException:
            self.abort()
            raise

    def write(self, text: bytes) -> None:
        self._file.write(text)

    def commit(self) -> str:
        """Flush, fsync, rename into ``new/``, fsync ``new/``; the name."""
        try:
            os.fsync(self._file.fileno())
            self._file.close()
            os.rename(self.temporary, self.maildir.path / "new" / self.name)
        except BaseException:
            self.abort()
            raise
        directory = os.open(self.maildir.path / "new", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return self.name

    def abort(self) -> None:
        """Remove the temporary file: nothing of the message is stored."""
        try:
            self._file.close()
        except OSError:
            pass  # the file goes anyway
        finally:
            self.temporary.unlink(missing_ok=True)


def headers(envelope: Envelope, messageId: str) -> bytes:
    """``Return-Path`` and ``Received`` for ``envelope``, CRLF-terminated."""
    peer = getattr(envelope.peer, "host", "unknown")
    recipient = (
        f"\r\n\tfor <{envelope.recipients[0].decode('utf-8', 'replace')}>"
        if len(envelope.recipients) == 1
        else ""
    )
    client = envelope.clientName.replace("\r", "").replace("\n", "")
    deliveredTo = "".join(
        f"Delivered-To: {r.decode('utf-8', 'replace')}\r\n" for r in envelope.recipients
    )
    return (
        f"Return-Path: <{envelope.sender.decode('utf-8', 'replace')}>\r\n"
        f"{deliveredTo}"
        f"Received: from {client} ([{peer}])\r\n"
        f"\tby {envelope.hostname} (txmachines) with {envelope.protocol}"
        f" id {messageId}{recipient};\r\n"
        f"\t{formatdate(localtime=True)}\r\n"
    ).encode("utf-8", "replace")
