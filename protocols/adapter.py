"""
The thin adapter from a Twisted protocol to a machine.

`MachineAdapter` turns transport events into machine inputs and implements
the machine's `statemachines.transport.Link`.  It decides nothing: every
event, including a framing error, goes to the machine, which decides what
happens.  How bytes become messages is the job of its framer (see
`statemachines.framing`); the adapter only feeds it and delivers what it
yields.

Switching framing: a machine calls ``link.switchFraming(framer)`` from an
output to change how what *arrives* is framed, as ``LineReceiver``'s
``setRawMode`` does: what it sends keeps the connection's framing (SMTP
replies stay lines while a message body arrives) unless it asks for
``sending=True`` too.  While the adapter is delivering messages (the usual case: the
switch follows a message such as SMTP's ``DATA``), it stops after the
current message, takes the old framer's unconsumed bytes and feeds them to
the new one, so nothing that already arrived is lost, duplicated or
reordered.  A switch at any other time (from a timer, say) moves the old
framer's bytes to the new one and delivers what they complete on the next
turn of the reactor, never inside the machine's own output.

STARTTLS: ``link.startTLS(contextFactory)`` starts TLS on the connection
(server or client side, by which end the connection is).  Bytes the peer
sent in plain text after the message that started it are not fed to TLS:
they are dropped, with a log event (a peer that pipelines commands behind a
STARTTLS is either broken or injecting them).  When the handshake completes
the machine gets the ``secured`` input; a handshake that fails loses the
connection, which the machine hears as ``connectionLost``.

Writing: what the machine sends while the adapter delivers the messages of
one read is framed as it is sent, collected and written once, when the
delivery ends (a read of a hundred pipelined requests costs one write, not a
hundred), and earlier when something else must reach the transport after
it: a close, STARTTLS.  Outside a delivery (a timer, a banner), a message
is written as it is sent.  Writes go through `protocols.sendnow`: to
the socket at once when the connection holds nothing unsent.  A message the
framing cannot carry (a line with a CRLF in it) raises ValueError from
``sendMessage``, in the machine's output that sent it, during a delivery
too: the machine's error policy handles it there.

Half-close: the adapter is an ``IHalfCloseableProtocol``.  On a server, a
peer that finished sending (``readConnectionLost``) is the machine's
``peerFinished`` input: it may still read, so the machine decides when to
close (echo: once every reply is written).  A client adapter closes when the
server finishes sending, and the loss that follows is handled as any other.

Backpressure: the adapter registers itself as its transport's streaming
producer, from the first reply that has to wait in the transport's buffer
(an idle connection whose replies always went at once never needs it).
When the transport's write buffer fills (a peer that sends but does not
read what comes back), the transport pauses the adapter, which stops
reading from that peer until the buffer drains; so one such peer cannot make
the process buffer without bound, and the others are served meanwhile.  On
a server, "fills" is the connection's share of a total budget (see
`protocols.budget`), applied on each read.  A paused producer keeps a
closing connection open forever, so the adapter unregisters before it
closes.

PROXY header: behind a balancer (``admission`` given, see
`protocols.proxyheader`), a server adapter first reads the PROXY header, and
only then asks the server to admit the client it names (its machine, or a
refusal) and goes on as below, ``peer`` being that client.  No valid header
within the server's close timeout: the connection is aborted, with a log
line.

Connecting: a server adapter tells its machine ``connectionMade`` at once
(on TLS too, so the idle timeout also covers a peer that never finishes its
handshake).  A client adapter instead fires the ``ready`` Deferred of the
dial that made it (see `protocols.client.EndpointDialer`), on TLS only once
the handshake has completed and the server's certificate has been verified;
a connection lost before that fails the dial, so a wrong hostname or an
untrusted certificate counts against the client's attempts like a refused
connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from typing import Protocol as Protocol_

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IHalfCloseableProtocol,
    IHandshakeListener,
    INegotiated,
    IPushProducer,
    IReactorTime,
    ISSLTransport,
    ITCPTransport,
    ITLSTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines.eventrate import EventRate
from statemachines.framing import FrameError, Framer
from statemachines.transport import Link, TransportMachine

from .budget import BufferBudget, socketOf
from .proxyheader import BadProxyHeader, ProxiedAddresses, ProxyHeader
from .sendnow import sendAtOnce


class Admission(Protocol_):
    """Who picks a machine once the PROXY header names the client."""

    clock: IReactorTime
    closeTimeout: float

    def admit(self, addr: IAddress | None) -> TransportMachine: ...

    def settled(self, adapter: MachineAdapter) -> None:
        """``adapter`` awaits its header no more (it came, or never will)."""


__all__ = ["MachineAdapter", "isTLS"]


def _stop(unconsumed: bytes) -> bytes:
    """What a delivery does after a message that closed the connection: stop."""
    return b""


def isTLS(transport: object) -> bool:
    """Whether ``transport`` is a TLS connection (either Twisted flavour)."""
    return ISSLTransport.providedBy(transport) or INegotiated.providedBy(transport)


@implementer(IPushProducer, IHandshakeListener, IHalfCloseableProtocol)
class MachineAdapter(Protocol):
    """One connection: transport events in, machine inputs out; the `Link`."""

    log = Logger()

    def __init__(
        self,
        machine: TransportMachine | None,
        framer: Framer,
        ready: Deferred[Link] | None = None,
        budget: BufferBudget | None = None,
        admission: Admission | None = None,
    ) -> None:
        """
        @param framer: this connection's framer, until the machine switches.
        @param ready: a client's dial, fired with this adapter once the
            connection is ready (see the module doc); None on a server.
        @param budget: the server's budget for unsent replies, if any.
        @param admission: read a PROXY header first, then get the machine
            from ``admission.admit(client)`` (``machine`` is None then).
        """
        self.machine = machine  # type: ignore[assignment]
        self.framer = framer  # frames what arrives
        self.sender = framer  # frames what is sent
        # Read on every read or every message, so set here, never read from
        # the class: CPython 3.11 reads a class attribute through an instance
        # (or an instance attribute that shadows it) more slowly.
        self._header: ProxyHeader | None = None  # while a PROXY header is awaited
        self._carried = b""  # bytes a switch moved, delivered on the next turn
        # While delivering (inside `_deliver`): the replies sent so far, framed.
        self._replies: list[bytes] | None = None
        # Set while delivering, to stop after the current message: a switch
        # (takes the old framer's unconsumed bytes, returns what the new one
        # is to be fed) or `_stop` (the connection is closing).
        self._afterMessage: Callable[[bytes], bytes] | None = None
        # Anything else is set only when it differs from the class's default:
        # an idle connection holds every attribute it has, 8 bytes each.
        if budget is not None:  # read on every read, but every server has one
            self.budget = budget
        if admission is not None:
            self.admission = admission
        if ready is not None:
            self.ready = ready
            self.isClient = True

    machine: TransportMachine
    budget: BufferBudget | None = None
    admission: Admission | None = None
    ready: Deferred[Link] | None = None  # a client's dial, until it fires
    _proxied: ProxiedAddresses | None = None
    _socket: Any = None  # the socket transport whose share the budget sets
    isClient = False
    # Registered as the transport's producer: False until a write waits in
    # its buffer, True from then on, None once unregistered to close.  Never
    # registered once the transport is closing (see `_send`).
    _producing: bool | None = False
    handshaking = False  # a TLS handshake is in progress
    _startedTLS = False  # the machine started TLS (so it hears `secured`)

    def connectionMade(self) -> None:
        if self.budget is not None:
            self._socket = socketOf(self.transport)
            if self._socket is None:
                self.budget = None  # not a socket: nothing to share
            else:
                self._socket.bufferSize = self.budget.share
        if self.admission is not None:
            self._header = ProxyHeader()
            self._headerDeadline = self.admission.clock.callLater(
                self.admission.closeTimeout, self._noHeader, "none arrived in time"
            )
            return
        self._begin()

    def _begin(self) -> None:
        if isTLS(self.transport):
            self.handshaking = True  # only then: an idle connection stays small
        if self.ready is None:
            self.machine.connectionMade(self)
        elif not self.handshaking:
            self._fireReady()

    def handshakeCompleted(self) -> None:
        # Twisted calls this even when verifying the certificate failed
        # during the handshake; the transport is aborting then.
        if not self.handshaking or getattr(self.transport, "disconnecting", False):
            return
        self.handshaking = False
        if self._startedTLS:
            self.machine.secured()
        elif self.ready is not None:
            self._fireReady()

    def _fireReady(self) -> None:
        ready = self.ready
        assert ready is not None
        if ready.called:
            # The dial was cancelled, but the endpoint connected anyway:
            # nobody wants this connection.  (``ready`` stays set, so its
            # loss is not reported to the machine either.)
            self.abortConnection()
            return
        self.ready = None
        ready.callback(self)

    # -- bytes in, messages out ------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.budget is not None:
            self._socket.bufferSize = self.budget.share
        if self._header is not None:
            self._readHeader(data)
            return
        self.machine.dataArrived()
        if self._carried:
            data, self._carried = self._carried + data, b""
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        """
        Feed ``data`` to the framer; each message it completes to the
        machine.  After a switch, what the old framer did not consume goes
        to the new one, in this same loop (so a peer that pipelines a
        thousand switches costs no stack).

        What the machine sends meanwhile is framed and collected, and written
        to the transport at once when the delivery ends (or before anything
        else reaches the transport: a close, STARTTLS): one write per read,
        not one per reply.  The order is kept, and the
        transport's backpressure sees every reply before the next read.
        """
        messageReceived = self.machine.messageReceived
        replies: list[bytes] = []
        self._replies = replies
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
            self._replies = None
            self._afterMessage = None
            if replies:
                self._write(replies)

    def _flush(self) -> None:
        """Write the replies collected so far (see `_deliver`)."""
        replies = self._replies
        if replies:
            batch = replies[:]
            replies.clear()
            self._write(batch)

    def _write(self, replies: list[bytes]) -> None:
        """Write ``replies`` (framed as they were sent) at once."""
        try:
            data = b"".join(replies)
        except TypeError as e:  # a framer that returned something else than bytes
            self.log.failure(
                "a framer gave {peer} something other than bytes",
                Failure(e),
                peer=self.describePeer(),
            )
            self.machine.failed("internal error")
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        """
        Write ``data``: at once if the connection can take it; else through
        the transport's buffer, with this adapter registered as its producer
        from the first such write on (so the transport pauses reading while
        its buffer is full, and a connection that never needs that never
        pays for it).
        """
        rest = sendAtOnce(self.transport, data)
        if rest:
            if self._producing is False and not self.transport.disconnecting:  # type: ignore[union-attr]
                self._producing = True
                cast(IConsumer, self.transport).registerProducer(self, True)
            # Twisted takes only bytes: a framer's bytearray, sent at once
            # when the socket takes it all, must not fail when it does not.
            self.transport.write(bytes(rest))  # type: ignore[union-attr]

    def _readHeader(self, data: bytes) -> None:
        assert self._header is not None and self.admission is not None
        try:
            found = self._header.feed(data)
        except BadProxyHeader as e:
            self._noHeader(str(e))
            return
        if found is None:
            return
        self._proxied, rest = found
        self._settle()
        self.machine = self.admission.admit(self.peer)
        self._begin()
        if rest and not getattr(self.transport, "disconnecting", False):
            self.dataReceived(rest)

    def _settle(self) -> None:
        """The header is read, or will never be: tell the admission, once."""
        if self._header is None:
            return
        self._header = None
        if self._headerDeadline.active():
            self._headerDeadline.cancel()
        assert self.admission is not None
        self.admission.settled(self)

    def _noHeader(self, why: str) -> None:
        self._settle()
        # A peer can make this happen on every connection: at a bounded rate.
        assert self.admission is not None  # only a PROXY adapter waits for one
        EventRate.of(self.admission.clock).emit(
            self.log,
            LogLevel.info,
            "aborting a connection from {peer}: no valid PROXY header ({why})",
            peer=self.describePeer(),
            why=why,
        )
        self.abortConnection()

    def _closedUnheard(self) -> None:
        """
        The peer closed without sending a byte: a balancer's plain TCP health
        check does that every few seconds (HAProxy's ``check`` on another
        ``port``, say), so it is no news; closed, logged at debug.
        """
        self._settle()
        self.log.debug(
            "a connection from {peer} closed before sending anything",
            peer=self.describePeer(),
        )
        self.loseConnection()

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
            self._flush()  # in plain text, before the handshake
            # Reading goes on through the handshake (see pauseProducing): if
            # the flush paused it, Twisted's startTLS would hand our producer
            # to the TLS layer, which never saw that pause, and nothing would
            # resume reading: the handshake would stall.
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
        While delivering: have the delivery call ``then`` after the current
        message (unless the connection is closing: then nothing more), and
        say True.  Otherwise False.
        """
        if self._replies is None:
            return False
        if self._afterMessage is not _stop:
            self._afterMessage = then
        return True

    # -- IPushProducer: the transport pauses us while its buffer is full -------

    def pauseProducing(self) -> None:
        # TLS also pauses its producer while it holds writes made before the
        # handshake completed; reading must go on then, or the handshake
        # (and so the connection) never completes.
        if not self.handshaking:
            cast(IPushProducer, self.transport).pauseProducing()

    def resumeProducing(self) -> None:
        cast(IPushProducer, self.transport).resumeProducing()

    def stopProducing(self) -> None:
        pass  # the connection is going; connectionLost follows

    # -- IHalfCloseableProtocol: the peer may finish sending and still read -----

    def readConnectionLost(self) -> None:
        if self.machine is None:  # closed before its PROXY header: nobody to tell
            if self._header is not None and not self._header.started:
                self._closedUnheard()
            else:
                self._noHeader("the connection closed first")
            return
        if self.isClient:
            # A server that finished sending has nothing more for us: close
            # (unregistering first: a paused producer would keep it open),
            # and the loss that follows is handled as any other.
            self.loseConnection()
        else:
            self.machine.peerFinished()

    def writeConnectionLost(self) -> None:
        pass  # we never half-close

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Only attributes set already are changed here (and in loseConnection):
        # CPython 3.11 sizes every new adapter for all the attributes any
        # adapter ever had, so one set on every close would cost them all.
        if self.handshaking:
            self.handshaking = False
        if self.machine is None:  # lost before a PROXY header admitted anyone
            self._settle()
            return
        ready = self.ready
        if ready is None:
            self.machine.connectionLost(reason)
            return
        self.ready = None
        if not ready.called:  # the dial may have been cancelled already
            ready.errback(reason)

    # -- Link ---------------------------------------------------------------

    def sendMessage(self, message: bytes) -> None:
        # Framed now, so that a message the framing cannot carry raises
        # (ValueError) in the output that sent it, where the machine's error
        # policy handles it, before anything after it happens.
        framed = self.sender.frame(message)
        replies = self._replies
        if replies is None:
            self._send(framed)
        else:
            replies.append(framed)  # written when the delivery ends

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
        self._flush()
        if self._replies is not None:
            self._afterMessage = _stop  # deliver nothing more
        if self._producing:
            cast(IConsumer, self.transport).unregisterProducer()
            self._producing = None  # and never again (see `_send`)
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        if self._replies is not None:
            self._replies.clear()  # never to be sent
            self._afterMessage = _stop  # deliver nothing more
        cast(ITCPTransport, self.transport).abortConnection()

    @property
    def peer(self) -> IAddress | None:
        if self._proxied is not None and self._proxied.source is not None:
            return self._proxied.source  # the client behind the balancer
        return None if self.transport is None else self.transport.getPeer()

    @property
    def host(self) -> IAddress | None:
        if self._proxied is not None and self._proxied.destination is not None:
            return self._proxied.destination
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
        peer = self.peer
        host, port = getattr(peer, "host", None), getattr(peer, "port", None)
        if peer is None:
            return "-"
        return f"{host}:{port}" if host is not None else str(peer)
