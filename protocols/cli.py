"""
The ``txmachines`` command: parse its options, check them, run the command.

    txmachines serve {echo,greeting,smtp,MODULE:NAME} [--listen ENDPOINT] [--framing F]
    txmachines connect {echo,greeting} [--connect ENDPOINT] [--framing F] [--name NAME]
    txmachines diagrams [TARGET ...] [--output DIR] [--check] [--readme FILE]

Each command is a module: `protocols.servecommand`,
`protocols.connectcommand`, `protocols.diagrams`; the options are
`protocols.options` and `protocols.validation`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from . import diagrams
from .connectcommand import connect
from .options import parser, usageError
from .servecommand import serve
from .validation import invalidCombination


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run ``txmachines``; exits with the command's status.

    @param argv: the arguments (default: the process's, ``sys.argv[1:]``).
    """
    try:
        _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the reactor handles it: no traceback
        raise SystemExit(128 + signal.SIGINT) from None


def _main(argv: Sequence[str] | None) -> None:
    rawArgs = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser().parse_known_args(rawArgs)
    if extra:  # pointing at the command's own help, where its options are
        usageError(args.command, f"unrecognized arguments: {' '.join(extra)}")
    args.rawArgs = rawArgs
    if args.command == "diagrams":
        raise SystemExit(
            diagrams.run(args.targets, args.output, args.check, args.readme)
        )
    problem = invalidCombination(args)
    if problem:  # pointing at the command's own help, where its options are
        usageError(args.command, problem)
    if args.command == "serve":
        serve(args)
    else:
        connect(args)
