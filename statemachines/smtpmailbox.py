"""
Where the SMTP receiver's messages go: the `Mailbox` it hands each one to
(`protocols.maildir.Maildir`, or a test's list), the `Envelope` the message
comes with, the `Draft` it is written into - and a `Delivery`, one message
on its way into the mailbox, which keeps the mailbox's failures out of the
state machine.

A message is written into its draft a piece per read as it arrives, then
committed (stored for good) before the server says ``250``, or aborted
(nothing of it is stored).  If the mailbox fails at any step, the message's
text must still be read to its end, and only then answered (``451``):
the `Delivery` logs the failure once, where it happened, drops what still
arrives, and its `Delivery.commit` discards the draft and says so.
"""

from __future__ import annotations

import sys
from typing import Protocol

import attrs
from twisted.internet.interfaces import IAddress
from twisted.logger import Logger, LogLevel

__all__ = ["Delivery", "Draft", "Envelope", "Mailbox"]


@attrs.frozen
class Envelope:
    """Whom a message is from and for, and how it came."""

    sender: bytes  # b"" for the null reverse-path
    recipients: tuple[bytes, ...]
    clientName: str  # what the client said in EHLO or HELO
    peer: IAddress | None
    hostname: str  # this server's name
    protocol: str  # "ESMTP", "ESMTPS" (with TLS), "SMTP" (after HELO)


class Draft(Protocol):
    """One message being received (see `Mailbox.begin`)."""

    def write(self, text: bytes) -> None:
        """The next piece of the message (CRLF line ends, dot-unstuffed)."""
        ...

    def commit(self) -> str:
        """Store the message for good before returning its id; raise if not."""
        ...

    def abort(self) -> None:
        """Forget the message: nothing of it is stored."""
        ...


class Mailbox(Protocol):
    """Where messages go: `protocols.maildir.Maildir`, or a test's list."""

    def begin(self, envelope: Envelope) -> Draft:
        """A draft for a message to ``envelope``'s recipients."""
        ...


class Delivery:
    """
    One message on its way into a `Mailbox`: its draft, begun at once.

    Each failure of the mailbox's is one event on ``log``: a line for the
    disk's errors (an ``OSError``), a traceback for anything else (a bug).
    After a failure, `write` drops the text and `commit` discards the draft.
    """

    def __init__(
        self, mailbox: Mailbox, envelope: Envelope, log: Logger, machine: object
    ) -> None:
        """
        @param log: where the mailbox's failures are told.
        @param machine: the receiver, named in those events (``{machine}``).
        """
        self._log, self._machine = log, machine
        self._draft: Draft | None = None
        self.failed = False
        try:
            self._draft = mailbox.begin(envelope)
        except Exception:
            self._storageFailed("begin")
            self.failed = True

    def write(self, text: bytes) -> None:
        """The next piece of the message, unless the mailbox has failed."""
        if self._draft is None or self.failed:
            return
        try:
            self._draft.write(text)
        except Exception:
            self._storageFailed("write")
            self.failed = True

    def commit(self) -> str | None:
        """
        Store the message for good: its id, or None if the mailbox failed
        (now or before; the draft is discarded then).
        """
        draft, self._draft = self._draft, None
        if self.failed or draft is None:
            self._discard(draft)
            return None
        try:
            return draft.commit()
        except Exception:
            self._storageFailed("store")
            self.failed = True
            self._discard(draft)
            return None

    def finish(self, oversized: bool) -> tuple[int, str]:
        """
        The text has ended: store it (discard it if it was ``oversized``);
        the code and text of the reply that says how.
        """
        if oversized:
            self.abort()
            return 552, "5.3.4 message size exceeds fixed maximum"
        messageId = self.commit()
        if messageId is None:  # logged where it failed
            return 451, "4.3.0 could not store the message; try again later"
        return 250, f"2.0.0 OK queued as {messageId}"

    def abort(self) -> None:
        """Discard the message (if not already committed or discarded)."""
        draft, self._draft = self._draft, None
        self._discard(draft)

    def _discard(self, draft: Draft | None) -> None:
        if draft is None:
            return
        try:
            draft.abort()
        except Exception:
            self._storageFailed("discard")

    def _storageFailed(self, what: str) -> None:
        """One event: a line for the disk's errors, a traceback for a bug."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self._log.error(
                "{machine} could not {what} a message: {why}",
                machine=self._machine,
                what=what,
                why=error,
            )
        else:
            self._log.failure(
                "{machine} could not {what} a message",
                machine=self._machine,
                what=what,
                level=LogLevel.error,
            )
