"""
The server-side lifecycle of one connection.

Theory of operation
===================

One `ConnectionMachine` serves one connection.  The adapter feeds it
transport events as inputs; outputs act through the injected `Link` and clock
and call plain methods.  The hooks subclasses override are outputs themselves
(``onConnected``, ``onMessage``) or called by one (``onDisconnected``).

    idle --connectionMade--> connected --messageReceived--> receiving
    connected / receiving --closeRequested | badFrame | timeout | failed--> closing
    any live state --connectionLost--> closed

- ``timeout`` is the one timer input.  In ``connected`` and ``receiving`` it
  means the peer has sent no bytes for ``idleTimeout`` seconds
  (``dataArrived`` restarts the count, so a peer slowly sending one long
  message is not idle); in ``closing`` it means the peer did not let the
  connection close within ``closeTimeout`` seconds, and the connection is
  aborted.  At most one timer is pending, and
  none survives ``closed``.
- Every pair of state and input not in the table below is rejected: the
  event is logged with state and input, the peer is told where the framing
  allows, and the connection closes (see `machineError`).  A hook that
  raises is handled the same way.  Nothing escapes into the reactor.
- A connection lost while ``connected`` or ``receiving`` ended on the peer's
  side.  A clean close is routine (a debug event); anything else (a reset, a
  failed TLS handshake) is logged at info level with the reason.
- Inputs that arrive while ``closing`` (data already in flight, a second
  close request) are expected and deliberately ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from automat import MethodicalMachine
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from .blueprint import ANY
from .errorpolicy import FailsConnection
from .interfaces import NO_LINK, Link
from .perclass import rejects
from .timer import Timer

DEFAULT_IDLE_TIMEOUT = 300.0
CloseObserver = Callable[["ConnectionMachine"], object]
DEFAULT_CLOSE_TIMEOUT = 10.0


class ConnectionMachine(FailsConnection):
    """
    The lifecycle of one server-side connection.  Subclass it and override
    the hooks, or add states and transitions (see `statemachines.inherited`).
    """

    _machine = MethodicalMachine()
    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        *,
        idleTimeout: float | None = DEFAULT_IDLE_TIMEOUT,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.closeTimeout = closeTimeout
        self.link: Link = NO_LINK

    _timer: Timer | None = None  # made when first needed: most never are

    def _timerNow(self) -> Timer:
        if self._timer is None:
            self._timer = Timer(self.clock, self)
        return self._timer

    # One observer (the usual case: the server's count), a list, or None.
    _closeObservers: CloseObserver | list[CloseObserver] | None = None

    def onDisconnected(self, reason: Failure) -> None:
        """The connection is gone (a hook: override it)."""

    # -- actions for hooks ----------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send one message to the peer (dropped, and logged, if none)."""
        self.link.sendMessage(message)

    def close(self) -> None:
        """Close the connection once what was sent is flushed."""
        self.closeRequested()

    def notifyClosed(self, observer: CloseObserver) -> None:
        """Call ``observer(machine)`` once the connection is gone."""
        observers = self._closeObservers
        if self.state == "closed":
            observer(self)
        elif observers is None:
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

    @_machine.state()
    def connected(self) -> None:
        "The connection is up; the peer has sent nothing yet."

    @_machine.state()
    def receiving(self) -> None:
        "The peer is sending messages."

    @_machine.state()
    def closing(self) -> None:
        "Closing was asked for; waiting for the connection to go."

    @_machine.state()
    def closed(self) -> None:
        "The connection is gone (terminal)."

    # -- inputs ---------------------------------------------------------------

    @_machine.input()
    def connectionMade(self, link: Link) -> None:
        "The transport is connected."

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
    def closeRequested(self) -> None:
        "Someone on our side asked to close."

    @_machine.input()
    def timeout(self) -> None:
        "The pending timer fired."

    @_machine.input()
    def failed(self, reason: str) -> None:
        "The machine could not go on (see machineError)."

    @_machine.input()
    def connectionLost(self, reason: Failure) -> None:
        "The transport is gone."

    # -- outputs --------------------------------------------------------------

    @_machine.output()
    def _attach(self, link: Link) -> None:
        self.link = link
        self.log.debug("{machine} connected", machine=self)

    @_machine.output()
    def _startIdleTimer(self) -> None:
        # Runs on every chunk that arrives: one call (restart) when it can.
        if self.idleTimeout is not None:
            (self._timer or self._timerNow()).restart(self.idleTimeout)
        elif self._timer is not None:
            self._timer.cancel()  # whatever deadline came before, none now

    # -- hooks: outputs meant to be overridden (plain methods work) ----------

    @_machine.output()
    def onConnected(self) -> None:
        """The connection is up."""

    @_machine.output()
    def onMessage(self, message: bytes) -> None:
        """One message (a line, a string, or a chunk of raw bytes) arrived."""

    @_machine.output()
    def _reportError(self, reason: str) -> None:
        self.log.info("{machine} closing: {reason}", machine=self, reason=reason)
        self.link.reportError(reason)

    @_machine.output()
    def _reportIdle(self) -> None:
        self.log.info(
            "{machine} closing: idle for {seconds} seconds",
            machine=self,
            seconds=self.idleTimeout,
        )
        self.link.reportError("idle timeout")

    @_machine.output()
    def _loseConnection(self) -> None:
        self._timerNow().start(self.closeTimeout)
        self.link.loseConnection()

    @_machine.output()
    def _abortConnection(self) -> None:
        self.log.info("{machine} aborting: the peer did not close", machine=self)
        self.link.abortConnection()

    @_machine.output()
    def _logLoss(self, reason: Failure) -> None:
        if reason.check(ConnectionDone) is None:
            self.log.info(
                "{machine} lost the connection: {why}",
                machine=self,
                why=reason.getErrorMessage(),
            )

    @_machine.output()
    def _disconnected(self, reason: Failure) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.log.debug("{machine} disconnected", machine=self)
        self.link = NO_LINK
        observers = self._closeObservers
        self._closeObservers = None
        if observers is None:
            observers = []
        elif not isinstance(observers, list):
            observers = [observers]
        try:
            self.onDisconnected(reason)
        finally:
            for observer in observers:
                observer(self)

    # -- transitions ----------------------------------------------------------

    idle.upon(
        connectionMade,
        enter=connected,
        outputs=[_attach, _startIdleTimer, onConnected],
    )
    idle.upon(failed, enter=closed, outputs=[])

    connected.upon(dataArrived, enter=connected, outputs=[_startIdleTimer])
    connected.upon(messageReceived, enter=receiving, outputs=[onMessage])
    connected.upon(badFrame, enter=closing, outputs=[_reportError, _loseConnection])
    connected.upon(closeRequested, enter=closing, outputs=[_loseConnection])
    connected.upon(timeout, enter=closing, outputs=[_reportIdle, _loseConnection])
    connected.upon(failed, enter=closing, outputs=[_reportError, _loseConnection])
    connected.upon(connectionLost, enter=closed, outputs=[_logLoss, _disconnected])

    receiving.upon(dataArrived, enter=receiving, outputs=[_startIdleTimer])
    receiving.upon(messageReceived, enter=receiving, outputs=[onMessage])
    receiving.upon(badFrame, enter=closing, outputs=[_reportError, _loseConnection])
    receiving.upon(closeRequested, enter=closing, outputs=[_loseConnection])
    receiving.upon(timeout, enter=closing, outputs=[_reportIdle, _loseConnection])
    receiving.upon(failed, enter=closing, outputs=[_reportError, _loseConnection])
    receiving.upon(connectionLost, enter=closed, outputs=[_logLoss, _disconnected])

    closing.upon(dataArrived, enter=closing, outputs=[])
    closing.upon(messageReceived, enter=closing, outputs=[])
    closing.upon(badFrame, enter=closing, outputs=[])
    closing.upon(closeRequested, enter=closing, outputs=[])
    closing.upon(timeout, enter=closing, outputs=[_abortConnection])
    closing.upon(failed, enter=closing, outputs=[_abortConnection])
    closing.upon(connectionLost, enter=closed, outputs=[_disconnected])

    closed.upon(closeRequested, enter=closed, outputs=[])
    closed.upon(failed, enter=closed, outputs=[])

    # -- rejected on purpose (every other pair is a transition above) --------

    beforeConnecting = rejects(idle, ANY, "nothing can happen before the connection")
    connectedOnce = rejects(
        [connected, receiving, closing], connectionMade, "a connection is made once"
    )
    afterClosing = rejects(closed, ANY, "the connection is gone")
