"""
Greeting: a banner on connect, the peer says its name, a greeting comes back,
and from then on the connection echoes.

Theory of operation
===================

`GreetingMachine` extends `EchoMachine` with one state, ``naming``, using the
public subclassing API (`statemachines.inherited`).  ``connected`` now means
"the banner is out, no valid name yet".  A message in ``connected`` moves to
``naming``, whose output judges the name and feeds the verdict back in as an
input (``nameAccepted``, ``nameRejected`` or ``nameRejectedTooOften``): that is
how a choice is written with Automat, whose transitions cannot branch on
data.  ``naming`` is therefore only ever occupied while a name is judged.

The peer has ``nameTimeout`` seconds (default 60) from connecting to give a
valid name; bytes arriving do not extend that deadline, as they would the
idle timeout, which takes over once the peer is greeted.

Wire format (one message each; CRLF-terminated on the line framing)::

    S: Hello! What is your name?
    C: Alice
    S: Hello, Alice!
    C: anything         S: anything          (echo from here on)

    C: <invalid name>   S: Error: <reason>   S: What is your name?
    (the third invalid name in a row)  S: Error: <reason>  S: Goodbye.  <close>
    (no valid name within nameTimeout)  S: Error: no name given in time  <close>
"""

from __future__ import annotations

import unicodedata
from typing import Any

from automat import MethodicalMachine

from .blueprint import ANY
from .echo import EchoMachine
from .perclass import inherited, rejects

DEFAULT_NAME_TIMEOUT = 60.0
BANNER = "Hello! What is your name?"
QUESTION = "What is your name?"
GOODBYE = "Goodbye."
MAX_NAME_LENGTH = 64
MAX_NAME_ATTEMPTS = 3


class InvalidName(ValueError):
    """A name that `validateName` refuses; ``str()`` is the reason."""


def validateName(raw: bytes) -> str:
    """
    The name in ``raw``: UTF-8, stripped of spaces, 1 to 64 characters, with no
    control characters.  Raises `InvalidName` with the reason otherwise.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName("name is not valid UTF-8") from None
    name = text.strip(" ")
    if not name:
        raise InvalidName("name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidName("name contains control characters")
    return name


def greetingFor(name: str) -> str:
    return f"Hello, {name}!"


class GreetingMachine(EchoMachine):
    """Echo, after the peer has told us a valid name."""

    _machine = MethodicalMachine()

    idle, connected, receiving, closing, closed = inherited(
        _machine, EchoMachine, "idle", "connected", "receiving", "closing", "closed"
    )
    connectionMade, dataArrived, timeout = inherited(
        _machine, EchoMachine, "connectionMade", "dataArrived", "timeout"
    )
    _attach, _startIdleTimer = inherited(
        _machine, EchoMachine, "_attach", "_startIdleTimer"
    )
    messageReceived, closeRequested, failed, connectionLost = inherited(
        _machine,
        EchoMachine,
        "messageReceived",
        "closeRequested",
        "failed",
        "connectionLost",
    )
    _reportError, _loseConnection, _disconnected = inherited(
        _machine,
        EchoMachine,
        "_reportError",
        "_loseConnection",
        "_disconnected",
    )

    def __init__(
        self,
        *args: Any,
        maxNameAttempts: int = MAX_NAME_ATTEMPTS,
        nameTimeout: float | None = DEFAULT_NAME_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        """
        @param nameTimeout: seconds from connecting to a valid name before the
            connection closes (None: the idle timeout applies instead).
        """
        super().__init__(*args, **kwargs)
        self.maxNameAttempts = maxNameAttempts
        self.nameTimeout = nameTimeout
        self.invalidNames = 0
        self.name: str | None = None

    # -- hooks ----------------------------------------------------------------

    def onConnected(self) -> None:
        self.sendText(BANNER)

    def onNamed(self, name: str) -> None:
        """The peer gave a valid name; by default, greet it."""
        self.sendText(greetingFor(name))

    def sendText(self, text: str) -> None:
        self.send(text.encode("utf-8"))

    # -- the naming step ------------------------------------------------------

    @_machine.state()
    def naming(self) -> None:
        "A name arrived and is being judged."

    @_machine.input()
    def nameAccepted(self, name: str) -> None:
        "The name is valid."

    @_machine.input()
    def nameRejected(self, reason: str) -> None:
        "The name is invalid; the peer may try again."

    @_machine.input()
    def nameRejectedTooOften(self, reason: str) -> None:
        "The name is invalid, and the peer has no tries left."

    @_machine.output()
    def _judgeName(self, message: bytes) -> None:
        try:
            name = validateName(message)
        except InvalidName as e:
            self.invalidNames += 1
            if self.invalidNames >= self.maxNameAttempts:
                self.nameRejectedTooOften(str(e))
            else:
                self.nameRejected(str(e))
        else:
            self.invalidNames = 0
            self.nameAccepted(name)

    @_machine.output()
    def _startNameTimer(self) -> None:
        deadline = (
            self.nameTimeout if self.nameTimeout is not None else self.idleTimeout
        )
        self._timerNow().start(deadline)

    @_machine.output()
    def _reportNameTimeout(self) -> None:
        self.log.info("{machine} closing: no valid name in time", machine=self)
        self.link.reportError("no name given in time")

    @_machine.output()
    def _greet(self, name: str) -> None:
        self.name = name
        self.onNamed(name)

    @_machine.output()
    def _complain(self, reason: str) -> None:
        self.sendText(f"Error: {reason}")

    @_machine.output()
    def _askAgain(self) -> None:
        self.sendText(QUESTION)

    @_machine.output()
    def _sayGoodbye(self) -> None:
        self.log.info(
            "{machine} closing: {count} invalid names",
            machine=self,
            count=self.invalidNames,
        )
        self.sendText(GOODBYE)

    # -- transitions ----------------------------------------------------------

    idle.upon(
        connectionMade,
        enter=connected,
        # onConnected is this class's own override (the banner), by name:
        outputs=[
            _attach,
            _startNameTimer,
            inherited(_machine, EchoMachine, "onConnected"),
        ],
    )
    connected.upon(dataArrived, enter=connected, outputs=[])  # the name deadline holds
    connected.upon(
        timeout, enter=closing, outputs=[_reportNameTimeout, _loseConnection]
    )
    connected.upon(messageReceived, enter=naming, outputs=[_judgeName])
    naming.upon(nameAccepted, enter=receiving, outputs=[_startIdleTimer, _greet])
    naming.upon(nameRejected, enter=connected, outputs=[_complain, _askAgain])
    naming.upon(
        nameRejectedTooOften,
        enter=closing,
        outputs=[_complain, _sayGoodbye, _loseConnection],
    )
    naming.upon(closeRequested, enter=closing, outputs=[_loseConnection])
    naming.upon(failed, enter=closing, outputs=[_reportError, _loseConnection])
    naming.upon(connectionLost, enter=closed, outputs=[_disconnected])

    # -- rejected on purpose ---------------------------------------------------

    verdictsOnlyWhileNaming = rejects(
        ANY,
        [nameAccepted, nameRejected, nameRejectedTooOften],
        "only the judge of a name gives a verdict, while naming",
    )
    namingIsInstant = rejects(
        naming, ANY, "naming ends with the verdict, queued before any other input"
    )
