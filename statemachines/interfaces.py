"""
The only ways a machine touches the outside world.

Machines do no I/O.  An adapter in `protocols` implements `Link` for one
connection and hands it to the machine with the ``connectionMade`` input; a
client facade implements `Dialer`.  Time comes from an injected
``IReactorTime`` (a ``Clock`` in tests).
"""

from __future__ import annotations

from typing import Protocol

from twisted.logger import Logger


class Link(Protocol):
    """One connection, as a machine sees it."""

    def sendMessage(self, message: bytes) -> None:
        """Send one message, framed the way this connection frames messages."""

    def reportError(self, reason: str) -> None:
        """
        Tell the peer about an error, as an ``Error: <reason>`` line where
        the framing is text; a no-op on binary framings.
        """

    def loseConnection(self) -> None:
        """Close after everything written so far has been sent."""

    def abortConnection(self) -> None:
        """Close now, dropping anything not yet sent."""

    def describePeer(self) -> str:
        """The peer's address, for log events."""


class NoLink:
    """
    The `Link` of a machine with no connection (before it connects, after it
    closes): messages sent to it are dropped with a log event, the rest does
    nothing.
    """

    log = Logger()

    def sendMessage(self, message: bytes) -> None:
        self.log.warn(
            "dropped a message of {length} bytes: no connection", length=len(message)
        )

    def reportError(self, reason: str) -> None:
        pass

    def loseConnection(self) -> None:
        pass

    def abortConnection(self) -> None:
        pass

    def describePeer(self) -> str:
        return "-"


NO_LINK = NoLink()


class Dialer(Protocol):
    """How a client machine asks for a connection."""

    def dial(self) -> None:
        """
        Start one connection attempt.  Its outcome arrives later as the
        machine's ``connectionMade(link)`` or ``connectionFailed(reason)``.
        """

    def cancelDial(self) -> None:
        """Give up on the attempt in progress, if there is one."""
