"""
When a client tries to connect again, and when it gives up.

Theory of operation
===================

A client's *run* lasts from ``start`` to ``stopped``.  Within a run,
`Attempts` counts the connection attempts that failed in a row.  An attempt
fails when the dial fails (or takes too long), and also when the connection
it made is lost before the first useful exchange on it: a server that
accepts and closes at once counts against the client like one that refuses.
The first useful exchange ends the count (`Attempts.succeeded`).

As with Twisted's ``ClientService``, the delay before the next attempt is
``policy(n)`` after ``n`` failed attempts in a row, so after the loss of a
connection that was in use it is ``policy(0)``.  Beyond ``ClientService``,
``maxAttempts`` failed attempts in a row end the run (`Attempts.exhausted`);
the next run counts afresh.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.application.internet import backoffPolicy
from twisted.python.failure import Failure

from .limits import optionalLimit

__all__ = ["Attempts", "RetryPolicy", "describeAttempts"]

RetryPolicy = Callable[[int], float]
"""Seconds to wait before attempt N+1, given N failed attempts in a row."""


def describeAttempts(count: int) -> str:
    """``count`` attempts, in words: ``"1 attempt"``, ``"3 attempts"``."""
    return "1 attempt" if count == 1 else f"{count} attempts"


class Attempts:
    """The failed connection attempts of a client's run, and what follows."""

    def __init__(
        self, policy: RetryPolicy | None = None, maxAttempts: int | None = None
    ) -> None:
        """
        @param policy: the delay before each attempt (default: Twisted's
            ``backoffPolicy()``: 1 s, x1.5, at most 60 s, plus up to 1 s of
            jitter).
        @param maxAttempts: give up after this many failed attempts in a row
            (None or 0: never).
        @raise ValueError: if ``maxAttempts`` is negative or not a number.
        """
        self.policy: RetryPolicy = policy or backoffPolicy()
        self.maxAttempts = optionalLimit("maxAttempts", maxAttempts)
        self.failures = 0  # in a row, in this run
        self.lastFailure: Failure | None = None

    def beginRun(self) -> None:
        """A new run: whatever failed in the last one is past."""
        self.failures = 0
        self.lastFailure = None

    def failed(self, reason: Failure) -> None:
        """
        One more attempt failed.

        @param reason: why; kept as `lastFailure`.
        """
        self.failures += 1
        self.lastFailure = reason

    def succeeded(self) -> None:
        """The connection was of use: the failures in a row are over."""
        self.failures = 0

    def exhausted(self) -> bool:
        """
        @return: whether this run has failed ``maxAttempts`` attempts in a row.
        """
        return self.maxAttempts is not None and self.failures >= self.maxAttempts

    def nextDelay(self) -> float:
        """
        @return: the seconds to wait before the next attempt.
        """
        return self.policy(self.failures)

    def whyGaveUp(self) -> str | None:
        """
        @return: why the run ended, in words, if it ran out of attempts (with
            the last failure); else None.
        """
        last = self.lastFailure
        if not self.exhausted() or last is None:
            return None
        return (
            f"gave up connecting ({describeAttempts(self.failures)} failed):"
            f" {last.getErrorMessage() or last.type.__name__}"
        )
