"""
What a machine with a connection does when something goes wrong inside it.

`StateMachine` hands every rejected input and every exception raised by an
output to ``machineError``.  `FailsConnection` answers the same way for the
server and the client lifecycles: log one structured event naming the state
and the input, then feed the machine's own ``failed(reason)`` input, so that
the machine's table decides what failing means in the current state (tell the
peer and close, or abort).  If even that goes wrong, the last resort is to log
and abort the connection; it never loops and never raises.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from .blueprint import MachineError
from .interfaces import Link
from .perclass import StateMachine


class FailsConnection(StateMachine):
    """Error policy for machines that own a `Link`; declares no machine."""

    log: Logger
    link: Link | None
    failed: Any  # the machine's ``failed(reason: str)`` input

    def machineError(self, error: MachineError) -> None:
        fields: dict[str, Any] = dict(
            machine=self, state=error.state, input=error.input
        )
        if error.kind == "rejected":
            self.log.warn(
                "{machine} rejected input {input} in state {state} ({why}); failing",
                why=error.why or "not declared",
                **fields,
            )
            self.failed("protocol violation")
        else:
            self.log.failure(
                "{machine} failed handling input {input} in state {state}; failing",
                error.failure,
                **fields,
            )
            self.failed("internal error")

    def machineErrorUnhandled(self, error: MachineError) -> None:
        fields: dict[str, Any] = dict(
            machine=self, state=error.state, input=error.input
        )
        message = "{machine} could not handle input {input} in state {state}; aborting"
        if error.failure is not None:
            self.log.failure(message, error.failure, **fields)
        else:
            self.log.error(message, **fields)
        if self.link is not None:
            self.link.abortConnection()
