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
  timeout); a second signal is passed on too, and aborts them at once;
  a worker still there ``ABORT_GRACE`` (5 s) later, unable to act on it
  (stopped, or its reactor blocked), is killed (SIGKILL).  The
  supervisor exits when the last worker has.
- A worker's standard input is a pipe from the supervisor: if the
  supervisor dies (even by SIGKILL), the pipe closes and every worker drains
  and exits, so no worker outlives it.
- Each worker's log lines say which worker it is (``worker 2``).
- A worker that freezes (stopped, or its reactor blocked: an endless loop,
  a call that never returns) is found by its silence, killed and replaced.
  Its reactor writes a byte to its heartbeat pipe (file descriptor 4, read
  by the supervisor; `Heartbeat`) four times per ``--worker-timeout``
  (default 30 s; 0 turns it off), the first before it logs that it is
  listening.  The supervisor looks three times per timeout, and a worker
  it has heard nothing from three looks in a row - for the timeout at
  least, a third more at most - is killed with SIGKILL, with a warning
  naming it (number and pid) and why, then replaced as a worker that dies
  is, except that its silence counts toward the back-off: a first freeze
  (at timeouts of a second or more) is replaced at once.  The connections
  waiting in its socket's queue are not lost: the socket is the
  supervisor's, and the replacement adopts it (those the frozen worker had
  accepted itself die with it).  A new worker has ``max(timeout, 30 s)``
  for its first heartbeat: starting Python on a loaded machine can take
  longer than a short timeout.  Counting looks rather than reading the
  clock keeps a pause of the supervisor itself (a suspended machine, a
  clock set forward) from condemning its workers: a late look counts once,
  and the heartbeats that arrived meanwhile are read before the next.

Only plain TCP endpoints (``tcp:`` or ``tcp6:PORT[:interface=...][:backlog=...]``,
with or without ``haproxy:``) can be shared this way.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import time
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall, IProcessTransport, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from statemachines import limits

from .signals import abortOnSignals

__all__ = [
    "DEFAULT_WORKER_TIMEOUT",
    "Heartbeat",
    "Supervisor",
    "SupervisorService",
    "listeningSocket",
]

WORKER_FD = 3
HEARTBEAT_FD = 4  # the worker writes, the supervisor reads
FIRST_RETRY, MAX_RETRY, STABLE = 1.0, 30.0, 30.0
DEFAULT_WORKER_TIMEOUT = 30.0
BEATS = 4  # heartbeats a worker sends per --worker-timeout
LOOKS = 3  # looks the supervisor takes per --worker-timeout; this many silent kill
FIRST_BEAT = 30.0  # a new worker's allowance for its first heartbeat, at least
ABORT_GRACE = 5.0  # after a second signal, seconds until what is left is SIGKILLed


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


class Heartbeat:
    """
    A worker's heartbeat: a byte written to ``fd`` every ``interval``
    seconds by a timer of its reactor, so that a worker whose reactor is
    blocked falls silent as surely as one that is stopped.  A full pipe (a
    supervisor that is not reading) skips a beat; a closed one (no
    supervisor) ends the beating, and the worker's closed standard input
    says the rest.
    """

    log = Logger()

    def __init__(self, clock: IReactorTime, fd: int, interval: float) -> None:
        """
        @param fd: the write end of the heartbeat pipe (`HEARTBEAT_FD`).
        @param interval: seconds between beats.
        """
        self.fd = fd
        self.interval = interval
        self._loop = LoopingCall(self.beat)
        self._loop.clock = clock

    def start(self) -> None:
        """Beat now, and every ``interval`` from now on."""
        os.set_blocking(self.fd, False)
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        """Beat no more."""
        if self._loop.running:
            self._loop.stop()

    def beat(self) -> None:
        """One beat: a byte, unless the pipe is full or gone."""
        try:
            os.write(self.fd, b".")
        except BlockingIOError:
            pass  # the supervisor is behind; it has plenty to read
        except OSError as e:
            self.log.info(
                "heartbeat pipe closed ({why}); no more heartbeats",
                why=e.strerror,
            )
            self.stop()


class _Worker(ProcessProtocol):
    """One worker process, as its supervisor sees it."""

    process: IProcessTransport  # once spawned

    def __init__(self, supervisor: Supervisor, index: int, now: float) -> None:
        self.supervisor, self.index = supervisor, index
        self.started = time.monotonic()
        self.lastHeard = now  # the reactor's time of the last heartbeat
        self.heard = False  # a heartbeat since the supervisor's last look
        self.beating = False  # a heartbeat ever
        self.silentLooks = 0  # looks in a row that found none
        self.killed = False  # by the watchdog
        self.silence = 0.0  # seconds it had been silent when killed

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == HEARTBEAT_FD:
            self.heard = self.beating = True
            self.lastHeard = self.supervisor.reactor.seconds()

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.ended(self, reason)


