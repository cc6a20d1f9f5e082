"""
``txmachines serve ... --workers N``: N worker processes serving one
listening socket.

Theory of operation
-------------------

A Twisted process uses one core.  The supervisor (the process the user
started) opens the listening sockets itself - one port, one socket per
worker, all bound with ``SO_REUSEPORT`` - then starts N workers: the same
``txmachines serve`` command, given its socket as file descriptor 3
(``--worker-socket 3``), which it adopts (``adoptStreamPort``) instead of
listening.  The kernel spreads new connections over the sockets by hashing
their addresses; nothing sits in between.  (One socket shared by all is
simpler, but whichever worker wakes first takes everything pending: 91 of
96 concurrent connections went to one of two workers in a test here.)  The
supervisor keeps every socket open, so connections that arrive for a worker
being replaced wait in its socket's queue for the new one; none is refused.

- A worker that dies is replaced, with a log line naming it and how it
  ended; restarts back off (1 s, doubling to 30 s, reset once a worker has
  lived 30 s), so a worker that crashes at once cannot spin.
- SIGTERM or SIGINT to the supervisor is passed to every worker, which
  drains as a single server does (each aborts what is left after its close
  timeout); a second signal is passed on too, and aborts them at once.  The
  supervisor exits when the last worker has.
- A worker's standard input is a pipe from the supervisor: if the
  supervisor dies (even by SIGKILL), the pipe closes and every worker drains
  and exits, so no worker outlives it.
- Each worker's log lines say which worker it is (``worker 2``).

Only plain TCP endpoints (``tcp:`` or ``tcp6:PORT[:interface=...][:backlog=...]``,
with or without ``haproxy:``) can be shared this way.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from .signals import abortOnSignals

__all__ = ["Supervisor", "SupervisorService", "listeningSocket"]

WORKER_FD = 3
FIRST_RETRY, MAX_RETRY, STABLE = 1.0, 30.0, 30.0


def listeningSocket(description: str, port: int | None = None) -> socket.socket:
    """
    A listening socket for ``tcp:PORT[:interface=HOST][:backlog=N]``, bound
    with ``SO_REUSEPORT`` (to ``port`` if given: the others of a set).
    """
    kind, portText, *options = _fields(description) + [""]
    if kind not in ("tcp", "tcp6"):
        raise ValueError(f"--workers shares plain tcp: endpoints only, not {kind}:")
    settings = dict(option.partition("=")[::2] for option in options if option)
    unknown = set(settings) - {"interface", "backlog"}
    if unknown:
        raise ValueError(
            f"--workers: unsupported endpoint option {sorted(unknown)[0]!r}"
        )
    family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
    interface = settings.get("interface", "::" if kind == "tcp6" else "0.0.0.0")
    first = port is None  # of a set: the others share its port
    if port is None:
        port = _number("port", portText, 65535)
    backlog = _number("backlog", settings.get("backlog", "50"), 2**31 - 1)
    if first and port != 0:
        # SO_REUSEPORT would quietly join another server already on this
        # port (and split its traffic): find out first, without it.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((interface, port))
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((interface, port))
    listener.listen(backlog)
    listener.setblocking(False)
    return listener


def _number(what: str, text: str, most: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"the {what} must be a number, not {text!r}") from None
    if not 0 <= value <= most:
        raise ValueError(f"the {what} must be from 0 to {most}, not {value}")
    return value


def _fields(description: str) -> list[str]:
    """
    ``description`` split at its colons as Twisted's endpoint parser splits
    it: a backslash makes the next character plain (``interface=\\:\\:1``).
    """
    fields, field = [], ""
    characters = iter(description)
    for character in characters:
        if character == "\\":
            escaped = next(characters, None)
            if escaped is None:
                raise ValueError("the endpoint description ends in a backslash")
            field += escaped
        elif character == ":":
            fields.append(field)
            field = ""
        else:
            field += character
    return [*fields, field]


def workerCount(option: int | None) -> int:
    """``--workers``: 0 (or None) is one per core."""
    return option or os.cpu_count() or 1


class _Worker(ProcessProtocol):
    def __init__(self, supervisor: Supervisor, index: int) -> None:
        self.supervisor, self.index = supervisor, index
        self.started = time.monotonic()

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.ended(self, reason)


class Supervisor:
    """Starts, restarts and stops the workers; see the module doc."""

    log = Logger()

    def __init__(
        self, reactor: Any, description: str, count: int, argv: list[str]
    ) -> None:
        """
        @param description: the ``tcp:`` endpoint to listen on.
        @param argv: the worker command, without ``--worker-socket``.
        """
        self.reactor = reactor
        first = listeningSocket(description)
        port = first.getsockname()[1]
        self.listeners = [first]
        self.listeners += [listeningSocket(description, port) for _ in range(1, count)]
        self.count = count
        self.argv = argv
        self.workers: dict[int, Any] = {}  # index -> IProcessTransport
        self.delays: dict[int, float] = {}
        self.stopping = False
        self.done: Deferred[None] = Deferred()

    def start(self, drainOnShutdown: bool = True) -> None:
        """
        Start the workers.  With ``drainOnShutdown`` (``txmachines serve``),
        the reactor's shutdown drains them; a service (``twist``) calls
        `drain` from ``stopService`` instead.
        """
        host, port = self.listeners[0].getsockname()[:2]
        self.log.info(
            "listening on {host} port={port}, {count} workers",
            host=host,
            port=port,
            count=self.count,
        )
        for index in range(1, self.count + 1):
            self._spawn(index)
        # Twisted's own handlers stop the reactor on the first signal; the
        # drain runs before shutdown, and installs ours for any second one.
        if drainOnShutdown:
            self.reactor.addSystemEventTrigger("before", "shutdown", self.drain)

    def drain(self) -> Deferred[None]:
        """
        The first signal: stop every worker.  A second one is the caller's
        to pass on, with `abort` (``serve`` counts signals from start-up;
        under twist, `SupervisorService` arms it as the drain begins).
        """
        return self.stop(signal.SIGTERM)

    def _spawn(self, index: int) -> None:
        worker = _Worker(self, index)
        argv = [
            *self.argv,
            "--worker-socket",
            str(WORKER_FD),
            "--worker-index",
            str(index),
        ]
        self.workers[index] = self.reactor.spawnProcess(
            worker,
            sys.executable,
            [sys.executable, *argv],
            env=os.environ,
            # stdin: a pipe that closes when the supervisor dies.
            childFDs={
                0: "w",
                1: 1,
                2: 2,
                WORKER_FD: self.listeners[index - 1].fileno(),
            },
        )
        self.log.info(
            "worker {index} started (pid {pid})",
            index=index,
            pid=self.workers[index].pid,
        )

    def ended(self, worker: _Worker, reason: Failure) -> None:
        index = worker.index
        del self.workers[index]
        if self.stopping:
            if not self.workers and not self.done.called:
                self.done.callback(None)
            return
        how = "exited" if reason.check(ProcessDone) else reason.getErrorMessage()
        lived = time.monotonic() - worker.started
        delay = (
            FIRST_RETRY
            if lived >= STABLE
            else self.delays.get(index, FIRST_RETRY / 2) * 2
        )
        delay = min(delay, MAX_RETRY)
        self.delays[index] = delay
        self.log.warn(
            "worker {index} ended ({how}) after {lived:.1f} s;"
            " restarting it in {delay:g} s",
            index=index,
            how=how,
            lived=lived,
            delay=delay,
        )
        self.reactor.callLater(delay, self._restart, index)

    def _restart(self, index: int) -> None:
        if not self.stopping and index not in self.workers:
            self._spawn(index)

    def abort(self) -> None:
        """
        A second signal: every worker aborts what is left of its drain.  It
        is passed on as SIGTERM, whatever it was: workers ignore SIGINT (a
        terminal's Ctrl-C reaches them too; their supervisor speaks for them).
        """
        self.stop(signal.SIGTERM)

    def stop(self, signum: int = signal.SIGTERM) -> Deferred[None]:
        """Pass ``signum`` to every worker; fires once all have exited."""
        self.stopping = True
        self.log.info(
            "passing signal {signum} to the workers ({count} running)",
            signum=signum,
            count=len(self.workers),
        )
        for process in list(self.workers.values()):
            try:
                process.signalProcess(signum)
            except Exception:  # already gone; processEnded follows
                pass
        if not self.workers and not self.done.called:
            self.done.callback(None)
        return self.done


class SupervisorService(Service):
    """
    The supervisor as a Twisted service (``twist txmachines serve --workers
    N``).  twist starts services before its reactor runs; the workers are
    spawned once it runs, with its signal and child handling in place.
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def startService(self) -> None:
        super().startService()
        reactor = self.supervisor.reactor
        reactor.callWhenRunning(reactor.callLater, 0, self.supervisor.start, False)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        # twist handled the first signal; a second one aborts the drain.
        abortOnSignals(self.supervisor.reactor, self.supervisor.abort)
        return self.supervisor.drain()
