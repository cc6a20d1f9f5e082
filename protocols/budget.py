"""
A total budget for replies waiting to be sent, shared by a server's
connections.

Theory of operation
-------------------

A peer that sends but does not read makes the server hold the replies it
will not take.  Twisted bounds that per connection: a transport whose
unsent bytes exceed its ``bufferSize`` (64 KiB) pauses its producer (the
adapter), which stops reading from that peer; and one read takes at most
``bufferSize`` bytes, so a connection holds at most about twice that.  At
5,000 such peers that is still over 600 MiB.

So a server divides a total, ``maxBuffered``, among its open connections:
each connection's share is ``maxBuffered / (2 * connections)``, between
`MIN_SHARE` and Twisted's 64 KiB, and it is the ``bufferSize`` of that
connection's socket: how much one read takes, and how much unsent data
stops reading.  A connection that holds more than its share - the peers
holding the most unsent data - is not read until what it holds has been
sent; everyone else goes on being served.  The share is applied on each
read (one attribute store per read), so it follows the number of
connections without a pass over all of them; a paused connection keeps
what it already holds, and reads no more.

Off (``maxBuffered=None``), connections keep Twisted's per-connection limit.
"""

from __future__ import annotations

from twisted.internet.abstract import FileDescriptor

__all__ = ["DEFAULT_MAX_BUFFERED", "MIN_SHARE", "BufferBudget", "socketOf"]

DEFAULT_MAX_BUFFERED = 64 * 1024 * 1024
MIN_SHARE = 4096
MAX_SHARE = FileDescriptor.bufferSize  # Twisted's own: 64 KiB


def socketOf(transport: object) -> FileDescriptor | None:
    """The socket transport under ``transport`` (through TLS or PROXY wrappers)."""
    for _ in range(4):
        if isinstance(transport, FileDescriptor):
            return transport
        transport = getattr(transport, "transport", None)
    return None


class BufferBudget:
    """``total`` bytes of unsent replies, shared by the open connections."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.connections = 0
        self.share = MAX_SHARE

    def opened(self) -> None:
        self.connections += 1
        self._reshare()

    def closed(self) -> None:
        self.connections -= 1
        self._reshare()

    def _reshare(self) -> None:
        share = self.total // (2 * max(1, self.connections))
        self.share = max(MIN_SHARE, min(MAX_SHARE, share))
