"""
A Maildir that stores each message for good before it is acknowledged: the
SMTP server's mailbox (`statemachines.smtp.Mailbox`).

Delivery (https://cr.yp.to/proto/maildir.html): write the message to
``tmp/<unique name>``, flush and fsync it, rename it into ``new/``, fsync
``new/``.  A reader never sees a partial message, and once `deliver`
returns, a crash does not lose it.  ``Return-Path`` and ``Received`` headers
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

from statemachines.smtp import Envelope

__all__ = ["Maildir"]


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

    def deliver(self, envelope: Envelope) -> str:
        """Store ``envelope``'s message; its name in ``new/``."""
        name = self._uniqueName()
        temporary = self.path / "tmp" / name
        try:
            with open(temporary, "xb") as f:
                f.write(headers(envelope, name))
                f.write(envelope.text)
                f.flush()
                os.fsync(f.fileno())
            os.rename(temporary, self.path / "new" / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        directory = os.open(self.path / "new", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return name


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
