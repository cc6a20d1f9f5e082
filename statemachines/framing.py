"""
Framings: how the bytes of a connection become messages, and back.

A `Framer` is the part of one connection that knows where messages begin and
end.  It does no I/O (an adapter in `protocols` feeds it what arrives and
writes what it frames), it keeps what has arrived of an incomplete message,
and it is plain Python, so a user's protocol can bring its own.

Theory of operation
-------------------

``messages(data)`` adds ``data`` to what the framer holds and returns an
iterator over the messages that are now complete, in order.  Bytes that
cannot be framed (a message over the length limit, a malformed header) raise
`FrameError` at their place in that iteration: the messages before them are
delivered first.

A machine may switch framing after any message (`Link.switchFraming`): the
adapter then stops iterating and calls ``unconsumed()``, which gives back
every byte received that no delivered message included, in order, and
forgets them; the adapter hands them to the new framer.  So a framer must
count a message as consumed by the time it yields it (or, as `LineFramer`
does, return an iterator whose remaining items say what is left).

Every framer here is linear in the bytes received, however they are
chunked: a message that arrives in many pieces is joined once, when it is
complete (a 32 MiB line arriving in 64 KiB reads is not re-scanned or
re-copied per read).

=================== =============================================== ========
name                a message is                                    text
=================== =============================================== ========
``line``            one CRLF-terminated line                        yes
``line-lf``         one LF-terminated line                          yes
``netstring``       one netstring (``5:hello,``)                    no
``int32``           a 4-byte big-endian length, then that many      no
``raw``             whatever arrived in one read                    no
=================== =============================================== ========

`FixedLengthFramer` (the next N bytes are one message) and `DotFramer` (text
up to a line holding only ``.``, dot-unstuffed: SMTP's ``DATA``, POP3, NNTP)
have no name: a machine switches to them when a command says a body
follows.

Anywhere a framing is named (``Server``, ``Wire``, ``--framing``), a
*framer factory* works too: a callable taking the length limit (one
positional argument: ``MyFramer(maxLength)``) and returning a fresh
`Framer`, such as a user's class (``--framing mymodule:MyFramer``).  What
``errorMessage`` returns is a message: the adapter frames it with ``frame``
before it is sent, so return the bare text.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

__all__ = [
    "DEFAULT_MAX_FRAME_LENGTH",
    "FRAMINGS",
    "DotFramer",
    "FixedLengthFramer",
    "FrameError",
    "Framer",
    "FramerFactory",
    "Int32Framer",
    "LineFramer",
    "NetstringFramer",
    "EndOfText",
    "RawFramer",
    "framerFactory",
]

DEFAULT_MAX_FRAME_LENGTH = 16 * 1024
_NOTHING: Iterator[bytes] = iter(())


class FrameError(ValueError):
    """Bytes from the peer that cannot be framed; ``str()`` says why."""


@runtime_checkable
class Framer(Protocol):
    """
    Bytes in, messages out (``messages``); a message in, bytes out
    (``frame``).  One per connection.  See the module doc.
    """

    def messages(self, data: bytes) -> Iterator[bytes]:
        """
        Take ``data``; iterate over the messages now complete.  Raise
        `FrameError` (from the call or the iteration) at bytes that cannot
        be framed.
        """
        ...

    def unconsumed(self) -> bytes:
        """Every byte received that no delivered message included; forget them."""
        ...

    def frame(self, message: bytes) -> bytes:
        """``message`` as bytes on the wire; ValueError if it cannot be framed."""
        ...

    def errorMessage(self, reason: str) -> bytes | None:
        """The message telling the peer about an error; None to tell nothing."""
        ...


FramerFactory = Callable[[int], Framer]
"""A callable taking the length limit and returning a fresh `Framer`."""


class LineFramer:
    """
    Lines ending in ``delimiter`` (CRLF by default), each at most
    ``maxLength`` bytes without it: `LineReceiver`'s semantics, in linear
    time (``LineReceiver`` re-copies its buffer for every line it splits off,
    Twisted #6357; here a chunk is split in one pass, and a long line waits
    in pieces, joined once).
    """

    # Slots: one framer per connection, so its size counts.
    __slots__ = (
        "maxLength",
        "delimiter",
        "_waiting",
        "_waitingLength",
        "_lines",
    )

    def __init__(
        self, maxLength: int = DEFAULT_MAX_FRAME_LENGTH, delimiter: bytes = b"\r\n"
    ) -> None:
        if not delimiter:
            raise ValueError("a line delimiter cannot be empty")
        self.maxLength = maxLength
        self.delimiter = delimiter
        # Pieces of an incomplete line; a list only while there is one (an
        # idle connection holds no empty list).
        self._waiting: list[bytes] | tuple[()] = ()
        self._waitingLength = 0
        self._lines: Iterator[bytes] = _NOTHING  # complete, not yet delivered

    def messages(self, data: bytes) -> Iterator[bytes]:
        delimiter = self.delimiter
        if self._waiting:
            if delimiter not in data and not self._endsAcross(data):
                return self._wait(data)  # still no end to this line
            data = b"".join(self._waiting) + data
            self._waiting = ()
        lines = data.split(delimiter)  # one pass in C, whatever the count
        rest = lines.pop()
        if rest:
            self._waiting = [rest]
            self._waitingLength = len(rest)
        # `unconsumed` reads what is left of this very iterator.
        self._lines = iterator = iter(lines)
        # No line can be too long in data no longer than the limit: the
        # usual case costs no check at all.
        if len(data) > self.maxLength and self._tooLong(lines, rest):
            return self._upToTooLong()
        return iterator

    def _tooLong(self, lines: list[bytes], rest: bytes) -> bool:
        limit = self.maxLength
        return (bool(lines) and max(map(len, lines)) > limit) or len(
            rest
        ) >= limit + len(self.delimiter)

    def _endsAcross(self, data: bytes) -> bool:
        """Whether the delimiter starts in the waiting line and ends in ``data``."""
        overlap = len(self.delimiter) - 1
        if not overlap:
            return False
        tail = b"".join(self._waiting[-overlap:])[-overlap:]  # pieces are not empty
        return self.delimiter in tail + data[:overlap]

    def _wait(self, data: bytes) -> Iterator[bytes]:
        assert isinstance(self._waiting, list)  # `messages` waits only with one
        self._waiting.append(data)
        self._waitingLength += len(data)
        if self._waitingLength >= self.maxLength + len(self.delimiter):
            raise FrameError(f"line longer than {self.maxLength} bytes")
        return _NOTHING

    def _upToTooLong(self) -> Iterator[bytes]:
        for line in self._lines:
            if len(line) > self.maxLength:
                raise FrameError(f"line longer than {self.maxLength} bytes")
            yield line
        raise FrameError(f"line longer than {self.maxLength} bytes")

    def unconsumed(self) -> bytes:
        delimiter = self.delimiter
        left = [line + delimiter for line in self._lines]
        self._lines = _NOTHING
        left.extend(self._waiting)
        self._waiting = ()
        self._waitingLength = 0
        return b"".join(left)

    def frame(self, message: bytes) -> bytes:
        # Looking for one byte (an int) first: ``bytes in bytes`` costs ten
        # times as much, and this runs once per message.
        delimiter = self.delimiter
        if delimiter[-1] in message and delimiter in message:
            raise ValueError(f"a line may not contain {delimiter!r}: {message!r}")
        return message + delimiter

    def errorMessage(self, reason: str) -> bytes | None:
        return b"Error: " + reason.encode("utf-8")


def lfLines(maxLength: int = DEFAULT_MAX_FRAME_LENGTH) -> LineFramer:
    """The ``line-lf`` framing: lines ending in a bare LF."""
    return LineFramer(maxLength, delimiter=b"\n")


class _BufferedFramer:
    """
    What the binary framers share: a buffer that grows at its end and is
    consumed from an offset, compacted once per ``messages`` call (so many
    small messages in one read cost one copy, and a large message arriving
    in pieces is appended, not re-copied).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # where the first unconsumed byte is

    def messages(self, data: bytes) -> Iterator[bytes]:
        self._take(data)
        return self._complete()

    def _complete(self) -> Iterator[bytes]:
        """The messages complete in the buffer, advancing the offset past each."""
        raise NotImplementedError

    def _take(self, data: bytes) -> None:
        if self._offset:
            if self._offset == len(self._buffer):
                self._buffer = bytearray()  # and its memory, however large it grew
            else:
                del self._buffer[: self._offset]
            self._offset = 0
        self._buffer += data

    def unconsumed(self) -> bytes:
        left = bytes(self._buffer[self._offset :])
        self._buffer = bytearray()
        self._offset = 0
        return left

    def errorMessage(self, reason: str) -> bytes | None:
        return None


