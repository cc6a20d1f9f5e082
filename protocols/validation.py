"""
Whether options that each parse make sense together (`invalidCombination`):
an option the protocol would ignore, a framing it cannot use, an endpoint
that cannot be behind a balancer, a machine or framer that cannot be called
as ``serve`` would.  Nothing is opened: a Maildir or a key that will not do
is found as the server starts (`protocols.protocolsetup.openResources`).
"""

from __future__ import annotations

import argparse
import inspect

from statemachines.framing import Framer, RawFramer, framerFactory

from .options import PROXY_PREFIX, ServedMachine, behindProxy, listenDescription
from .protocolsetup import machineOptions

SMTP_OPTIONS = frozenset(
    ["--maildir", "--hostname", "--max-message-size", "--max-recipients"]
    + ["--data-timeout", "--bare-lf", "--tls-key", "--tls-cert"]
)
GREETING_OPTIONS = frozenset(["--name-timeout", "--name"])


def invalidCombination(args: argparse.Namespace) -> str | None:
    """
    What is wrong with a combination of options that each parse, in one
    line (a usage error: exit 2); None if nothing is.  Opens nothing.

    @param args: ``serve``'s or ``connect``'s parsed options.
    """
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
    if "--worker-timeout" in getattr(args, "given", ()) and args.workers == 1:
        return (
            "--worker-timeout watches the processes of --workers N; "
            "one process (--workers 1) has none"
        )
    if args.command == "serve" and behindProxy(args):
        inner = listenDescription(args).removeprefix(PROXY_PREFIX)
        if inner.split(":", 1)[0] in ("ssl", "tls", "haproxy"):
            return (
                "--listen haproxy: takes a plain endpoint (tcp:, tcp6:, unix:); "
                "terminate TLS at the balancer, or use STARTTLS"
            )
    if smtp:
        problem = _smtpProblem(args)
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
        options = machineOptions(args)
        try:
            inspect.signature(protocol.make).bind(None, **options)
        except TypeError as e:
            return (
                f"{protocol.spec} cannot be called as NAME(clock, "
                f"{', '.join(f'{k}=...' for k in options)}): {e}"
            )
    return None


def _smtpProblem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options of ``serve smtp``, if anything."""
    if args.framing != "line":
        return "smtp is a line protocol: leave --framing out"
    if args.maildir is None:
        return "smtp needs --maildir DIR (created if need be)"
    if (args.tls_key is None) != (args.tls_cert is None):
        return "STARTTLS needs both --tls-key and --tls-cert"
    return None
