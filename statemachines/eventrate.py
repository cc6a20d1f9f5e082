"""
Per-connection log events at a bounded rate, so that logs stay readable
when a peer (or an attacker with many connections) makes the same thing
happen thousands of times.

For each kind of event (its format string), at most ``burst`` events per
``window`` seconds go out at their own level.  The rest go out at debug
level - nothing is lost for whoever logs debug - and one event at the
original level says how many were held back::

    ... and 9812 more like "{machine} lost the connection: {why}" in 10 s

That summary is logged by the next event of the same kind after the window
closed, or by `EventRate.flush` (a server's stop calls it), so the rate
needs no delayed call of its own.  One `EventRate` serves every machine on a
clock (`EventRate.of`).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger, LogLevel

__all__ = ["DEFAULT_BURST", "DEFAULT_WINDOW", "EventRate"]

DEFAULT_BURST = 20
DEFAULT_WINDOW = 10.0

_byClock: WeakKeyDictionary[Any, EventRate] = WeakKeyDictionary()


@attrs.define
class _Kind:
    start: float
    level: LogLevel
    log: Logger
    passed: int = 0
    held: int = 0


class EventRate:
    """Lets through at most ``burst`` events of a kind per ``window`` seconds."""

    def __init__(
        self,
        clock: IReactorTime,
        burst: int = DEFAULT_BURST,
        window: float = DEFAULT_WINDOW,
    ) -> None:
        self.clock = clock
        self.burst = burst
        self.window = window
        self.kinds: dict[str, _Kind] = {}

    @classmethod
    def of(cls, clock: IReactorTime) -> EventRate:
        """The `EventRate` every machine on ``clock`` shares."""
        rate = _byClock.get(clock)
        if rate is None:
            rate = _byClock[clock] = cls(clock)
        return rate

    def emit(self, log: Logger, level: LogLevel, format: str, **fields: Any) -> None:
        """``log.emit(level, format, **fields)``, or at debug past the rate."""
        now = self.clock.seconds()
        kind = self.kinds.get(format)
        if kind is None or now >= kind.start + self.window:
            if kind is not None:
                self._summarize(format, kind)
            # The summary's logger: the namespace, not the first event's source.
            summary = Logger(namespace=log.namespace)
            kind = self.kinds[format] = _Kind(start=now, level=level, log=summary)
        if kind.passed < self.burst:
            kind.passed += 1
            log.emit(level, format, **fields)
        else:
            kind.held += 1
            log.emit(LogLevel.debug, format, **fields)

    def flush(self) -> None:
        """Log the summaries of every window so far (say, at shutdown)."""
        kinds, self.kinds = self.kinds, {}
        for format, kind in kinds.items():
            self._summarize(format, kind)

    def _summarize(self, format: str, kind: _Kind) -> None:
        if not kind.held:
            return
        kind.log.emit(
            kind.level,
            '... and {count} more like "{like}" in {seconds:g} s '
            "(each logged at debug level)",
            count=kind.held,
            like=format,
            seconds=min(self.window, self.clock.seconds() - kind.start),
        )
