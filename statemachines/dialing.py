"""
Getting a connection and keeping one: the half of a client that dials,
retries and gives up, while it has no connection.

Theory of operation
===================

`DialingMachine` declares inputs and outputs but no states: `ClientMachine`
(`statemachines.client`) puts them in its lifecycle, as `TransportMachine`'s
inputs are put in every lifecycle.  Its outputs are the building blocks of
the ``offline`` states, and of any state that ends in a failed attempt:
public, so that a subclass's own transitions can use them (a handshake
state, on a loss: ``outputs=[parent.disconnected, parent.countFailure,
parent.scheduleRetry]``, the first of them `ClientMachine`'s); they act
only as outputs of a transition.

- A *run* lasts from ``start`` to ``stopped`` (`endRun`).  `dial` asks the
  injected `Dialer` for a connection, under the connect deadline; its
  Deferred comes back in as ``connectionMade(link)`` (`attach`) or
  ``connectionFailed(reason)``.
- Failed attempts in a row are counted (`countFailure`) until the first
  useful exchange on a connection (`countSuccess`); `scheduleRetry` waits
  ``retryPolicy(failedAttempts)`` seconds, or gives up after
  ``maxAttempts`` (`statemachines.retry`).
- The one `Timer` serves every deadline of the client, by state: at most
  one is pending, and `endRun` leaves none.
- ``whenConnected`` and ``whenStopped`` (`statemachines.waiters`) behave as
  Twisted's ``ClientService``'s: fired when connected, failed after N
  failed attempts or on giving up, cancelled by ``stop``.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from .engine import Machine, Timer, inherited
from .limits import optionalTimeout
from .retry import Attempts, RetryPolicy
from .transport import Link, TransportMachine
from .waiters import ConnectWaiters, StopWaiters

__all__ = ["Dialer", "DialingMachine"]


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


class DialingMachine(TransportMachine):
    """
    What a client does to get a connection, and again after losing it:
    inputs and outputs for a lifecycle's states (see the module doc).
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
        connectTimeout: float | None = None,
    ) -> None:
        """
        @param dialer: how to get each connection.
        @param retryPolicy: see `Attempts`.
        @param maxAttempts: see `Attempts`.
        @param connectTimeout: seconds a connection attempt (TLS handshake
            included) may take (None or 0: no limit).
        """
        super().__init__(clock)
        # The connect, reply, retry or close deadline, by state: the client
        # starts and stops it itself (one Timer: at most one is pending).
        self.timer = Timer(clock, self)
        self.dialer = dialer
        self.attempts = Attempts(retryPolicy, maxAttempts)
        self.connectTimeout = optionalTimeout("connectTimeout", connectTimeout)
        self._attempt: Deferred[Link] | None = None  # the dial in progress
        self._dialTimedOut = False
        self._stopWaiters = StopWaiters()
        self._connectWaiters = ConnectWaiters()

    @property
    def retryPolicy(self) -> RetryPolicy:
        """The delay before each attempt (`Attempts.policy`)."""
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

    def onStopped(self) -> None:
        """The client stopped for good (until started again; a hook)."""

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

    # -- outputs: the offline states' building blocks ---------------------------

    @_machine.output()
    def dial(self) -> None:
        """Ask the dialer for a connection, within ``connectTimeout`` if set."""
        self.log.debug("{machine} connecting", machine=self)
        self.timer.cancel()  # whatever ran before; now the connect deadline
        if self.connectTimeout is not None:
            self.timer.start(self.connectTimeout)
        self._attempt = self.dialer.dial(self)
        self._attempt.addCallbacks(self.connectionMade, self.connectionFailed)

    @_machine.output()
    def cancelDial(self) -> None:
        """Give up on the attempt in progress (its failure comes in later)."""
        if self._attempt is not None:
            self._attempt.cancel()

    @_machine.output()
    def timeOutDial(self) -> None:
        """The connect deadline passed: cancel the attempt, counted as timed out."""
        self._dialTimedOut = True
        self.cancelDial()

    @_machine.output()
    def attach(self, link: Link) -> None:
        """Use ``link``, the connection the dial made."""
        self.link = link
        self.timer.cancel()  # the connect deadline
        self.log.info(
            "{machine} connected to {peer}", machine=self, peer=link.describePeer()
        )

    @_machine.output()
    def abandon(self, link: Link) -> None:
        """Abort ``link``: a connection made after the client stopped."""
        link.abortConnection()

    @_machine.output()
    def logConnectFailure(self, reason: Failure) -> None:
        """Log why a connection attempt failed."""
        self.log.info(
            "{machine} could not connect: {reason}",
            machine=self,
            reason=reason.getErrorMessage(),
        )

    @_machine.output()
    def countSuccess(self) -> None:
        """The first useful exchange on a connection: no failures in a row."""
        self.attempts.succeeded()

    @_machine.output()
    def countFailure(self, reason: Failure) -> None:
        """
        One more failed attempt, for `Attempts` and the ``whenConnected``
        waiters: the dial failed (or timed out), or its connection was lost
        before `countSuccess`.
        """
        if self._dialTimedOut:
            self._dialTimedOut = False
            reason = Failure(
                TimeoutError(f"no connection within {self.connectTimeout:g} s")
            )
        self.attempts.failed(reason)
        self._connectWaiters.attemptFailed(reason)

    @_machine.output()
    def countDialError(self, reason: str) -> None:
        """The dialer raised (the error policy's ``failed``): a failed attempt."""
        self.countFailure(Failure(ConnectionError(f"the dialer failed ({reason})")))

    @_machine.output()
    def scheduleRetry(self) -> None:
        """
        Start the retry delay, or give up (``attemptsExhausted``) after
        ``maxAttempts`` failed attempts in a row; enter ``reconnecting``.
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
    def giveUp(self) -> None:
        """Fail the ``whenConnected`` waiters with the last failure, and log it."""
        self.log.warn(
            "{machine} giving up: {attempts} failed attempts in a row",
            machine=self,
            attempts=self.failedAttempts,
        )
        failure = self.lastFailure or Failure(ConnectionError("gave up"))
        self._connectWaiters.fail(failure)

    @_machine.output()
    def fireWaiters(self) -> None:
        """Fire the ``whenConnected`` waiters with the connection."""
        self._connectWaiters.connected(self.link)

    @_machine.output()
    def cancelWaiters(self) -> None:
        """Cancel the ``whenConnected`` waiters: the client is stopping."""
        self._connectWaiters.cancel()

    @_machine.output()
    def notifyStopWaiters(self) -> None:
        """Fire the ``whenStopped`` waiters."""
        self._stopWaiters.stopped()

    @_machine.output()
    def endRun(self) -> None:
        """
        The run is over (enter ``stopped``): no timer left, the waiters
        cancelled, the ``onStopped`` hook called, then (even if it raised)
        the ``whenStopped`` waiters fired.
        """
        self.log.debug("{machine} stopped", machine=self)
        self.timer.cancel()  # none survives stopped, however we got here
        self.cancelWaiters()
        try:
            self.onStopped()
        finally:
            self.notifyStopWaiters()
