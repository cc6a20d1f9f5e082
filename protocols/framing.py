"""
Thin adapters from Twisted protocols to machines, one per framing.

An adapter turns transport events into machine inputs and implements the
machine's `statemachines.transport.Link`.  It decides nothing: every event,
including a framing error, goes to the machine, which decides what happens.

========== ===================== ===================================
framing    Twisted receiver      a message is
========== ===================== ===================================
line       (own, linear)         one CRLF-terminated line
netstring  NetstringReceiver     one netstring
int32      Int32StringReceiver   one string with a 4-byte length
raw        Protocol              whatever one dataReceived delivers
========== ===================== ===================================

Only the line framing is text, so only there does ``reportError`` reach the
peer (as an ``Error: <reason>`` line); elsewhere the connection just closes.

Half-close: the adapters are ``IHalfCloseableProtocol``s.  On a server, a
peer that finished sending (``readConnectionLost``) is the machine's
``peerFinished`` input: it may still read, so the machine decides when to
close (echo: once every reply is written).  A client adapter closes when the
server finishes sending, and the loss that follows is handled as any other.

Backpressure: every adapter registers itself as its transport's streaming
producer.  When the transport's write buffer fills (a peer that sends but
does not read what comes back), the transport pauses the adapter, which stops
reading from that peer until the buffer drains; so one such peer cannot make
the process buffer without bound, and the others are served meanwhile.  A
paused producer keeps a closing connection open forever, so the adapter
unregisters before it closes.

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

import sys
from typing import Any, ClassVar, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IHandshakeListener,
    INegotiated,
    IPushProducer,
    ISSLTransport,
    ITCPTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.basic import Int32StringReceiver, NetstringReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines.transport import Link, TransportMachine

DEFAULT_MAX_FRAME_LENGTH = 16 * 1024


def isTLS(transport: object) -> bool:
    """Whether ``transport`` is a TLS connection (either Twisted flavour)."""
    return ISSLTransport.providedBy(transport) or INegotiated.providedBy(transport)


@implementer(IPushProducer, IHandshakeListener, IHalfCloseableProtocol)
class MachineAdapter(Protocol):
    """What every framing shares: lifecycle events in, `Link` out."""

    framing: ClassVar[str]
    textErrors: ClassVar[bool] = False
    MAX_LENGTH = DEFAULT_MAX_FRAME_LENGTH  # the same default on every framing

    def __init__(
        self,
        machine: TransportMachine,
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
        ready: Deferred[Link] | None = None,
    ) -> None:
        """
        @param ready: a client's dial, fired with this adapter once the
            connection is ready (see the module doc); None on a server.
        """
        self.machine = machine
        if maxFrameLength != self.MAX_LENGTH:
            self.MAX_LENGTH = maxFrameLength
        if ready is not None:
            self.ready = ready
            self.isClient = True

    ready: Deferred[Link] | None = None  # a client's dial, until it fires
    isClient = False
    _producing = False  # registered as the transport's producer
    handshaking = False  # a TLS handshake is in progress

    def connectionMade(self) -> None:
        cast(IConsumer, self.transport).registerProducer(self, True)
        self._producing = True
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
        if self.ready is not None:
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
        if self.isClient:
            # A server that finished sending has nothing more for us: close,
            # and the loss that follows is handled as any other.
            assert self.transport is not None
            self.transport.loseConnection()
        else:
            self.machine.peerFinished()

    def writeConnectionLost(self) -> None:
        pass  # we never half-close

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.handshaking = False
        ready, self.ready = self.ready, None
        if ready is None:
            self.machine.connectionLost(reason)
        elif not ready.called:  # the dial may have been cancelled already
            ready.errback(reason)

    # -- Link ---------------------------------------------------------------

    def sendMessage(self, message: bytes) -> None:
        raise NotImplementedError

    def reportError(self, reason: str) -> None:
        if self.textErrors:
            self.sendMessage(b"Error: " + reason.encode("utf-8"))

    def loseConnection(self) -> None:
        assert self.transport is not None
        if self._producing:
            self._producing = False
            cast(IConsumer, self.transport).unregisterProducer()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        cast(ITCPTransport, self.transport).abortConnection()

    def describePeer(self) -> str:
        if self.transport is None:
            return "-"
        peer = self.transport.getPeer()
        host, port = getattr(peer, "host", None), getattr(peer, "port", None)
        return f"{host}:{port}" if host is not None else str(peer)


class LineAdapter(MachineAdapter):
    """
    CRLF lines, with `LineReceiver`'s limits and delimiter semantics but
    linear time: ``LineReceiver`` re-copies the rest of its buffer for every
    line it splits off, which is quadratic in the number of lines that arrive
    together (Twisted #6357); this splits what arrived in one pass.
    """

    framing = "line"
    textErrors = True
    delimiter = b"\r\n"
    _buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.machine.dataArrived()
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        limit = self.MAX_LENGTH
        lines = data.split(self.delimiter)  # one pass in C, whatever the count
        rest = lines.pop()
        messageReceived = self.machine.messageReceived
        transport: Any = self.transport
        for line in lines:
            if len(line) > limit:
                self.lineLengthExceeded(line)
                return
            messageReceived(line)
            if transport.disconnecting:
                return
        if len(rest) >= limit + len(self.delimiter):
            self.lineLengthExceeded(rest)
            return
        self._buffer = rest

    def lineLengthExceeded(self, line: bytes) -> None:
        self.machine.badFrame(f"line longer than {self.MAX_LENGTH} bytes")

    def sendMessage(self, message: bytes) -> None:
        # Looking for one byte (an int) first: ``bytes in bytes`` costs ten
        # times as much, and this runs once per message.
        if self.delimiter[-1] in message and self.delimiter in message:
            raise ValueError(f"a line may not contain {self.delimiter!r}: {message!r}")
        assert self.transport is not None
        self.transport.write(message + self.delimiter)


class _StringAdapter(MachineAdapter):
    """What the length-prefixed framings share; Twisted's receiver parses."""

    def dataReceived(self, data: bytes) -> None:
        self.machine.dataArrived()
        super().dataReceived(data)  # the Twisted receiver's, next in the MRO

    def stringReceived(self, string: bytes) -> None:
        self.machine.messageReceived(string)

    def sendMessage(self, message: bytes) -> None:
        self.sendString(message)  # type: ignore[attr-defined]


class NetstringAdapter(_StringAdapter, NetstringReceiver):
    framing = "netstring"

    def _handleParseError(self) -> None:
        # NetstringReceiver calls this from inside its ``except`` block.
        error = sys.exc_info()[1]
        self.brokenPeer = 1
        self.machine.badFrame(f"bad netstring: {error}")


class Int32Adapter(_StringAdapter, Int32StringReceiver):
    framing = "int32"

    def lengthLimitExceeded(self, length: int) -> None:
        self.machine.badFrame(f"frame of {length} bytes exceeds {self.MAX_LENGTH}")


class RawAdapter(MachineAdapter):
    framing = "raw"

    def dataReceived(self, data: bytes) -> None:
        self.machine.dataArrived()
        self.machine.messageReceived(data)

    def sendMessage(self, message: bytes) -> None:
        assert self.transport is not None
        self.transport.write(message)


FRAMINGS: dict[str, type[MachineAdapter]] = {
    adapter.framing: adapter
    for adapter in (LineAdapter, NetstringAdapter, Int32Adapter, RawAdapter)
}


def adapterFor(framing: str) -> type[MachineAdapter]:
    """The adapter class for ``framing``; ValueError names the choices."""
    try:
        return FRAMINGS[framing]
    except KeyError:
        raise ValueError(
            f"unknown framing {framing!r}; pick one of {', '.join(FRAMINGS)}"
        ) from None
