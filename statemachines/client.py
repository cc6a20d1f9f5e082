"""
The client-side lifecycle: connect, talk, and reconnect after a loss.

Theory of operation
===================

One `ClientMachine` lives as long as a client does, across any number of
connections.  It asks the injected `Dialer` for a connection and learns the
outcome through inputs; a lost or failed connection leads to
``reconnecting``, where a timer from the retry policy leads back to
``connecting``.  Only ``stop`` ends the cycle: a deliberate close goes
through ``closing`` to ``stopped`` and never reconnects.

    idle --start--> connecting --connectionMade--> connected
    connected --messageReceived--> receiving
    connecting --connectionFailed--> reconnecting --timeout--> connecting
    connected / receiving --connectionLost--> reconnecting
    connected / receiving --stop--> closing --connectionLost--> stopped
    idle / connecting / reconnecting --stop--> stopped
    stopped --start--> connecting

- ``timeout`` is the one timer input: the retry delay in ``reconnecting``,
  the close deadline in ``closing``.  At most one timer is pending; none
  survives ``stopped``.
- A bad frame from the server, or a hook that raises, aborts the connection;
  the loss that follows is unexpected, so the machine reconnects.
- Events that can only be late echoes of an earlier decision (a connection
  attempt completing after ``stop``) are handled explicitly in ``stopped``;
  every other unlisted pair is rejected (logged, connection aborted).
"""

from __future__ import annotations

from collections.abc import Callable

from automat import MethodicalMachine
from twisted.application.internet import backoffPolicy
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from .errorpolicy import FailsConnection
from .interfaces import Dialer, Link
from .lifecycle import DEFAULT_CLOSE_TIMEOUT
from .timer import Timer

RetryPolicy = Callable[[int], float]


