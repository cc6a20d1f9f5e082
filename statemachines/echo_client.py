"""
The echo client: send messages, collect what comes back.

Each call to `EchoClientMachine.echo` is a request whose Deferred fires with
the replies, one per message sent, in order.  Messages stay *outstanding*
until their reply arrives; after a lost connection, the outstanding ones are
sent again on the next connection (echo is idempotent), so no reply is lost
to a reconnection.

On a framing with message boundaries, each reply is one message.  On the raw
framing there are no boundaries, so replies are cut from the byte stream by
the lengths of the messages sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs
from automat import MethodicalMachine
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from .client import ClientMachine
from .perclass import inherited


class ClientStopped(Exception):
    """The client was stopped before the request was answered."""


@attrs.define
class _Request:
    deferred: Deferred[list[bytes]]
    expected: int
    replies: list[bytes] = attrs.field(factory=list)


class EchoClientMachine(ClientMachine):
    """A client machine that matches echoed replies to the messages sent."""

    _machine = MethodicalMachine()

    idle, connecting, connected, receiving, closing, reconnecting, stopped = inherited(
        _machine,
        ClientMachine,
        "idle",
        "connecting",
        "connected",
        "receiving",
        "closing",
        "reconnecting",
        "stopped",
    )
    restarting = inherited(_machine, ClientMachine, "restarting")

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
        self._beginConnection()
        self._sendOutstandingNow()

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
            raise ValueError(f"{len(self._partial)} bytes arrived that nobody sent")

    def onStopped(self) -> None:
        self._failOutstandingNow()

    # -- plain methods --------------------------------------------------------

    def _sendOutstandingNow(self) -> None:
        assert self.link is not None
        pending = list(self._outstanding)[self._sentOnThisConnection :]
        for message, _ in pending:
            self.link.sendMessage(message)
        self._sentOnThisConnection += len(pending)

    def _beginConnection(self) -> None:
        self._sentOnThisConnection = 0
        self._partial = b""

    def _reply(self, reply: bytes) -> None:
        if not self._outstanding:
            raise ValueError(f"a reply arrived with nothing outstanding: {reply!r}")
        _, request = self._outstanding.popleft()
        self._sentOnThisConnection -= 1
        request.replies.append(reply)
        if len(request.replies) == request.expected:
            request.deferred.callback(request.replies)

    def _failOutstandingNow(self) -> None:
        requests = {id(r): r for _, r in self._outstanding}
        self._outstanding.clear()
        for request in requests.values():
            request.deferred.errback(Failure(ClientStopped()))

    # -- machine --------------------------------------------------------------

    @_machine.input()
    def requestQueued(self) -> None:
        "echo() added outstanding messages."

    @_machine.output()
    def _sendOutstanding(self) -> None:
        self._sendOutstandingNow()

    @_machine.output()
    def _failOutstanding(self) -> None:
        self._failOutstandingNow()

    for _state in (idle, connecting, reconnecting, restarting):
        _state.upon(requestQueued, enter=_state, outputs=[])  # sent once connected
    for _state in (connected, receiving):
        _state.upon(requestQueued, enter=_state, outputs=[_sendOutstanding])
    for _state in (closing, stopped):
        _state.upon(requestQueued, enter=_state, outputs=[_failOutstanding])
    del _state
