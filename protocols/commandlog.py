"""
What the ``txmachines`` commands write to standard error: the log, begun
once a command has started (until then events are buffered, so that a
failure to start is only the one line saying why), and that line's reason.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)


def beginLogging(verbose: bool, worker: int | None = None) -> None:
    """
    Log to standard error from now on (events so far were buffered).  Called
    once the endpoint is known to work, so that a failure to start is only
    the one line saying why.

    @param verbose: ``-v``: every event, down to debug (every connection);
        otherwise from info up, the noteworthy ones.
    @param worker: a worker's index (``serve --workers``), shown in every
        line it logs.
    """
    level = LogLevel.debug if verbose else LogLevel.info
    observer = textFileLogObserver(sys.stderr)
    if worker is not None:
        observer = _naming(observer, f"worker {worker}")
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(observer, [LogLevelFilterPredicate(level)])],
        redirectStandardIO=False,
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
