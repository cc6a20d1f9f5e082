"""
The ``txmachines`` command.

    txmachines serve {echo,greeting} [--listen ENDPOINT] [--framing F]
    txmachines connect {echo,greeting} [--connect ENDPOINT] [--framing F] [--name NAME]
"""

from __future__ import annotations

import argparse
import inspect
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import attrs
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines import limits
from statemachines.client import DEFAULT_REPLY_TIMEOUT, ClientMachine
from statemachines.connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    ConnectionMachine,
)
from statemachines.echo import ClientStopped, EchoMachine
from statemachines.framing import (
    DEFAULT_MAX_FRAME_LENGTH,
    FRAMINGS,
    Framer,
    FramerFactory,
    RawFramer,
    framerFactory,
)
from statemachines.greeting import (
    DEFAULT_NAME_TIMEOUT,
    GreetingMachine,
    GreetingRefused,
)
from statemachines.smtp import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_RECIPIENTS,
    SMTPMachine,
)

from . import diagrams, workers
from .budget import DEFAULT_MAX_BUFFERED
from .client import EchoClient, echoClient, greetingClient
from .maildir import Maildir
from .server import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_PEER,
    MachineServerFactory,
    Server,
    StopSignals,
    abortConnections,
    logDraining,
)
from .targets import TargetError, loadObject

DEFAULT_LISTEN = "tcp:1234:interface=127.0.0.1"
DEFAULT_SMTP_LISTEN = "tcp:8025:interface=127.0.0.1"
DEFAULT_CONNECT = "tcp:127.0.0.1:1234"
SERVER_MACHINES = {
    "echo": EchoMachine,
    "greeting": GreetingMachine,
    "smtp": SMTPMachine,
}

log = Logger()


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors are one line (``-h`` shows the usage), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


