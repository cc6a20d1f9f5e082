"""
An SMTP receiver (RFC 5321) as a subclass of the server lifecycle: it
accepts mail for any recipient, hands each message to a `Mailbox`, and never
relays.  ESMTP: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, and
STARTTLS (RFC 3207) when it has TLS options.

Theory of operation
-------------------

The states are the protocol's, within the lifecycle's ``open``, whose
edges (a lost connection, the idle timer, a failure) they inherit::

    open
      session          a command is awaited
        connected      the banner is out; waiting for EHLO or HELO
        receiving      greeted; no mail transaction
        transaction    MAIL FROM accepted
          mail         waiting for recipients
          recipients   at least one RCPT TO accepted
      data             DATA accepted; the message text is arriving
      startingTLS      STARTTLS accepted; the TLS handshake is under way

Each command line is parsed by one output, ``_command``, which answers what
does not depend on the state (unknown commands ``500``, bad syntax ``501``
or ``555``, a line over 512 bytes ``500``, NOOP, VRFY, HELP) and feeds every
other command back in as an input: ``hello``, ``mailFrom``, ``rcptTo``,
``dataCommand``, ``reset``, ``startTLS``, ``quit``.  Whether a command is
allowed now is the table's business: a command in the wrong state is a
rejection, declared below with its reason, and a rejected command is
answered ``503 5.5.1 <reason>`` (see `machineError`); the connection goes
on.

DATA switches the framing to `DotFramer` (the text up to ``CRLF . CRLF``,
dot-unstuffed, delivered a piece per read, then `EndOfText`); the machine
switches back to lines for whatever follows, which is already waiting if the
client pipelined it.  The text goes straight into a `Draft` the mailbox
opened at DATA (a file in the Maildir's ``tmp/``), so a message costs one
read's worth of memory however large it is; at the end the draft is
committed - stored for good - before ``250`` is sent; if storing fails the
reply is ``451`` and the client may retry.  A connection lost in ``data``
discards the draft: nothing is stored.

Three state timers replace the lifecycle's idle timer: ``session``'s
(``idleTimeout``) counts from the last complete command while the machine
waits for one (bytes that do not finish a command do not restart it);
``data``'s (``dataTimeout``) from the last read while a message's text
arrives; ``startingTLS``'s (``idleTimeout``) from STARTTLS, within which the
handshake must complete (its bytes go to TLS, never to the machine).

Replies go out in the order the commands came, however they arrive
(PIPELINING), because each command is answered before the next is read.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Protocol

import attrs
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import LogLevel

from .connection import DEFAULT_CLOSE_TIMEOUT, ConnectionMachine
from .engine import ANY, Machine, MachineError, inherited, rejects, stateTimer
from .framing import DotFramer, EndOfText, LineFramer
from .limits import limit, optionalTimeout

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_RECIPIENTS",
    "Draft",
    "Envelope",
    "Mailbox",
    "SMTPMachine",
]

DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
DEFAULT_MAX_RECIPIENTS = 100
DEFAULT_SMTP_TIMEOUT = 300.0  # RFC 5321 4.5.3.2: at least 5 minutes per command
COMMAND_LINE_LIMIT = 512  # RFC 5321 4.5.3.1.4, CRLF included
_COMMAND_FRAME = 4096  # longer lines than this end the connection

_MAIL = re.compile(rb"FROM:\s?<([^<>\s]*)>((?:\s+\S+)*)\s*", re.IGNORECASE)
_RCPT = re.compile(rb"TO:\s?<([^<>\s]+)>((?:\s+\S+)*)\s*", re.IGNORECASE)


@attrs.frozen
class Envelope:
    """Whom a message is from and for, and how it came."""

    sender: bytes  # b"" for the null reverse-path
    recipients: tuple[bytes, ...]
    clientName: str  # what the client said in EHLO or HELO
    peer: IAddress | None
    hostname: str  # this server's name
    protocol: str  # "ESMTP", "ESMTPS" (with TLS), "SMTP" (after HELO)


class Draft(Protocol):
    """One message being received (see `Mailbox.begin`)."""

    def write(self, text: bytes) -> None:
        """The next piece of the message (CRLF line ends, dot-unstuffed)."""
        ...

    def commit(self) -> str:
        """Store the message for good before returning its id; raise if not."""
        ...

    def abort(self) -> None:
        """Forget the message: nothing of it is stored."""
        ...


class Mailbox(Protocol):
    """Where messages go: `protocols.maildir.Maildir`, or a test's list."""

    def begin(self, envelope: Envelope) -> Draft:
        """A draft for a message to ``envelope``'s recipients."""
        ...


