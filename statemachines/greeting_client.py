"""
The greeting client: wait for the banner, say our name, receive the greeting;
after that it echoes like `EchoClientMachine`.

It extends the echo client with one state, ``naming`` (our name is out, the
verdict is not in), and ``quitting`` (the server refused the name; waiting
for the connection to go), through the public subclassing API.  ``connected`` now
means "waiting for the banner".  The verdict is fed back in as an input:
``greeted`` or ``refused``.  A refusal stops the client (trying the same name
again cannot help); a lost connection reconnects and greets again.
"""

from __future__ import annotations

from typing import Any

from automat import MethodicalMachine
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from .blueprint import ANY
from .echo_client import ClientStopped, EchoClientMachine
from .greeting import BANNER
from .perclass import inherited, rejects


class GreetingRefused(Exception):
    """The server refused our name; ``str()`` is its reason."""


class UnexpectedReply(Exception):
    """The server said something the greeting protocol does not allow."""


class GreetingClientMachine(EchoClientMachine):
    """A client that introduces itself before it echoes."""

    _machine = MethodicalMachine()

    connected, receiving, closing, reconnecting, stopped = inherited(
        _machine,
        EchoClientMachine,
        "connected",
        "receiving",
        "closing",
        "reconnecting",
        "stopped",
    )
    timeout, waiterAdded = inherited(
        _machine, EchoClientMachine, "timeout", "waiterAdded"
    )
    _fireWaiters, _cancelWaiters = inherited(
        _machine, EchoClientMachine, "_fireWaiters", "_cancelWaiters"
    )
    dataArrived = inherited(_machine, EchoClientMachine, "dataArrived")
    messageReceived, badFrame, failed, stop, start, connectionLost, requestQueued = (
        inherited(
            _machine,
            EchoClientMachine,
            "messageReceived",
            "badFrame",
            "failed",
            "stop",
            "start",
            "connectionLost",
            "requestQueued",
        )
    )
    _sendOutstanding, _logBadFrame, _abortConnection, _loseConnection = inherited(
        _machine,
        EchoClientMachine,
        "_sendOutstanding",
        "_logBadFrame",
        "_abortConnection",
        "_loseConnection",
    )
    _disconnected, _scheduleRetry, _stopped, _failOutstanding = inherited(
        _machine,
        EchoClientMachine,
        "_disconnected",
        "_scheduleRetry",
        "_stopped",
        "_failOutstanding",
    )

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name
        self.greeting: str | None = None
        self._greetingWaiters: list[Deferred[str]] = []

    def whenGreeted(self) -> Deferred[str]:
        """Fires with the server's greeting (at once if we have one)."""
        if self.greeting is not None:
            return succeed(self.greeting)
        d: Deferred[str] = Deferred()
        self._greetingWaiters.append(d)
        return d

    # -- hooks ----------------------------------------------------------------

    def onConnected(self) -> None:
        # Nothing is echoed before the greeting.
        self._beginConnection()

    def onStopped(self) -> None:
        super().onStopped()
        self._fireGreetingWaiters(Failure(ClientStopped()))

    def _fireGreetingWaiters(self, result: str | Failure) -> None:
        waiters, self._greetingWaiters = self._greetingWaiters, []
        for d in waiters:
            d.callback(result) if isinstance(result, str) else d.errback(result)

    # -- machine --------------------------------------------------------------

    @_machine.state()
    def naming(self) -> None:
        "Our name is sent; waiting for the server's verdict."

    @_machine.state()
    def quitting(self) -> None:
        "The server refused our name; waiting for the connection to go."

    @_machine.input()
    def greeted(self, greeting: str) -> None:
        "The server greeted us."

    @_machine.input()
    def refused(self, reason: str) -> None:
        "The server refused our name."

    @_machine.output()
    def _sendName(self, message: bytes) -> None:
        if message != BANNER.encode():
            raise UnexpectedReply(f"expected the banner, got {message!r}")
        assert self.link is not None
        self.link.sendMessage(self.name.encode("utf-8"))

    @_machine.output()
    def _judgeReply(self, message: bytes) -> None:
        text = message.decode("utf-8", errors="replace")
        if text.startswith("Error: "):
            self.refused(text.removeprefix("Error: "))
        elif text.startswith("Hello, "):
            self.greeted(text)
        else:
            raise UnexpectedReply(f"expected a greeting, got {message!r}")

    @_machine.output()
    def _keepGreeting(self, greeting: str) -> None:
        self.greeting = greeting
        self._fireGreetingWaiters(greeting)

    @_machine.output()
    def _reportRefusal(self, reason: str) -> None:
        self.log.warn(
            "{machine} name {name!r} refused: {reason}",
            machine=self,
            name=self.name,
            reason=reason,
        )
        self._fireGreetingWaiters(Failure(GreetingRefused(reason)))

    connected.upon(messageReceived, enter=naming, outputs=[_sendName])
    connected.upon(requestQueued, enter=connected, outputs=[])
    naming.upon(dataArrived, enter=naming, outputs=[])
    naming.upon(messageReceived, enter=naming, outputs=[_judgeReply])
    naming.upon(greeted, enter=receiving, outputs=[_keepGreeting, _sendOutstanding])
    naming.upon(refused, enter=quitting, outputs=[_reportRefusal, _loseConnection])
    naming.upon(requestQueued, enter=naming, outputs=[])
    naming.upon(badFrame, enter=naming, outputs=[_logBadFrame, _abortConnection])
    naming.upon(failed, enter=naming, outputs=[_abortConnection])
    naming.upon(start, enter=naming, outputs=[])
    naming.upon(stop, enter=closing, outputs=[_cancelWaiters, _loseConnection])
    naming.upon(waiterAdded, enter=naming, outputs=[_fireWaiters])
    naming.upon(
        connectionLost, enter=reconnecting, outputs=[_disconnected, _scheduleRetry]
    )

    quitting.upon(dataArrived, enter=quitting, outputs=[])
    quitting.upon(messageReceived, enter=quitting, outputs=[])
    quitting.upon(badFrame, enter=quitting, outputs=[])
    quitting.upon(requestQueued, enter=quitting, outputs=[_failOutstanding])
    quitting.upon(timeout, enter=quitting, outputs=[_abortConnection])
    quitting.upon(failed, enter=quitting, outputs=[_abortConnection])
    quitting.upon(start, enter=quitting, outputs=[])
    quitting.upon(stop, enter=quitting, outputs=[])
    quitting.upon(waiterAdded, enter=quitting, outputs=[])  # cancelled when stopped
    quitting.upon(connectionLost, enter=stopped, outputs=[_disconnected, _stopped])

    # -- rejected on purpose ---------------------------------------------------

    verdictsOnlyWhileNaming = rejects(
        ANY, [greeted, refused], "only the judge of the reply gives a verdict"
    )
    alreadyConnected = rejects(
        [naming, quitting],
        ["connectionMade", "connectionFailed"],
        "only a dial in progress ends in a connection or a failure",
    )
    noTimerWhileNaming = rejects(naming, timeout, "no timer runs while naming")