class ClientMachine(FailsConnection):
    """
    A client that keeps a connection up until stopped.  Subclass it and
    override the hooks, or extend its machine.
    """

    _machine = MethodicalMachine()
    log = Logger()

    def __init__(
        self,
        dialer: Dialer,
        clock: IReactorTime,
        *,
        retryPolicy: RetryPolicy | None = None,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self.dialer = dialer
        self.clock = clock
        self.retryPolicy: RetryPolicy = retryPolicy or backoffPolicy()
        self.closeTimeout = closeTimeout
        self.failedAttempts = 0
        self.link: Link | None = None
        self._timer = Timer(clock, self)
        self._stopWaiters: list[Deferred[None]] = []

    # -- hooks: override these ----------------------------------------------

    def onDisconnected(self, reason: Failure) -> None:
        """The current connection is gone (the machine may reconnect)."""

    def onStopped(self) -> None:
        """The client stopped for good (until started again)."""

    # -- actions --------------------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send one message on the current connection."""
        if self.link is None:
            raise RuntimeError(f"{self!r} has no connection to send on")
        self.link.sendMessage(message)

    def whenStopped(self) -> Deferred[None]:
        """A Deferred that fires the next time the machine reaches ``stopped``."""
        if self.state == "stopped":
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stopWaiters.append(d)
        return d

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state}>"

    # -- states ---------------------------------------------------------------

    @_machine.state(initial=True)
    def idle(self) -> None:
        "Not started."

    @_machine.state()
    def connecting(self) -> None:
        "A connection attempt is in progress."

    @_machine.state()
    def connected(self) -> None:
        "A connection is up; the server has sent nothing on it yet."

    @_machine.state()
    def receiving(self) -> None:
        "The server is sending messages."

    @_machine.state()
    def closing(self) -> None:
        "Stopping: waiting for the connection to go."

    @_machine.state()
    def reconnecting(self) -> None:
        "Waiting for the retry delay before the next attempt."

    @_machine.state()
    def stopped(self) -> None:
        "Stopped on purpose; only start leaves this state."

    # -- inputs ---------------------------------------------------------------

    @_machine.input()
    def start(self) -> None:
        "Begin connecting (and keep connected)."

    @_machine.input()
    def stop(self) -> None:
        "Close for good: no reconnection."

    @_machine.input()
    def connectionMade(self, link: Link) -> None:
        "The dialer's attempt succeeded."

    @_machine.input()
    def connectionFailed(self, reason: Failure) -> None:
        "The dialer's attempt failed."

    @_machine.input()
    def dataArrived(self) -> None:
        "Bytes arrived from the server."

    @_machine.input()
    def messageReceived(self, message: bytes) -> None:
        "The framing delivered one message."

    @_machine.input()
    def badFrame(self, reason: str) -> None:
        "The framing found data it cannot accept."

    @_machine.input()
    def timeout(self) -> None:
        "The pending timer fired."

    @_machine.input()
    def failed(self, reason: str) -> None:
        "The machine could not go on with this connection (see machineError)."

    @_machine.input()
    def connectionLost(self, reason: Failure) -> None:
        "The connection is gone."

    # -- outputs --------------------------------------------------------------

    @_machine.output()
    def _dial(self) -> None:
        self.log.debug("{machine} connecting", machine=self)
        self.dialer.dial()

    @_machine.output()
    def _cancelDial(self) -> None:
        self.dialer.cancelDial()

    @_machine.output()
    def _attach(self, link: Link) -> None:
        self.link = link
        self.failedAttempts = 0
        self.log.info(
            "{machine} connected to {peer}", machine=self, peer=link.describePeer()
        )

    @_machine.output()
    def onConnected(self) -> None:
        """A connection is up (a hook: override it)."""

    @_machine.output()
    def onMessage(self, message: bytes) -> None:
        """The server sent one message (a hook: override it)."""

    @_machine.output()
    def _logConnectFailure(self, reason: Failure) -> None:
        self.log.info(
            "{machine} could not connect: {reason}",
            machine=self,
            reason=reason.getErrorMessage(),
        )

    @_machine.output()
    def _logBadFrame(self, reason: str) -> None:
        self.log.warn(
            "{machine} dropping the connection: {reason}", machine=self, reason=reason
        )

    @_machine.output()
    def _scheduleRetry(self) -> None:
        self.failedAttempts += 1
        delay = self.retryPolicy(self.failedAttempts)
        self.log.info(
            "{machine} reconnecting in {delay:.3g} s (attempt {attempt})",
            machine=self,
            delay=delay,
            attempt=self.failedAttempts + 1,
        )
        self._timer.start(delay)

    @_machine.output()
    def _cancelTimer(self) -> None:
        self._timer.cancel()

    @_machine.output()
    def _loseConnection(self) -> None:
        assert self.link is not None
        self._timer.start(self.closeTimeout)
        self.link.loseConnection()

    @_machine.output()
    def _abortConnection(self) -> None:
        if self.link is not None:
            self.link.abortConnection()

    @_machine.output()
    def _abandon(self, link: Link) -> None:
        link.abortConnection()

    @_machine.output()
    def _disconnected(self, reason: Failure) -> None:
        self.link = None
        self.onDisconnected(reason)

    @_machine.output()
    def _stopped(self) -> None:
        self.log.debug("{machine} stopped", machine=self)
        waiters, self._stopWaiters = self._stopWaiters, []
        try:
            self.onStopped()
        finally:
            for d in waiters:
                d.callback(None)

    # -- transitions ----------------------------------------------------------

    idle.upon(start, enter=connecting, outputs=[_dial])
    idle.upon(stop, enter=stopped, outputs=[_stopped])
    idle.upon(failed, enter=idle, outputs=[])

    connecting.upon(connectionMade, enter=connected, outputs=[_attach, onConnected])
    connecting.upon(
        connectionFailed,
        enter=reconnecting,
        outputs=[_logConnectFailure, _scheduleRetry],
    )
    connecting.upon(start, enter=connecting, outputs=[])
    connecting.upon(stop, enter=stopped, outputs=[_cancelDial, _stopped])
    connecting.upon(failed, enter=reconnecting, outputs=[_scheduleRetry])

    connected.upon(dataArrived, enter=connected, outputs=[])
    connected.upon(messageReceived, enter=receiving, outputs=[onMessage])
    connected.upon(badFrame, enter=connected, outputs=[_logBadFrame, _abortConnection])
    connected.upon(failed, enter=connected, outputs=[_abortConnection])
    connected.upon(start, enter=connected, outputs=[])
    connected.upon(stop, enter=closing, outputs=[_loseConnection])
    connected.upon(
        connectionLost, enter=reconnecting, outputs=[_disconnected, _scheduleRetry]
    )

    receiving.upon(dataArrived, enter=receiving, outputs=[])
    receiving.upon(messageReceived, enter=receiving, outputs=[onMessage])
    receiving.upon(badFrame, enter=receiving, outputs=[_logBadFrame, _abortConnection])
    receiving.upon(failed, enter=receiving, outputs=[_abortConnection])
    receiving.upon(start, enter=receiving, outputs=[])
    receiving.upon(stop, enter=closing, outputs=[_loseConnection])
    receiving.upon(
        connectionLost, enter=reconnecting, outputs=[_disconnected, _scheduleRetry]
    )

    closing.upon(dataArrived, enter=closing, outputs=[])
    closing.upon(messageReceived, enter=closing, outputs=[onMessage])
    closing.upon(badFrame, enter=closing, outputs=[_logBadFrame, _abortConnection])
    closing.upon(failed, enter=closing, outputs=[_abortConnection])
    closing.upon(timeout, enter=closing, outputs=[_abortConnection])
    closing.upon(stop, enter=closing, outputs=[])
    closing.upon(
        connectionLost, enter=stopped, outputs=[_cancelTimer, _disconnected, _stopped]
    )

    reconnecting.upon(timeout, enter=connecting, outputs=[_dial])
    reconnecting.upon(start, enter=reconnecting, outputs=[])
    reconnecting.upon(stop, enter=stopped, outputs=[_cancelTimer, _stopped])
    reconnecting.upon(failed, enter=reconnecting, outputs=[])

    stopped.upon(start, enter=connecting, outputs=[_dial])
    stopped.upon(stop, enter=stopped, outputs=[_stopped])
    stopped.upon(connectionMade, enter=stopped, outputs=[_abandon])
    stopped.upon(connectionFailed, enter=stopped, outputs=[])
    stopped.upon(failed, enter=stopped, outputs=[])
