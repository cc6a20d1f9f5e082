"""
How an SMTP receiver frames what arrives, under its bare-LF policy.

RFC 5321 2.3.8: SMTP lines end in CRLF, and a bare LF (one not after a CR)
is not a line end.  Servers that took one for a line end anyway were the
receiving half of 2023's "SMTP smuggling": a message holding ``LF . LF``
(or ``CRLF . LF``) ends there for one server and goes on for another, so
whatever follows it is read as a second message, with a forged sender.
Here only CRLF . CRLF ends a message, whatever the policy; the policy says
what else a bare LF does (`BARE_LF_POLICIES`):

``reject`` (the default, as Postfix 3.9's ``smtpd_forbid_bare_newline``)
    A bare LF in a command line, or anywhere in a message's text, is
    answered ``521 5.5.2`` and the connection closes; the message it was in
    is discarded.  A command line is refused when its LF arrives, so a
    client that ends lines in LF alone is told at once, not timed out.
``accept``
    The server before this policy, byte for byte: command lines end in
    CRLF, and one holding a bare LF is answered ``500`` (as one holding a
    bare CR is, either way) and the session goes on; in a message's text a
    bare LF is text, stored as it came.

The framers of ``reject`` deliver `BARE_LF` in place of what held one, and
nothing after it; the machine answers it (`statemachines.smtp`).
"""

from __future__ import annotations

from collections.abc import Iterator

from .framing import DotFramer, LineFramer

__all__ = [
    "BARE_LF",
    "BARE_LF_POLICIES",
    "COMMAND_FRAME",
    "BareLineFeed",
    "StrictCommandLines",
    "StrictText",
    "bareLFPolicy",
    "commandFramer",
    "textFramer",
]

BARE_LF_POLICIES = ("reject", "accept")
COMMAND_FRAME = 4096  # longer lines than this end the connection
_NOTHING: Iterator[bytes] = iter(())


class BareLineFeed(bytes):
    """What the ``reject`` framers deliver for bytes holding a bare LF: b""."""

    def __repr__(self) -> str:
        return "BARE_LF"


BARE_LF = BareLineFeed()


def bareLFPolicy(policy: str) -> str:
    """``policy`` if it is one of `BARE_LF_POLICIES`; a ValueError naming them."""
    if policy not in BARE_LF_POLICIES:
        raise ValueError(
            f"bareLF must be one of {', '.join(BARE_LF_POLICIES)}, not {policy!r}"
        )
    return policy


def commandFramer(policy: str) -> LineFramer:
    """The framer of command lines under ``policy``."""
    if policy == "reject":
        return StrictCommandLines(COMMAND_FRAME)
    return LineFramer(COMMAND_FRAME)


def textFramer(policy: str, maxLength: int) -> DotFramer:
    """The framer of a message's text (after DATA) under ``policy``."""
    if policy == "reject":
        return StrictText(maxLength)
    return DotFramer(maxLength)


class StrictCommandLines(LineFramer):
    """
    Command lines, as `LineFramer` with CRLF, except that a line ending in a
    bare LF is delivered as `BARE_LF`, and is the last line delivered.  (It
    splits at every LF, so a line ends where its LF is; each line's length
    limit counts its CR.)
    """

    __slots__ = ("_refused",)

    def __init__(self, maxLength: int) -> None:
        super().__init__(maxLength, delimiter=b"\n")
        self._refused = False

    def messages(self, data: bytes) -> Iterator[bytes]:
        if self._refused:
            return _NOTHING
        return self._checked(super().messages(data))

    def _checked(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        # One line at a time, so `unconsumed` still finds the rest in
        # `LineFramer`'s own iterator when the machine switches framing.
        for line in lines:
            if line[-1:] != b"\r":
                self._refused = True
                yield BARE_LF
                return
            yield line[:-1]

    def frame(self, message: bytes) -> bytes:
        if b"\n" in message:
            raise ValueError(f"a line may not contain b'\\n': {message!r}")
        return message + b"\r\n"


class StrictText(DotFramer):
    """
    A message's text, as `DotFramer`, except that if it holds a bare LF
    (before its CRLF . CRLF) that read delivers `BARE_LF`, and no read
    after it delivers anything.
    """

    def __init__(self, maxLength: int) -> None:
        super().__init__(maxLength)
        self._last = b""  # the last byte of the text before this read
        self._refused = False

    def messages(self, data: bytes) -> Iterator[bytes]:
        if self._refused:
            return _NOTHING
        if self.ended:
            return super().messages(data)
        pieces = super().messages(data)
        # What ended the text, and what follows it, is not text.
        text = data[: len(data) - len(self.afterEnd)] if self.ended else data
        seen = self._last + text  # a CR at the end of the last read counts
        self._last = seen[-1:]
        if text.count(b"\n") != seen.count(b"\r\n"):
            self._refused = True
            return iter((BARE_LF,))
        return pieces
