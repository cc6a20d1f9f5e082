"""
SMTP command lines (RFC 5321 4.1) read into commands, as pure functions and
data, and the replies the server writes.

`parseCommand` reads one command line (its CRLF already removed) into what
it asks for - `Hello`, `MailFrom`, `RcptTo`, `Data`, `Reset`, `StartTLS`,
`Quit`, each of which the receiver (`statemachines.smtp.SMTPMachine`) feeds
to its state machine as an input - or into the `Reply` it gets whatever the
state: an unknown command ``500``, bad syntax ``501`` or ``555``, a line over
512 bytes ``500``, a SIZE over the limit ``552``, and the answers to NOOP,
VRFY and HELP.  Whether a command is allowed *now* is not decided here: that
is the machine's table.

What a line may say depends on the session only through what the caller
passes in: whether the client said EHLO (``extended``: after HELO, MAIL FROM
takes no parameters, RFC 5321 2.2.1), the largest message accepted, and
whether STARTTLS is offered and TLS already started.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "COMMAND_LINE_LIMIT",
    "DATA",
    "QUIT",
    "RESET",
    "START_TLS",
    "Command",
    "Data",
    "Hello",
    "MailFrom",
    "Quit",
    "RcptTo",
    "Reply",
    "Reset",
    "StartTLS",
    "helloReply",
    "parseCommand",
    "parseMailFrom",
    "parseRcptTo",
]

COMMAND_LINE_LIMIT = 512  # RFC 5321 4.5.3.1.4, CRLF included

_MAIL = re.compile(rb"FROM:\s?<([^<>\s]*)>((?:\s+\S+)*)\s*", re.IGNORECASE)
_RCPT = re.compile(rb"TO:\s?<([^<>\s]+)>((?:\s+\S+)*)\s*", re.IGNORECASE)


@attrs.frozen
class Reply:
    """A reply: its code, and its text, one string a line."""

    code: int
    texts: tuple[str, ...]

    def lines(self) -> list[bytes]:
        """Its lines: the code, ``-`` (a space on the last line), a text."""
        last = len(self.texts) - 1
        return [
            f"{self.code}{' ' if i == last else '-'}{text}".encode("utf-8", "replace")
            for i, text in enumerate(self.texts)
        ]


@attrs.frozen
class Hello:
    """EHLO or HELO (``verb``), with the name the client gave (``name``)."""

    verb: bytes
    name: str


@attrs.frozen
class MailFrom:
    """MAIL FROM, its parameters valid: ``sender`` (b"" for the null path)."""

    sender: bytes


@attrs.frozen
class RcptTo:
    """RCPT TO: one ``recipient``."""

    recipient: bytes


@attrs.frozen
class Data:
    """DATA."""


@attrs.frozen
class Reset:
    """RSET."""


@attrs.frozen
class StartTLS:
    """STARTTLS, with TLS offered and not started yet."""


@attrs.frozen
class Quit:
    """QUIT."""


DATA, RESET, START_TLS, QUIT = Data(), Reset(), StartTLS(), Quit()

Command = Hello | MailFrom | RcptTo | Data | Reset | StartTLS | Quit


def parseCommand(
    line: bytes,
    *,
    extended: bool,
    maxMessageSize: int,
    tlsOffered: bool,
    secure: bool,
) -> Command | Reply:
    """
    One command line, without its CRLF: what it asks for, or its reply.

    @param extended: whether the client said EHLO rather than HELO.
    @param maxMessageSize: the largest message accepted (MAIL FROM's SIZE).
    @param tlsOffered: whether STARTTLS is offered (and HELP names it).
    @param secure: whether TLS is already started.
    """
    if len(line) + 2 > COMMAND_LINE_LIMIT:
        return Reply(500, ("5.5.2 line too long",))
    if b"\r" in line or b"\n" in line:  # nothing to echo back, or log
        return Reply(500, ("5.5.2 bare CR or LF in a command",))
    verb, _, argument = line.partition(b" ")
    verb = verb.upper()
    argument = argument.strip()
    if verb in (b"EHLO", b"HELO"):
        if not argument:
            return Reply(501, (f"5.5.4 {verb.decode()} needs a domain or address",))
        return Hello(verb, argument.decode("ascii", "replace"))
    if verb == b"MAIL":
        return parseMailFrom(argument, extended=extended, maxMessageSize=maxMessageSize)
    if verb == b"RCPT":
        return parseRcptTo(argument)
    if verb in _NO_ARGUMENT:
        if argument:
            return Reply(501, (f"5.5.4 {verb.decode()} takes no argument",))
        if verb != b"STARTTLS":
            return _NO_ARGUMENT[verb]
        if not tlsOffered:
            return Reply(502, ("5.5.1 STARTTLS not available",))
        if secure:
            return Reply(503, ("5.5.1 TLS already started",))
        return START_TLS
    if verb == b"NOOP":
        return Reply(250, ("2.0.0 OK",))
    if verb == b"VRFY":
        return Reply(252, ("2.5.0 cannot VRFY, but will accept the message",))
    if verb == b"HELP":
        commands = "EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
        return Reply(
            214, (f"2.0.0 commands: {commands}" + (" STARTTLS" if tlsOffered else ""),)
        )
    return Reply(500, ("5.5.2 command not recognized",))


_NO_ARGUMENT: dict[bytes, Command] = {
    b"DATA": DATA,
    b"RSET": RESET,
    b"QUIT": QUIT,
    b"STARTTLS": START_TLS,
}


def helloReply(
    greeting: str, *, extended: bool, maxMessageSize: int, offerTLS: bool
) -> Reply:
    """
    The reply to EHLO or HELO: ``greeting``, then after EHLO (``extended``)
    the extensions this server has (RFC 5321 4.1.1.1).

    @param offerTLS: whether to offer STARTTLS (configured, and not started).
    """
    if not extended:
        return Reply(250, (greeting,))
    size = f"SIZE {maxMessageSize}"
    extensions = ("PIPELINING", size, "8BITMIME", "ENHANCEDSTATUSCODES")
    return Reply(250, (greeting, *extensions, *(["STARTTLS"] if offerTLS else [])))


def parseMailFrom(
    argument: bytes, *, extended: bool, maxMessageSize: int
) -> MailFrom | Reply:
    """
    What follows ``MAIL``: ``FROM:<path>`` and, after EHLO, the parameters
    SIZE (at most ``maxMessageSize``) and BODY (7BIT or 8BITMIME).
    """
    found = _MAIL.fullmatch(argument)
    if found is None:
        return Reply(501, ("5.5.4 syntax: MAIL FROM:<address>",))
    sender, parameters = found.groups()
    if parameters.strip() and not extended:
        # RFC 5321 2.2.1: after HELO the session has no extensions.
        return Reply(555, ("5.5.4 MAIL FROM parameters need EHLO, not HELO",))
    for parameter in parameters.split():
        key, _, value = parameter.upper().partition(b"=")
        if key == b"SIZE":
            if not value.isdigit():
                return Reply(501, ("5.5.4 SIZE takes a number of bytes",))
            if int(value) > maxMessageSize:
                return Reply(552, ("5.3.4 message size exceeds fixed maximum",))
        elif key != b"BODY" or value not in (b"7BIT", b"8BITMIME"):
            shown = parameter.decode("ascii", "replace")
            return Reply(555, (f"5.5.4 unsupported parameter {shown}",))
    return MailFrom(sender)


def parseRcptTo(argument: bytes) -> RcptTo | Reply:
    """What follows ``RCPT``: ``TO:<path>``, with no parameters."""
    found = _RCPT.fullmatch(argument)
    if found is None:
        return Reply(501, ("5.5.4 syntax: RCPT TO:<address>",))
    recipient, parameters = found.groups()
    if parameters.strip():
        return Reply(555, ("5.5.4 RCPT TO takes no parameters here",))
    return RcptTo(recipient)
