"""
The client-side lifecycle: connect, talk, and reconnect after a loss.

Theory of operation
===================

One `ClientMachine` lives as long as a client does, across any number of
connections.  Its states are declared here; what it does to get a
connection (dial, count failed attempts, wait before the next, give up) is
`DialingMachine`'s (`statemachines.dialing`), and its ``offline`` states
use those building blocks.  A lost or failed connection leads to
``reconnecting``, where a timer from the retry policy leads back to
``connecting``.  Only ``stop`` ends the cycle: a deliberate close goes
through ``closing`` to ``stopped`` and never reconnects.

    idle --start--> connecting --connectionMade--> connected
    connected --messageReceived--> receiving
    connecting --connectionFailed | failed--> reconnecting --timeout--> connecting
    open --connectionLost--> reconnecting
    open --stop | badFrame | failed | timeout--> closing --connectionLost--> stopped
    idle / connecting / reconnecting --stop--> stopped
    stopped --start--> connecting
    closing --start--> restarting --connectionLost--> connecting
    restarting --stop--> closing
    reconnecting --attemptsExhausted--> stopped

Three superstates hold what their states share: ``offline`` (idle,
connecting, reconnecting, stopped: no connection to hear from), ``open``
(connected, receiving: the connection's lifecycle, which a protocol's own
states join) and ``ending`` (closing, restarting: we closed it, and wait).

- ``timeout`` is the one timer input: the connect deadline in
  ``connecting``, the reply deadline (`awaitReply`, `statemachines.replies`)
  in ``open``, the retry delay in ``reconnecting``, the close deadline in
  ``ending``.  At most one timer is pending; none survives ``stopped``.
- A bad frame from the server, or a hook that raises, aborts the
  connection and makes the client quit, saying why (``quitReason``); a
  connection that is merely lost is reconnected.
- Parity with Twisted's ``ClientService``: `whenConnected` (optionally
  failing after N failed attempts), waiters cancelled by ``stop``, ``start``
  while stopping reconnects once the old connection is gone (``restarting``),
  and ``stop`` fires its waiters only when the connection is really gone.
  Beyond it: ``maxAttempts`` failed attempts in a row give up for good.
- `send` is `TransportMachine.send`, as on a server: with no connection
  (connecting, reconnecting, stopped) the message is dropped with a warning,
  never raised; what must survive a reconnection is queued and sent again
  on the next connection (as `EchoClientMachine.echo` does).
- Events that can only be late echoes of an earlier decision (a connection
  attempt completing after ``stop``) are handled explicitly in ``stopped``;
  every other unlisted pair is rejected (logged, connection aborted).
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from .connection import DEFAULT_CLOSE_TIMEOUT
from .dialing import Dialer, DialingMachine
from .engine import ANY, Machine, MachineError, inherited, rejects
from .limits import optionalTimeout, timeout
from .replies import ReplyDeadline
from .retry import RetryPolicy
from .transport import NO_LINK

__all__ = ["DEFAULT_REPLY_TIMEOUT", "ClientMachine", "Dialer", "RetryPolicy"]

DEFAULT_REPLY_TIMEOUT = 30.0

# Inputs that carry what the server did (the others are our own doing).
_FROM_THE_SERVER = frozenset(["messageReceived", "badFrame", "dataArrived", "secured"])


class ClientMachine(DialingMachine):
    """
    A client that keeps a connection up until stopped.  Subclass it and
    override the hooks, or extend its machine (see `statemachines.inherited`).
    """

    _machine = Machine()
    parent = inherited(_machine, DialingMachine)

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
        self.closeTimeout = timeout("closeTimeout", closeTimeout)
        self.replyTimeout = optionalTimeout("replyTimeout", replyTimeout)
        super().__init__(
            dialer,
            clock,
            retryPolicy=retryPolicy,
            maxAttempts=maxAttempts,
            connectTimeout=self.replyTimeout,
        )
        self.replies = ReplyDeadline(self.timer, self.replyTimeout)
        self.quitReason: str | None = None  # why the client quit, if it did

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

    def onDisconnected(self, reason: Failure) -> None:
        """The current connection is gone (a hook; the machine may reconnect)."""

    def whyStopped(self) -> str:
        """
        Why the client stopped, in words: why it quit, or that it gave up
        connecting (and the last failure), or that it was stopped.
        """
        if self.quitReason is not None:
            return self.quitReason
        return self.attempts.whyGaveUp() or "it was stopped"

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

    # -- outputs: the connection's building blocks ----------------------------
    #
    # Public, as `DialingMachine`'s are, so that a subclass's own transitions
    # can use them (the greeting client's ``quitting``: ``outputs=[
    # parent.disconnected, parent.endRun]``) and override them by name.  They
    # act only as outputs of a transition: call `stop` or `send`, not these.

    @_machine.output()
    def beginRun(self) -> None:
        """A new run (``start``): why the last one ended is past."""
        self.quitReason = None
        self.attempts.beginRun()

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
    def quitOnProtocolError(self, reason: str) -> None:
        """
        The server broke the protocol (``reason`` says how): the client quits,
        saying so in ``quitReason`` unless the error policy has said why.
        """
        self.quitReason = self.quitReason or f"the server broke the protocol: {reason}"
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def quitOnSilence(self) -> None:
        """The reply deadline passed: the client quits, saying what it awaited."""
        self.quitReason = self.replies.silence()
        self.log.error("{machine} stopping: {why}", machine=self, why=self.quitReason)

    @_machine.output()
    def logBadFrame(self, reason: str) -> None:
        """Log a bad frame that arrived while closing."""
        self.log.warn(
            "{machine} dropping the connection: {reason}", machine=self, reason=reason
        )

    @_machine.output()
    def loseConnection(self) -> None:
        """
        Close once what was sent is flushed, within ``closeTimeout`` (enter a
        state within ``ending``, whose ``timeout`` aborts); no reply awaited.
        """
        self.replies.forget()  # the timer is the close deadline now
        self.timer.start(self.closeTimeout)
        self.link.loseConnection()

    @_machine.output()
    def abortConnection(self) -> None:
        """Close now, dropping what was not sent."""
        self.link.abortConnection()

    @_machine.output()
    def disconnected(self, reason: Failure) -> None:
        """
        The connection is gone (``link`` is `NO_LINK`, no reply awaited): tell
        the ``onDisconnected`` hook (if it raises, the lifecycle goes on).
        """
        self.link = NO_LINK
        self.replies.forget()
        try:
            self.onDisconnected(reason)
        except Exception:
            # The lifecycle goes on (reconnect, or stop and tell the waiters):
            # a failing hook must not leave the client between states.
            self.log.failure("{machine} onDisconnected failed", machine=self)

    # -- transitions ----------------------------------------------------------

    offline.upon(parent.waiterAdded, outputs=[])  # fired once connected
    offline.upon(parent.failed, outputs=[])

    idle.upon(parent.start, enter=connecting, outputs=[beginRun, parent.dial])
    idle.upon(parent.stop, enter=stopped, outputs=[parent.endRun])

    connecting.upon(
        parent.connectionMade,
        enter=connected,
        outputs=[parent.attach, onConnected, parent.fireWaiters],
    )
    connecting.upon(
        parent.connectionFailed,
        enter=reconnecting,
        outputs=[parent.logConnectFailure, parent.countFailure, parent.scheduleRetry],
    )
    connecting.upon(parent.start, enter=connecting, outputs=[])
    connecting.upon(parent.timeout, enter=connecting, outputs=[parent.timeOutDial])
    connecting.upon(
        parent.stop, enter=stopped, outputs=[parent.cancelDial, parent.endRun]
    )
    connecting.upon(  # the dialer raised
        parent.failed,
        enter=reconnecting,
        outputs=[parent.countDialError, parent.scheduleRetry],
    )

    # The connection's lifecycle, once for every state within open.
    _quit = [parent.cancelWaiters, abortConnection]
    open.upon(parent.dataArrived, outputs=[])
    open.upon(parent.messageReceived, enter=receiving, outputs=[onMessage])
    open.upon(parent.secured, outputs=[onSecured])
    open.upon(parent.badFrame, enter=closing, outputs=[quitOnProtocolError, *_quit])
    open.upon(parent.failed, enter=closing, outputs=[quitOnProtocolError, *_quit])
    open.upon(parent.timeout, enter=closing, outputs=[quitOnSilence, *_quit])
    open.upon(parent.start, outputs=[])
    open.upon(
        parent.stop, enter=closing, outputs=[parent.cancelWaiters, loseConnection]
    )
    open.upon(parent.waiterAdded, outputs=[parent.fireWaiters])
    open.upon(
        parent.connectionLost,
        enter=reconnecting,
        outputs=[disconnected, parent.scheduleRetry],
    )
    del _quit

    connected.upon(
        parent.messageReceived,
        enter=receiving,
        outputs=[parent.countSuccess, onMessage],
    )
    connected.upon(  # nothing came of this connection: a failed attempt
        parent.connectionLost,
        enter=reconnecting,
        outputs=[disconnected, parent.countFailure, parent.scheduleRetry],
    )

    # Closed on our side: what still arrives is heard, the deadline aborts.
    ending.upon(parent.dataArrived, outputs=[])
    ending.upon(parent.secured, outputs=[])
    ending.upon(parent.messageReceived, outputs=[onMessage])
    ending.upon(parent.badFrame, outputs=[logBadFrame, abortConnection])
    ending.upon(parent.failed, outputs=[abortConnection])
    ending.upon(parent.timeout, outputs=[abortConnection])
    ending.upon(parent.start, outputs=[])
    ending.upon(parent.stop, outputs=[])
    ending.upon(parent.waiterAdded, outputs=[])  # cancelled when stopped

    closing.upon(parent.start, enter=restarting, outputs=[])
    closing.upon(
        parent.connectionLost, enter=stopped, outputs=[disconnected, parent.endRun]
    )

    restarting.upon(parent.stop, enter=closing, outputs=[parent.cancelWaiters])
    restarting.upon(
        parent.connectionLost,
        enter=connecting,
        outputs=[disconnected, parent.notifyStopWaiters, parent.dial],
    )

    reconnecting.upon(parent.timeout, enter=connecting, outputs=[parent.dial])
    reconnecting.upon(parent.start, enter=reconnecting, outputs=[])
    reconnecting.upon(parent.stop, enter=stopped, outputs=[parent.endRun])
    reconnecting.upon(
        parent.attemptsExhausted, enter=stopped, outputs=[parent.giveUp, parent.endRun]
    )

    stopped.upon(parent.start, enter=connecting, outputs=[beginRun, parent.dial])
    stopped.upon(parent.stop, enter=stopped, outputs=[parent.endRun])
    stopped.upon(parent.waiterAdded, enter=stopped, outputs=[parent.cancelWaiters])
    stopped.upon(parent.connectionMade, enter=stopped, outputs=[parent.abandon])
    stopped.upon(parent.connectionFailed, enter=stopped, outputs=[])

    # -- rejected on purpose (every other pair is a transition above) --------

    beforeStarting = rejects(idle, ANY, "nothing can happen before start")
    onlyDialsConnect = rejects(
        [open, ending, reconnecting],
        [parent.connectionMade, parent.connectionFailed],
        "only a dial in progress ends in a connection or a failure",
    )
    nobodyToHear = rejects(
        offline,
        [
            parent.dataArrived,
            parent.messageReceived,
            parent.badFrame,
            parent.connectionLost,
            parent.secured,
        ],
        "there is no connection to hear from",
    )
    noTimer = rejects(stopped, parent.timeout, "no timer runs once stopped")
    clientAdaptersClose = rejects(
        ANY,
        parent.peerFinished,
        "a client adapter closes when the server finishes sending",
    )
    onlyRetriesRunOut = rejects(
        ANY, parent.attemptsExhausted, "only reconnecting counts failed attempts"
    )
