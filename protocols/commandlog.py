"""
What the ``txmachines`` commands write to standard error: the log, begun
once a command has started (until then events are buffered, so that a
failure to start is only the one line saying why), and that line's reason.

Twisted's own per-connection events (`TWISTED_CONNECTION_EVENTS`: what a
listening port says of each connection it closes at once when descriptors
run out) go through the same rate as the project's
(`statemachines.eventrate.EventRate`), by `RateLimitedTwistedEvents` on the
log's observer: 150 connections past ``ulimit -n 64`` are not 150 lines.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from zope.interface import implementer

from statemachines.eventrate import EventRate

# Twisted's own events that come once per connection, or per attempt to
# accept one (``twisted.internet.tcp``'s ``_accept``, as of Twisted 26.10;
# its UNIX ports share it): what a peer, or many, can make happen at will.
TWISTED_CONNECTION_EVENTS = frozenset(
    {
        "EMFILE encountered; releasing reserved file descriptor.",
        "EMFILE recovery: Closed socket from {address}",
        "Re-reserving EMFILE recovery file descriptor.",
        "Could not accept new connection ({acceptError})",
    }
)

# The fields `twisted.logger.Logger.emit` sets itself.
_EMITTED = frozenset(
    {"log_logger", "log_level", "log_namespace", "log_source", "log_format", "log_time"}
)


@implementer(ILogObserver)
class RateLimitedTwistedEvents:
    """
    A log observer that passes Twisted's per-connection events
    (`TWISTED_CONNECTION_EVENTS`, from a ``twisted.`` namespace) through
    the `EventRate` the project's own per-connection events share, and
    every other event straight on: past the rate they go on at debug level
    (so an observer that logs from info up drops them), and one event at
    their level counts them.
    """

    def __init__(self, observer: ILogObserver, clock: IReactorTime) -> None:
        """
        @param observer: where events go on to; it should filter by level
            (a `FilteringLogObserver`), as the held events go on at debug.
        @param clock: the clock whose `EventRate` is shared (the reactor).
        """
        self.observer = observer
        self.clock = clock

    def __call__(self, event: dict[str, Any]) -> None:
        format = event.get("log_format")
        namespace = event.get("log_namespace")
        if (
            format not in TWISTED_CONNECTION_EVENTS
            or not isinstance(namespace, str)
            or not namespace.startswith("twisted.")
        ):
            self.observer(event)
            return
        log = Logger(
            namespace=namespace, source=event.get("log_source"), observer=self.observer
        )
        fields = {k: v for k, v in event.items() if k not in _EMITTED}
        level = event.get("log_level") or LogLevel.info
        EventRate.of(self.clock).emit(log, level, format, **fields)


def rateLimited(observer: ILogObserver, clock: IReactorTime | None) -> ILogObserver:
    """
    ``observer`` behind `RateLimitedTwistedEvents` on ``clock`` (the global
    reactor if None).
    """
    if clock is None:
        from twisted.internet import reactor as clock  # type: ignore[no-redef]
    assert clock is not None
    return RateLimitedTwistedEvents(observer, clock)


def beginLogging(
    verbose: bool, worker: int | None = None, clock: IReactorTime | None = None
) -> None:
    """
    Log to standard error from now on (events so far were buffered).  Called
    once the endpoint is known to work, so that a failure to start is only
    the one line saying why.

    @param verbose: ``-v``: every event, down to debug (every connection);
        otherwise from info up, the noteworthy ones.
    @param worker: a worker's index (``serve --workers``), shown in every
        line it logs.
    @param clock: the clock of the rate Twisted's per-connection events
        share with the project's (`RateLimitedTwistedEvents`); the global
        reactor if None.
    """
    level = LogLevel.debug if verbose else LogLevel.info
    observer = textFileLogObserver(sys.stderr)
    if worker is not None:
        observer = _naming(observer, f"worker {worker}")
    filtering = FilteringLogObserver(observer, [LogLevelFilterPredicate(level)])
    globalLogBeginner.beginLoggingTo(
        [rateLimited(filtering, clock)], redirectStandardIO=False
    )


def _naming(observer: Any, name: str) -> Any:
    """
    An observer that shows ``name`` first in each event's bracket, then what
    the bracket shows without it: ``[worker 1 protocols.server.Server#info]``.
    """

    def named(event: dict[str, Any]) -> None:
        where = event.get("log_namespace", "-")
        if where == "log_legacy":  # twisted.python.log: its system says where
            where = event.get("log_system", "-")
        level = event.get("log_level")
        system = f"{name} {where}#{level.name if level is not None else '-'}"
        observer({**event, "log_system": system})

    return named


def reason(error: BaseException) -> str:
    """
    One line saying what went wrong, without the exception's class path.

    An `OSError` names its path; one with two names the second, the path it
    could not make: ``os.symlink(target, path)`` has the target first, and
    Twisted's lock beside a UNIX socket is a symlink to the process's id,
    so ``unix:/nonexistent/dir/sock`` names ``/nonexistent/dir/sock.lock``,
    not the id.
    """
    if isinstance(error, OSError) and error.strerror and error.filename:
        path = error.filename if error.filename2 is None else error.filename2
        if isinstance(path, (str, bytes)):
            path = os.fsdecode(path)
        return f"{error.strerror}: {path}"
    return str(error) or type(error).__name__