class _Given(argparse.Action):
    """Store the value, and note the option in ``given``: it was not defaulted."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = getattr(namespace, "given", frozenset()) | {option_string}


def parser() -> argparse.ArgumentParser:
    top = _OneLineErrors(
        prog="txmachines", description="Twisted protocols as Automat state machines."
    )
    top.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every connection, not only the noteworthy events",
    )
    commands = top.add_subparsers(
        dest="command", required=True, parser_class=_OneLineErrors
    )

    serve = commands.add_parser("serve", help="run a server until SIGINT/SIGTERM")
    serveOptions(serve)

    connect = commands.add_parser(
        "connect", help="send standard input's lines, print the replies"
    )
    connect.add_argument("protocol", choices=["echo", "greeting"])
    connect.add_argument(
        "--connect",
        default=DEFAULT_CONNECT,
        help=f"client endpoint description (default {DEFAULT_CONNECT})",
    )
    _framingOptions(connect)
    connect.add_argument(
        "--max-attempts",
        type=_checked(limits.optionalLimit, int, "--max-attempts"),
        default=5,
        help="give up after this many failed connection attempts in a row "
        "(0: never; default %(default)s)",
    )
    connect.add_argument(
        "--timeout",
        type=_checked(limits.optionalTimeout, float, "--timeout"),
        default=DEFAULT_REPLY_TIMEOUT,
        help="give up on a connection attempt, or on a reply, after this many "
        "seconds (0: never; default %(default)s)",
    )
    connect.add_argument(
        "--name",
        action=_Given,
        help="the name to give (greeting; default: the first line of standard input)",
    )
    diagrams = commands.add_parser(
        "diagrams", help="write (or check) the state diagrams of machines"
    )
    diagrams.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="package.module:Class of a machine (default: every shipped machine)",
    )
    diagrams.add_argument(
        "--output",
        type=Path,
        default=Path("diagrams"),
        help="where the files go (default %(default)s)",
    )
    diagrams.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every missing, stale or extra file",
    )
    diagrams.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="a Markdown file whose embedded diagrams to update "
        "(default: README.md, with the shipped machines)",
    )
    return top


def serveOptions(serve: argparse.ArgumentParser) -> None:
    """The options of ``serve``; the twist plugin takes the same."""
    serve.add_argument(
        "protocol",
        metavar="PROTOCOL",
        type=_servedMachine,
        help="echo, greeting, smtp, or MODULE:NAME: your ConnectionMachine "
        "subclass, or a callable that makes one, called as NAME(clock, "
        "idleTimeout=..., closeTimeout=...) (and nameTimeout=... for greeting "
        "machines)",
    )
    serve.add_argument(
        "--listen",
        default=None,
        help=f"server endpoint description (default {DEFAULT_LISTEN}; "
        f"for smtp {DEFAULT_SMTP_LISTEN})",
    )
    serve.add_argument(
        "--workers",
        type=_checked(limits.optionalLimit, int, "--workers"),
        default=1,
        help="serve from this many processes sharing the listening socket; "
        "0: one per core (default 1; tcp: endpoints only)",
    )
    serve.add_argument("--worker-socket", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    smtp = serve.add_argument_group("smtp")
    smtp.add_argument(
        "--maildir", type=Path, action=_Given, help="smtp: store mail in this Maildir"
    )
    smtp.add_argument(
        "--hostname",
        action=_Given,
        default="localhost",
        help="smtp: this server's name in replies and headers (default %(default)s)",
    )
    smtp.add_argument(
        "--max-message-size",
        action=_Given,
        type=_checked(limits.limit, limits.byteSize, "--max-message-size"),
        default=DEFAULT_MAX_MESSAGE_SIZE,
        help="smtp: refuse larger messages, with 552 (default 32MiB)",
    )
    smtp.add_argument(
        "--max-recipients",
        action=_Given,
        type=_checked(limits.limit, int, "--max-recipients"),
        default=DEFAULT_MAX_RECIPIENTS,
        help="smtp: recipients per message (default %(default)s)",
    )
    smtp.add_argument(
        "--tls-key", type=Path, action=_Given, help="smtp: offer STARTTLS with this key"
    )
    smtp.add_argument(
        "--tls-cert",
        type=Path,
        action=_Given,
        help="smtp: ... and this certificate (chain), PEM",
    )
    _framingOptions(serve)
    serve.add_argument(
        "--idle-timeout",
        type=_checked(limits.optionalTimeout, float, "--idle-timeout"),
        default=DEFAULT_IDLE_TIMEOUT,
        help="close connections silent this long, in seconds "
        "(0 disables; default %(default)s)",
    )
    serve.add_argument(
        "--max-connections",
        type=_checked(limits.optionalLimit, int, "--max-connections"),
        default=DEFAULT_MAX_CONNECTIONS,
        help="refuse connections past this many (0: no limit; default %(default)s)",
    )
    serve.add_argument(
        "--max-per-peer",
        type=_checked(limits.optionalLimit, int, "--max-per-peer"),
        default=DEFAULT_MAX_PER_PEER,
        help="refuse connections past this many from one address "
        "(0: no limit; default %(default)s)",
    )
    serve.add_argument(
        "--max-buffered",
        type=_checked(limits.optionalLimit, limits.byteSize, "--max-buffered"),
        default=DEFAULT_MAX_BUFFERED,
        help="unsent replies all connections may hold together, roughly; each "
        "connection that holds more than its share is not read until it has "
        "sent it (0: only 64 KiB per connection; default 64MiB)",
    )
    serve.add_argument(
        "--name-timeout",
        action=_Given,
        type=_checked(limits.optionalTimeout, float, "--name-timeout"),
        default=DEFAULT_NAME_TIMEOUT,
        help="greeting: close connections that give no valid name within this "
        "many seconds (0 disables; default %(default)s)",
    )
    serve.add_argument(
        "--trace",
        action="store_true",
        help="log every transition of every connection's machine "
        "(namespace txmachines.trace)",
    )
    serve.add_argument(
        "--close-timeout",
        type=_checked(limits.timeout, float, "--close-timeout"),
        default=DEFAULT_CLOSE_TIMEOUT,
        help="abort connections that do not close within this many "
        "seconds (default %(default)s)",
    )


def _framing(spec: str) -> str | FramerFactory:
    """An argparse ``type``: a framing's name, or ``MODULE:NAME`` of a factory."""
    if spec in FRAMINGS:
        return spec
    if ":" not in spec:
        raise argparse.ArgumentTypeError(
            f"unknown framing {spec!r}: give one of {', '.join(FRAMINGS)} "
            "or MODULE:NAME of a framer class"
        )
    return cast(FramerFactory, _callableTarget(spec))


