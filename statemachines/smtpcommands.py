"""
SMTP command lines (RFC 5321 4.1) read into commands, as pure functions and
data, and the replies the server writes.

`parseCommand` reads one command line (its CRLF already removed) into what
it asks for - `Hello`, `MailFrom`, `RcptTo`, `Data`, `Reset`, `StartTLS`,
`Quit`, each of which the receiver (`statemachines.smtp.SMTPMachine`) feeds
to its state machine as an input - or into the `Reply` it gets whatever the
state: an unknown command ``500``, bad syntax ``501`` or ``555``, a line over
512 bytes ``500``, a SIZE over the limit ``552``, an address that is not a
mailbox ``553``, and the answers to NOOP, VRFY and HELP.  Whether a command
is allowed *now* is not decided here: that is the machine's table.

What EHLO, HELO, MAIL FROM and RCPT TO may name is RFC 5321's grammar, in
`statemachines.smtpaddress`: what passes is kept byte for byte, and no
control character passes.  No reply echoes what the client sent unless it
passed that grammar, and `Reply.lines` escapes any control character all
the same.

What a line may say depends on the session only through what the caller
passes in: whether the client said EHLO (``extended``: after HELO, MAIL FROM
takes no parameters and STARTTLS is not offered, RFC 5321 2.2.1), whether
the mail transaction asked for SMTPUTF8 (``utf8``, RFC 6531: then RCPT TO
may name a UTF-8 mailbox), the largest message accepted, and whether
STARTTLS is offered and TLS already started.
"""

from __future__ import annotations

import re
import unicodedata

import attrs

from . import smtpaddress

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
    "withProtocol",
]

COMMAND_LINE_LIMIT = 512  # RFC 5321 4.5.3.1.4, CRLF included

# RFC 5321 4.1.2's esmtp-keyword and esmtp-value.
_KEYWORD = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*")
_VALUE = re.compile(rb"[!-<>-~]+")


def _escaped(text: str) -> str:
    """``text`` with each control character (C0, DEL, C1) as ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text
    )


@attrs.frozen
class Reply:
    """
    A reply: its code, and its text, one string a line.  A control
    character in a text is written escaped (``\\x00``), never as it is.
    """

    code: int
    texts: tuple[str, ...]

    def lines(self) -> list[bytes]:
        """Its lines: the code, ``-`` (a space on the last line), a text."""
        last = len(self.texts) - 1
        return [
            f"{self.code}{' ' if i == last else '-'}{_escaped(text)}".encode(
                "utf-8", "replace"
            )
            for i, text in enumerate(self.texts)
        ]


@attrs.frozen
class Hello:
    """
    EHLO or HELO (``verb``), with the name the client gave (``name``): a
    domain or an address literal (RFC 5321 4.1.1.1), ASCII.
    """

    verb: bytes
    name: str


@attrs.frozen
class MailFrom:
    """
    MAIL FROM, its parameters valid: ``sender``, a mailbox (b"" for the
    null path), and whether the client asked for SMTPUTF8 (``utf8``).
    """

    sender: bytes
    utf8: bool = False


@attrs.frozen
class RcptTo:
    """RCPT TO: one ``recipient``, a mailbox (or ``Postmaster``)."""

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
    utf8: bool = False,
) -> Command | Reply:
    """
    One command line, without its CRLF: what it asks for, or its reply.

    @param extended: whether the client said EHLO rather than HELO.
    @param utf8: whether this mail transaction's MAIL FROM asked for
        SMTPUTF8 (RCPT TO may then name a UTF-8 mailbox).
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
        if not smtpaddress.isHelloArgument(argument):
            # RFC 5321 4.1.1.1: a Domain or an address-literal, and nothing else.
            return Reply(
                501, (f"5.5.4 {verb.decode()} needs a domain or an address literal",)
            )
        return Hello(verb, argument.decode("ascii"))
    if verb == b"MAIL":
        return parseMailFrom(argument, extended=extended, maxMessageSize=maxMessageSize)
    if verb == b"RCPT":
        return parseRcptTo(argument, utf8=utf8)
    if verb in _NO_ARGUMENT:
        if argument:
            return Reply(501, (f"5.5.4 {verb.decode()} takes no argument",))
        if verb != b"STARTTLS":
            return _NO_ARGUMENT[verb]
        if not tlsOffered:
            return Reply(502, ("5.5.1 STARTTLS not available",))
        if secure:
            return Reply(503, ("5.5.1 TLS already started",))
        if not extended:
            # RFC 3207 4: STARTTLS is a service extension, and RFC 5321
            # 2.2.1: after HELO there are none.  The command exists and
            # works after EHLO, so this is the order of commands (503), not
            # a command not implemented (502).
            return Reply(
                503, ("5.5.1 send EHLO first: STARTTLS is an ESMTP extension",)
            )
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
    extensions = ("PIPELINING", size, "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8")
    return Reply(250, (greeting, *extensions, *(["STARTTLS"] if offerTLS else [])))


def withProtocol(extended: bool, secure: bool, utf8: bool) -> str:
    """
    What the ``Received:`` header says the message came ``with`` (RFC 3848;
    RFC 6531 3.7.3 for SMTPUTF8): ``SMTP`` after HELO, else ``ESMTP`` or
    ``UTF8SMTP``, with an ``S`` under TLS.
    """
    if not extended:
        return "SMTP"
    return ("UTF8SMTP" if utf8 else "ESMTP") + ("S" if secure else "")


