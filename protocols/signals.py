"""
Stop signals for a server or a supervisor: the first SIGINT or SIGTERM
drains (stops the reactor, whose shutdown closes every connection), a
second one aborts what is left at once.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger

from .server import MachineServerFactory

__all__ = [
    "StopSignals",
    "abortConnections",
    "abortOnSecondSignal",
    "abortOnSignals",
    "logDraining",
]


def abortConnections(factory: MachineServerFactory) -> Callable[[], None]:
    """What a second signal does to a draining server: abort what is left."""
    log = Logger()

    def abortNow() -> None:
        count = factory.abortAll()
        log.warn("second signal: connections aborted: {count}", count=count)

    return abortNow


def logDraining(factory: MachineServerFactory) -> None:
    """Log that ``factory``'s connections drain, and how a second signal aborts."""
    Logger().info(
        "draining connections: {count}; a second SIGINT or SIGTERM aborts them",
        count=len(factory.connections()),
    )


def abortOnSecondSignal(
    reactor: Any,
    factory: MachineServerFactory,
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """
    While the server drains (after a first SIGINT or SIGTERM), a second one
    aborts every connection left at once, so the process can end now.  For
    a server whose first signal someone else handles (``twist``); see
    `StopSignals` for one that handles both.
    """
    abortOnSignals(reactor, abortConnections(factory), signals)
    logDraining(factory)


def abortOnSignals(
    reactor: Any,
    abort: Callable[[], object],
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """From now on, each of ``signals`` calls ``abort`` on the reactor's thread."""

    def handler(signum: int, frame: object) -> None:
        reactor.callFromThread(abort)

    for signum in signals:
        signal.signal(signum, handler)


class StopSignals:
    """
    A process's stop signals, in place of the reactor's own handlers: the
    first stops the reactor (whose shutdown drains), every later one calls
    ``abort`` at once.  They are counted in the handler itself, so a second
    signal right behind the first (before the drain has begun) still aborts
    rather than being lost.  `install` once the reactor runs (it installs
    its own handlers as it starts).
    """

    def __init__(
        self,
        reactor: Any,
        abort: Callable[[], object],
        signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
    ) -> None:
        self.reactor = reactor
        self.abort = abort
        self.signals = signals
        self.received = 0

    def install(self) -> None:
        for signum in self.signals:
            signal.signal(signum, self._received)

    def _received(self, signum: int, frame: object) -> None:
        self.received += 1
        if self.received == 1:
            self.reactor.callFromThread(self._stop)
        else:
            self.reactor.callFromThread(self.abort)

    def _stop(self) -> None:
        try:
            self.reactor.stop()
        except ReactorNotRunning:  # already stopping (its supervisor went away)
            self.abort()
