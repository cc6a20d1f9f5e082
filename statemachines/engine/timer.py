"""
Timers that fire a machine's input: at most one pending deadline per
`Timer`, and one delayed call per clock for all of them.  The engine's state
timers (`statemachines.engine.statetimers`) run on them, and so can a
machine's own.

Theory of operation
===================

Every connection has an idle timeout, so timers must be cheap in memory and
in time.  A Twisted ``DelayedCall`` per connection costs about 600 bytes, and
restarting one on every arriving chunk costs a cancel and a ``callLater``.
Instead:

- All the timers of one clock share a `_Deadlines`: a heap of entries
  ``(when, timer)`` and a single delayed call, due at the earliest entry.
  An entry is live while its timer still holds it (``timer._entry``).
- `Timer.restart` (the idle timer, on every chunk) only records the new
  deadline when it is later than the timer's entry; the entry, when its time
  comes, is put back at the recorded deadline.  `Timer.start` replaces the
  entry outright, so a deadline can also move earlier (idle -> close).
- `Timer.cancel` lets go of its entry instead of searching the heap; dead
  entries are dropped when they reach the top, or all at once when they are
  more than half of the heap.  The shared call is
  cancelled as soon as no live entry is left, so a clock with no pending
  timers has no delayed call.

Timers fire exactly at their deadline (the clock's resolution permitting),
in deadline order; timers due at the same instant fire in no set order.
"""

from __future__ import annotations

import heapq
from typing import Any
from weakref import WeakKeyDictionary

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Timer", "entriesKept"]

Entry = tuple[float, "Timer"]


def _dead(entry: Entry) -> bool:
    return entry[1]._entry is not entry


_byClock: WeakKeyDictionary[Any, _Deadlines] = WeakKeyDictionary()


class _Deadlines:
    """The heap of timer entries of one clock, and its one delayed call."""

    __slots__ = ("clock", "heap", "call", "cancelled", "__weakref__")

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.heap: list[Entry] = []
        self.call: IDelayedCall | None = None
        self.cancelled = 0

    @classmethod
    def of(cls, clock: IReactorTime) -> _Deadlines:
        deadlines = _byClock.get(clock)
        if deadlines is None:
            deadlines = _byClock[clock] = cls(clock)
        return deadlines

    def add(self, entry: Entry) -> None:
        heapq.heappush(self.heap, entry)
        if self.heap[0] is entry or not (self.call and self.call.active()):
            self._schedule()

    def emptied(self, entry: Entry) -> None:
        self.cancelled += 1
        if self.heap[0] is entry:
            self._schedule()
        elif self.cancelled * 2 > len(self.heap) > 64:
            self.heap = [e for e in self.heap if not _dead(e)]
            heapq.heapify(self.heap)
            self.cancelled = 0

    def _schedule(self) -> None:
        heap = self.heap
        while heap and _dead(heap[0]):
            heapq.heappop(heap)
            self.cancelled -= 1
        if self.call is not None and not self.call.active():
            self.call = None  # cancelled by someone else (a test's cleanup)
        if not heap:
            if self.call is not None:
                self.call.cancel()
                self.call = None
            return
        delay = max(0.0, heap[0][0] - self.clock.seconds())
        if self.call is None:
            self.call = self.clock.callLater(delay, self._run)
        elif heap[0][0] < self.call.getTime():
            self.call.reset(delay)

    def _run(self) -> None:
        self.call = None
        now = self.clock.seconds()
        heap = self.heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            timer = entry[1]
            if timer._entry is not entry:
                self.cancelled -= 1
            else:
                timer._entry = None
                timer._due(now)
        self._schedule()


class Timer:
    """
    Calls ``owner.<fires>()`` (``owner.timeout()`` unless `start` says
    otherwise) once its deadline passes.  ``label`` is free for whoever
    starts it: the state timers keep there the state that owns the timer.
    """

    __slots__ = ("_deadlines", "_owner", "_entry", "_deadline", "_fires", "label")

    def __init__(self, clock: IReactorTime, owner: object) -> None:
        self._deadlines = _Deadlines.of(clock)
        self._owner = owner
        self._entry: Entry | None = None
        self._deadline = 0.0
        self._fires = "timeout"
        self.label: str | None = None

    def start(self, delay: float | None, fires: str | None = None) -> None:
        """
        Fire ``delay`` seconds from now instead of whenever was set (None:
        never); ``fires`` names the input to call, if not the last one.
        """
        self.cancel()
        if fires is not None:
            self._fires = fires
        if delay is not None:
            self._schedule(self._deadlines.clock.seconds() + delay)

    def restart(self, delay: float | None) -> None:
        """
        Like `start`, but cheap when it only pushes the deadline later, or
        when there is no deadline to set (None) and none set.
        """
        entry = self._entry
        if delay is None:
            if entry is not None:
                self.cancel()
            return
        if entry is not None:
            deadline = self._deadlines.clock.seconds() + delay
            if deadline >= entry[0]:
                self._deadline = deadline
                return
        self.start(delay)

    def cancel(self) -> None:
        entry, self._entry = self._entry, None
        if entry is not None:
            self._deadlines.emptied(entry)

    def _schedule(self, deadline: float) -> None:
        self._deadline = deadline
        self._entry = (deadline, self)
        self._deadlines.add(self._entry)

    def __lt__(self, other: object) -> bool:
        return False  # entries due at the same instant: any order

    __gt__ = __lt__

    def _due(self, now: float) -> None:
        if self._deadline > now:
            self._schedule(self._deadline)
        else:
            getattr(self._owner, self._fires)()


def entriesKept(clock: IReactorTime) -> int:
    """
    How many entries the timers of ``clock`` keep in their shared heap,
    live and cancelled: what their memory grows with.  (Cancelled ones are
    dropped all at once when they are more than half.)
    """
    deadlines = _byClock.get(clock)
    return 0 if deadlines is None else len(deadlines.heap)
