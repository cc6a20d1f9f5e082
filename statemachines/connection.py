"""
The server-side lifecycle of one connection.

Theory of operation
===================

One `ConnectionMachine` serves one connection.  The adapter feeds it the
transport's inputs (`statemachines.transport`); outputs act through the
`Link` and the clock and call plain methods.  The hooks subclasses override
are outputs themselves (``onConnected``, ``onMessage``) or called by one
(``onDisconnected``).

    idle --connectionMade--> connected --messageReceived--> receiving
    open --closeRequested | badFrame | timeout | failed | peerFinished--> closing
    open, closing --connectionLost--> closed
    idle --failed--> closed

These lines are checked against the machine (`statemachines.engine.summary`).
``connected`` and ``receiving`` are within the superstate ``open``, which
declares the lifecycle once: a protocol's own states go within it too
(``@_machine.state(within=parent.open)``) and inherit every edge they do
not declare themselves.

- ``timeout`` is the one timer input, fired by two state timers.  In the
  states within ``open`` it means the peer has sent no bytes for
  ``idleTimeout`` seconds (``dataArrived`` restarts the count, so a peer
  slowly sending one long message is not idle); in ``closing`` it means the
  peer did not let the connection close within ``closeTimeout`` seconds,
  and the connection is aborted.  The engine starts each on entering its
  state and cancels it on leaving, so at most one is pending, and none
  survives ``closed``.
- Every pair of state and input not in the table below is rejected: the
  event is logged with state and input, the peer is told where the framing
  allows, and the connection closes (`TransportMachine.machineError`).  A hook
  that raises is handled the same way.  Nothing escapes into the reactor.
- A connection lost while ``connected`` or ``receiving`` ended on the peer's
  side.  A clean close is routine (a debug event); anything else (a reset, a
  failed TLS handshake) is logged at info level with the reason.
- Inputs that arrive while ``closing`` (data already in flight, a second
  close request) are expected and deliberately ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from .engine import ANY, Machine, inherited, rejects, stateTimer
from .limits import optionalTimeout, timeout
from .transport import NO_LINK, Link, TransportMachine

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "CloseObserver",
    "ConnectionMachine",
]

DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_CLOSE_TIMEOUT = 10.0
CloseObserver = Callable[["ConnectionMachine"], object]


class ConnectionMachine(TransportMachine):
    """
    The lifecycle of one server-side connection.  Subclass it and override
    the hooks, or add states and transitions (see `statemachines.inherited`).
    """

    _machine = Machine()
    transport = inherited(_machine, TransportMachine)

    def __init__(
        self,
        clock: IReactorTime,
        *,
        idleTimeout: float | None = DEFAULT_IDLE_TIMEOUT,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        super().__init__(clock)
        self.idleTimeout = optionalTimeout("idleTimeout", idleTimeout)
        self.closeTimeout = timeout("closeTimeout", closeTimeout)
        # Who waits for the close: usually one (the server), held as it is,
        # so a connection holds no container for it; more are in a list.
        self._closeObservers: CloseObserver | list[CloseObserver] | None = None

    def onDisconnected(self, reason: Failure) -> None:
        """The connection is gone (a hook: override it)."""

    # -- actions for hooks (and `TransportMachine.send`) ----------------------

    def close(self) -> None:
        """Close the connection once what was sent is flushed."""
        self.closeRequested()

    def notifyClosed(self, observer: CloseObserver) -> None:
        """Call ``observer(machine)`` once the connection is gone."""
        if self.state == "closed":
            observer(self)
            return
        observers = self._closeObservers
        if observers is None:
            self._closeObservers = observer
        elif isinstance(observers, list):
            observers.append(observer)
        else:
            self._closeObservers = [observers, observer]

    def whenClosed(self) -> Deferred[None]:
        """A Deferred that fires once the connection is gone."""
        d: Deferred[None] = Deferred()
        self.notifyClosed(lambda machine: d.callback(None))
        return d

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.link.describePeer()} {self.state}>"

    # -- states ---------------------------------------------------------------

    @_machine.state(initial=True)
    def idle(self) -> None:
        "No connection yet."

    @_machine.superstate()
    def open(self) -> None:
        "The connection is up and in use: the lifecycle every protocol state shares."

    @_machine.state(within=open)
    def connected(self) -> None:
        "The connection is up; the peer has sent nothing yet."

    @_machine.state(within=open)
    def receiving(self) -> None:
        "The peer is sending messages."

    @_machine.state()
    def closing(self) -> None:
        "Closing was asked for; waiting for the connection to go."

    @_machine.state(terminal=True)
    def closed(self) -> None:
        "The connection is gone (terminal)."

    # -- inputs (besides the transport's) --------------------------------------

    @_machine.input()
    def closeRequested(self) -> None:
        "Someone on our side asked to close."

    # -- outputs: the lifecycle's building blocks ------------------------------
    #
    # Public, so that a subclass's own transitions can use them
    # (``outputs=[parent.reportIdle, parent.loseConnection]``) and override
    # them by name (SMTP answers ``421`` in ``reportError``).  They act only
    # as outputs of a transition: call `close` or `send`, not these.

    @_machine.output()
    def attach(self, link: Link) -> None:
        self.link = link
        self.log.debug("{machine} connected", machine=self)

    @_machine.output()
    def startIdleTimer(self) -> None:
        """Start the idle timer over (it runs while the connection is open)."""
        self.restartTimer("open")

    # -- hooks: outputs meant to be overridden (plain methods work) ----------

    @_machine.output()
    def onConnected(self) -> None:
        """The connection is up."""

    @_machine.output()
    def onMessage(self, message: bytes) -> None:
        """One message (a line, a string, or a chunk of raw bytes) arrived."""

    @_machine.output()
    def onSecured(self) -> None:
        """TLS this machine started with ``link.startTLS`` is up."""

    @_machine.output()
    def reportError(self, reason: str) -> None:
        self.logNoteworthy("{machine} closing: {reason}", reason=reason)
        self.link.reportError(reason)

    @_machine.output()
    def reportIdle(self) -> None:
        self.logIdle()
        self.link.reportError("idle timeout")

    def logIdle(self) -> None:
        """The log line of an idle timeout (for a `reportIdle` of one's own)."""
        self.logNoteworthy(
            "{machine} closing: idle for {seconds:.10g} s", seconds=self.idleTimeout
        )

    @_machine.output()
    def loseConnection(self) -> None:
        self.link.loseConnection()  # closing's timer aborts it if need be

    @_machine.output()
    def abortConnection(self) -> None:
        self.logNoteworthy("{machine} aborting: the peer did not close")
        self.link.abortConnection()

    @_machine.output()
    def logLoss(self, reason: Failure) -> None:
        if reason.check(ConnectionDone) is None:
            self.logNoteworthy(
                "{machine} lost the connection: {why}", why=reason.getErrorMessage()
            )

    @_machine.output()
    def disconnected(self, reason: Failure) -> None:
        self.log.debug("{machine} disconnected", machine=self)
        self.link = NO_LINK
        observers, self._closeObservers = self._closeObservers, None
        try:
            self.onDisconnected(reason)
        finally:
            if observers is not None:
                self._tellClosed(observers)

    def _tellClosed(self, observers: CloseObserver | list[CloseObserver]) -> None:
        """Call each observer; one that raises is logged, and the rest still hear."""
        for observer in observers if isinstance(observers, list) else [observers]:
            try:
                observer(self)
            except Exception:
                self.log.failure(
                    "{machine} close observer {observer!r} failed",
                    machine=self,
                    observer=observer,
                )

    # -- transitions ----------------------------------------------------------

    # The timers: idle while open (each read starts it over), then the close
    # deadline.  Each starts when its state is entered and stops when it is
    # left, so none outlives the connection.
    idleTimer = stateTimer(open, "idleTimeout", fires=transport.timeout)
    closeTimer = stateTimer(closing, "closeTimeout", fires=transport.timeout)

    idle.upon(transport.connectionMade, enter=connected, outputs=[attach, onConnected])
    idle.upon(transport.failed, enter=closed, outputs=[])

    # The lifecycle, once for every state within open (a protocol's own
    # states too): what a state does not declare itself, it does like this.
    open.upon(transport.dataArrived, outputs=[startIdleTimer])
    open.upon(transport.messageReceived, enter=receiving, outputs=[onMessage])
    open.upon(transport.secured, outputs=[onSecured])
    open.upon(transport.badFrame, enter=closing, outputs=[reportError, loseConnection])
    open.upon(transport.failed, enter=closing, outputs=[reportError, loseConnection])
    open.upon(transport.timeout, enter=closing, outputs=[reportIdle, loseConnection])
    open.upon(transport.peerFinished, enter=closing, outputs=[loseConnection])
    open.upon(closeRequested, enter=closing, outputs=[loseConnection])
    open.upon(transport.connectionLost, enter=closed, outputs=[logLoss, disconnected])

    closing.upon(transport.dataArrived, enter=closing, outputs=[])
    closing.upon(transport.messageReceived, enter=closing, outputs=[])
    closing.upon(transport.badFrame, enter=closing, outputs=[])
    closing.upon(closeRequested, enter=closing, outputs=[])
    closing.upon(transport.peerFinished, enter=closing, outputs=[])
    closing.upon(transport.timeout, enter=closing, outputs=[abortConnection])
    closing.upon(transport.failed, enter=closing, outputs=[abortConnection])
    closing.upon(transport.connectionLost, enter=closed, outputs=[disconnected])
    closing.upon(transport.secured, enter=closing, outputs=[])

    closed.upon(closeRequested, enter=closed, outputs=[])
    closed.upon(transport.failed, enter=closed, outputs=[])

    # -- rejected on purpose (every other pair is a transition above) --------

    beforeConnecting = rejects(idle, ANY, "nothing can happen before the connection")
    connectedOnce = rejects(
        [open, closing], transport.connectionMade, "a connection is made once"
    )
    afterClosing = rejects(closed, ANY, "the connection is gone")