def _callableTarget(spec: str, hint: str = "", kind: type | None = None) -> Any:
    """
    ``MODULE:NAME`` for an argparse ``type``: a callable (a subclass of
    ``kind``, if a class); what is wrong is an ArgumentTypeError, ``hint``
    added to a target that does not load.
    """
    try:
        value = loadObject(spec)
    except TargetError as e:
        raise argparse.ArgumentTypeError(f"{e}{hint}") from None
    if kind is not None and isinstance(value, type) and not issubclass(value, kind):
        raise argparse.ArgumentTypeError(f"{spec!r} is not a {kind.__name__}")
    if not callable(value):
        raise argparse.ArgumentTypeError(f"{spec!r} is neither a class nor callable")
    return value


def _framingOptions(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--framing",
        type=_framing,
        default="line",
        help=f"how messages are delimited: {', '.join(FRAMINGS)}, or "
        "MODULE:NAME of a framer class (default %(default)s)",
    )
    command.add_argument(
        "--max-frame",
        type=_checked(limits.limit, limits.byteSize, "--max-frame"),
        default=DEFAULT_MAX_FRAME_LENGTH,
        help="largest message accepted, in bytes; units work: 64KiB, 16MiB "
        "(default %(default)s)",
    )


def _beginLogging(args: argparse.Namespace) -> None:
    """
    Log to standard error from now on (events so far were buffered).  Called
    once the endpoint is known to work, so that a failure to start is only
    the one line saying why.  ``connect`` prints its result, and a failure
    as one line: its log is for ``-v``; at a terminal, it also says when it
    tries again, so that a wait for a server is not mistaken for a hang.
    """
    if args.command == "connect" and not args.verbose:
        observers = [_RetryNotes(sys.stderr)] if sys.stderr.isatty() else []
        globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
        return
    level = LogLevel.debug if args.verbose else LogLevel.info
    observer = textFileLogObserver(sys.stderr)
    worker = getattr(args, "worker_index", None)
    if worker is not None:
        observer = _naming(observer, f"worker {worker}")
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(observer, [LogLevelFilterPredicate(level)])],
        redirectStandardIO=False,
    )


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


def _checked(
    check: Callable[[str, Any], Any], convert: Callable[[str], Any], option: str
) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert``, then ``check`` (`statemachines.limits`)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            kinds: dict[object, str] = {int: "a whole number", float: "a number"}
            kind = kinds.get(convert, "a size")
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        try:
            return check(option, value)
        except ValueError as e:  # argparse names the option already
            raise argparse.ArgumentTypeError(
                str(e).removeprefix(option + " ")
            ) from None

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    try:
        _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the reactor handles it: no traceback
        raise SystemExit(128 + signal.SIGINT) from None


def _main(argv: Sequence[str] | None) -> None:
    rawArgs = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser().parse_known_args(rawArgs)
    if extra:  # pointing at the command's own help, where its options are
        _OneLineErrors(prog=f"txmachines {args.command}").error(
            f"unrecognized arguments: {' '.join(extra)}"
        )
    args.rawArgs = rawArgs
    if args.command == "diagrams":
        raise SystemExit(
            diagrams.run(args.targets, args.output, args.check, args.readme)
        )
    problem = invalidCombination(args)
    if problem:  # pointing at the command's own help, where its options are
        _OneLineErrors(prog=f"txmachines {args.command}").error(problem)
    if args.command == "serve" and args.workers != 1 and args.worker_socket is None:
        react(_supervise, [args])
    elif args.command == "serve":
        react(_serve, [args])
    else:
        _connectSignals.clear()
        try:
            react(_connect, [args])
        except SystemExit:
            if any(s.received for s in _connectSignals):  # Ctrl-C: nothing to say
                raise SystemExit(128 + signal.SIGINT) from None
            raise