class _AsIdle:
    """The default ``dataTimeout``: the same as ``idleTimeout``."""

    def __repr__(self) -> str:
        return "AS_IDLE"


AS_IDLE = _AsIdle()


class SMTPMachine(ConnectionMachine):
    """One SMTP session, server side.  See the module doc."""

    _machine = Machine()
    parent = inherited(_machine, ConnectionMachine)

    def __init__(
        self,
        clock: IReactorTime,
        mailbox: Mailbox,
        *,
        hostname: str = "localhost",
        maxMessageSize: int = DEFAULT_MAX_MESSAGE_SIZE,
        maxRecipients: int = DEFAULT_MAX_RECIPIENTS,
        tlsOptions: Any = None,
        idleTimeout: float | None = DEFAULT_SMTP_TIMEOUT,
        dataTimeout: float | None | _AsIdle = AS_IDLE,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        """
        @param tlsOptions: a server ``CertificateOptions``: offers STARTTLS.
        @param idleTimeout: how long to wait for the next command (RFC 5321
            4.5.3.2.7 asks for at least 5 minutes), and for a STARTTLS
            handshake to complete (None or 0: no limit).
        @param dataTimeout: how long to wait for more of a message's text,
            from each read (default: as ``idleTimeout``; None or 0: no limit).
        """
        super().__init__(
            clock,
            idleTimeout=optionalTimeout("idleTimeout", idleTimeout),
            closeTimeout=closeTimeout,
        )
        self.dataTimeout = (
            self.idleTimeout
            if isinstance(dataTimeout, _AsIdle)
            else optionalTimeout("dataTimeout", dataTimeout)
        )
        self.mailbox = mailbox
        self.hostname = hostname
        self.maxMessageSize = limit("maxMessageSize", maxMessageSize)
        self.maxRecipients = limit("maxRecipients", maxRecipients)
        self.tlsOptions = tlsOptions
        self.clientName = ""
        self.extended = False  # EHLO rather than HELO
        self._sender = b""
        self._recipients: list[bytes] = []
        self._draft: Draft | None = None
        self._draftFailed = False

    # -- states ---------------------------------------------------------------
    #
    # Within the lifecycle's open: session (a command is awaited: connected,
    # receiving, and the transaction's mail and recipients), data, and
    # startingTLS.

    @_machine.superstate(within=parent.open)
    def session(self) -> None:
        "A command is awaited; each line that arrives is one."

    @_machine.superstate(within=session)
    def transaction(self) -> None:
        "A mail transaction: MAIL FROM accepted, the message not yet sent."

    @_machine.state(within=transaction)
    def mail(self) -> None:
        "MAIL FROM accepted; waiting for recipients."

    @_machine.state(within=transaction)
    def recipients(self) -> None:
        "At least one recipient accepted; DATA may follow."

    @_machine.state(within=parent.open)
    def data(self) -> None:
        "DATA accepted; the message text is arriving."

    @_machine.state(within=parent.open)
    def startingTLS(self) -> None:
        "STARTTLS accepted; the TLS handshake is under way."

    # -- inputs: the commands whose meaning depends on the state --------------

    @_machine.input()
    def hello(self, verb: bytes, name: str) -> None:
        "EHLO or HELO."

    @_machine.input()
    def mailFrom(self, sender: bytes) -> None:
        "MAIL FROM, its parameters valid."

    @_machine.input()
    def rcptTo(self, recipient: bytes) -> None:
        "RCPT TO."

    @_machine.input()
    def dataCommand(self) -> None:
        "DATA."

    @_machine.input()
    def reset(self) -> None:
        "RSET."

    @_machine.input()
    def startTLS(self) -> None:
        "STARTTLS, with TLS configured and not started yet."

    @_machine.input()
    def quit(self) -> None:
        "QUIT."

    @_machine.input()
    def textEnded(self, end: EndOfText) -> None:
        "The message's text ended (with its size, and whether it was too big)."

    @_machine.input()
    def dataTimedOut(self) -> None:
        "No more of the message's text came within dataTimeout."

    @_machine.input()
    def handshakeTimedOut(self) -> None:
        "The STARTTLS handshake did not complete within idleTimeout."

    COMMANDS = frozenset(
        ["hello", "mailFrom", "rcptTo", "dataCommand", "reset", "startTLS", "quit"]
    )

    # -- replies ----------------------------------------------------------------

    def reply(self, code: int, *lines: str) -> None:
        """One reply: ``code``, then each line (the last with a space)."""
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.send(f"{code}{sep}{line}".encode("utf-8", "replace"))

    def onConnected(self) -> None:
        # Command lines have their own limit, whatever the server's framing.
        self.link.switchFraming(LineFramer(_COMMAND_FRAME))
        self.reply(220, f"{self.hostname} ESMTP txmachines")

    @staticmethod
    def refusal(reason: str) -> bytes:
        """What a connection the server refuses is told (see `protocols.server`)."""
        return f"421 4.7.0 {reason}, try again later".encode()

    def machineError(self, error: MachineError) -> None:
        """A command the current state does not take is answered 503."""
        if error.kind == "rejected" and error.input in self.COMMANDS:
            self.reply(503, f"5.5.1 {error.why or 'bad sequence of commands'}")
            return
        super().machineError(error)

    def reportError(self, reason: str) -> None:
        self.logNoteworthy("{machine} closing: {reason}", reason=reason)
        self.reply(421, f"4.7.0 {self.hostname} {reason}, closing connection")

    def reportIdle(self) -> None:
        self.logIdle()
        self._sayTimedOut()

    def _sayTimedOut(self) -> None:
        self.reply(421, f"4.4.2 {self.hostname} timeout, closing connection")

    # -- the parser -------------------------------------------------------------

    @_machine.output()
    def _command(self, message: bytes) -> None:
        if len(message) + 2 > COMMAND_LINE_LIMIT:
            self.reply(500, "5.5.2 line too long")
            return
        if b"\r" in message or b"\n" in message:  # nothing to echo back, or log
            self.reply(500, "5.5.2 bare CR or LF in a command")
            return
        verb, _, argument = message.partition(b" ")
        verb = verb.upper()
        handler = self._VERBS.get(verb)
        if handler is None:
            self.reply(500, "5.5.2 command not recognized")
            return
        handler(self, verb, argument.strip())

    def _hello(self, verb: bytes, argument: bytes) -> None:
        if not argument:
            self.reply(501, f"5.5.4 {verb.decode()} needs a domain or address")
            return
        self.hello(verb, argument.decode("ascii", "replace"))

    def _mail(self, verb: bytes, argument: bytes) -> None:
        found = _MAIL.fullmatch(argument)
        if found is None:
            self.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
            return
        sender, parameters = found.groups()
        if parameters.strip() and not self.extended:
            # RFC 5321 2.2.1: after HELO the session has no extensions.
            self.reply(555, "5.5.4 MAIL FROM parameters need EHLO, not HELO")
            return
        for parameter in parameters.split():
            key, _, value = parameter.upper().partition(b"=")
            if key == b"SIZE":
                if not value.isdigit():
                    self.reply(501, "5.5.4 SIZE takes a number of bytes")
                    return
                if int(value) > self.maxMessageSize:
                    self.reply(552, "5.3.4 message size exceeds fixed maximum")
                    return
            elif key == b"BODY" and value in (b"7BIT", b"8BITMIME"):
                pass
            else:
                shown = parameter.decode("ascii", "replace")
                self.reply(555, f"5.5.4 unsupported parameter {shown}")
                return
        self.mailFrom(sender)

    def _rcpt(self, verb: bytes, argument: bytes) -> None:
        found = _RCPT.fullmatch(argument)
        if found is None:
            self.reply(501, "5.5.4 syntax: RCPT TO:<address>")
            return
        recipient, parameters = found.groups()
        if parameters.strip():
            self.reply(555, "5.5.4 RCPT TO takes no parameters here")
            return
        self.rcptTo(recipient)

    def _noArgument(self, verb: bytes, argument: bytes) -> None:
        if argument:
            self.reply(501, f"5.5.4 {verb.decode()} takes no argument")
            return
        if verb == b"DATA":
            self.dataCommand()
        elif verb == b"RSET":
            self.reset()
        elif verb == b"QUIT":
            self.quit()
        elif verb == b"STARTTLS":
            if self.tlsOptions is None:
                self.reply(502, "5.5.1 STARTTLS not available")
            elif self.link.secure:
                self.reply(503, "5.5.1 TLS already started")
            else:
                self.startTLS()

    def _noop(self, verb: bytes, argument: bytes) -> None:
        self.reply(250, "2.0.0 OK")

    def _vrfy(self, verb: bytes, argument: bytes) -> None:
        self.reply(252, "2.5.0 cannot VRFY, but will accept the message")

    def _help(self, verb: bytes, argument: bytes) -> None:
        self.reply(
            214,
            "2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
            + (" STARTTLS" if self.tlsOptions is not None else ""),
        )

    _VERBS = {
        b"EHLO": _hello,
        b"HELO": _hello,
        b"MAIL": _mail,
        b"RCPT": _rcpt,
        b"DATA": _noArgument,
        b"RSET": _noArgument,
        b"QUIT": _noArgument,
        b"STARTTLS": _noArgument,
        b"NOOP": _noop,
        b"VRFY": _vrfy,
        b"HELP": _help,
    }

    # -- outputs ----------------------------------------------------------------

    @_machine.output()
    def _greet(self, verb: bytes, name: str) -> None:
        self._forget()
        self.clientName = name
        self.extended = verb == b"EHLO"
        peer = getattr(self.link.peer, "host", "unknown")
        if not self.extended:
            self.reply(250, f"{self.hostname} greets {name} [{peer}]")
            return
        lines = [
            f"{self.hostname} greets {name} [{peer}]",
            "PIPELINING",
            f"SIZE {self.maxMessageSize}",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
        ]
        if self.tlsOptions is not None and not self.link.secure:
            lines.append("STARTTLS")
        self.reply(250, *lines)

    @_machine.output()
    def _acceptSender(self, sender: bytes) -> None:
        self._sender = sender
        self._recipients = []
        self.reply(250, "2.1.0 sender OK")

    @_machine.output()
    def _acceptRecipient(self, recipient: bytes) -> None:
        if len(self._recipients) >= self.maxRecipients:
            self.reply(452, "4.5.3 too many recipients")
            return
        self._recipients.append(recipient)
        self.reply(250, "2.1.5 recipient OK")

    @_machine.output()
    def _beginData(self) -> None:
        envelope = Envelope(
            sender=self._sender,
            recipients=tuple(self._recipients),
            clientName=self.clientName,
            peer=self.link.peer,
            hostname=self.hostname,
            protocol=("ESMTPS" if self.link.secure else "ESMTP")
            if self.extended
            else "SMTP",
        )
        try:
            self._draft = self.mailbox.begin(envelope)
        except Exception:
            # The text must still be read (to find where it ends); it is
            # answered 451 then.
            self._storageFailed("begin")
            self._draft = None
            self._draftFailed = True
        self.reply(354, "end data with <CR><LF>.<CR><LF>")
        self.link.switchFraming(DotFramer(self.maxMessageSize))

    @_machine.output()
    def _text(self, message: bytes) -> None:
        if isinstance(message, EndOfText):
            self.textEnded(message)
        elif self._draft is not None and not self._draftFailed:
            try:
                self._draft.write(message)
            except Exception:
                self._storageFailed("write")
                self._draftFailed = True

    @_machine.output()
    def _store(self, end: EndOfText) -> None:
        self.link.switchFraming(LineFramer(_COMMAND_FRAME))
        draft, failed = self._draft, self._draftFailed
        self._forget()
        if end.oversized or failed or draft is None:
            self._discard(draft)
            if end.oversized:
                self.reply(552, "5.3.4 message size exceeds fixed maximum")
            else:  # already logged where it failed
                self.reply(451, "4.3.0 could not store the message; try again later")
            return
        try:
            messageId = draft.commit()
        except Exception:
            self._storageFailed("store")
            self._discard(draft)
            self.reply(451, "4.3.0 could not store the message; try again later")
            return
        self.reply(250, f"2.0.0 OK queued as {messageId}")

    def _storageFailed(self, what: str) -> None:
        """One event: a line for the disk's errors, a traceback for a bug."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self.log.error(
                "{machine} could not {what} a message: {why}",
                machine=self,
                what=what,
                why=error,
            )
        else:
            self.log.failure(
                "{machine} could not {what} a message",
                machine=self,
                what=what,
                level=LogLevel.error,
            )

    def _discard(self, draft: Draft | None) -> None:
        if draft is None:
            return
        try:
            draft.abort()
        except Exception:
            self._storageFailed("discard")

    def onDisconnected(self, reason: Any) -> None:
        """A connection lost in the middle of a message stores nothing."""
        self._discard(self._draft)
        self._draft = None

    @_machine.output()
    def _resetTransaction(self) -> None:
        self._forget()
        self.reply(250, "2.0.0 OK")

    @_machine.output()
    def _beginTLS(self) -> None:
        self.reply(220, "2.0.0 ready to start TLS")
        self.link.startTLS(self.tlsOptions)

    @_machine.output()
    def _afterTLS(self) -> None:
        # RFC 3207 4.2: forget everything the client said before TLS.
        self._forget()
        self.clientName = ""
        self.extended = False

    @_machine.output()
    def _reportDataTimeout(self) -> None:
        self.logNoteworthy(
            "{machine} closing: no more of the message for {seconds:.10g} s",
            seconds=self.dataTimeout,
        )
        self._sayTimedOut()

    @_machine.output()
    def _reportHandshakeTimeout(self) -> None:
        self.logNoteworthy(
            "{machine} closing: no TLS handshake within {seconds:.10g} s",
            seconds=self.idleTimeout,
        )
        self._sayTimedOut()

    @_machine.output()
    def _restartCommandTimer(self) -> None:
        self.restartTimer("session")

    @_machine.output()
    def _restartDataTimer(self) -> None:
        self.restartTimer("data")

    @_machine.output()
    def _bye(self) -> None:
        self.reply(221, f"2.0.0 {self.hostname} closing connection")

    @_machine.output()
    def _shuttingDown(self) -> None:
        # RFC 5321 3.8: a server that must close says 421 first.
        self.reply(421, f"4.3.2 {self.hostname} shutting down, try again later")

    def _forget(self) -> None:
        self._sender = b""
        self._recipients = []
        self._draft = None
        self._draftFailed = False

    # -- transitions ------------------------------------------------------------

    _connected, _receiving = parent.connected, parent.receiving
    _closing, _lose = parent.closing, parent.loseConnection
    session.include(_connected, _receiving)  # before and after EHLO

    # RFC 5321 4.1.4, the order of commands: what each one does, and where.
    # A command in a state not listed is answered 503 (rejected below).
    #   in              command                   enter          outputs
    session.upon(hello, enter=_receiving, outputs=[_greet])
    session.upon(quit, enter=_closing, outputs=[_bye, _lose])
    session.upon(reset, outputs=[_resetTransaction])
    transaction.upon(reset, enter=_receiving, outputs=[_resetTransaction])
    _receiving.upon(mailFrom, enter=mail, outputs=[_acceptSender])
    _receiving.upon(startTLS, enter=startingTLS, outputs=[_beginTLS])
    transaction.upon(rcptTo, enter=recipients, outputs=[_acceptRecipient])
    recipients.upon(dataCommand, enter=data, outputs=[_beginData])
    data.upon(textEnded, enter=_receiving, outputs=[_store])
    startingTLS.upon(parent.secured, enter=_connected, outputs=[_afterTLS])

    # What arrives: command lines, or a message's text (a piece per read,
    # then its end), which switches back to command lines.
    session.upon(parent.messageReceived, outputs=[_restartCommandTimer, _command])
    data.upon(parent.messageReceived, outputs=[_text])

    # The timers (RFC 5321 4.5.3.2), in place of the lifecycle's idle timer.
    # Waiting for a command, the timer restarts on each command, not on each
    # read (4.5.3.2.7 times the wait for the next command), so a peer that
    # trickles a byte at a time cannot hold a connection for days; a
    # message's text restarts its own on each read.  A STARTTLS handshake's
    # bytes go to TLS, none arrives as data: it must finish in time.
    idleTimer = stateTimer(parent.open, None)
    commandTimer = stateTimer(session, "idleTimeout", fires=parent.timeout)
    dataTimer = stateTimer(data, "dataTimeout", fires=dataTimedOut)
    handshakeTimer = stateTimer(startingTLS, "idleTimeout", fires=handshakeTimedOut)
    data.upon(dataTimedOut, enter=_closing, outputs=[_reportDataTimeout, _lose])
    startingTLS.upon(
        handshakeTimedOut, enter=_closing, outputs=[_reportHandshakeTimeout, _lose]
    )

    # The lifecycle, as SMTP changes it: reads restart no timer but the
    # text's, and a server closing a session says so (421, RFC 5321 3.8),
    # except mid-handshake.
    parent.open.upon(parent.dataArrived, outputs=[])
    data.upon(parent.dataArrived, outputs=[_restartDataTimer])
    parent.open.upon(
        parent.closeRequested, enter=_closing, outputs=[_shuttingDown, _lose]
    )
    startingTLS.upon(parent.closeRequested, enter=_closing, outputs=[_lose])

    # -- rejected on purpose -----------------------------------------------------
    # A command rejected here is answered "503 5.5.1 <reason>".

    commands = [hello, mailFrom, rcptTo, dataCommand, reset, startTLS, quit]
    helloFirst = rejects(_connected, [mailFrom, startTLS], "send EHLO or HELO first")
    noNestedMail = rejects(transaction, mailFrom, "nested MAIL command")
    mailFirst = rejects(
        [_connected, _receiving], [rcptTo, dataCommand], "need MAIL command first"
    )
    recipientFirst = rejects(mail, dataCommand, "need RCPT command first")
    notInATransaction = rejects(
        transaction, startTLS, "STARTTLS is not allowed in a mail transaction"
    )
    noCommandsNow = rejects(
        [data, startingTLS],
        commands,
        "no commands while a message or a TLS handshake is under way",
    )
    noCommandsNowEither = rejects(_closing, commands, "closing")
    handshakeFirst = rejects(
        startingTLS, parent.messageReceived, "nothing is read until TLS is up"
    )
    secureOnlyAfterSTARTTLS = rejects(
        [transaction, data], parent.secured, "only STARTTLS starts TLS"
    )
    textOnlyInData = rejects(
        [session, startingTLS, _closing], textEnded, "only a message's text ends"
    )
    onlyTheirTimers = rejects(
        ANY,
        [dataTimedOut, handshakeTimedOut],
        "only the data and handshake timers fire these, in their states",
    )
    del commands
