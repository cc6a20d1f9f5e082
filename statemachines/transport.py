"""
What every machine that runs a connection shares, server or client side.

Machines do no I/O.  An adapter in `protocols` implements `Link` for one
connection, hands it to the machine with the ``connectionMade`` input, and
feeds it the transport's events as the inputs `TransportMachine` declares:
one declaration for the server lifecycle (`statemachines.connection`) and
the client lifecycle (`statemachines.client`) alike.

While a machine has no connection (before one is made, after it is lost) its
``link`` is `NO_LINK`, a `Link` that drops what is sent to it with a log
event; ``machine.link is NO_LINK`` is how to ask whether there is one.
`TransportMachine.send` is the one ``send()`` of servers and clients: with
no connection it drops the message, with a warning naming the machine, and
raises nothing.

When something goes wrong inside such a machine - an input its state rejects,
or an output (a hook) that raises - `TransportMachine` logs one structured
event naming the state and the input, then feeds the machine's own
``failed(reason)`` input, so that the machine's table decides what failing
means in the current state (tell the peer and close, or abort).  If even that
goes wrong, the last resort is to log and abort the connection; it never
loops and never raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from .engine import Machine, MachineError, StateMachine, mustHandle
from .eventrate import EventRate

if TYPE_CHECKING:
    from .framing import Framer

__all__ = ["NO_LINK", "Link", "NoLink", "TransportMachine"]


class Link(Protocol):
    """One connection, as a machine sees it."""

    def sendMessage(self, message: bytes) -> None:
        """Send one message, framed the way this connection frames messages."""

    def reportError(self, reason: str) -> None:
        """
        Tell the peer about an error, as an ``Error: <reason>`` line where
        the framing is text; a no-op on binary framings.
        """

    def loseConnection(self) -> None:
        """Close after everything written so far has been sent."""

    def abortConnection(self) -> None:
        """Close now, dropping anything not yet sent."""

    def describePeer(self) -> str:
        """The peer's address, for log events."""

    @property
    def peer(self) -> IAddress | None:
        """The peer's address (behind a PROXY-protocol balancer: the client's)."""

    @property
    def host(self) -> IAddress | None:
        """This end's address."""

    @property
    def secure(self) -> bool:
        """Whether the connection is TLS (with its handshake completed)."""

    @property
    def peerCertificate(self) -> Any:
        """The peer's certificate (an ``OpenSSL.crypto.X509``) if it sent one."""

    def switchFraming(self, framer: Framer, *, sending: bool = False) -> None:
        """
        Frame what arrives after the current message with ``framer``,
        including what has already arrived (see `statemachines.framing`);
        with ``sending``, also frame what is sent from now on with it.
        """

    def startTLS(self, contextFactory: Any) -> None:
        """
        Start TLS after what has been sent so far: a server's
        ``CertificateOptions`` or a client's ``optionsForClientTLS(...)``.
        The ``secured`` input follows when the handshake completes.
        """


class NoLink:
    """
    The `Link` of a machine with no connection: messages sent to it are
    dropped with a log event, the rest does nothing.
    """

    log = Logger()

    def sendMessage(self, message: bytes) -> None:
        self.log.warn(
            "dropped a message of {length} bytes: no connection", length=len(message)
        )

    def reportError(self, reason: str) -> None:
        pass

    def loseConnection(self) -> None:
        pass

    def abortConnection(self) -> None:
        pass

    def describePeer(self) -> str:
        return "-"

    peer = host = peerCertificate = None
    secure = False

    def switchFraming(self, framer: Framer, *, sending: bool = False) -> None:
        pass

    def startTLS(self, contextFactory: Any) -> None:
        raise ValueError("no connection to start TLS on")


NO_LINK = NoLink()


class TransportMachine(StateMachine):
    """
    What a machine with a connection has: a `Link` (`NO_LINK` while there is
    none), a clock (for its timers), the transport's inputs and ``timeout``,
    and the error policy.  It declares no states (the lifecycles
    do).
    """

    _machine = Machine()
    log = Logger()

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        # Read on every message (see "Attribute layout" in engine/machine.py).
        self.link: Link = NO_LINK

    @_machine.input()
    def connectionMade(self, link: Link) -> None:
        "The connection is up; ``link`` is how to use it."

    @_machine.input()
    def dataArrived(self) -> None:
        "Bytes arrived from the peer (whether or not they complete a message)."

    @_machine.input()
    def messageReceived(self, message: bytes) -> None:
        "The framing delivered one message."

    @_machine.input()
    def badFrame(self, reason: str) -> None:
        "The framing found data it cannot accept (too long, malformed)."

    @_machine.input()
    def peerFinished(self) -> None:
        "The peer finished sending (a half-close); it may still read."

    @_machine.input()
    def connectionLost(self, reason: Failure) -> None:
        "The connection is gone."

    @_machine.input()
    def failed(self, reason: str) -> None:
        "The machine could not go on with this connection (see machineError)."

    @_machine.input()
    def timeout(self) -> None:
        "The timer fired."

    @_machine.input()
    def secured(self) -> None:
        "TLS started by ``link.startTLS`` completed its handshake."

    # Every state of every lifecycle built on this, a protocol's own states
    # included, hears the connection go and the timer fire: a state that
    # would ignore either is refused when its class is created.
    noStuckStates = mustHandle(
        [connectionLost, timeout],
        "the connection can be lost, and a timer fire, in every state",
        ends=[connectionLost],
    )

    def send(self, message: bytes) -> None:
        """
        Send one message to the peer, framed the way the connection frames
        messages.  The same on servers and clients: with no connection
        (before it is made, once it is gone, while a client reconnects) the
        message is dropped, with a warning naming the machine, and nothing
        is raised, as Twisted's ``transport.write`` drops what is written
        once the connection is gone.  A late send (from a timer, or a
        callback that fires after the loss) cannot reach the peer it was
        for, and must not reach the next connection, which starts afresh;
        ``link is NO_LINK`` tells whether there is a connection.

        @param message: one message, unframed.
        @raise ValueError: if the connection's framing cannot carry
            ``message`` (a line that holds the delimiter).
        """
        link = self.link
        if link is NO_LINK:
            self.log.warn(
                "{machine} dropped a message of {length} bytes: no connection",
                machine=self,
                length=len(message),
            )
            return
        link.sendMessage(message)

    def logNoteworthy(self, format: str, **fields: Any) -> None:
        """
        An info event about this connection (a loss, a timeout, a refusal),
        at a bounded rate across every connection on the clock: past it, at
        debug level, summarised (see `statemachines.eventrate`).
        """
        EventRate.of(self.clock).emit(
            self.log, LogLevel.info, format, machine=self, **fields
        )

    # -- the error policy -----------------------------------------------------

    def machineError(self, error: MachineError) -> None:
        fields: dict[str, Any] = dict(
            machine=self, state=error.state, input=error.input
        )
        if error.kind == "rejected":
            self.log.warn(
                "{machine} rejected input {input} in state {state} ({why}); failing",
                why=error.why or "not declared",
                **fields,
            )
            self.failed("protocol violation")
        else:
            self.log.failure(
                "{machine} failed handling input {input} in state {state}; failing",
                error.failure,
                **fields,
            )
            self.failed("internal error")

    def machineErrorUnhandled(self, error: MachineError) -> None:
        fields: dict[str, Any] = dict(
            machine=self, state=error.state, input=error.input
        )
        message = "{machine} could not handle input {input} in state {state}; aborting"
        if error.failure is not None:
            self.log.failure(message, error.failure, **fields)
        else:
            self.log.error(message, **fields)
        self.link.abortConnection()
