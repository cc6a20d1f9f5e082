"""
The thin adapter from a Twisted protocol to a machine.

`MachineAdapter` turns transport events into machine inputs and implements
the machine's `statemachines.transport.Link`.  It decides nothing: every
event, including a framing error, goes to the machine, which decides what
happens.  Its framer (`statemachines.framing`) turns bytes into messages;
writing and backpressure are its base's, `protocols.writing`.

Switching framing: ``link.switchFraming(framer)``, from an output, changes
how what *arrives* is framed (as ``LineReceiver``'s ``setRawMode``); what
is sent keeps its framing (SMTP replies stay lines while a body arrives)
unless ``sending=True``.  During a delivery (the switch follows a message
such as SMTP's ``DATA``) the adapter stops after the current message and
feeds the old framer's unconsumed bytes to the new one: nothing that
arrived is lost, duplicated or reordered.  A switch at any other time (a
timer's) delivers what they complete on the next turn of the reactor.

STARTTLS: ``link.startTLS(contextFactory)``, on either end.  Bytes the peer
sent in plain text after the message that started it are dropped, with a
log event (a peer pipelining commands behind a STARTTLS is broken or
injecting them).  ``secured`` follows once the handshake completes; one
that fails loses the connection.

Half-close: a peer that finished sending (``readConnectionLost``) is the
machine's ``peerFinished``: it may still read, so the machine decides when
to close (echo: once every reply is written).  A server's close lingers
(`protocols.lingering`): it half-closes, discards what arrives, closes.

Connecting: the machine hears ``connectionMade`` at once (on TLS too: the
idle timeout covers a handshake never finished); a client's adapter differs
(`protocols.client.ClientAdapter`).  A PROXY header is read first
(`protocols.proxyheader`), which gives the adapter its addresses (``proxied``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    INegotiated,
    ISSLTransport,
    ITCPTransport,
    ITLSTransport,
)
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines.eventrate import EventRate
from statemachines.framing import FrameError, Framer
from statemachines.transport import TransportMachine

from .addresses import describeAddress
from .budget import BufferBudget
from .lingering import DEFAULT_LINGER_TIMEOUT, Lingering
from .writing import ReplyWriter

if TYPE_CHECKING:
    from .proxyheader import ProxiedAddresses

__all__ = ["MachineAdapter", "isTLS"]


def _stop(unconsumed: bytes) -> bytes:
    """What a delivery does after a message that closed the connection: stop."""
    return b""


def isTLS(transport: object) -> bool:
    """Whether ``transport`` is a TLS connection (either Twisted flavour)."""
    return ISSLTransport.providedBy(transport) or INegotiated.providedBy(transport)


@implementer(IHandshakeListener, IHalfCloseableProtocol)
class MachineAdapter(ReplyWriter):
    """One connection: transport events in, machine inputs out; the `Link`."""

    log = Logger()

    def __init__(
        self,
        machine: TransportMachine,
        framer: Framer,
        budget: BufferBudget | None = None,
    ) -> None:
        """
        @param framer: this connection's framer, until the machine switches.
        @param budget: the server's budget for unsent replies, if any.
        """
        super().__init__(budget)
        self.machine = machine
        self.framer = framer  # frames what arrives
        self.sender = framer  # frames what is sent
        # Read on every read or message: set here (see `protocols.writing`).
        self._carried = b""  # bytes a switch moved, delivered on the next turn
        # While delivering, what to do after the current message: a switch
        # (old framer's unconsumed bytes -> the new one's) or `_stop`.
        self._afterMessage: Callable[[bytes], bytes] | None = None

    #: The addresses a PROXY header named (`protocols.proxyheader`).
    proxied: ProxiedAddresses | None = None
    _startedTLS = False  # the machine started TLS (so it hears `secured`)
    lingerTimeout: float | None = DEFAULT_LINGER_TIMEOUT  # `protocols.lingering`

    def connectionMade(self) -> None:
        self.startWriting()
        if isTLS(self.transport):
            self.handshaking = True  # only then: an idle connection stays small
        self.begin()

    def begin(self) -> None:
        """Connected (a TLS handshake may have begun): tell the machine."""
        self.machine.connectionMade(self)

    def handshakeCompleted(self) -> None:
        # Twisted calls this even when verifying the certificate failed
        # during the handshake; the transport is aborting then.
        if not self.handshaking or getattr(self.transport, "disconnecting", False):
            return
        self.handshaking = False
        if self._startedTLS:
            self.machine.secured()
        else:
            self.firstHandshakeCompleted()

    def firstHandshakeCompleted(self) -> None:
        """The handshake of a connection that was TLS from the start is done."""

    # -- bytes in, messages out ------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.budget is not None:
            self.budgetedSocket.bufferSize = self.budget.share
        self.machine.dataArrived()
        if self._carried:
            data, self._carried = self._carried + data, b""
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        """
        Feed ``data`` to the framer, each message it completes to the machine;
        after a switch, the old framer's unconsumed bytes to the new one, in
        this same loop (a thousand pipelined switches cost no stack).  What
        the machine sends is collected, written when the delivery ends.
        """
        messageReceived = self.machine.messageReceived
        replies: list[bytes] = []
        self.collected = replies
        try:
            while True:
                framer = self.framer
                try:
                    for message in framer.messages(data):
                        messageReceived(message)
                        if self._afterMessage is not None:
                            break
                except FrameError as e:
                    self.machine.badFrame(str(e))
                    return
                except Exception:  # a user's framer gone wrong: that connection only
                    self.log.failure(
                        "{framer} failed on bytes from {peer}",
                        framer=type(framer).__name__,
                        peer=self.describePeer(),
                    )
                    self.machine.failed("internal error")
                    return
                switch = self._afterMessage
                if switch is None:
                    return
                self._afterMessage = None
                if switch is _stop:
                    return
                data = switch(framer.unconsumed())
                if not data:
                    return
        finally:
            self._afterMessage = None
            self.writeCollected(replies)

    def framedBadly(self, error: TypeError) -> None:
        self.log.failure(
            "a framer gave {peer} something other than bytes",
            Failure(error),
            peer=self.describePeer(),
        )
        self.machine.failed("internal error")

    def switchFraming(self, framer: Framer, *, sending: bool = False) -> None:
        """
        From the next message on, ``framer`` frames what arrives (and, with
        ``sending``, from now on what is sent).
        """
        if sending:
            self.sender = framer  # what was sent before is framed already

        def switch(rest: bytes) -> bytes:
            self.framer = framer
            return rest  # for the new framer

        if self._afterThisMessage(switch):
            return
        rest = self._carried + self.framer.unconsumed()
        self.framer = framer
        if rest:
            # Not from inside the machine's output: on the next turn.
            self._carried = rest
            self.machine.clock.callLater(0, self._deliverCarried)

    def _deliverCarried(self) -> None:
        data, self._carried = self._carried, b""
        if data and self.transport is not None and not self.transport.disconnecting:  # type: ignore[attr-defined]
            self._deliver(data)

    def startTLS(self, contextFactory: object) -> None:
        """Start TLS after what has been written so far (see the module doc)."""
        if not ITLSTransport.providedBy(self.transport):
            raise TypeError(f"{type(self.transport).__name__} cannot start TLS")
        if isTLS(self.transport):
            raise ValueError("this connection is already TLS")

        def start(plaintext: bytes) -> bytes:
            self.flush()  # in plain text, before the handshake
            # Reading goes on through the handshake (see pauseProducing): if the
            # flush paused it, Twisted's startTLS would hand our producer to the
            # TLS layer, which never saw that pause: the handshake would stall.
            resume = getattr(self.transport, "resumeProducing", None)
            if resume is not None:
                resume()
            plaintext = self._carried + plaintext
            self._carried = b""
            if plaintext:
                EventRate.of(self.machine.clock).emit(
                    self.log,
                    LogLevel.warn,
                    "dropped {length} bytes {peer} sent in plain text before TLS"
                    " started",
                    length=len(plaintext),
                    peer=self.describePeer(),
                )
            self.handshaking = True
            self._startedTLS = True
            cast(ITLSTransport, self.transport).startTLS(contextFactory)  # type: ignore[arg-type]
            return b""  # nothing more to deliver in plain text

        if not self._afterThisMessage(start):
            start(self.framer.unconsumed())

    def _afterThisMessage(self, then: Callable[[bytes], bytes]) -> bool:
        """
        While delivering: have it call ``then`` after the current message
        (unless closing: then nothing more), and say True; else False.
        """
        if self.collected is None:
            return False
        if self._afterMessage is not _stop:
            self._afterMessage = then
        return True

    # -- IHalfCloseableProtocol: the peer may finish sending and still read -----

    def readConnectionLost(self) -> None:
        framer = self.framer  # closing (a `Lingering`): the lingering's end
        (framer if isinstance(framer, Lingering) else self.machine).peerFinished()

    def writeConnectionLost(self) -> None:
        pass  # a lingering close half-closed: it reads on

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Only attributes set already are changed here (see `protocols.writing`).
        if self.handshaking:
            self.handshaking = False
        if isinstance(self.framer, Lingering):
            self.framer.cancel()
        self.machine.connectionLost(reason)

    # -- Link ---------------------------------------------------------------

    def sendMessage(self, message: bytes) -> None:
        # Framed now: one the framing cannot carry raises in its output.
        framed = self.sender.frame(message)
        collected = self.collected
        if collected is None:
            self.writeFramed(framed)
        else:
            collected.append(framed)  # written when the delivery ends

    def reportError(self, reason: str) -> None:
        message = self.sender.errorMessage(reason)
        if message is None:
            return
        try:
            self.sendMessage(message)
        except Exception as e:  # a framer that cannot frame its own error
            self.log.warn(
                "could not tell {peer} about an error ({reason}): {why}",
                peer=self.describePeer(),
                reason=reason,
                why=e,
            )

    def loseConnection(self) -> None:
        assert self.transport is not None
        self.flush()
        if self.collected is not None:
            self._afterMessage = _stop  # deliver nothing more
        self.stopWriting()
        if not isinstance(self.framer, Lingering):  # else: lingering already
            self.framer = cast(Framer, Lingering.start(self) or self.framer)

    def abortConnection(self) -> None:
        if self.collected is not None:
            self.discardCollected()  # never to be sent
            self._afterMessage = _stop  # deliver nothing more
        cast(ITCPTransport, self.transport).abortConnection()

    @property
    def peer(self) -> IAddress | None:
        proxied = self.proxied
        if proxied is not None and proxied.source is not None:
            return proxied.source  # the client behind the balancer
        return None if self.transport is None else self.transport.getPeer()

    @property
    def host(self) -> IAddress | None:
        proxied = self.proxied
        if proxied is not None and proxied.destination is not None:
            return proxied.destination
        return None if self.transport is None else self.transport.getHost()

    @property
    def secure(self) -> bool:
        return isTLS(self.transport) and not self.handshaking

    @property
    def peerCertificate(self) -> Any:
        if not self.secure:
            return None
        return cast(ISSLTransport, self.transport).getPeerCertificate()

    def describePeer(self) -> str:
        return describeAddress(self.peer)
