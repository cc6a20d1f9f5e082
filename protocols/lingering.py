"""
Lingering close: a server's close that does not destroy its own replies.

Theory of operation
-------------------

A TCP socket closed while data it has not read waits in its receive buffer
makes the kernel send RST instead of FIN, and discard what it had not sent
yet; the peer's kernel, on the RST, fails its reads with ``ECONNRESET``.
So when a server closes on a peer that is still sending - one that floods
and reads late, or pipelines more commands than the server reads before it
decides to close (a refusal, an over-long line, ``QUIT`` followed by more,
an idle timeout) - the replies it wrote and the peer has not read yet (the
error line that explains the close, say) are lost.

Apache (``lingering_close``) and nginx (``lingering_close``,
``lingering_time``, ``lingering_timeout``) close such connections in two
steps, and so does a server's `protocols.adapter.MachineAdapter`, on every
close it makes (`Lingering`):

 1. Half-close: once what was written is flushed, shut the write side
    (``transport.loseWriteConnection()``), so the peer reads every reply
    and then EOF.
 2. Linger: go on reading, discarding what arrives, until the peer closes
    its side (EOF), or sends nothing for ``lingerTimeout`` seconds
    (`DEFAULT_LINGER_TIMEOUT`, 2 s, Apache's; nginx's ``lingering_timeout``
    is 5 s); then close.  The `Lingering` is the adapter's framer from the
    close on: it frames what arrives into nothing, so none of it reaches
    the machine as a message (closing hears ``dataArrived`` and ignores
    it), and a connection holds no attribute for it until it closes.

Its bounds: the inactivity cap above, and in all the machine's close timeout
(``closeTimeout``, `statemachines.connection.DEFAULT_CLOSE_TIMEOUT`, 10 s:
nginx's ``lingering_time``), whose timer aborts a connection still closing
then, lingering or not.  So lingering never holds a connection, or a
server's drain on SIGTERM, past the close timeout, and a connection counts
toward the connection limits until it is gone, as any closing one does.
An abort (``abortConnection``, a second SIGTERM) does not linger.

Only a plain stream connection (TCP, UNIX) lingers: Twisted's TLS has no
half-close (its ``loseConnection`` sends a close_notify and, until the peer
answers with its own, reads on: a lingering of its own, bounded by the same
close timeout).  A client's adapter does not linger, nor does one whose
``lingerTimeout`` is None (the server's ``lingerTimeout=0``), nor one over
a transport that cannot half-close (`protocols.testing.Wire`'s
``StringTransport``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from twisted.internet.interfaces import (
    IDelayedCall,
    INegotiated,
    IReactorTime,
    ISSLTransport,
)
from twisted.logger import Logger

__all__ = ["DEFAULT_LINGER_TIMEOUT", "Lingering", "canLinger"]

#: Seconds a lingering connection waits for more from its peer, by default.
DEFAULT_LINGER_TIMEOUT = 2.0


def canLinger(transport: Any) -> bool:
    """
    Whether ``transport`` can half-close and go on reading: a plain stream
    connection that is not closing already, and not TLS (see the module doc).
    """
    return (
        callable(getattr(transport, "loseWriteConnection", None))
        and not getattr(transport, "disconnecting", True)
        and not getattr(transport, "TLS", False)  # TCP's after startTLS
        and not ISSLTransport.providedBy(transport)
        and not INegotiated.providedBy(transport)
    )


class Lingering:
    """
    One connection's lingering close, from the half-close to the close
    (see the module doc).  `start` begins it; as the adapter's framer it
    takes what arrives (`messages`); the adapter hands it the peer's EOF
    (`peerFinished`), and calls `cancel` when the connection is lost.
    """

    log = Logger()

    def __init__(self, transport: Any, clock: IReactorTime, timeout: float) -> None:
        """
        @param transport: the connection, which `canLinger`.
        @param timeout: seconds with nothing from the peer that end it.
        """
        self.transport = transport
        self.timeout = timeout
        self.discarded = 0  # bytes that arrived while lingering
        self._timer: IDelayedCall | None = clock.callLater(timeout, self.close)

    @classmethod
    def start(cls, adapter: Any) -> Lingering | None:
        """
        Close ``adapter``'s transport once what was written is flushed:
        lingering if the adapter has a ``lingerTimeout`` and the transport
        `canLinger` (then the `Lingering`), else at once, as
        ``loseConnection`` does (None).
        """
        transport, timeout = adapter.transport, adapter.lingerTimeout
        if timeout is None or not canLinger(transport):
            transport.loseConnection()
            return None
        lingering = cls(transport, adapter.machine.clock, timeout)
        # Read on: a write buffer that filled paused reading (backpressure),
        # and the producer that would resume it is gone (``stopWriting``).
        transport.resumeProducing()
        transport.loseWriteConnection()  # FIN once the buffer is flushed
        return lingering

    def messages(self, data: bytes) -> Iterator[bytes]:
        """Bytes from the peer while lingering: discarded; the wait starts over."""
        self.discarded += len(data)
        if self._timer is not None:
            self._timer.reset(self.timeout)
        return iter(())

    def unconsumed(self) -> bytes:
        """Nothing is kept (a framer's: see `statemachines.framing`)."""
        return b""

    def peerFinished(self) -> None:
        """The peer closed its side: it has nothing more to send; close."""
        self.close()

    def close(self) -> None:
        """The lingering is over: close the connection (after any flush)."""
        self.cancel()
        self.log.debug(
            "closing after lingering; discarded {discarded} bytes",
            discarded=self.discarded,
        )
        self.transport.loseConnection()

    def cancel(self) -> None:
        """The connection is lost, or aborted: no more waiting."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