def parseMailFrom(
    argument: bytes, *, extended: bool, maxMessageSize: int
) -> MailFrom | Reply:
    """
    What follows ``MAIL``: ``FROM:<path>`` and, after EHLO, the parameters
    SIZE (at most ``maxMessageSize``), BODY (7BIT or 8BITMIME) and SMTPUTF8
    (RFC 6531 3.4), each at most once.

    A path that is not a Mailbox (RFC 5321 4.1.2) is ``553``, with RFC
    3463's ``5.1.7`` (bad sender address syntax), or RFC 6531 3.5's
    ``5.6.7`` for a UTF-8 mailbox without SMTPUTF8.
    """
    found = _path(argument, b"FROM:")
    if found is None:
        return Reply(501, ("5.5.4 syntax: MAIL FROM:<address>",))
    sender, parameters = found
    if parameters and not extended:
        # RFC 5321 2.2.1: after HELO the session has no extensions.
        return Reply(555, ("5.5.4 MAIL FROM parameters need EHLO, not HELO",))
    utf8 = False
    seen: set[bytes] = set()
    for parameter in parameters:
        key, equals, value = parameter.partition(b"=")
        if _KEYWORD.fullmatch(key) is None:
            return Reply(501, ("5.5.4 syntax: MAIL FROM:<address> [KEYWORD[=VALUE]]",))
        key = key.upper()
        if key in seen:
            # Recognised, so not 555 (RFC 5321 4.1.1.11); which of two
            # values counts is not said anywhere: a syntax error (501).
            return Reply(501, (f"5.5.4 duplicate parameter {key.decode()}",))
        seen.add(key)
        if key == b"SIZE":
            if not value.isdigit():
                return Reply(501, ("5.5.4 SIZE takes a number of bytes",))
            if int(value) > maxMessageSize:
                return Reply(552, ("5.3.4 message size exceeds fixed maximum",))
        elif key == b"SMTPUTF8":
            if equals:
                return Reply(501, ("5.5.4 SMTPUTF8 takes no value",))
            utf8 = True
        elif key != b"BODY" or value.upper() not in (b"7BIT", b"8BITMIME"):
            shown = parameter if _VALUE.fullmatch(value) else key
            return Reply(555, (f"5.5.4 unsupported parameter {shown.decode()}",))
    if sender == b"":
        return MailFrom(b"", utf8)
    mailbox = _mailbox(sender, utf8, "sender", "5.1.7")
    return mailbox if isinstance(mailbox, Reply) else MailFrom(mailbox, utf8)


def parseRcptTo(argument: bytes, *, utf8: bool = False) -> RcptTo | Reply:
    """
    What follows ``RCPT``: ``TO:<path>``, with no parameters; the path a
    Mailbox, or ``Postmaster`` (RFC 5321 4.1.1.3).

    @param utf8: whether the transaction asked for SMTPUTF8.
    """
    found = _path(argument, b"TO:")
    if found is None or found[0] == b"":
        return Reply(501, ("5.5.4 syntax: RCPT TO:<address>",))
    recipient, parameters = found
    if parameters:
        return Reply(555, ("5.5.4 RCPT TO takes no parameters here",))
    if recipient.lower() == b"postmaster":
        return RcptTo(recipient)
    mailbox = _mailbox(recipient, utf8, "recipient", "5.1.3")
    return mailbox if isinstance(mailbox, Reply) else RcptTo(mailbox)


def _path(argument: bytes, prefix: bytes) -> tuple[bytes, list[bytes]] | None:
    """
    ``FROM:<path> params`` (or ``TO:``): the path and the parameters (each
    after a space), or None if that is not what ``argument`` says.  One
    space is allowed after the colon, as many clients send it.
    """
    if argument[: len(prefix)].upper() != prefix:
        return None
    rest = argument[len(prefix) :]
    found = smtpaddress.splitPath(rest[1:] if rest.startswith(b" ") else rest)
    if found is None:
        return None
    path, after = found
    if after and not after.startswith(b" "):
        return None
    return path, [p for p in after.split(b" ") if p]


def _mailbox(path: bytes, utf8: bool, role: str, code: str) -> bytes | Reply:
    """
    The mailbox ``path`` names (without a source route), or the ``553``
    reply to it.

    @param role: ``sender`` or ``recipient``, as the reply says.
    @param code: the enhanced code for its bad syntax (RFC 3463 3.2).
    """
    mailbox = smtpaddress.stripSourceRoute(path)
    why = (
        smtpaddress.NOT_A_MAILBOX
        if mailbox is None
        else smtpaddress.checkMailbox(mailbox, utf8=utf8)
    )
    if why is None and mailbox is not None:
        return mailbox
    if why == smtpaddress.NEEDS_SMTPUTF8:
        return Reply(553, (f"5.6.7 a non-ASCII {role} needs SMTPUTF8",))
    if why == smtpaddress.INVALID_UTF8:
        return Reply(553, (f"{code} the {role} is not valid UTF-8",))
    return Reply(553, (f"{code} the {role} is not a mailbox (RFC 5321 4.1.2)",))
