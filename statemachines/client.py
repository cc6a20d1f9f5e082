"""
The client-side lifecycle: connect, talk, and reconnect after a loss.

Theory of operation
===================

One `ClientMachine` lives as long as a client does, across any number of
connections.  It asks the injected `Dialer` for a connection, which answers
with a Deferred of the connection; its outcome comes back in as the inputs
``connectionMade(link)`` or ``connectionFailed(reason)``.  A lost or failed
connection leads to ``reconnecting``, where a timer from the retry policy leads back to
``connecting``.  Only ``stop`` ends the cycle: a deliberate close goes
through ``closing`` to ``stopped`` and never reconnects.

    idle --start--> connecting --connectionMade--> connected
    connected --messageReceived--> receiving
    connecting --connectionFailed--> reconnecting --timeout--> connecting
    open --connectionLost--> reconnecting
    open --stop--> closing --connectionLost--> stopped
    idle / connecting / reconnecting --stop--> stopped
    stopped --start--> connecting
    closing --start--> restarting --connectionLost--> connecting
    reconnecting --attemptsExhausted--> stopped

Three superstates hold what their states share: ``offline`` (idle,
connecting, reconnecting, stopped: no connection to hear from), ``open``
(connected, receiving: the connection's lifecycle, which a protocol's own
states join) and ``ending`` (closing, restarting: we closed it, and wait).

- ``timeout`` is the one timer input: the retry delay in ``reconnecting``,
  the close deadline in ``closing``.  At most one timer is pending; none
  survives ``stopped``.
- A bad frame from the server, or a hook that raises, aborts the connection;
  the loss that follows is unexpected, so the machine reconnects.
- Parity with Twisted's ``ClientService``: `whenConnected` (optionally
  failing after N failed attempts), waiters cancelled by ``stop``, ``start``
  while stopping reconnects once the old connection is gone (``restarting``),
  and ``stop`` fires its waiters only when the connection is really gone.
  Beyond it: ``maxAttempts`` failed attempts in a row give up for good.
- Events that can only be late echoes of an earlier decision (a connection
  attempt completing after ``stop``) are handled explicitly in ``stopped``;
  every other unlisted pair is rejected (logged, connection aborted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import attrs
from twisted.application.internet import backoffPolicy
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from .connection import DEFAULT_CLOSE_TIMEOUT
from .engine import ANY, Machine, MachineError, Timer, inherited, rejects
from .limits import optionalLimit, optionalTimeout, timeout
from .transport import NO_LINK, Link, TransportMachine

__all__ = ["ClientMachine", "Dialer", "RetryPolicy"]

RetryPolicy = Callable[[int], float]
DEFAULT_REPLY_TIMEOUT = 30.0


class Dialer(Protocol):
    """How a client machine gets a connection."""

    def dial(self, machine: TransportMachine) -> Deferred[Link]:
        """
        Start one connection attempt whose transport events go to
        ``machine``'s inputs.  Fires with the connection's `Link` once it is
        ready to use (after any TLS handshake), or fails; cancelling it gives
        up on the attempt.
        """
        ...


@attrs.define
class _ConnectWaiter:
    deferred: Deferred[Link]
    failAfter: int | None
    failures: int = 0


# Inputs that carry what the server did (the others are our own doing).
_FROM_THE_SERVER = frozenset(["messageReceived", "badFrame", "dataArrived", "secured"])


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


class ClientMachine(TransportMachine):
    """
    A client that keeps a connection up until stopped.  Subclass it and
    override the hooks, or extend its machine.
    """

    _machine = Machine()
    transport = inherited(_machine, TransportMachine)

    def __init__(
        self,
        dialer: Dialer,
        clock: IReactorTime,
        *,
        retryPolicy: RetryPolicy | None = None,
        maxAttempts: int | None = None,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
        replyTimeout: float | None = DEFAULT_REPLY_TIMEOUT,
    ) -> None:
        """
        @param retryPolicy: seconds to wait before attempt N+1, given N failed
            attempts in a row (default: Twisted's ``backoffPolicy()``: 1 s,
            x1.5, at most 60 s, plus up to 1 s of jitter).
        @param maxAttempts: give up after this many failed attempts in a row
            (None or 0: never).
        @param replyTimeout: seconds a connection attempt (TLS handshake
            included) and each awaited reply (see `awaitReply`) may take
            (None or 0: no limit).
        """
        super().__init__(clock)
        # The connect, reply, retry or close deadline, by state: the client
        # starts and stops it itself (one Timer: at most one is pending).
        self.timer = Timer(clock, self)
        self.dialer = dialer
        self.retryPolicy: RetryPolicy = retryPolicy or backoffPolicy()
        self.closeTimeout = timeout("closeTimeout", closeTimeout)
        self.maxAttempts = optionalLimit("maxAttempts", maxAttempts)
        self.replyTimeout = optionalTimeout("replyTimeout", replyTimeout)
        self.failedAttempts = 0
        self.lastFailure: Failure | None = None
        self.quitReason: str | None = None  # why the client quit, if it did
        self._attempt: Deferred[Link] | None = None  # the dial in progress
        self._dialTimedOut = False
        self._awaiting: str | None = None  # what the reply deadline waits for
        self._stopWaiters: list[Deferred[None]] = []
        self._connectWaiters: list[_ConnectWaiter] = []

    # -- what subclasses call ------------------------------------------------

    def awaitReply(self, what: str) -> None:
        """
        The server owes us ``what`` (say, "a reply to b'hi'"): unless it
        comes within ``replyTimeout``, the client quits, saying so.  Does
        nothing while a reply is awaited already.
        """
        if self._awaiting is None:
            self._awaiting = what
            if self.replyTimeout is not None:
                self.timer.start(self.replyTimeout)

    def replyReceived(self, nextAwaited: str | None = None) -> None:
        """
        What was awaited came: stop waiting, or wait afresh for
        ``nextAwaited``.  Does nothing when nothing was awaited (while closing,
        the timer is the close deadline).
        """
        if self._awaiting is None:
            return
        self._awaiting = None
        self.timer.cancel()
        if nextAwaited is not None:
            self.awaitReply(nextAwaited)

    # -- hooks: override these ----------------------------------------------

    def onDisconnected(self, reason: Failure) -> None:
        """The current connection is gone (the machine may reconnect)."""

    def onStopped(self) -> None:
        """The client stopped for good (until started again)."""

    # -- actions --------------------------------------------------------------

    def send(self, message: bytes) -> None:
        """Send one message on the current connection."""
        if self.link is NO_LINK:
            raise RuntimeError(f"{self!r} has no connection to send on")
        self.link.sendMessage(message)

    def whyStopped(self) -> str:
        """
        Why the client stopped, in words: why it quit, or that it gave up
        connecting (and the last failure), or that it was stopped.
        """
        if self.quitReason is not None:
            return self.quitReason
        last = self.lastFailure
        if self._outOfAttempts() and last is not None:
            return (
                f"gave up connecting ({_attempts(self.failedAttempts)} failed):"
                f" {last.getErrorMessage() or last.type.__name__}"
            )
        return "it was stopped"

    def _outOfAttempts(self) -> bool:
        """Whether this run has failed ``maxAttempts`` attempts in a row."""
        return self.maxAttempts is not None and self.failedAttempts >= self.maxAttempts

    def whenStopped(self) -> Deferred[None]:
        """A Deferred that fires the next time the machine reaches ``stopped``."""
        if self.state == "stopped":
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stopWaiters.append(d)
        return d

    def whenConnected(self, failAfterFailures: int | None = None) -> Deferred[Link]:
        """
        Fires with the connection (its `Link`) once there is one: at once if
        connected.  Fails with the connection failure after
        ``failAfterFailures`` failed attempts, and with ``CancelledError``
        if the client is stopped first.
        """
        d: Deferred[Link] = Deferred()
        self._connectWaiters.append(_ConnectWaiter(d, failAfterFailures))
        self.waiterAdded()
        return d

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state}>"

    def machineError(self, error: MachineError) -> None:
        # What went wrong on a connection, for whoever reports why we quit.
        if self.link is not NO_LINK:
            what = (
                error.failure.getErrorMessage()
                if error.failure is not None
                else f"{error.input} was not expected in state {error.state}"
            )
            if error.kind == "rejected" or error.input in _FROM_THE_SERVER:
                self.quitReason = f"the server broke the protocol: {what}"
            else:  # our own doing: sending what cannot be framed, a bug
                self.quitReason = f"failed handling {error.input}: {what}"
        super().machineError(error)

    def _settleWaiters(self, keep: Callable[[_ConnectWaiter], bool]) -> None:
        self._connectWaiters = [w for w in self._connectWaiters if keep(w)]

    # -- states ---------------------------------------------------------------

    @_machine.superstate()
    def offline(self) -> None:
        "There is no connection: nothing can come from the server."

    @_machine.state(initial=True, within=offline)
    def idle(self) -> None:
        "Not started."

    @_machine.state(within=offline)
    def connecting(self) -> None:
        "A connection attempt is in progress."

    @_machine.superstate()
    def open(self) -> None:
        "A connection is up and in use."

    @_machine.state(within=open)
    def connected(self) -> None:
        "A connection is up; the server has sent nothing on it yet."

    @_machine.state(within=open)
    def receiving(self) -> None:
        "The server is sending messages."

    @_machine.superstate()
    def ending(self) -> None:
        "We closed the connection; waiting for it to go."

    @_machine.state(within=ending)
    def closing(self) -> None:
        "Stopping: waiting for the connection to go."

    @_machine.state(within=offline)
    def reconnecting(self) -> None:
        "Waiting for the retry delay before the next attempt."

    @_machine.state(within=ending)
    def restarting(self) -> None:
        "Started again while stopping: reconnect once the connection is gone."

    @_machine.state(within=offline)
    def stopped(self) -> None:
        "Stopped on purpose; only start leaves this state."

    # -- inputs (besides the transport's) ---------------------------------------

    @_machine.input()
    def start(self) -> None:
        "Begin connecting (and keep connected)."

    @_machine.input()
    def stop(self) -> None:
        "Close for good: no reconnection."

    @_machine.input()
    def connectionFailed(self, reason: Failure) -> None:
        "The dialer's attempt failed."

    @_machine.input()
    def waiterAdded(self) -> None:
        "whenConnected() was called."

    @_machine.input()
    def attemptsExhausted(self) -> None:
        "maxAttempts attempts in a row have failed."

    # -- outputs --------------------------------------------------------------

    @_machine.output()
    def _dial(self) -> None:
        self.log.debug("{machine} connecting", machine=self)
        self.timer.cancel()  # whatever ran before; now the connect deadline
        if self.replyTimeout is not None:
            self.timer.start(self.replyTimeout)
        self._attempt = self.dialer.dial(self)
        self._attempt.addCallbacks(self.connectionMade, self.connectionFailed)

    @_machine.output()
    def _cancelDial(self) -> None:
        if self._attempt is not None:
            self._attempt.cancel()  # fails it: connectionFailed, in stopped

    @_machine.output()
    def _attach(self, link: Link) -> None:
        self.link = link
        self.timer.cancel()  # the connect deadline
        self.log.info(
            "{machine} connected to {peer}", machine=self, peer=link.describePeer()
        )

    @_machine.output()
    def onConnected(self) -> None:
        """A connection is up (a hook: override it)."""

    @_machine.output()
    def _exchanged(self) -> None:
        # The first useful exchange on this connection: attempts succeeded.
        self.failedAttempts = 0

    @_machine.output()
    def _quitOnProtocolError(self, reason: str) -> None:
        self.quitReason = self.quitReason or f"the server broke the protocol: {reason}"
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def _quitOnSilence(self) -> None:
        self.quitReason = (
            f"the server sent nothing for {self.replyTimeout:g} s while we waited "
            f"for {self._awaiting}"
        )
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def _timeOutDial(self) -> None:
        self._dialTimedOut = True
        if self._attempt is not None:
            self._attempt.cancel()  # fails it: connectionFailed, counted

    @_machine.output()
    def onMessage(self, message: bytes) -> None:
        """The server sent one message (a hook: override it)."""

    @_machine.output()
    def onSecured(self) -> None:
        """TLS this machine started with ``link.startTLS`` is up (a hook)."""

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
    def _fireWaiters(self) -> None:
        link = self.link
        waiters, self._connectWaiters = self._connectWaiters, []
        for waiter in waiters:
            waiter.deferred.callback(link)

    @_machine.output()
    def _countFailure(self, reason: Failure) -> None:
        if self._dialTimedOut:
            self._dialTimedOut = False
            reason = Failure(
                TimeoutError(f"no connection within {self.replyTimeout:g} s")
            )
        self.failedAttempts += 1
        self.lastFailure = reason

        def stillWaiting(waiter: _ConnectWaiter) -> bool:
            if waiter.failAfter is None:
                return True
            waiter.failures += 1
            if waiter.failures < waiter.failAfter:
                return True
            waiter.deferred.errback(reason)
            return False

        self._settleWaiters(stillWaiting)

    @_machine.output()
    def _beginRun(self) -> None:
        # Whatever ended the last run is past: a new run has its own
        # maxAttempts failed attempts in a row.
        self.quitReason = None
        self.failedAttempts = 0
        self.lastFailure = None

    @_machine.output()
    def _countDialError(self, reason: str) -> None:
        self._countFailure(Failure(ConnectionError(f"the dialer failed ({reason})")))

    @_machine.output()
    def _cancelWaiters(self) -> None:
        waiters, self._connectWaiters = self._connectWaiters, []
        for waiter in waiters:
            waiter.deferred.cancel()

    @_machine.output()
    def _giveUp(self) -> None:
        self.log.warn(
            "{machine} giving up: {attempts} failed attempts in a row",
            machine=self,
            attempts=self.failedAttempts,
        )
        failure = self.lastFailure or Failure(ConnectionError("gave up"))
        waiters, self._connectWaiters = self._connectWaiters, []
        for waiter in waiters:
            waiter.deferred.errback(failure)

    @_machine.output()
    def _notifyStopWaiters(self) -> None:
        waiters, self._stopWaiters = self._stopWaiters, []
        for d in waiters:
            d.callback(None)

    @_machine.output()
    def _scheduleRetry(self) -> None:
        # As ClientService: after a lost connection, retryPolicy(0); after k
        # failed attempts in a row, retryPolicy(k).
        if self._outOfAttempts():
            self.attemptsExhausted()  # queued: runs once in reconnecting
            return
        delay = self.retryPolicy(self.failedAttempts)
        self.log.info(
            "{machine} reconnecting in {delay:.3g} s (attempt {attempt})",
            machine=self,
            delay=delay,
            attempt=self.failedAttempts + 1,
        )
        self.timer.start(delay)

    @_machine.output()
    def _loseConnection(self) -> None:
        self._awaiting = None  # the timer is the close deadline now
        self.timer.start(self.closeTimeout)
        self.link.loseConnection()

    @_machine.output()
    def _abortConnection(self) -> None:
        self.link.abortConnection()

    @_machine.output()
    def _abandon(self, link: Link) -> None:
        link.abortConnection()

    @_machine.output()
    def _disconnected(self, reason: Failure) -> None:
        self.link = NO_LINK
        self._awaiting = None
        try:
            self.onDisconnected(reason)
        except Exception:
            # The lifecycle goes on (reconnect, or stop and tell the waiters):
            # a failing hook must not leave the client between states.
            self.log.failure("{machine} onDisconnected failed", machine=self)

    @_machine.output()
    def _stopped(self) -> None:
        self.log.debug("{machine} stopped", machine=self)
        self.timer.cancel()  # none survives stopped, however we got here
        self._cancelWaiters()
        try:
            self.onStopped()
        finally:
            self._notifyStopWaiters()

    # -- transitions ----------------------------------------------------------

    offline.upon(waiterAdded, outputs=[])  # fired once connected
    offline.upon(transport.failed, outputs=[])

    idle.upon(start, enter=connecting, outputs=[_beginRun, _dial])
    idle.upon(stop, enter=stopped, outputs=[_stopped])

    connecting.upon(
        transport.connectionMade,
        enter=connected,
        outputs=[_attach, onConnected, _fireWaiters],
    )
    connecting.upon(
        connectionFailed,
        enter=reconnecting,
        outputs=[_logConnectFailure, _countFailure, _scheduleRetry],
    )
    connecting.upon(start, enter=connecting, outputs=[])
    connecting.upon(transport.timeout, enter=connecting, outputs=[_timeOutDial])
    connecting.upon(stop, enter=stopped, outputs=[_cancelDial, _stopped])
    connecting.upon(  # the dialer raised
        transport.failed, enter=reconnecting, outputs=[_countDialError, _scheduleRetry]
    )

    # The connection's lifecycle, once for every state within open.
    _quit = [_cancelWaiters, _abortConnection]
    open.upon(transport.dataArrived, outputs=[])
    open.upon(transport.messageReceived, enter=receiving, outputs=[onMessage])
    open.upon(transport.secured, outputs=[onSecured])
    open.upon(transport.badFrame, enter=closing, outputs=[_quitOnProtocolError, *_quit])
    open.upon(transport.failed, enter=closing, outputs=[_quitOnProtocolError, *_quit])
    open.upon(transport.timeout, enter=closing, outputs=[_quitOnSilence, *_quit])
    open.upon(start, outputs=[])
    open.upon(stop, enter=closing, outputs=[_cancelWaiters, _loseConnection])
    open.upon(waiterAdded, outputs=[_fireWaiters])
    open.upon(
        transport.connectionLost,
        enter=reconnecting,
        outputs=[_disconnected, _scheduleRetry],
    )
    del _quit

    connected.upon(
        transport.messageReceived, enter=receiving, outputs=[_exchanged, onMessage]
    )
    connected.upon(  # nothing came of this connection: a failed attempt
        transport.connectionLost,
        enter=reconnecting,
        outputs=[_disconnected, _countFailure, _scheduleRetry],
    )

    # Closed on our side: what still arrives is heard, the deadline aborts.
    ending.upon(transport.dataArrived, outputs=[])
    ending.upon(transport.secured, outputs=[])
    ending.upon(transport.messageReceived, outputs=[onMessage])
    ending.upon(transport.badFrame, outputs=[_logBadFrame, _abortConnection])
    ending.upon(transport.failed, outputs=[_abortConnection])
    ending.upon(transport.timeout, outputs=[_abortConnection])
    ending.upon(start, outputs=[])
    ending.upon(stop, outputs=[])
    ending.upon(waiterAdded, outputs=[])  # cancelled when stopped

    closing.upon(start, enter=restarting, outputs=[])
    closing.upon(
        transport.connectionLost, enter=stopped, outputs=[_disconnected, _stopped]
    )

    restarting.upon(stop, enter=closing, outputs=[_cancelWaiters])
    restarting.upon(
        transport.connectionLost,
        enter=connecting,
        outputs=[_disconnected, _notifyStopWaiters, _dial],
    )

    reconnecting.upon(transport.timeout, enter=connecting, outputs=[_dial])
    reconnecting.upon(start, enter=reconnecting, outputs=[])
    reconnecting.upon(stop, enter=stopped, outputs=[_stopped])
    reconnecting.upon(attemptsExhausted, enter=stopped, outputs=[_giveUp, _stopped])

    stopped.upon(start, enter=connecting, outputs=[_beginRun, _dial])
    stopped.upon(stop, enter=stopped, outputs=[_stopped])
    stopped.upon(waiterAdded, enter=stopped, outputs=[_cancelWaiters])
    stopped.upon(transport.connectionMade, enter=stopped, outputs=[_abandon])
    stopped.upon(connectionFailed, enter=stopped, outputs=[])

    # -- rejected on purpose (every other pair is a transition above) --------

    beforeStarting = rejects(idle, ANY, "nothing can happen before start")
    onlyDialsConnect = rejects(
        [open, ending, reconnecting],
        [transport.connectionMade, connectionFailed],
        "only a dial in progress ends in a connection or a failure",
    )
    nobodyToHear = rejects(
        offline,
        [
            transport.dataArrived,
            transport.messageReceived,
            transport.badFrame,
            transport.connectionLost,
            transport.secured,
        ],
        "there is no connection to hear from",
    )
    noTimer = rejects(stopped, transport.timeout, "no timer runs once stopped")
    clientAdaptersClose = rejects(
        ANY,
        transport.peerFinished,
        "a client adapter closes when the server finishes sending",
    )
    onlyRetriesRunOut = rejects(
        ANY, attemptsExhausted, "only reconnecting counts failed attempts"
    )
