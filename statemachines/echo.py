"""
Echo (RFC 862): every message goes back to the peer, byte for byte.

`EchoMachine` is the server: the connection lifecycle, with each message sent
straight back.  `EchoClientMachine` is the client: each call to
`EchoClientMachine.echo` is a request whose Deferred fires with the replies,
one per message sent, in order.  Messages stay *outstanding* until their
reply arrives; after a lost connection, the outstanding ones are sent again
on the next connection (echo is idempotent), so no reply is lost to a
reconnection.

On a framing with message boundaries, each reply is one message.  On the raw
framing there are no boundaries, so replies are cut from the byte stream by
the lengths of the messages sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from .client import ClientMachine
from .connection import ConnectionMachine
from .engine import Machine, inherited

__all__ = ["ClientStopped", "EchoClientMachine", "EchoMachine"]


class EchoMachine(ConnectionMachine):
    """The connection lifecycle, with each message sent straight back."""

    def onMessage(self, message: bytes) -> None:
        """Each message goes straight back over the link."""
        self.link.sendMessage(message)


class ClientStopped(Exception):
    """The client stopped before the request was answered (the message says why)."""

    def __init__(self, why: str = "it was stopped") -> None:
        super().__init__(f"the client stopped before the reply arrived: {why}")
        self.why = why


@attrs.define
class _Request:
    deferred: Deferred[list[bytes]]
    expected: int
    replies: list[bytes] = attrs.field(factory=list)


class EchoClientMachine(ClientMachine):
    """A client machine that matches echoed replies to the messages sent."""

    _machine = Machine()
    parent = inherited(_machine, ClientMachine)

    def __init__(self, *args: Any, boundaries: bool = True, **kwargs: Any) -> None:
        """
        @param boundaries: whether the framing keeps message boundaries
            (``False`` for raw bytes).
        """
        super().__init__(*args, **kwargs)
        self.boundaries = boundaries
        self._outstanding: deque[tuple[bytes, _Request]] = deque()
        self._sentOnThisConnection = 0
        self._partial = b""

    def echo(self, messages: Iterable[bytes]) -> Deferred[list[bytes]]:
        """Send ``messages``; fires with the replies, in order."""
        batch = list(messages)
        if not batch:
            return succeed([])
        request = _Request(Deferred(), expected=len(batch))
        self._outstanding.extend((m, request) for m in batch)
        self.requestQueued()
        return request.deferred

    # -- hooks ----------------------------------------------------------------

    def onConnected(self) -> None:
        self.beginConnection()
        self.sendOutstanding()

    def onMessage(self, message: bytes) -> None:
        if self.boundaries:
            self._reply(message)
            return
        self._partial += message
        while self._outstanding and len(self._partial) >= len(self._outstanding[0][0]):
            size = len(self._outstanding[0][0])
            reply, self._partial = self._partial[:size], self._partial[size:]
            self._reply(reply)
        if self._partial and not self._outstanding:
            self.failed(f"{len(self._partial)} bytes arrived that nobody sent")

    def onStopped(self) -> None:
        self._failOutstanding()

    # -- plain methods --------------------------------------------------------

    def beginConnection(self) -> None:
        self._sentOnThisConnection = 0
        self._partial = b""

    def _reply(self, reply: bytes) -> None:
        if not self._outstanding:
            # The server's fault, not ours: fail the connection (the client
            # quits, naming it), with one log line and no traceback.
            self.failed(f"a reply arrived with nothing outstanding: {reply!r}")
            return
        _, request = self._outstanding.popleft()
        self._sentOnThisConnection -= 1
        self.replyReceived(self._nextAwaited())
        request.replies.append(reply)
        if len(request.replies) == request.expected:
            request.deferred.callback(request.replies)

    # -- machine --------------------------------------------------------------

    @_machine.input()
    def requestQueued(self) -> None:
        "echo() added outstanding messages."

    def _nextAwaited(self) -> str | None:
        """What the server owes us next on this connection, if anything."""
        if self._sentOnThisConnection > 0:
            return f"a reply to {self._outstanding[0][0]!r}"
        return None

    @_machine.output()
    def sendOutstanding(self) -> None:
        pending = list(self._outstanding)[self._sentOnThisConnection :]
        for message, _ in pending:
            self.link.sendMessage(message)
        self._sentOnThisConnection += len(pending)
        awaited = self._nextAwaited()
        if awaited is not None:
            self.awaitReply(awaited)

    @_machine.output()
    def _failOutstanding(self) -> None:
        requests = {id(r): r for _, r in self._outstanding}
        self._outstanding.clear()
        for request in requests.values():
            request.deferred.errback(Failure(ClientStopped(self.whyStopped())))

    # Sent once connected, or now, or too late:
    parent.offline.upon(requestQueued, outputs=[])
    parent.open.upon(requestQueued, outputs=[sendOutstanding])
    parent.ending.upon(requestQueued, outputs=[_failOutstanding])
    parent.restarting.upon(requestQueued, enter=parent.restarting, outputs=[])
    parent.stopped.upon(requestQueued, enter=parent.stopped, outputs=[_failOutstanding])