class FixedLengthFramer(_BufferedFramer):
    """Every ``length`` bytes are one message."""

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"a fixed length must be at least 1, not {length}")
        super().__init__()
        self.length = length

    def _complete(self) -> Iterator[bytes]:
        length, buffer = self.length, self._buffer
        while len(buffer) - self._offset >= length:
            start = self._offset
            self._offset = start + length
            yield bytes(buffer[start : start + length])

    def frame(self, message: bytes) -> bytes:
        if len(message) != self.length:
            raise ValueError(
                f"a message of this framing is {self.length} bytes, not {len(message)}"
            )
        return message


class Int32Framer(_BufferedFramer):
    """A 4-byte big-endian length, then that many bytes (at most ``maxLength``)."""

    _header = struct.Struct("!I")

    def __init__(self, maxLength: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        super().__init__()
        self.maxLength = maxLength

    def _complete(self) -> Iterator[bytes]:
        buffer, unpack = self._buffer, self._header.unpack_from
        while len(buffer) - self._offset >= 4:
            start = self._offset
            (length,) = unpack(buffer, start)
            if length > self.maxLength:
                raise FrameError(f"frame of {length} bytes exceeds {self.maxLength}")
            end = start + 4 + length
            if len(buffer) < end:
                return
            self._offset = end
            yield bytes(buffer[start + 4 : end])

    def frame(self, message: bytes) -> bytes:
        return self._header.pack(len(message)) + message


class NetstringFramer(_BufferedFramer):
    """
    Netstrings (``<length>:<bytes>,``, the length in decimal with no leading
    zero), each at most ``maxLength`` bytes.
    """

    def __init__(self, maxLength: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        super().__init__()
        self.maxLength = maxLength
        self._maxDigits = len(str(maxLength))

    def _complete(self) -> Iterator[bytes]:
        buffer = self._buffer
        while len(buffer) > self._offset:
            start = self._offset
            colon = buffer.find(b":", start, start + self._maxDigits + 1)
            if colon < 0:
                self._checkDigits(buffer[start : start + self._maxDigits + 1])
                return
            digits = bytes(buffer[start:colon])
            self._checkDigits(digits, complete=True)
            length = int(digits)
            if length > self.maxLength:
                raise FrameError(
                    f"bad netstring: {length} bytes exceeds {self.maxLength}"
                )
            end = colon + 1 + length
            if len(buffer) <= end:
                return
            if buffer[end] != ord(","):
                raise FrameError("bad netstring: no comma after the data")
            self._offset = end + 1
            yield bytes(buffer[colon + 1 : end])

    def _checkDigits(self, digits: bytes | bytearray, complete: bool = False) -> None:
        if not digits.isdigit() and digits:
            raise FrameError("bad netstring: the length is not a decimal number")
        if len(digits) > self._maxDigits:
            raise FrameError(f"bad netstring: longer than {self.maxLength} bytes")
        if complete and (not digits or (digits[:1] == b"0" and len(digits) > 1)):
            raise FrameError("bad netstring: malformed length")

    def frame(self, message: bytes) -> bytes:
        return b"%d:%s," % (len(message), message)


class EndOfText(bytes):
    """
    What `DotFramer` delivers after the last piece of a text: empty bytes
    whose ``size`` is the text's length and ``oversized`` whether it was over
    the limit (then its pieces past the limit were not delivered).
    """

    size: int
    oversized: bool

    def __new__(cls, size: int, oversized: bool) -> EndOfText:
        self = super().__new__(cls)
        self.size = size
        self.oversized = oversized
        return self


class DotFramer:
    """
    A text up to a line holding only ``.`` (RFC 5321 4.5.2), delivered as
    it arrives: a piece per read (dot-unstuffed: the first ``.`` of every
    line that starts with one removed), then `EndOfText`.  Only CRLF ``.``
    CRLF ends it: a bare LF or CR around the dot does not (the "SMTP
    smuggling" of 2023 relied on servers that accepted one).  The last four
    bytes of each read wait for the next (they may start the end line), so
    memory stays at one read whatever the text's length; pieces past
    ``maxLength`` bytes are counted, not delivered, and the `EndOfText`
    says so.
    """

    _END = b"\r\n.\r\n"

    def __init__(self, maxLength: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        self.maxLength = maxLength
        self._size = 0
        self._held = b"\r\n"  # not yet delivered; the text starts a line
        self._virtual = 2  # bytes of that assumed CRLF not yet passed over
        self._context = b""  # the last two bytes passed on, for unstuffing
        self._rest = b""  # what arrived after the end, once found
        self._done = False

    def messages(self, data: bytes) -> Iterator[bytes]:
        if self._done:
            self._rest += data
            return _NOTHING
        held = self._held + data
        at = held.find(self._END)
        if at < 0:
            piece, self._held = held[:-4], held[-4:]
            return self._deliver(piece)
        self._rest = held[at + 5 :]
        self._done = True
        return self._ending(held[: at + 2])

    def _deliver(self, piece: bytes) -> Iterator[bytes]:
        if not piece:
            return _NOTHING
        return iter(self._pieces(piece))

    def _pieces(self, piece: bytes) -> list[bytes]:
        """``piece`` unstuffed, unless the text is now over the limit."""
        context = self._context  # the two bytes before ``piece``, as received
        self._context = (context + piece)[-2:]
        if self._virtual:  # the CRLF the text was assumed to follow
            n = min(self._virtual, len(piece))
            context, piece = (context + piece[:n])[-2:], piece[n:]
            self._virtual -= n
        if not piece:
            return []
        self._size += len(piece)
        if self._size > self.maxLength:
            return []
        return [(context + piece).replace(b"\r\n.", b"\r\n")[len(context) :]]

    def _ending(self, last: bytes) -> Iterator[bytes]:
        pieces = self._pieces(last) if last else []
        end = EndOfText(self._size, self._size > self.maxLength)
        return iter([*pieces, end])

    @property
    def ended(self) -> bool:
        """Whether the text's end line (CRLF . CRLF) has arrived."""
        return self._done

    @property
    def afterEnd(self) -> bytes:
        """What arrived after the end line, until `unconsumed` takes it."""
        return self._rest

    def unconsumed(self) -> bytes:
        if self._done:
            rest, self._rest = self._rest, b""
            return rest
        # Switched away mid-text: what is held is all that is left.
        held, self._held = self._held, b""
        return held[self._virtual :]

    def frame(self, message: bytes) -> bytes:
        if message and not message.endswith(b"\r\n"):
            message += b"\r\n"
        return (b"\r\n" + message).replace(b"\r\n.", b"\r\n..")[2:] + b".\r\n"

    def errorMessage(self, reason: str) -> bytes | None:
        return None


class RawFramer:
    """Whatever one read delivered is one message; no limit, no framing."""

    def __init__(self, maxLength: int = DEFAULT_MAX_FRAME_LENGTH) -> None:
        pass

    def messages(self, data: bytes) -> Iterator[bytes]:
        return iter((data,)) if data else _NOTHING

    def unconsumed(self) -> bytes:
        return b""

    def frame(self, message: bytes) -> bytes:
        return message

    def errorMessage(self, reason: str) -> bytes | None:
        return None


FRAMINGS: dict[str, FramerFactory] = {
    "line": LineFramer,
    "line-lf": lfLines,
    "netstring": NetstringFramer,
    "int32": Int32Framer,
    "raw": RawFramer,
}


def framerFactory(framing: str | FramerFactory) -> FramerFactory:
    """A framing's name, or a factory, to its factory; ValueError names the choices."""
    if callable(framing):
        return framing
    try:
        return FRAMINGS[framing]
    except KeyError:
        raise ValueError(
            f"unknown framing {framing!r}; pick one of {', '.join(FRAMINGS)}"
            " (or give a framer factory)"
        ) from None
