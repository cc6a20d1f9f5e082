"""
``twist txmachines serve {echo,greeting,MODULE:NAME} [options]``: the server of
``txmachines serve`` as a Twisted application, with the same options.

``twist`` owns logging (``--log-level``, ``--log-file``,
``--log-format json``) and the reactor (``--reactor``); ``--trace`` events
and every other event are structured ``twisted.logger`` events, so with
``--log-format json`` they come out machine-readable.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from typing import IO, Any, NoReturn

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
)
from twisted.python import usage
from twisted.python.failure import Failure

from . import workers
from .commandlog import rateLimited, reason
from .options import serveOptions
from .protocolsetup import openResources
from .servecommand import serverFromOptions, supervisorFromOptions
from .server import MachineServerFactory, Server
from .signals import abortOnSecondSignal
from .validation import invalidCombination


class _Parser(argparse.ArgumentParser):
    """Reports a bad option the way ``twist`` reports one, not by exiting."""

    def error(self, message: str) -> NoReturn:
        raise usage.UsageError(message)


def _parser() -> argparse.ArgumentParser:
    top = _Parser(prog="twist txmachines")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serveOptions(commands.add_parser("serve", help="serve a protocol"))
    return top


class Options(usage.Options):
    """``twist txmachines``'s options: ``txmachines serve``'s, parsed alike."""

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        rawArgs = list(options or [])
        args = _parser().parse_args(rawArgs)
        args.rawArgs = rawArgs
        problem = invalidCombination(args)
        if problem:
            raise usage.UsageError(problem)
        self["args"] = args

    def __str__(self) -> str:
        return _parser().format_help()


class TwistServer(Server):
    """
    A `Server` that opens what its options name as it starts (smtp's
    Maildir and TLS key), ends the process if that or listening fails at
    start-up, and aborts what is left of its drain on a second SIGINT or
    SIGTERM.
    """

    def __init__(
        self,
        reactor: Any,
        description: str,
        factory: MachineServerFactory,
        proxyHeader: bool = False,
        args: argparse.Namespace | None = None,
    ) -> None:
        """
        @param proxyHeader: as `Server`'s.
        @param args: the options it was made from, whose resources it opens
            as it starts (`protocols.protocolsetup.openResources`).
        """
        super().__init__(reactor, description, factory, proxyHeader)
        self.args = args

    def stopService(self) -> Deferred[None]:
        abortOnSecondSignal(self.reactor, self.factory)
        return super().stopService()

    _starting = False

    def _listenFailed(self, failure: Failure) -> None:
        if self._starting:  # startService says so, once, and exits
            self.listenFailure = failure
        else:
            super()._listenFailed(failure)

    def startService(self) -> None:
        if self.args is not None:
            openResources(self.args)  # one line if it cannot, and twist exits 1
        self._starting = True
        try:
            super().startService()
        finally:
            self._starting = False
        if self.listenFailure is not None:  # listening failed synchronously
            raise SystemExit(
                f"txmachines: could not listen on {self.description}: "
                f"{reason(self.listenFailure.value)}"
            )


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    rateLimitTwistsLog(options, reactor)
    args = options["args"]
    if args.workers != 1:
        return supervisorService(reactor, args)
    return serverFromOptions(reactor, args, partial(TwistServer, args=args))


def rateLimitTwistsLog(options: usage.Options, clock: IReactorTime) -> None:
    """
    Put ``twist``'s log (not begun yet when it makes the service) behind
    `protocols.commandlog.RateLimitedTwistedEvents`, as ``txmachines serve``'s
    is: ``twist``'s observer factory (``--log-format``) is wrapped in
    ``options.parent``, the ``twist`` options, so that what it makes is the
    rate in front of its ``--log-level`` filter (``twist`` filters again
    above it: it cannot see what the rate holds back at debug level).
    Nothing without a parent (``makeService`` called from code).
    """
    parent = getattr(options, "parent", None)
    if parent is None or "fileLogObserverFactory" not in parent:
        return
    makeObserver = parent["fileLogObserverFactory"]
    level = parent.get("logLevel", LogLevel.info)

    def rateLimitedObserver(logFile: IO[Any]) -> ILogObserver:
        filtering = FilteringLogObserver(
            makeObserver(logFile), [LogLevelFilterPredicate(level)]
        )
        return rateLimited(filtering, clock)

    parent["fileLogObserverFactory"] = rateLimitedObserver


class TwistSupervisorService(workers.SupervisorService):
    """
    ``--workers N`` under twist: the supervisor, as a service that opens
    what its options name as it starts, as `TwistServer` does (each worker
    opens them again), so that what will not do ends twist with one line
    rather than every worker failing in turn.
    """

    def __init__(self, supervisor: workers.Supervisor, args: argparse.Namespace):
        super().__init__(supervisor)
        self.args = args

    def startService(self) -> None:
        openResources(self.args)
        super().startService()


def supervisorService(reactor: Any, args: argparse.Namespace) -> IService:
    """``--workers N`` under twist: the supervisor, as a service."""
    return TwistSupervisorService(supervisorFromOptions(reactor, args), args)