class Supervisor:
    """Starts, restarts and stops the workers; see the module doc."""

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        description: str,
        count: int,
        argv: list[str],
        timeout: float | None = DEFAULT_WORKER_TIMEOUT,
    ) -> None:
        """
        @param description: the ``tcp:`` endpoint to listen on.
        @param argv: the worker command, without ``--worker-socket``.
        @param timeout: kill and replace a worker whose heartbeat is not
            heard for this many seconds (``--worker-timeout``); None or 0:
            no heartbeat.
        """
        self.reactor = reactor
        self.timeout = limits.optionalTimeout("the worker timeout", timeout)
        first = listeningSocket(description)
        port = first.getsockname()[1]
        self.listeners = [first]
        self.listeners += [listeningSocket(description, port) for _ in range(1, count)]
        self.count = count
        self.argv = argv
        self.workers: dict[int, _Worker] = {}
        self.delays: dict[int, float] = {}
        self.stopping = False
        self.done: Deferred[None] = Deferred()
        self._watch: LoopingCall | None = None
        self._killing: IDelayedCall | None = None  # after a second signal

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
        if self.timeout is not None:
            self._watch = LoopingCall(self._look)
            self._watch.clock = self.reactor
            self._watch.start(self.timeout / LOOKS, now=False)
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
        worker = _Worker(self, index, self.reactor.seconds())
        argv = [
            *self.argv,
            "--worker-socket",
            str(WORKER_FD),
            "--worker-index",
            str(index),
        ]
        # stdin: a pipe that closes when the supervisor dies.
        childFDs: dict[int, int | str] = {
            0: "w",
            1: 1,
            2: 2,
            WORKER_FD: self.listeners[index - 1].fileno(),
        }
        if self.timeout is not None:
            argv += ["--worker-heartbeat", repr(self.timeout / BEATS)]
            childFDs[HEARTBEAT_FD] = "r"  # the worker writes, we read
        worker.process = self.reactor.spawnProcess(
            worker,
            sys.executable,
            [sys.executable, *argv],
            env=os.environ,
            childFDs=childFDs,
        )
        self.workers[index] = worker
        self.log.info(
            "worker {index} started (pid {pid})",
            index=index,
            pid=worker.process.pid,
        )

    def _look(self) -> None:
        """
        The watchdog's look, ``LOOKS`` times per timeout: a worker not heard
        from since the last one is silent once more; ``LOOKS`` silent looks
        in a row (more for a worker not yet heard at all) kill it.
        """
        assert self.timeout is not None
        interval = self.timeout / LOOKS
        firstBeat = max(LOOKS, math.ceil(max(self.timeout, FIRST_BEAT) / interval))
        for worker in list(self.workers.values()):
            if worker.heard:
                worker.heard, worker.silentLooks = False, 0
                continue
            worker.silentLooks += 1
            allowed = LOOKS if worker.beating else firstBeat
            if worker.silentLooks >= allowed and not worker.killed:
                self._kill(worker)

    def _kill(self, worker: _Worker) -> None:
        """A frozen worker: SIGKILL, and `ended` replaces it."""
        worker.killed = True
        worker.silence = silent = self.reactor.seconds() - worker.lastHeard
        if worker.beating:
            why = (
                f"is frozen: no heartbeat for {silent:.1f} s"
                f" (--worker-timeout {self.timeout:g})"
            )
        else:
            why = f"is stuck starting: no heartbeat in the {silent:.1f} s since"
        self._sigkill(worker, why)

    def _sigkill(self, worker: _Worker, why: str) -> None:
        """SIGKILL ``worker``, with a warning naming it and ``why``."""
        self.log.warn(
            "worker {index} (pid {pid}) {why}; killing it (SIGKILL)",
            index=worker.index,
            pid=worker.process.pid,
            why=why,
        )
        try:
            worker.process.signalProcess("KILL")
        except ProcessExitedAlready:  # processEnded follows
            pass

    def ended(self, worker: _Worker, reason: Failure) -> None:
        index = worker.index
        del self.workers[index]
        if self.stopping:
            if not self.workers:
                self._allEnded()
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
        if worker.killed:
            # Its queue has waited out its silence already, and a worker
            # that keeps freezing is slowed by it as by the back-off: the
            # silence counts toward the delay.
            delay = max(0.0, delay - worker.silence)
        self.log.warn(
            "worker {index} ended ({how}) after {lived:.1f} s;"
            " restarting it in {delay:.3g} s",
            index=index,
            how=how,
            lived=lived,
            delay=delay,
        )
        self.reactor.callLater(delay, self._restart, index)

    def _restart(self, index: int) -> None:
        if not self.stopping and index not in self.workers:
            self._spawn(index)

    def _allEnded(self) -> None:
        """Stopping, and no worker is left: no more looks; `done` fires."""
        if self._watch is not None and self._watch.running:
            self._watch.stop()
        if self._killing is not None and self._killing.active():
            self._killing.cancel()
        if not self.done.called:
            self.done.callback(None)

    def abort(self) -> None:
        """
        A second signal: every worker aborts what is left of its drain.  It
        is passed on as SIGTERM, whatever it was: workers ignore SIGINT (a
        terminal's Ctrl-C reaches them too; their supervisor speaks for them).
        """
        self.stop(signal.SIGTERM)
        if self.workers and self._killing is None:
            self._killing = self.reactor.callLater(ABORT_GRACE, self._killTheRest)

    def _killTheRest(self) -> None:
        """
        ``ABORT_GRACE`` after a second signal: a worker that has not exited
        cannot act on signals (stopped, or its reactor blocked, and no
        heartbeat to say so), and is killed, so a second signal always ends
        the server.
        """
        for worker in list(self.workers.values()):
            why = f"did not exit {ABORT_GRACE:g} s after the second signal"
            self._sigkill(worker, why)

    def stop(self, signum: int = signal.SIGTERM) -> Deferred[None]:
        """
        Pass ``signum`` to every worker; fires once all have exited.  The
        watchdog looks on meanwhile: a worker that freezes as it drains is
        killed (and not replaced).
        """
        self.stopping = True
        self.log.info(
            "passing signal {signum} to the workers ({count} running)",
            signum=signum,
            count=len(self.workers),
        )
        for worker in list(self.workers.values()):
            try:
                worker.process.signalProcess(signum)
            except Exception:  # already gone; processEnded follows
                pass
        if not self.workers:
            self._allEnded()
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
