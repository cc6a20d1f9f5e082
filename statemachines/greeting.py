"""
Greeting: a banner on connect, the peer says its name, a greeting comes back,
and from then on the connection echoes.

Theory of operation
===================

`GreetingMachine` (the server) extends `EchoMachine` with one state,
``naming``, using the public subclassing API (`statemachines.inherited`).
``connected`` now means "the banner is out, no valid name yet". A message in
``connected`` moves to ``naming``, whose output judges the name and feeds the
verdict back in as an input (``nameAccepted``, ``nameRejected`` or
``nameRejectedTooOften``): that is how a choice is written with Automat, whose
transitions cannot branch on data. ``naming`` is therefore only ever occupied
while a name is judged.

The peer has ``nameTimeout`` seconds (default 60) from connecting to give a
valid name: a state timer on the superstate ``unnamed`` (``connected`` and
``naming``), so moving between them does not restart it, and bytes arriving
do not extend it.  The idle timeout runs meanwhile, as in every open state.

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

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from .echo import ClientStopped, EchoClientMachine, EchoMachine
from .engine import ANY, Machine, inherited, rejects, stateTimer
from .limits import optionalTimeout

__all__ = [
    "GreetingClientMachine",
    "GreetingMachine",
    "GreetingRefused",
    "InvalidName",
    "validateName",
]

DEFAULT_NAME_TIMEOUT = 60.0
BANNER = "Hello! What is your name?"
QUESTION = "What is your name?"
GOODBYE = "Goodbye."
MAX_NAME_LENGTH = 64
MAX_NAME_ATTEMPTS = 3


class InvalidName(ValueError):
    """A name that `validateName` refuses; ``str()`` is the reason."""


REFUSED_CATEGORIES = {
    # Unicode general category: why a name may not contain it.
    "Cc": "control characters",
    # Invisible, and able to change how the rest of a log line or a peer's
    # screen reads: U+202E (right-to-left override), U+200B, the BOM, ...
    "Cf": "invisible formatting characters",
    "Zl": "line separators",
    "Zp": "paragraph separators",
    # Nothing anyone can read: a box, or nothing, depending on the font.
    "Cn": "unassigned characters",
    "Co": "private-use characters",
}
# Formatting characters that real names need: the zero-width joiner and
# non-joiner (Persian, Sinhala, emoji sequences), taken between two
# characters that are neither spaces nor formatting.
JOINERS = frozenset("\u200c\u200d")


# Spaces of every width, and marks (which show only on another character).
BLANK_CATEGORIES = frozenset(["Zs", "Mn", "Me"])
# Characters that show as nothing at all, whatever their category says: the
# Hangul fillers (letters) and the blank Braille pattern (a symbol).
BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _shows(c: str) -> bool:
    """Whether ``c`` is something to see (not a space, a mark on nothing, a blank)."""
    return not (
        c.isspace() or unicodedata.category(c) in BLANK_CATEGORIES or c in BLANK
    )


def _joins(c: str) -> bool:
    """Whether a joiner may stand next to ``c``: not a space or another format."""
    return not (c.isspace() or unicodedata.category(c) in ("Zs", "Cf"))


def stripSpaces(text: str) -> str:
    """``text`` without the spaces (of any width) it starts or ends with."""
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start]) == "Zs":
        start += 1
    while end > start and unicodedata.category(text[end - 1]) == "Zs":
        end -= 1
    return text[start:end]


def validateName(raw: bytes) -> str:
    """
    The name in ``raw``: UTF-8, stripped of spaces, 1 to 64 characters, with no
    control characters, invisible formatting characters (such as U+202E, which
    reverses how the text after it is shown; a joiner only between two
    characters that show), line and paragraph separators, unassigned or
    private-use characters, and something to see (not only spaces of other
    widths, marks or blanks such as U+3164).  Raises `InvalidName` with the
    reason otherwise.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName("name is not valid UTF-8") from None
    name = stripSpaces(text)
    if not name:
        raise InvalidName("name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"name is longer than {MAX_NAME_LENGTH} characters")
    for i, c in enumerate(name):
        if c in JOINERS and 0 < i < len(name) - 1:
            if _joins(name[i - 1]) and _joins(name[i + 1]):
                continue
        refused = REFUSED_CATEGORIES.get(unicodedata.category(c))
        if refused is not None:
            raise InvalidName(f"name contains {refused}")
    if not any(map(_shows, name)):
        raise InvalidName("name shows nothing")
    return name


def greetingFor(name: str) -> str:
    return f"Hello, {name}!"


class GreetingMachine(EchoMachine):
    """Echo, after the peer has told us a valid name."""

    _machine = Machine()

    parent = inherited(_machine, EchoMachine)

    def __init__(
        self,
        *args: Any,
        maxNameAttempts: int = MAX_NAME_ATTEMPTS,
        nameTimeout: float | None = DEFAULT_NAME_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        """
        @param nameTimeout: seconds from connecting to a valid name before the
            connection closes (None: no name deadline; the idle timeout
            applies, as always).
        """
        super().__init__(*args, **kwargs)
        self.maxNameAttempts = maxNameAttempts
        self.nameTimeout = optionalTimeout("nameTimeout", nameTimeout)
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

    @_machine.superstate(within=parent.open)
    def unnamed(self) -> None:
        "No valid name yet: the name deadline runs."

    @_machine.state(within=unnamed)
    def naming(self) -> None:
        "A name arrived and is being judged."

    @_machine.input()
    def nameTimedOut(self) -> None:
        "The name deadline passed."

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
    def _reportNameTimeout(self) -> None:
        self.logNoteworthy("{machine} closing: no valid name in time")
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
        self.logNoteworthy(
            "{machine} closing: too many invalid names ({count})",
            count=self.invalidNames,
        )
        self.sendText(GOODBYE)

    # -- transitions ----------------------------------------------------------

    # Until the peer is named, the name deadline runs besides the idle timer:
    # moving between connected and naming does not restart it, and bytes
    # arriving do not extend it.
    unnamed.include(parent.connected)
    nameTimer = stateTimer(unnamed, "nameTimeout", fires=nameTimedOut)
    unnamed.upon(
        nameTimedOut,
        enter=parent.closing,
        outputs=[_reportNameTimeout, parent.loseConnection],
    )
    parent.connected.upon(parent.messageReceived, enter=naming, outputs=[_judgeName])
    naming.upon(
        nameAccepted, enter=parent.receiving, outputs=[parent.startIdleTimer, _greet]
    )
    naming.upon(nameRejected, enter=parent.connected, outputs=[_complain, _askAgain])
    naming.upon(
        nameRejectedTooOften,
        enter=parent.closing,
        outputs=[_complain, _sayGoodbye, parent.loseConnection],
    )

    # -- rejected on purpose ---------------------------------------------------

    verdictsOnlyWhileNaming = rejects(
        ANY,
        [nameAccepted, nameRejected, nameRejectedTooOften],
        "only the judge of a name gives a verdict, while naming",
    )
    nameDeadlineWhileUnnamed = rejects(
        ANY, nameTimedOut, "the name deadline runs only until the peer is named"
    )


# -- the client ------------------------------------------------------------------
#
# It extends the echo client with one state, ``naming`` (our name is out, the
# verdict is not in), and ``quitting`` (the server refused the name; waiting
# for the connection to go).  ``connected`` now means "waiting for the
# banner".  The verdict is fed back in as an input: ``greeted`` or
# ``refused``.  A refusal stops the client (trying the same name again cannot
# help); a lost connection reconnects and greets again.


class GreetingRefused(Exception):
    """The server refused our name; ``str()`` is its reason."""


class GreetingClientMachine(EchoClientMachine):
    """A client that introduces itself before it echoes."""

    _machine = Machine()

    parent = inherited(_machine, EchoClientMachine)

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name
        self.greeting: str | None = None
        self._greetedHere = False  # on the current connection
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
        self.beginConnection()
        self._greetedHere = False
        self.awaitReply("the banner")

    def onMessage(self, message: bytes) -> None:
        # Stopped before the handshake was done, the banner or the verdict
        # may still arrive (while closing): they are not echo replies.
        if self._greetedHere:
            super().onMessage(message)

    def onStopped(self) -> None:
        super().onStopped()
        self._fireGreetingWaiters(Failure(ClientStopped(self.whyStopped())))

    def _fireGreetingWaiters(self, result: str | Failure) -> None:
        waiters, self._greetingWaiters = self._greetingWaiters, []
        for d in waiters:
            d.callback(result) if isinstance(result, str) else d.errback(result)

    # -- machine --------------------------------------------------------------

    @_machine.state(within=parent.open)
    def naming(self) -> None:
        "Our name is sent; waiting for the server's verdict."

    @_machine.state(within=parent.ending)
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
            self.failed(f"expected the banner, got {message!r}")
            return
        self.link.sendMessage(self.name.encode("utf-8"))
        self.replyReceived("the verdict on our name")

    @_machine.output()
    def _judgeReply(self, message: bytes) -> None:
        text = message.decode("utf-8", errors="replace")
        expected = greetingFor(stripSpaces(self.name))  # the name as servers keep it
        if text.startswith("Error: "):
            self.refused(text.removeprefix("Error: "))
        elif text == expected:
            self.greeted(text)
        else:  # another name's greeting, or anything else: not for us
            self.failed(f"expected {expected!r}, got {message!r}")

    @_machine.output()
    def _keepGreeting(self, greeting: str) -> None:
        self.greeting = greeting
        self._greetedHere = True
        self.replyReceived()
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

    # Nothing is echoed before the greeting; naming and quitting hear the
    # rest of the lifecycle from open and ending.
    parent.connected.upon(parent.messageReceived, enter=naming, outputs=[_sendName])
    parent.connected.upon(parent.requestQueued, enter=parent.connected, outputs=[])
    naming.upon(parent.messageReceived, enter=naming, outputs=[_judgeReply])
    naming.upon(
        greeted,
        enter=parent.receiving,
        outputs=[parent.countSuccess, _keepGreeting, parent.sendOutstanding],
    )
    naming.upon(
        refused, enter=quitting, outputs=[_reportRefusal, parent.loseConnection]
    )
    naming.upon(parent.requestQueued, enter=naming, outputs=[])
    naming.upon(  # not greeted: a failed attempt
        parent.connectionLost,
        enter=parent.reconnecting,
        outputs=[parent.disconnected, parent.countFailure, parent.scheduleRetry],
    )

    # Refused: nothing the server still sends matters; stop once it is gone.
    quitting.upon(parent.messageReceived, enter=quitting, outputs=[])
    quitting.upon(parent.badFrame, enter=quitting, outputs=[])
    quitting.upon(
        parent.connectionLost,
        enter=parent.stopped,
        outputs=[parent.disconnected, parent.endRun],
    )

    # -- rejected on purpose ---------------------------------------------------

    verdictsOnlyWhileNaming = rejects(
        ANY, [greeted, refused], "only the judge of the reply gives a verdict"
    )
    alreadyConnected = rejects(
        [naming, quitting],
        [parent.connectionMade, parent.connectionFailed],
        "only a dial in progress ends in a connection or a failure",
    )
