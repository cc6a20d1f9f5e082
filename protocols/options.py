"""
The ``txmachines`` command line, parsed: the argparse parser, its option
types (limits, framings, ``MODULE:NAME`` targets), and what the parsed
options say (`listenDescription`, `behindProxy`).  Parsing opens nothing and
creates nothing: see `protocols.protocolsetup` for what ``serve`` opens as
it starts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, cast

import attrs

from statemachines import limits
from statemachines.client import DEFAULT_REPLY_TIMEOUT
from statemachines.connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    ConnectionMachine,
)
from statemachines.echo import EchoMachine
from statemachines.framing import (
    DEFAULT_MAX_FRAME_LENGTH,
    FRAMINGS,
    FramerFactory,
)
from statemachines.greeting import DEFAULT_NAME_TIMEOUT, GreetingMachine
from statemachines.smtp import (
    DEFAULT_DATA_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_RECIPIENTS,
    SMTPMachine,
)
from statemachines.smtpframing import BARE_LF_POLICIES

from .budget import DEFAULT_MAX_BUFFERED
from .server import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_PEER
from .targets import TargetError, loadObject
from .workers import DEFAULT_WORKER_TIMEOUT

DEFAULT_LISTEN = "tcp:1234:interface=127.0.0.1"
DEFAULT_SMTP_LISTEN = "tcp:8025:interface=127.0.0.1"
DEFAULT_CONNECT = "tcp:127.0.0.1:1234"
SERVER_MACHINES = {
    "echo": EchoMachine,
    "greeting": GreetingMachine,
    "smtp": SMTPMachine,
}


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors are one line (``-h`` shows the usage), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def usageError(command: str, message: str) -> NoReturn:
    """
    Exit 2 with ``message``, one line pointing at the help of ``command``
    (``serve``, ``connect``), where its options are.
    """
    _OneLineErrors(prog=f"txmachines {command}").error(message)


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
    """The parser of ``txmachines``: ``serve``, ``connect`` and ``diagrams``."""
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
        type=_checked(_workers, int, "--workers"),
        default=1,
        help="serve from this many processes sharing the listening socket; "
        "0: one per core (default 1; tcp: endpoints only)",
    )
    serve.add_argument(
        "--worker-timeout",
        action=_Given,
        type=_checked(limits.optionalTimeout, float, "--worker-timeout"),
        default=DEFAULT_WORKER_TIMEOUT,
        help="--workers: kill (SIGKILL) and replace a worker whose heartbeat "
        "is not heard for this many seconds, a frozen one; connections "
        "waiting for it are served by its replacement (0 disables; "
        "default %(default)s)",
    )
    serve.add_argument("--worker-socket", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-heartbeat", type=float, help=argparse.SUPPRESS)
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
        "--data-timeout",
        action=_Given,
        type=_checked(limits.optionalTimeout, float, "--data-timeout"),
        default=DEFAULT_DATA_TIMEOUT,
        help="smtp: close with 421 a session whose message text has not all "
        "arrived this many seconds after DATA, however it trickles in "
        "(0 disables; default %(default)s)",
    )
    smtp.add_argument(
        "--bare-lf",
        action=_Given,
        choices=BARE_LF_POLICIES,
        default=BARE_LF_POLICIES[0],
        help="smtp: a bare LF in a command or a message: reject (521, and "
        "close, as Postfix 3.9) or accept (a command is 500, a message keeps "
        "it) (default %(default)s)",
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
    """``--framing`` and ``--max-frame``, which ``serve`` and ``connect`` share."""
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


def _workers(name: str, count: int) -> int | None:
    """
    ``--workers``: as `statemachines.limits.optionalLimit`, but its 0 is one
    worker per core, not no limit, and a negative count says so.
    """
    if count < 0:
        raise ValueError(f"{name} must not be negative (0: one per core)")
    return limits.optionalLimit(name, count)


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


PROXY_PREFIX = "haproxy:"


def behindProxy(args: argparse.Namespace) -> bool:
    """Whether ``--listen haproxy:...``: connections start with a PROXY header."""
    return listenDescription(args).startswith(PROXY_PREFIX)


def listenDescription(args: argparse.Namespace) -> str:
    """``--listen``, or the protocol's default."""
    if args.listen is not None:
        return str(args.listen)
    return DEFAULT_SMTP_LISTEN if args.protocol.smtp else DEFAULT_LISTEN
