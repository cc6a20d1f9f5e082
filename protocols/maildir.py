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
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from email.utils import formatdate
from pathlib import Path

from statemachines.smtpmailbox import Envelope

__all__ = ["Maildir", "MaildirDraft"]


class Maildir:
    """The Maildir at ``path``, created (with ``cur``, ``new``, ``tmp``) if need be."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

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
