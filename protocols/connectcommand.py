"""
``txmachines connect``: send standard input's lines to a server, print its
replies; for greeting, first the name (``--name``, or asked for: the first
line of standard input).  Whatever ends it early is one line on standard
error, exit 1; so is an echo that differs from what was sent (the first
such message, once every reply is printed); Ctrl-C is exit 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.logger import ILogObserver, globalLogBeginner
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines.client import ClientMachine
from statemachines.echo import ClientStopped
from statemachines.greeting import GreetingRefused

from .client import EchoClient, echoClient, greetingClient
from .commandlog import beginLogging, reason
from .signals import StopSignals

# connect's SIGINT handling, which says (received) whether a Ctrl-C ended it.
_connectSignals: list[StopSignals] = []


def connect(args: argparse.Namespace) -> None:
    """
    Run ``txmachines connect`` until standard input ends, or the client
    stops first; what ends it early is one line (status 1), Ctrl-C 130.

    @param args: the parsed options, checked (`protocols.validation`).
    """
    _connectSignals.clear()
    try:
        react(_connect, [args])
    except SystemExit:
        if any(s.received for s in _connectSignals):  # Ctrl-C: nothing to say
            raise SystemExit(128 + signal.SIGINT) from None
        raise


def _beginLogging(args: argparse.Namespace) -> None:
    """
    ``connect`` prints its result, and a failure as one line: its log is for
    ``-v`` (`protocols.commandlog.beginLogging`); at a terminal, it also
    says when it tries again, so that a wait for a server is not mistaken
    for a hang.
    """
    if args.verbose:
        beginLogging(verbose=True)
        return
    observers = [_RetryNotes(sys.stderr)] if sys.stderr.isatty() else []
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)


@implementer(ILogObserver)
class _RetryNotes:
    """
    A log observer for ``connect`` at a terminal: one line per retry after
    a failed attempt, from the client's events (``could not connect`` has
    the ``reason``, the retry that follows the ``delay`` and the
    ``attempt``), and nothing else.
    """

    def __init__(self, out: Any) -> None:
        self.out = out
        self.reason: str | None = None  # why the last attempt failed

    def __call__(self, event: dict[str, Any]) -> None:
        if not isinstance(event.get("machine"), ClientMachine):
            return
        if "reason" in event:
            self.reason = str(event["reason"])
        elif "delay" in event and "attempt" in event and self.reason is not None:
            self.out.write(
                f"txmachines: could not connect ({_shown(self.reason)}); trying "
                f"again in {event['delay']:.2g} s (attempt {event['attempt']})\n"
            )
            self.out.flush()
            self.reason = None


class _StdinLines(Protocol):
    """Standard input, one line at a time, into a callback."""

    def __init__(self, onLine: Any, onEnd: Any) -> None:
        self.onLine, self.onEnd, self.buffer = onLine, onEnd, b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.onLine(line.removesuffix(b"\r"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.buffer:
            self.onLine(self.buffer)
        self.onEnd()


def _describe(failure: Failure | None) -> str:
    if failure is None:
        return "?"
    mismatches = getattr(failure.value, "errors", None) or []  # service_identity
    hostnames = [
        getattr(getattr(m, "mismatched_id", None), "hostname", None) for m in mismatches
    ]
    names = [h.decode() if isinstance(h, bytes) else h for h in hostnames if h]
    if names:
        return f"the server's TLS certificate is not valid for {', '.join(names)}"
    return failure.getErrorMessage()


def _shown(text: str) -> str:
    """Text that came from the server, harmless on a terminal: no escapes."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _gaveUp(machine: Any) -> str:
    """Why the client stopped before it was done, in one line."""
    if machine.quitReason is not None:
        return f"txmachines: {_shown(machine.quitReason)}"
    reason = _describe(machine.lastFailure)
    attempts = machine.failedAttempts
    return (
        f"txmachines: could not connect after {attempts} "
        f"{'attempt' if attempts == 1 else 'attempts'}: {_shown(reason)}"
    )


# How much of a message a mismatch shows, each side of the first difference.
_EXCERPT = 30


def _excerpt(message: bytes, at: int) -> str:
    """
    ``message`` around byte ``at``, as a bytes literal (harmless on a
    terminal), cut (with ``...``) to `_EXCERPT` bytes either side.
    """
    start = max(0, at - _EXCERPT)
    before = "..." if start > 0 else ""
    after = "..." if at + _EXCERPT < len(message) else ""
    return f"{before}{message[start : at + _EXCERPT]!r}{after}"


