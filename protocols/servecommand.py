"""
``txmachines serve``: the `Server` its options describe (with ``--workers``,
a `protocols.workers.Supervisor` of worker processes), run until SIGINT or
SIGTERM: the first drains, a second aborts what is left.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.python.failure import Failure

from . import workers
from .commandlog import beginLogging, reason
from .options import PROXY_PREFIX, behindProxy, listenDescription
from .protocolsetup import machineOptions, openResources
from .server import MachineServerFactory, Server
from .signals import StopSignals, abortConnections, logDraining


def serve(args: argparse.Namespace) -> None:
    """
    Run ``txmachines serve`` until SIGINT or SIGTERM: a server, or with
    ``--workers`` other than 1 a supervisor (unless this is one of its
    workers).  A failure to start exits with one line (status 1).

    @param args: the parsed options, checked (`protocols.validation`).
    """
    if args.workers != 1 and args.worker_socket is None:
        react(_supervise, [args])
    else:
        react(_serve, [args])


def workerCommand(args: argparse.Namespace) -> list[str]:
    """A worker's command line: ``txmachines`` with the same options."""
    return ["-c", "from protocols.cli import main; main()", *args.rawArgs]


def serverFromOptions(
    reactor: Any,
    args: argparse.Namespace,
    serverClass: Callable[..., Server] = Server,
) -> Server:
    """
    The `Server` that ``serve`` runs, from its parsed (and checked) options;
    it opens nothing (see `protocols.protocolsetup.openResources`).

    @param serverClass: called as ``serverClass(reactor, description,
        factory, proxyHeader=...)`` to make it, as `Server` is.
    """
    machineClass = args.protocol.make

    def makeMachine() -> Any:
        # Its options are read as it is made: smtp's mailbox is there once
        # the server has started (openResources), not when it was built.
        machine = machineClass(reactor, **machineOptions(args))
        if args.trace:
            machine.setTracing(True)
        return machine

    factory = MachineServerFactory(
        makeMachine,
        args.framing,
        args.max_frame,
        maxConnections=args.max_connections,
        maxPerPeer=args.max_per_peer,
        maxBuffered=args.max_buffered,
        refusal=getattr(machineClass, "refusal", None),
        clock=reactor,
        closeTimeout=args.close_timeout,
    )
    description = listenDescription(args)
    if behindProxy(args):
        # The PROXY header is read before admission (see
        # protocols.proxyheader), not by Twisted's haproxy: wrapper.
        description = description.removeprefix(PROXY_PREFIX)
    return serverClass(reactor, description, factory, proxyHeader=behindProxy(args))


def supervisorFromOptions(reactor: Any, args: argparse.Namespace) -> workers.Supervisor:
    """The `protocols.workers.Supervisor` of ``serve --workers N``."""
    description = listenDescription(args).removeprefix(PROXY_PREFIX)
    count = workers.workerCount(args.workers)
    try:
        return workers.Supervisor(
            reactor, description, count, workerCommand(args), args.worker_timeout
        )
    except (OSError, ValueError, OverflowError) as e:
        raise SystemExit(
            f"txmachines: could not listen on {listenDescription(args)}: {reason(e)}"
        ) from None


@inlineCallbacks
def _supervise(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    # Here too, not only in each worker: what will not do is one line, not
    # every worker failing in turn.
    openResources(args)
    supervisor = supervisorFromOptions(reactor, args)
    beginLogging(args.verbose, clock=reactor)
    supervisor.start()
    reactor.callWhenRunning(StopSignals(reactor, supervisor.abort).install)
    yield supervisor.done  # after a signal, once every worker has exited


@inlineCallbacks
def _serve(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    openResources(args)  # the Maildir and the TLS key: exits with one line
    server = serverFromOptions(reactor, args)
    if args.worker_socket is not None:
        server.adoptSocket = args.worker_socket
        StandardIO(_SupervisorGone(reactor), reactor=reactor)
        # Ctrl-C in a terminal reaches the whole process group; a worker
        # answers only to its supervisor, which passes it on as SIGTERM.
        reactor.callWhenRunning(signal.signal, signal.SIGINT, signal.SIG_IGN)
    try:
        yield server.start()
    except Exception as e:  # a bad description, a port in use, a missing key
        raise SystemExit(
            f"txmachines: could not listen on {listenDescription(args)}: {reason(e)}"
        ) from None
    if args.worker_heartbeat is not None:  # its supervisor listens for it
        # The first beat goes before "listening on" is logged: a worker seen
        # listening has beaten, and a freeze from then on is found within
        # the timeout, not the first beat's allowance.
        workers.Heartbeat(reactor, workers.HEARTBEAT_FD, args.worker_heartbeat).start()
    beginLogging(args.verbose, args.worker_index, reactor)

    # A worker answers SIGTERM only (its supervisor passes every signal on).
    worker = args.worker_socket is not None
    signals = (signal.SIGTERM,) if worker else (signal.SIGINT, signal.SIGTERM)
    abort = abortConnections(server.factory)
    reactor.callWhenRunning(StopSignals(reactor, abort, signals).install)

    def drain() -> Deferred[None]:
        logDraining(server.factory)
        d: Deferred[None] = server.stop()
        return d

    reactor.addSystemEventTrigger("before", "shutdown", drain)
    yield Deferred()  # until SIGINT/SIGTERM stop the reactor


class _SupervisorGone(Protocol):
    """A worker's stdin: when the supervisor's end closes, drain and exit."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.reactor.running:
            self.reactor.stop()
