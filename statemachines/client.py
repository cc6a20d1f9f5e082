"""
The client-side lifecycle: connect, talk, and reconnect after a loss.

Theory of operation
===================

One `ClientMachine` lives as long as a client does, across any number of
connections.  It asks the injected `Dialer` for a connection, which answers
with a Deferred of the connection; its outcome comes back in as the inputs
``connectionMade(link)`` or ``connectionFailed(reason)``.  A lost or failed
connection leads to ``reconnecting``, where a timer from the retry policy
(`statemachines.retry`) leads back to ``connecting``.  Only ``stop`` ends the
cycle: a deliberate close goes through ``closing`` to ``stopped`` and never
reconnects.

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

- ``timeout`` is the one timer input: the connect deadline in
  ``connecting``, the reply deadline (`statemachines.replies`) in ``open``,
  the retry delay in ``reconnecting``, the close deadline in ``ending``.  At
  most one timer is pending; none survives ``stopped``.
- A bad frame from the server, or a hook that raises, makes the client quit
  (``quitReason`` says why); one that merely loses the connection
  reconnects.
- Parity with Twisted's ``ClientService``: `whenConnected` (optionally
  failing after N failed attempts; `statemachines.waiters`), waiters
  cancelled by ``stop``, ``start`` while stopping reconnects once the old
  connection is gone (``restarting``), and ``stop`` fires its waiters only
  when the connection is really gone.  Beyond it: ``maxAttempts`` failed
  attempts in a row give up for good.
- Events that can only be late echoes of an earlier decision (a connection
  attempt completing after ``stop``) are handled explicitly in ``stopped``;
  every other unlisted pair is rejected (logged, connection aborted).
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from .connection import DEFAULT_CLOSE_TIMEOUT
from .engine import ANY, Machine, MachineError, Timer, inherited, rejects
from .limits import optionalTimeout, timeout
from .replies import ReplyDeadline
from .retry import Attempts, RetryPolicy
from .transport import NO_LINK, Link, TransportMachine
from .waiters import ConnectWaiters, StopWaiters

__all__ = ["DEFAULT_REPLY_TIMEOUT", "ClientMachine", "Dialer", "RetryPolicy"]

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


# Inputs that carry what the server did (the others are our own doing).
_FROM_THE_SERVER = frozenset(["messageReceived", "badFrame", "dataArrived", "secured"])


class ClientMachine(TransportMachine):
    """
    A client that keeps a connection up until stopped.  Subclass it and
    override the hooks, or extend its machine (see `statemachines.inherited`).
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
        self.closeTimeout = timeout("closeTimeout", closeTimeout)
        self.attempts = Attempts(retryPolicy, maxAttempts)
        self.replyTimeout = optionalTimeout("replyTimeout", replyTimeout)
        self.replies = ReplyDeadline(self.timer, self.replyTimeout)
        self.quitReason: str | None = None  # why the client quit, if it did
        self._attempt: Deferred[Link] | None = None  # the dial in progress
        self._dialTimedOut = False
        self._stopWaiters = StopWaiters()
        self._connectWaiters = ConnectWaiters()

    @property
    def retryPolicy(self) -> RetryPolicy:
        """The delay before each attempt (see `Attempts.policy`)."""
        return self.attempts.policy

    @property
    def maxAttempts(self) -> int | None:
        """Failed attempts in a row after which the client gives up, if any."""
        return self.attempts.maxAttempts

    @property
    def failedAttempts(self) -> int:
        """The connection attempts that failed in a row, in this run."""
        return self.attempts.failures

    @property
    def lastFailure(self) -> Failure | None:
        """Why the last failed attempt of this run failed, if one did."""
        return self.attempts.lastFailure

    # -- what subclasses call ------------------------------------------------

    def awaitReply(self, what: str) -> None:
        """
        The server owes us ``what`` (say, "a reply to b'hi'"): unless it
        comes within ``replyTimeout``, the client quits, saying so.  Does
        nothing while a reply is awaited already.
        """
        self.replies.expect(what)

    def replyReceived(self, nextAwaited: str | None = None) -> None:
        """
        What was awaited came: stop waiting, or wait afresh for
        ``nextAwaited``.  Does nothing when nothing was awaited (while closing,
        the timer is the close deadline).
        """
        self.replies.arrived(nextAwaited)

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
        return self.attempts.whyGaveUp() or "it was stopped"

    def whenStopped(self) -> Deferred[None]:
        """A Deferred that fires the next time the machine reaches ``stopped``."""
        if self.state == "stopped":
            return succeed(None)
        return self._stopWaiters.add()

    def whenConnected(self, failAfterFailures: int | None = None) -> Deferred[Link]:
        """
        Fires with the connection (its `Link`) once there is one: at once if
        connected.  Fails with the connection failure after
        ``failAfterFailures`` failed attempts, and with ``CancelledError``
        if the client is stopped first.
        """
        d = self._connectWaiters.add(failAfterFailures)
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

    # -- outputs: the lifecycle's building blocks ------------------------------
    #
    # Public, so that a subclass's own transitions can use them (the greeting
    # client's ``naming`` state, on a loss: ``outputs=[parent.disconnected,
    # parent.countFailure, parent.scheduleRetry]``) and override them by name.
    # They act only as outputs of a transition: call `stop` or `send`, not
    # these.  The private ones are the offline states' own.

    @_machine.output()
    def beginRun(self) -> None:
        """
        A new run (``start``): whatever ended the last one is past, and it has
        its own ``maxAttempts`` failed attempts in a row.
        """
        self.quitReason = None
        self.attempts.beginRun()

    @_machine.output()
    def dial(self) -> None:
        """Ask the dialer for a connection, within ``replyTimeout`` if set."""
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
    def _timeOutDial(self) -> None:
        self._dialTimedOut = True
        if self._attempt is not None:
            self._attempt.cancel()  # fails it: connectionFailed, counted

    @_machine.output()
    def attach(self, link: Link) -> None:
        """
        Use the connection the dial made.

        @param link: the connection.
        """
        self.link = link
        self.timer.cancel()  # the connect deadline
        self.log.info(
            "{machine} connected to {peer}", machine=self, peer=link.describePeer()
        )

    @_machine.output()
    def countSuccess(self) -> None:
        """
        The first useful exchange on this connection: the failed attempts in
        a row are over (a loss from now on reconnects after
        ``retryPolicy(0)``).
        """
        self.attempts.succeeded()

    @_machine.output()
    def countFailure(self, reason: Failure) -> None:
        """
        One more failed attempt: the dial failed, or its connection was lost
        before `countSuccess`.  The ``whenConnected`` waiters it was the last
        attempt for fail with ``reason``.

        @param reason: why the attempt failed (kept as ``lastFailure``).
        """
        if self._dialTimedOut:
            self._dialTimedOut = False
            reason = Failure(
                TimeoutError(f"no connection within {self.replyTimeout:g} s")
            )
        self.attempts.failed(reason)
        self._connectWaiters.attemptFailed(reason)

    @_machine.output()
    def _countDialError(self, reason: str) -> None:
        self.countFailure(Failure(ConnectionError(f"the dialer failed ({reason})")))

    @_machine.output()
    def _logConnectFailure(self, reason: Failure) -> None:
        self.log.info(
            "{machine} could not connect: {reason}",
            machine=self,
            reason=reason.getErrorMessage(),
        )

    @_machine.output()
    def scheduleRetry(self) -> None:
        """
        Start the retry delay (``retryPolicy(failedAttempts)``), or give up
        (``attemptsExhausted``) after ``maxAttempts`` failed attempts in a row.
        Its transition must enter ``reconnecting``.
        """
        if self.attempts.exhausted():
            self.attemptsExhausted()  # queued: runs once in reconnecting
            return
        delay = self.attempts.nextDelay()
        self.log.info(
            "{machine} reconnecting in {delay:.3g} s (attempt {attempt})",
            machine=self,
            delay=delay,
            attempt=self.failedAttempts + 1,
        )
        self.timer.start(delay)

    @_machine.output()
    def _giveUp(self) -> None:
        self.log.warn(
            "{machine} giving up: {attempts} failed attempts in a row",
            machine=self,
            attempts=self.failedAttempts,
        )
        self._connectWaiters.fail(self.lastFailure or Failure(ConnectionError()))

    @_machine.output()
    def onConnected(self) -> None:
        """A connection is up (a hook: override it)."""

    @_machine.output()
    def onMessage(self, message: bytes) -> None:
        """The server sent one message (a hook: override it)."""

    @_machine.output()
    def onSecured(self) -> None:
        """TLS this machine started with ``link.startTLS`` is up (a hook)."""

    @_machine.output()
    def _fireWaiters(self) -> None:
        self._connectWaiters.connected(self.link)

    @_machine.output()
    def cancelWaiters(self) -> None:
        """Cancel the ``whenConnected`` waiters: the client is stopping."""
        self._connectWaiters.cancel()

    @_machine.output()
    def quitOnProtocolError(self, reason: str) -> None:
        """
        The server broke the protocol: say so in ``quitReason`` (unless the
        error policy has said why already) and log it.  Follow it with
        `abortConnection` and enter a state within ``ending``.

        @param reason: what the server did.
        """
        self.quitReason = self.quitReason or f"the server broke the protocol: {reason}"
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def quitOnSilence(self) -> None:
        """The reply deadline passed: say so in ``quitReason``, and log it."""
        self.quitReason = self.replies.silence()
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def _logBadFrame(self, reason: str) -> None:
        self.log.warn(
            "{machine} dropping the connection: {reason}", machine=self, reason=reason
        )

    @_machine.output()
    def loseConnection(self) -> None:
        """
        Close the connection once what was sent is flushed, within
        ``closeTimeout`` (its transition enters a state within ``ending``,
        whose ``timeout`` aborts it).  No reply is awaited any more.
        """
        self.replies.forget()  # the timer is the close deadline now
        self.timer.start(self.closeTimeout)
        self.link.loseConnection()

    @_machine.output()
    def abortConnection(self) -> None:
        """Close the connection now, dropping what was not sent."""
        self.link.abortConnection()

    @_machine.output()
    def _abandon(self, link: Link) -> None:
        link.abortConnection()

    @_machine.output()
    def disconnected(self, reason: Failure) -> None:
        """
        The connection is gone: no `Link` (``link`` is `NO_LINK`), no reply
        awaited, and the ``onDisconnected`` hook called (one that raises is
        logged: the lifecycle goes on).

        @param reason: why it went.
        """
        self.link = NO_LINK
        self.replies.forget()
        try:
            self.onDisconnected(reason)
        except Exception:
            # The lifecycle goes on (reconnect, or stop and tell the waiters):
            # a failing hook must not leave the client between states.
            self.log.failure("{machine} onDisconnected failed", machine=self)

    @_machine.output()
    def _notifyStopWaiters(self) -> None:
        self._stopWaiters.stopped()

    @_machine.output()
    def endRun(self) -> None:
        """
        The run is over (its transition enters ``stopped``): no timer left,
        the ``whenConnected`` waiters cancelled, the ``onStopped`` hook
        called, and the ``whenStopped`` waiters fired (even if it raised).
        """
        self.log.debug("{machine} stopped", machine=self)
        self.timer.cancel()  # none survives stopped, however we got here
        self.cancelWaiters()
        try:
            self.onStopped()
        finally:
            self._notifyStopWaiters()

    # -- transitions ----------------------------------------------------------

    offline.upon(waiterAdded, outputs=[])  # fired once connected
    offline.upon(transport.failed, outputs=[])

    idle.upon(start, enter=connecting, outputs=[beginRun, dial])
    idle.upon(stop, enter=stopped, outputs=[endRun])

    connecting.upon(
        transport.connectionMade,
        enter=connected,
        outputs=[attach, onConnected, _fireWaiters],
    )
    connecting.upon(
        connectionFailed,
        enter=reconnecting,
        outputs=[_logConnectFailure, countFailure, scheduleRetry],
    )
    connecting.upon(start, enter=connecting, outputs=[])
    connecting.upon(transport.timeout, enter=connecting, outputs=[_timeOutDial])
    connecting.upon(stop, enter=stopped, outputs=[_cancelDial, endRun])
    connecting.upon(  # the dialer raised
        transport.failed, enter=reconnecting, outputs=[_countDialError, scheduleRetry]
    )

    # The connection's lifecycle, once for every state within open.
    _quit = [cancelWaiters, abortConnection]
    open.upon(transport.dataArrived, outputs=[])
    open.upon(transport.messageReceived, enter=receiving, outputs=[onMessage])
    open.upon(transport.secured, outputs=[onSecured])
    open.upon(transport.badFrame, enter=closing, outputs=[quitOnProtocolError, *_quit])
    open.upon(transport.failed, enter=closing, outputs=[quitOnProtocolError, *_quit])
    open.upon(transport.timeout, enter=closing, outputs=[quitOnSilence, *_quit])
    open.upon(start, outputs=[])
    open.upon(stop, enter=closing, outputs=[cancelWaiters, loseConnection])
    open.upon(waiterAdded, outputs=[_fireWaiters])
    open.upon(
        transport.connectionLost,
        enter=reconnecting,
        outputs=[disconnected, scheduleRetry],
    )
    del _quit

    connected.upon(
        transport.messageReceived, enter=receiving, outputs=[countSuccess, onMessage]
    )
    connected.upon(  # nothing came of this connection: a failed attempt
        transport.connectionLost,
        enter=reconnecting,
        outputs=[disconnected, countFailure, scheduleRetry],
    )

    # Closed on our side: what still arrives is heard, the deadline aborts.
    ending.upon(transport.dataArrived, outputs=[])
    ending.upon(transport.secured, outputs=[])
    ending.upon(transport.messageReceived, outputs=[onMessage])
    ending.upon(transport.badFrame, outputs=[_logBadFrame, abortConnection])
    ending.upon(transport.failed, outputs=[abortConnection])
    ending.upon(transport.timeout, outputs=[abortConnection])
    ending.upon(start, outputs=[])
    ending.upon(stop, outputs=[])
    ending.upon(waiterAdded, outputs=[])  # cancelled when stopped

    closing.upon(start, enter=restarting, outputs=[])
    closing.upon(
        transport.connectionLost, enter=stopped, outputs=[disconnected, endRun]
    )

    restarting.upon(stop, enter=closing, outputs=[cancelWaiters])
    restarting.upon(
        transport.connectionLost,
        enter=connecting,
        outputs=[disconnected, _notifyStopWaiters, dial],
    )

    reconnecting.upon(transport.timeout, enter=connecting, outputs=[dial])
    reconnecting.upon(start, enter=reconnecting, outputs=[])
    reconnecting.upon(stop, enter=stopped, outputs=[endRun])
    reconnecting.upon(attemptsExhausted, enter=stopped, outputs=[_giveUp, endRun])

    stopped.upon(start, enter=connecting, outputs=[beginRun, dial])
    stopped.upon(stop, enter=stopped, outputs=[endRun])
    stopped.upon(waiterAdded, enter=stopped, outputs=[cancelWaiters])
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
