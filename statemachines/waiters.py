"""
Who waits for a client: the Deferreds of ``whenConnected`` and
``whenStopped``, kept as Twisted's ``ClientService`` keeps them.

`ConnectWaiters` fire with the connection (its `Link`) once there is one.
Each may ask to fail after N failed attempts, counted from when it was
asked; a client that gives up fails them all with its last failure, and one
that is stopped cancels them.  `StopWaiters` fire when the client stops.
Each firing takes the waiters first, so a callback that waits again waits
for the next time.
"""

from __future__ import annotations

import attrs
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from .transport import Link

__all__ = ["ConnectWaiters", "StopWaiters"]


@attrs.define
class _ConnectWaiter:
    deferred: Deferred[Link]
    failAfter: int | None
    failures: int = 0


class ConnectWaiters:
    """The Deferreds of ``whenConnected``, waiting for a connection."""

    def __init__(self) -> None:
        self._waiters: list[_ConnectWaiter] = []

    def add(self, failAfterFailures: int | None = None) -> Deferred[Link]:
        """
        @param failAfterFailures: fail after this many failed attempts from
            now (None: never).
        @return: a Deferred for `connected`, `attemptFailed`, `fail` or `cancel`.
        """
        d: Deferred[Link] = Deferred()
        self._waiters.append(_ConnectWaiter(d, failAfterFailures))
        return d

    def _take(self) -> list[_ConnectWaiter]:
        waiters, self._waiters = self._waiters, []
        return waiters

    def connected(self, link: Link) -> None:
        """There is a connection: each waiter fires with ``link``."""
        for waiter in self._take():
            waiter.deferred.callback(link)

    def attemptFailed(self, reason: Failure) -> None:
        """An attempt failed: those it was the last one for fail with ``reason``."""
        kept = []
        for waiter in self._take():
            if waiter.failAfter is not None:
                waiter.failures += 1
                if waiter.failures >= waiter.failAfter:
                    waiter.deferred.errback(reason)
                    continue
            kept.append(waiter)
        self._waiters[:0] = kept  # before any a callback added meanwhile

    def fail(self, reason: Failure) -> None:
        """The client gave up: each waiter fails with ``reason``."""
        for waiter in self._take():
            waiter.deferred.errback(reason)

    def cancel(self) -> None:
        """The client is stopping: each waiter is cancelled."""
        for waiter in self._take():
            waiter.deferred.cancel()


class StopWaiters:
    """The Deferreds of ``whenStopped``, waiting for the client to stop."""

    def __init__(self) -> None:
        self._waiters: list[Deferred[None]] = []

    def add(self) -> Deferred[None]:
        """
        @return: a Deferred that fires at the next `stopped`.
        """
        d: Deferred[None] = Deferred()
        self._waiters.append(d)
        return d

    def stopped(self) -> None:
        """The client stopped: each waiter fires with None."""
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)