def _mismatch(number: int, sent: bytes, got: bytes) -> str:
    """
    One line naming an echo that is not what was sent: which message (from
    1), where it first differs, what was sent and what came back there.
    """
    at = next(
        (i for i, (a, b) in enumerate(zip(sent, got, strict=False)) if a != b),
        min(len(sent), len(got)),
    )
    return (
        f"txmachines: the echo of message {number} differs from what was sent "
        f"(at byte {at}): sent {_excerpt(sent, at)}, got {_excerpt(got, at)}"
    )


def _write(line: bytes) -> None:
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


@inlineCallbacks
def _connect(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        endpoint = clientFromString(reactor, args.connect)
    except Exception as e:
        raise SystemExit(
            f"txmachines: cannot connect with {args.connect}: {reason(e)}"
        ) from None
    _beginLogging(args)
    lines: list[bytes] = []
    ended: Deferred[None] = Deferred()
    firstLine: Deferred[None] = Deferred()
    pending: list[Deferred[Any]] = []
    mismatches: list[str] = []  # the first echo that differs, if one does
    client: EchoClient | None = None

    def received(replies: list[bytes], number: int, sent: bytes) -> None:
        _write(replies[0])
        if replies[0] != sent and not mismatches:
            mismatches.append(_mismatch(number, sent, replies[0]))

    def onLine(line: bytes) -> None:
        if client is None:
            lines.append(line)
            if not firstLine.called:
                firstLine.callback(None)
        else:
            number = len(pending) + 1
            pending.append(client.echo([line]).addCallback(received, number, line))

    def onEnd() -> None:
        if not firstLine.called:
            firstLine.callback(None)
        ended.callback(None)

    StandardIO(_StdinLines(onLine, onEnd), reactor=reactor)
    # Ctrl-C stops the reactor (the exit status is 130, see main); a second
    # one has nothing left to abort.
    interrupt = StopSignals(reactor, lambda: None, (signal.SIGINT,))
    _connectSignals.append(interrupt)
    reactor.callWhenRunning(interrupt.install)
    if args.protocol == "greeting":
        name = args.name
        if name is None:
            asked = sys.stdin.isatty()  # someone at a terminal: say what to type
            if asked:
                sys.stderr.write("txmachines: your name (or give --name)? ")
                sys.stderr.flush()
            yield firstLine
            if not lines:
                end = "\n" if asked else ""  # after a prompt, on a line of its own
                raise SystemExit(
                    f"{end}txmachines: no name given: use --name or type one"
                )
            name = lines.pop(0).decode("utf-8", errors="surrogateescape")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes, in argv or typed
            raise SystemExit("txmachines: the name is not valid UTF-8") from None
        greeter = greetingClient(
            reactor,
            endpoint,
            name,
            args.framing,
            args.max_frame,
            maxAttempts=args.max_attempts,
            replyTimeout=args.timeout,
        )
        try:
            greeting = yield greeter.whenGreeted()
        except GreetingRefused as e:
            yield greeter.stop()
            raise SystemExit(
                f"txmachines: the server refused the name: {_shown(str(e))}"
            ) from None
        except ClientStopped:
            yield greeter.stop()
            raise SystemExit(_gaveUp(greeter.machine)) from None
        _write(greeting.encode("utf-8"))
        client = greeter
    else:
        client = echoClient(
            reactor,
            endpoint,
            args.framing,
            args.max_frame,
            maxAttempts=args.max_attempts,
            replyTimeout=args.timeout,
        )
    for line in lines:
        onLine(line)
    # Until standard input ends, or the client stops first (it gave up, or
    # the server broke the protocol): then nothing typed can be answered,
    # so say why at once rather than when input ends.
    stopped = client.machine.whenStopped()
    yield DeferredList([ended, stopped], fireOnOneCallback=True)
    if stopped.called and not ended.called:
        raise SystemExit(_gaveUp(client.machine))
    if not pending:  # nothing to send: still say whether the server is there
        try:
            yield client.whenConnected()
        except Exception:
            yield client.stop()
            raise SystemExit(_gaveUp(client.machine)) from None
    results = yield DeferredList(pending, consumeErrors=True)
    yield client.stop()
    failures = [r for ok, r in results if not ok]
    if failures and (
        client.machine.quitReason is not None or client.machine.lastFailure is not None
    ):
        raise SystemExit(_gaveUp(client.machine))
    if failures:
        raise SystemExit(
            f"txmachines: {len(failures)} lines got no reply: "
            f"{failures[0].getErrorMessage()}"
        )
    if mismatches:
        raise SystemExit(mismatches[0])
