"""At most one pending delayed call: what the lifecycles' ``timeout`` input needs."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Timer:
    """Calls ``fire`` after a delay; starting it again replaces the pending call."""

    def __init__(self, clock: IReactorTime, fire: Callable[[], object]) -> None:
        self._clock = clock
        self._fire = fire
        self._call: IDelayedCall | None = None

    def start(self, delay: float | None) -> None:
        """Fire after ``delay`` seconds instead of whatever was pending; None: never."""
        self.cancel()
        if delay is not None:
            self._call = self._clock.callLater(delay, self._fired)

    def cancel(self) -> None:
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _fired(self) -> None:
        self._call = None
        self._fire()
