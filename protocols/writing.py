"""
Writing one connection's replies: batched per read, at once when the socket
takes them, and with backpressure when it does not.

`ReplyWriter` is the writing half of `protocols.adapter.MachineAdapter`
(a base class, so a connection is still one object: an idle connection
holds every attribute it has, 8 bytes each).

Batching: what the machine sends while the adapter delivers the messages of
one read is framed as it is sent, collected (in ``collected``) and written
once, when the delivery ends (`writeCollected`): a read of a hundred pipelined
requests costs one write, not a hundred.  Something that must reach the
transport after those replies (a close, STARTTLS) writes them first
(`flush`).  Outside a delivery (a timer, a banner) a message is written as
it is sent.

At once: writes go through `protocols.sendnow`, to the socket at once when
the connection holds nothing unsent.

Backpressure: the writer registers as its transport's streaming producer
from the first write that has to wait in the transport's buffer (a
connection whose replies always went at once never needs it).  When that
buffer fills (a peer that sends but does not read what comes back), the
transport pauses the writer, which stops reading from that peer until the
buffer drains; so one such peer cannot make the process buffer without
bound, and the others are served meanwhile.  On a server, "fills" is the
connection's share of a total budget (see `protocols.budget`), set on
``budgetedSocket`` on each read (by the adapter).  A paused producer keeps
a closing connection open forever, so `stopWriting` unregisters before a
close.

TLS pauses its producer while it holds writes made before its handshake
completed; reading must go on then, or the handshake never completes: no
pause while ``handshaking``.

Attributes read on every read or message are set in ``__init__`` (see
"Attribute layout" in `statemachines.engine.machine`).
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.internet.protocol import Protocol
from zope.interface import implementer

from .budget import BufferBudget, socketOf
from .sendnow import sendAtOnce

__all__ = ["ReplyWriter"]


@implementer(IPushProducer)
class ReplyWriter(Protocol):
    """A connection's writing: batches, writes at once, backpressure."""

    def __init__(self, budget: BufferBudget | None = None) -> None:
        """
        @param budget: the server's budget for unsent replies, if any.
        """
        # While delivering: the replies sent so far, framed; else None.
        self.collected: list[bytes] | None = None
        if budget is not None:  # set only when it differs from the default
            self.budget = budget

    budget: BufferBudget | None = None
    budgetedSocket: Any = None  # the socket transport whose share the budget sets
    # Registered as the transport's producer: False until a write waits in
    # its buffer, True from then on, None once unregistered to close.  Never
    # registered once the transport is closing (see `_send`).
    _producing: bool | None = False
    handshaking = False  # a TLS handshake is in progress

    def startWriting(self) -> None:
        """The connection is made: find the socket the budget applies to."""
        if self.budget is not None:
            self.budgetedSocket = socketOf(self.transport)
            if self.budgetedSocket is None:
                self.budget = None  # not a socket: nothing to share
            else:
                self.budgetedSocket.bufferSize = self.budget.share

    def writeCollected(self, collected: list[bytes]) -> None:
        """Stop collecting; write ``collected`` (framed as sent) at once."""
        self.collected = None
        if collected:
            self._sendAll(collected)

    def flush(self) -> None:
        """Write what was collected so far (before a close, STARTTLS)."""
        collected = self.collected
        if collected:
            batch = collected[:]
            collected.clear()
            self._sendAll(batch)

    def _sendAll(self, framed: list[bytes]) -> None:
        try:
            data = b"".join(framed)
        except TypeError as e:  # a framer that returned something else than bytes
            self.framedBadly(e)
            return
        self._send(data)

    def framedBadly(self, error: TypeError) -> None:
        """A framer framed a reply as something other than bytes."""
        raise error

    def discardCollected(self) -> None:
        """Drop what was collected and not written: the connection aborts."""
        if self.collected is not None:
            self.collected.clear()

    def writeFramed(self, framed: bytes) -> None:
        """Write one framed message: collected while delivering, else at once."""
        collected = self.collected
        if collected is None:
            self._send(framed)
        else:
            collected.append(framed)

    def _send(self, data: bytes) -> None:
        """
        Write ``data``: at once if the connection can take it; else through
        the transport's buffer, with this writer registered as its producer
        from the first such write on.
        """
        rest = sendAtOnce(self.transport, data)
        if rest:
            if self._producing is False and not self.transport.disconnecting:  # type: ignore[union-attr]
                self._producing = True
                cast(IConsumer, self.transport).registerProducer(self, True)
            # Twisted takes only bytes: a framer's bytearray, sent at once
            # when the socket takes it all, must not fail when it does not.
            self.transport.write(bytes(rest))  # type: ignore[union-attr]

    def stopWriting(self) -> None:
        """Before a close: unregister as producer, for good (see the module doc)."""
        if self._producing:
            cast(IConsumer, self.transport).unregisterProducer()
            self._producing = None

    # -- IPushProducer: the transport pauses us while its buffer is full -------

    def pauseProducing(self) -> None:
        if not self.handshaking:
            cast(IPushProducer, self.transport).pauseProducing()

    def resumeProducing(self) -> None:
        cast(IPushProducer, self.transport).resumeProducing()

    def stopProducing(self) -> None:
        pass  # the connection is going; connectionLost follows