# connect's SIGINT handling, which says (received) whether a Ctrl-C ended it.
_connectSignals: list[StopSignals] = []


@attrs.frozen
class ServedMachine:
    """What ``serve`` serves: a machine class, or a callable that makes one."""

    spec: str
    make: Callable[..., Any]

    @property
    def greeting(self) -> bool:
        """Whether it is a greeting machine (it takes ``nameTimeout``)."""
        return isinstance(self.make, type) and issubclass(self.make, GreetingMachine)

    @property
    def smtp(self) -> bool:
        """Whether it is an SMTP machine (it takes a mailbox and more)."""
        return isinstance(self.make, type) and issubclass(self.make, SMTPMachine)


def _servedMachine(spec: str) -> ServedMachine:
    """An argparse ``type``: ``echo``, ``greeting`` or ``MODULE:NAME``."""
    if spec in SERVER_MACHINES:
        return ServedMachine(spec, SERVER_MACHINES[spec])
    # Only a name that is not MODULE:NAME at all may have meant a shipped one.
    hint = "" if ":" in spec else " (give echo, greeting, smtp or MODULE:NAME)"
    return ServedMachine(spec, _callableTarget(spec, hint, ConnectionMachine))


SMTP_OPTIONS = frozenset(
    ["--maildir", "--hostname", "--max-message-size", "--max-recipients"]
    + ["--tls-key", "--tls-cert"]
)
GREETING_OPTIONS = frozenset(["--name-timeout", "--name"])


