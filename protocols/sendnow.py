"""
Writing to a TCP connection at once when nothing is waiting to be sent.

Theory of operation
-------------------

Twisted's TCP transport buffers every ``write``: it asks the reactor to
watch the socket for writability (an ``epoll_ctl``), sends on the reactor's
next turn, then stops watching (another ``epoll_ctl``).  A server that
answers each request as it reads it pays that for every answer: two system
calls and a turn of the reactor (in `benchmarks/instructions.py`, one line
per read, this module took an echo from 51,800 to 34,300 instructions per
line, not counting the kernel's work).

`sendAtOnce` does what asyncio's socket transports do: when the transport
holds nothing unsent, it offers the bytes to the socket at once; whatever
the kernel does not take (all of them when its buffer is full) is for the
transport's own ``write``, as before, so order, backpressure (the producer
is paused as usual) and error handling are Twisted's.  Anything that is not
a plain, open, writable TCP connection - TLS (through ``startTLS`` or a TLS
endpoint), a connection closing or aborted, a half-closed one, a test's
``StringTransport`` - takes the transport's ``write``.

This is the one module that reads Twisted's transport internals
(``dataBuffer``, ``offset``, ``_tempDataLen``, ``_aborting``,
``_writeDisconnected``, ``TLS``, ``writeSomeData``).  If a Twisted release
renames them, `DIRECT` is False at import and every byte takes the
transport's ``write``; `tests/protocols/test_sendnow.py` checks that the
direct path is in use with the installed Twisted.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.abstract import FileDescriptor
from twisted.internet.tcp import Connection

__all__ = ["DIRECT", "sendAtOnce"]


def _readable() -> bool:
    """Whether this Twisted's TCP connections have what `sendAtOnce` reads."""
    probe = FileDescriptor.__new__(FileDescriptor)
    FileDescriptor.__init__(probe, reactor=cast(Any, True))  # sets _tempDataLen
    attributes = ("dataBuffer", "offset", "_writeDisconnected", "TLS", "_aborting")
    return (
        hasattr(probe, "_tempDataLen")
        and all(hasattr(Connection, name) for name in attributes)
        and callable(getattr(Connection, "writeSomeData", None))
    )


DIRECT = _readable()


def sendAtOnce(transport: Any, data: bytes) -> bytes:
    """
    Send ``data`` on ``transport`` at once if it can take it (see above);
    return what is left for the transport's ``write``: nothing if all went,
    else the bytes the kernel did not take, or all of them.
    """
    if (
        DIRECT
        and isinstance(transport, Connection)
        and not transport.TLS
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._aborting
    ):
        sent = transport.writeSomeData(data)
        if type(sent) is int and sent > 0:  # else: full, or lost (write finds out)
            return data[sent:]
    return data
