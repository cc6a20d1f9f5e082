"""
An SMTP receiver (RFC 5321) as a subclass of the server lifecycle: it
accepts mail for any recipient, hands each message to a `Mailbox`, and never
relays.  ESMTP: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8
(RFC 6531), and STARTTLS (RFC 3207) when it has TLS options.

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
      dataPhase        DATA accepted, until its text ends
        data           the message text is arriving
      startingTLS      STARTTLS accepted; the TLS handshake is under way

Each command line is read by `statemachines.smtpcommands` in one output,
``_command``, which answers what does not depend on the state (unknown
commands, bad syntax, NOOP, VRFY, HELP) and feeds every other command back
in as an input: ``hello``, ``mailFrom``, ``rcptTo``, ``dataCommand``,
``reset``, ``startTLS``, ``quit``.  Whether a command is allowed now is the
table's business: a command in the wrong state is a rejection, declared
below with its reason, and answered ``503 5.5.1 <reason>`` (see
`machineError`); the connection goes on.

DATA switches the framing to `DotFramer` (the text up to ``CRLF . CRLF``,
dot-unstuffed, delivered a piece per read, then `EndOfText`); the machine
switches back to lines for whatever follows, which is already waiting if the
client pipelined it.  The text goes straight into the mailbox (a
`statemachines.smtpmailbox.Delivery`), so a message costs one read's worth
of memory however large it is; it is stored for good before ``250`` is
sent, and if storing fails the reply is ``451`` and the client may retry.
A connection lost in ``data``, or timed out there, stores nothing.  A bare
LF is refused or let through as ``bareLF`` says (`statemachines.smtpframing`).

Four state timers (RFC 5321 4.5.3.2) replace the lifecycle's idle timer, so
no phase outlasts its deadline however a peer trickles its bytes:
``session``'s (``idleTimeout``) from the last complete command (4.5.3.2.7;
bytes that do not finish one do not count); ``dataPhase``'s (``dataTimeout``)
from DATA, for the whole text; ``data``'s (``idleTimeout``) from the last
read; ``startingTLS``'s (``idleTimeout``) from STARTTLS, for the handshake
(whose bytes go to TLS, never to the machine).

Replies go out in the order the commands came, however they arrive
(PIPELINING), because each command is answered before the next is read.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime

from . import smtpcommands
from .connection import DEFAULT_CLOSE_TIMEOUT, ConnectionMachine
from .engine import ANY, Machine, MachineError, inherited, rejects, stateTimer
from .framing import EndOfText
from .limits import limit, optionalTimeout
from .smtpcommands import COMMAND_LINE_LIMIT as COMMAND_LINE_LIMIT
from .smtpframing import BareLineFeed, bareLFPolicy, commandFramer, textFramer
from .smtpmailbox import Delivery, Draft, Envelope, Mailbox

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
DEFAULT_DATA_TIMEOUT = 600.0  # RFC 5321 4.5.3.2: ten minutes for the whole text


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
        dataTimeout: float | None = DEFAULT_DATA_TIMEOUT,
        bareLF: str = "reject",
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        """
        @param tlsOptions: a server ``CertificateOptions``: offers STARTTLS.
        @param idleTimeout: how long to wait for the next command (RFC 5321
            4.5.3.2.7 asks for at least 5 minutes), for more of a message's
            text (from each read), and for a STARTTLS handshake to complete
            (None or 0: no limit).
        @param dataTimeout: how long a message's whole text may take to
            arrive, from DATA, however it trickles in (None or 0: no limit).
        @param bareLF: ``"reject"`` or ``"accept"`` (`statemachines.smtpframing`).
        """
        super().__init__(
            clock,
            idleTimeout=optionalTimeout("idleTimeout", idleTimeout),
            closeTimeout=closeTimeout,
        )
        self.dataTimeout = optionalTimeout("dataTimeout", dataTimeout)
        self.bareLF = bareLFPolicy(bareLF)
        self.mailbox = mailbox
        self.hostname = hostname
        self.maxMessageSize = limit("maxMessageSize", maxMessageSize)
        self.maxRecipients = limit("maxRecipients", maxRecipients)
        self.tlsOptions = tlsOptions
        self.clientName = ""
        self.extended = False  # EHLO rather than HELO
        self._sender = b""
        self._utf8 = False  # the transaction asked for SMTPUTF8
        self._recipients: list[bytes] = []
        self._delivery: Delivery | None = None

    # -- states: within the lifecycle's open (see the module doc) -------------

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

    @_machine.superstate(within=parent.open)
    def dataPhase(self) -> None:
        "DATA accepted, until the text ends: the deadline of the whole text runs."

    @_machine.state(within=dataPhase)
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
    def mailFrom(self, sender: bytes, utf8: bool = False) -> None:
        "MAIL FROM, its parameters valid (``utf8``: it asked for SMTPUTF8)."

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
        "The whole text did not arrive within dataTimeout of DATA."

    @_machine.input()
    def bareLineFeed(self) -> None:
        "A bare LF arrived, and the bareLF policy refuses it."

    @_machine.input()
    def handshakeTimedOut(self) -> None:
        "The STARTTLS handshake did not complete within idleTimeout."

    COMMANDS = frozenset(
        ["hello", "mailFrom", "rcptTo", "dataCommand", "reset", "startTLS", "quit"]
    )

    # -- replies ----------------------------------------------------------------

    def reply(self, code: int, *lines: str) -> None:
        """One reply: ``code``, then each line (the last with a space)."""
        for line in smtpcommands.Reply(code, lines).lines():
            self.send(line)

    def onConnected(self) -> None:
        # Command lines have their own limit, whatever the server's framing.
        self.link.switchFraming(commandFramer(self.bareLF))
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

    def _sayTimedOut(self, what: str = "", seconds: float | None = None) -> None:
        """421 4.4.2, after a line saying what did not happen in time."""
        self._discard()  # in the middle of a message's text: none stored
        if what:
            note = "{machine} closing: {what} within {seconds:.10g} s"
            self.logNoteworthy(note, what=what, seconds=seconds)
        self.reply(421, f"4.4.2 {self.hostname} timeout, closing connection")

    # -- the parser: a line is a command, fed in as an input, or a reply ----

    @_machine.output()
    def _command(self, message: bytes) -> None:
        if isinstance(message, BareLineFeed):
            self.bareLineFeed()
            return
        command = smtpcommands.parseCommand(
            message,
            extended=self.extended,
            maxMessageSize=self.maxMessageSize,
            tlsOffered=self.tlsOptions is not None,
            secure=self.link.secure,
            utf8=self._utf8,
        )
        match command:
            case smtpcommands.Hello(verb, name):
                self.hello(verb, name)
            case smtpcommands.MailFrom(sender, utf8):
                self.mailFrom(sender, utf8)
            case smtpcommands.RcptTo(recipient):
                self.rcptTo(recipient)
            case smtpcommands.Data():
                self.dataCommand()
            case smtpcommands.Reset():
                self.reset()
            case smtpcommands.StartTLS():
                self.startTLS()
            case smtpcommands.Quit():
                self.quit()
            case smtpcommands.Reply(code, texts):
                self.reply(code, *texts)

    # -- outputs ----------------------------------------------------------------

    @_machine.output()
    def _greet(self, verb: bytes, name: str) -> None:
        self._forget()
        self.clientName = name
        self.extended = verb == b"EHLO"
        peer = getattr(self.link.peer, "host", "unknown")
        hello = smtpcommands.helloReply(
            f"{self.hostname} greets {name} [{peer}]",
            extended=self.extended,
            maxMessageSize=self.maxMessageSize,
            offerTLS=self.tlsOptions is not None and not self.link.secure,
        )
        self.reply(hello.code, *hello.texts)

    @_machine.output()
    def _acceptSender(self, sender: bytes, utf8: bool) -> None:
        self._sender, self._utf8 = sender, utf8
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
            protocol=smtpcommands.withProtocol(
                self.extended, self.link.secure, self._utf8
            ),
        )
        # If the mailbox fails, the text must still be read (to find where
        # it ends); it is answered 451 then.
        self._delivery = Delivery(self.mailbox, envelope, self.log, self)
        self.reply(354, "end data with <CR><LF>.<CR><LF>")
        self.link.switchFraming(textFramer(self.bareLF, self.maxMessageSize))

    @_machine.output()
    def _text(self, message: bytes) -> None:
        if isinstance(message, EndOfText):
            self.textEnded(message)
        elif isinstance(message, BareLineFeed):
            self.bareLineFeed()
        elif self._delivery is not None:
            self._delivery.write(message)

    @_machine.output()
    def _store(self, end: EndOfText) -> None:
        self.link.switchFraming(commandFramer(self.bareLF))
        delivery = self._delivery
        assert delivery is not None  # begun with the data
        self._forget()
        self.reply(*delivery.finish(end.oversized))

    def onDisconnected(self, reason: Any) -> None:
        """A connection lost in the middle of a message stores nothing."""
        self._discard()

    def _discard(self) -> None:
        """Discard the message arriving, if any."""
        if self._delivery is not None:
            self._delivery.abort()
        self._delivery = None

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
        self._sayTimedOut("the text did not all arrive", self.dataTimeout)

    @_machine.output()
    def _refuseBareLF(self) -> None:
        self._discard()
        self.logNoteworthy("{machine} closing: bare LF received")
        self.reply(521, f"5.5.2 {self.hostname} bare LF received, closing connection")

    @_machine.output()
    def _reportHandshakeTimeout(self) -> None:
        self._sayTimedOut("no TLS handshake", self.idleTimeout)

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
        self._sender, self._utf8 = b"", False
        self._recipients = []
        self._delivery = None

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

    # A bare LF in a line or a text, where the policy refuses it.
    parent.open.upon(bareLineFeed, enter=_closing, outputs=[_refuseBareLF, _lose])

    # The timers, in place of the lifecycle's idle timer (see the module doc):
    # the command timer restarts on each command, the text's on each read,
    # and the whole text's deadline on nothing.
    idleTimer = stateTimer(parent.open, None)
    commandTimer = stateTimer(session, "idleTimeout", fires=parent.timeout)
    dataTimer = stateTimer(dataPhase, "dataTimeout", fires=dataTimedOut)
    textTimer = stateTimer(data, "idleTimeout", fires=parent.timeout)
    handshakeTimer = stateTimer(startingTLS, "idleTimeout", fires=handshakeTimedOut)
    dataPhase.upon(dataTimedOut, enter=_closing, outputs=[_reportDataTimeout, _lose])
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
    noCommandsNowEither = rejects(_closing, [*commands, bareLineFeed], "closing")
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