def invalidCombination(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of options that each parse."""
    protocol = args.protocol
    greeting = (
        protocol.greeting
        if isinstance(protocol, ServedMachine)
        else protocol == "greeting"
    )
    if greeting and framerFactory(args.framing) is RawFramer:
        return "greeting needs message boundaries: use a framing other than raw"
    # An option the protocol would ignore is an error: a user who gives
    # --tls-key to echo must not believe it serves TLS.
    smtp = getattr(protocol, "smtp", False)
    name = getattr(protocol, "spec", protocol)
    for option in sorted(getattr(args, "given", ())):
        if option in SMTP_OPTIONS and not smtp:
            return f"{option} is an smtp option; {name} does not take it"
        if option in GREETING_OPTIONS and not greeting:
            return f"{option} is a greeting option; {name} does not take it"
    if args.command == "serve" and behindProxy(args):
        inner = listenDescription(args).removeprefix(PROXY_PREFIX)
        if inner.split(":", 1)[0] in ("ssl", "tls", "haproxy"):
            return (
                "--listen haproxy: takes a plain endpoint (tcp:, tcp6:, unix:); "
                "terminate TLS at the balancer, or use STARTTLS"
            )
    if getattr(protocol, "smtp", False):
        problem = _prepareSMTP(args)
        if problem:
            return problem
    if callable(args.framing):
        try:
            framer = args.framing(args.max_frame)
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            return f"--framing: calling it with the frame limit raised {why}"
        if not isinstance(framer, Framer):
            return (
                f"--framing: {type(framer).__name__} is not a framer (it needs "
                "messages, unconsumed, frame and errorMessage; see "
                "statemachines.framing)"
            )
    if isinstance(protocol, ServedMachine):
        options = _machineOptions(args)
        try:
            inspect.signature(protocol.make).bind(None, **options)
        except TypeError as e:
            return (
                f"{protocol.spec} cannot be called as NAME(clock, "
                f"{', '.join(f'{k}=...' for k in options)}): {e}"
            )
    return None


def _prepareSMTP(args: argparse.Namespace) -> str | None:
    """Open the Maildir and load the TLS key of ``serve smtp``; what is wrong."""
    if args.framing != "line":
        return "smtp is a line protocol: leave --framing out"
    if args.maildir is None:
        return "smtp needs --maildir DIR (created if need be)"
    if (args.tls_key is None) != (args.tls_cert is None):
        return "STARTTLS needs both --tls-key and --tls-cert"
    # The options are right; a directory or file that will not do is a
    # failure to start (exit 1, as a port in use is), not bad usage.
    try:
        args.mailbox = Maildir(args.maildir)
    except OSError as e:
        raise SystemExit(f"txmachines: --maildir: {e.strerror}: {e.filename}") from None
    args.tls_options = None
    if args.tls_key is not None:
        from twisted.internet.ssl import PrivateCertificate

        try:
            pem = args.tls_key.read_bytes() + b"\n" + args.tls_cert.read_bytes()
            args.tls_options = PrivateCertificate.loadPEM(pem).options()
        except OSError as e:
            raise SystemExit(
                f"txmachines: --tls-key/--tls-cert: {e.strerror}: {e.filename}"
            ) from None
        except Exception as e:
            raise SystemExit(
                f"txmachines: --tls-key/--tls-cert: not a key and certificate: {e}"
            ) from None
    return None


def _machineOptions(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments each machine ``serve`` makes is called with."""
    options: dict[str, Any] = {
        "idleTimeout": args.idle_timeout,
        "closeTimeout": args.close_timeout,
    }
    if args.protocol.greeting:
        options["nameTimeout"] = args.name_timeout
    if args.protocol.smtp:
        options.update(
            mailbox=getattr(args, "mailbox", None),
            hostname=args.hostname,
            maxMessageSize=args.max_message_size,
            maxRecipients=args.max_recipients,
            tlsOptions=getattr(args, "tls_options", None),
        )
    return options


PROXY_PREFIX = "haproxy:"


def behindProxy(args: argparse.Namespace) -> bool:
    """Whether ``--listen haproxy:...``: connections start with a PROXY header."""
    return listenDescription(args).startswith(PROXY_PREFIX)


def workerCommand(args: argparse.Namespace) -> list[str]:
    """A worker's command line: ``txmachines`` with the same options."""
    return ["-c", "from protocols.cli import main; main()", *args.rawArgs]


def listenDescription(args: argparse.Namespace) -> str:
    """``--listen``, or the protocol's default."""
    if args.listen is not None:
        return str(args.listen)
    return DEFAULT_SMTP_LISTEN if args.protocol.smtp else DEFAULT_LISTEN


def serverFromOptions(
    reactor: Any, args: argparse.Namespace, serverClass: type[Server] = Server
) -> Server:
    """The `Server` that ``serve`` runs, from its parsed (and checked) options."""
    machineClass = args.protocol.make
    options = _machineOptions(args)

    def makeMachine() -> Any:
        machine = machineClass(reactor, **options)
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
        return workers.Supervisor(reactor, description, count, workerCommand(args))
    except (OSError, ValueError, OverflowError) as e:
        raise SystemExit(
            f"txmachines: could not listen on {listenDescription(args)}: {_reason(e)}"
        ) from None


@inlineCallbacks
def _supervise(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    supervisor = supervisorFromOptions(reactor, args)
    _beginLogging(args)
    supervisor.start()
    reactor.callWhenRunning(StopSignals(reactor, supervisor.abort).install)
    yield supervisor.done  # after a signal, once every worker has exited


@inlineCallbacks
def _serve(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
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
            f"txmachines: could not listen on {listenDescription(args)}: {_reason(e)}"
        ) from None
    _beginLogging(args)

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


def _reason(error: BaseException) -> str:
    """One line saying what went wrong, without the exception's class path."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error) or type(error).__name__


def _write(line: bytes) -> None:
    sys.stdout.buffer.write(line + b"\n")
    sys.stdout.buffer.flush()


@inlineCallbacks
def _connect(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        endpoint = clientFromString(reactor, args.connect)
    except Exception as e:
        raise SystemExit(
            f"txmachines: cannot connect with {args.connect}: {_reason(e)}"
        ) from None
    _beginLogging(args)
    lines: list[bytes] = []
    ended: Deferred[None] = Deferred()
    firstLine: Deferred[None] = Deferred()
    pending: list[Deferred[Any]] = []
    client: EchoClient | None = None

    def onLine(line: bytes) -> None:
        if client is None:
            lines.append(line)
            if not firstLine.called:
                firstLine.callback(None)
        else:
            pending.append(client.echo([line]).addCallback(lambda r: _write(r[0])))

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
