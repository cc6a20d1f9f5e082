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
from typing import Any, NoReturn

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.python import usage
from twisted.python.failure import Failure

from .cli import invalidCombination, serveOptions, serverFromOptions
from .server import Server, abortOnSecondSignal


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
    A `Server` that ends the process if it cannot listen at start-up, and
    aborts what is left of its drain on a second SIGINT or SIGTERM.
    """

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
        self._starting = True
        try:
            super().startService()
        finally:
            self._starting = False
        if self.listenFailure is not None:  # listening failed synchronously
            raise SystemExit(
                f"txmachines: could not listen on {self.description}: "
                f"{self.listenFailure.getErrorMessage()}"
            )


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    args = options["args"]
    if args.workers != 1:
        return supervisorService(reactor, args)
    return serverFromOptions(reactor, args, TwistServer)


def supervisorService(reactor: Any, args: argparse.Namespace) -> IService:
    """``--workers N`` under twist: the supervisor, as a service."""
    from . import workers
    from .cli import supervisorFromOptions

    return workers.SupervisorService(supervisorFromOptions(reactor, args))
