"""
At most one pending delayed call: what the lifecycles' ``timeout`` input needs.

Restarting a timer on every message (an idle timeout) must be cheap, so
`Timer.restart` only moves a deadline; the pending call, when it fires early,
re-arms itself for the time that is left.  `Timer.start` replaces the pending
call outright (a close deadline may be shorter than an idle one).
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Timer:
    """Calls ``fire`` once its deadline passes."""

    __slots__ = ("_clock", "_fire", "_call", "_deadline", "_callTime")

    def __init__(self, clock: IReactorTime, fire: Callable[[], object]) -> None:
        self._clock = clock
        self._fire = fire
        self._call: IDelayedCall | None = None
        self._deadline = 0.0
        self._callTime = 0.0  # when the pending call, if any, is due

    def start(self, delay: float | None) -> None:
        """Fire ``delay`` seconds from now instead of whenever was set; None: never."""
        self.cancel()
        if delay is not None:
            self._deadline = self._callTime = self._clock.seconds() + delay
            self._call = self._clock.callLater(delay, self._due)

    def restart(self, delay: float | None) -> None:
        """Like `start`, but cheap when it only pushes the deadline later."""
        if delay is not None and self._call is not None:
            deadline = self._clock.seconds() + delay
            if deadline >= self._callTime:
                self._deadline = deadline
                return
        self.start(delay)

    def cancel(self) -> None:
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _due(self) -> None:
        left = self._deadline - self._clock.seconds()
        if left > 0:
            self._callTime = self._deadline
            self._call = self._clock.callLater(left, self._due)
            return
        self._call = None
        self._fire()
