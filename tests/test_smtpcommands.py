"""
SMTP command lines read into commands, or into the reply they get whatever
the state; and replies written as lines.  Pure functions: no machine here
(the machine that feeds the commands in is tested in ``test_smtp``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from statemachines.smtpcommands import (
    COMMAND_LINE_LIMIT,
    DATA,
    QUIT,
    RESET,
    START_TLS,
    Command,
    Hello,
    MailFrom,
    RcptTo,
    Reply,
    helloReply,
    parseCommand,
    parseMailFrom,
    parseRcptTo,
    withProtocol,
)

SIZE = 32 * 1024 * 1024


def parse(
    line: bytes,
    extended: bool = True,
    maxMessageSize: int = SIZE,
    tlsOffered: bool = False,
    secure: bool = False,
) -> Command | Reply:
    return parseCommand(
        line,
        extended=extended,
        maxMessageSize=maxMessageSize,
        tlsOffered=tlsOffered,
        secure=secure,
    )


def written(reply: Command | Reply) -> bytes:
    """The one line ``reply`` is written as."""
    assert isinstance(reply, Reply), reply
    [line] = reply.lines()
    return line


class ParseCommandTests(SynchronousTestCase):
    def test_commands(self) -> None:
        """Each command the machine takes, whatever the case of its verb."""
        exchanges: list[tuple[bytes, Command]] = [
            (b"EHLO client.example", Hello(b"EHLO", "client.example")),
            (b"helo  x ", Hello(b"HELO", "x")),
            (b"HELO [192.0.2.1]", Hello(b"HELO", "[192.0.2.1]")),
            (b"MAIL FROM:<a@b>", MailFrom(b"a@b")),
            (b"mail from:<>", MailFrom(b"")),
            (b"RCPT TO:<c@d>", RcptTo(b"c@d")),
            (b"DATA", DATA),
            (b"rset", RESET),
            (b"QUIT ", QUIT),
        ]
        for line, command in exchanges:
            self.assertEqual(parse(line), command, line)
        self.assertEqual(parse(b"STARTTLS", tlsOffered=True), START_TLS)

    def test_badCommands(self) -> None:
        """Each line gets exactly its reply."""
        exchanges = [
            (b"FROB", b"500 5.5.2 command not recognized"),
            (b"", b"500 5.5.2 command not recognized"),
            (b"EHLO", b"501 5.5.4 EHLO needs a domain or an address literal"),
            (b"MAIL TO:<a@b>", b"501 5.5.4 syntax: MAIL FROM:<address>"),
            (b"RCPT FROM:<a@b>", b"501 5.5.4 syntax: RCPT TO:<address>"),
            (b"RCPT TO:<>", b"501 5.5.4 syntax: RCPT TO:<address>"),
            (b"RCPT TO:<a@b> X=1", b"555 5.5.4 RCPT TO takes no parameters here"),
            (b"NOOP", b"250 2.0.0 OK"),
            (b"VRFY someone", b"252 2.5.0 cannot VRFY, but will accept the message"),
            (b"DATA now", b"501 5.5.4 DATA takes no argument"),
            (b"STARTTLS", b"502 5.5.1 STARTTLS not available"),
            (b"NOOP " + b"x" * 600, b"500 5.5.2 line too long"),
            (b"EHLO x\nMAIL FROM:<evil>", b"500 5.5.2 bare CR or LF in a command"),
        ]
        for line, reply in exchanges:
            self.assertEqual(written(parse(line)), reply, line)

    def test_theLineLimitCountsTheCRLF(self) -> None:
        longest = b"NOOP " + b"x" * (COMMAND_LINE_LIMIT - 2 - 5)
        self.assertEqual(written(parse(longest)), b"250 2.0.0 OK")
        self.assertEqual(written(parse(longest + b"x")), b"500 5.5.2 line too long")

    def test_mailParametersNeedEHLO(self) -> None:
        """After HELO the session has no extensions (RFC 5321 2.2.1)."""
        for line in (b"MAIL FROM:<a@b> SIZE=10", b"MAIL FROM:<a@b> \xff"):
            self.assertEqual(
                written(parse(line, extended=False)),
                b"555 5.5.4 MAIL FROM parameters need EHLO, not HELO",
            )
        self.assertEqual(parse(b"MAIL FROM:<a@b>", extended=False), MailFrom(b"a@b"))

    def test_mailParametersAfterEHLO(self) -> None:
        exchanges = [
            (b"MAIL FROM:<a@b> FOO=1", b"555 5.5.4 unsupported parameter FOO=1"),
            (
                b"MAIL FROM:<a@b> SIZE=999999999999",
                b"552 5.3.4 message size exceeds fixed maximum",
            ),
            (b"MAIL FROM:<a@b> \xff", b"501 5.5.4 syntax: MAIL FROM:<address> ["),
            (b"MAIL FROM:<a@b> FOO=\x01", b"555 5.5.4 unsupported parameter FOO"),
            (b"MAIL FROM:<a@b> SIZE=\xff", b"501 5.5.4 SIZE takes a number of bytes"),
            (b"MAIL FROM:<a@b> SIZE=-1", b"501 5.5.4 SIZE takes a number of bytes"),
            (b"MAIL FROM:<a@b> SIZE", b"501 5.5.4 SIZE takes a number of bytes"),
            (b"MAIL FROM:<a@b> BODY=BINARYMIME", b"555 5.5.4 unsupported parameter"),
        ]
        for line, reply in exchanges:
            self.assertTrue(written(parse(line)).startswith(reply), line)
        self.assertEqual(
            parse(b"MAIL FROM:<a@b> SIZE=10 body=8bitmime"), MailFrom(b"a@b")
        )

    def test_theSizeLimit(self) -> None:
        self.assertEqual(
            parseMailFrom(b"FROM:<a@b> SIZE=100", extended=True, maxMessageSize=100),
            MailFrom(b"a@b"),
        )
        self.assertEqual(
            parseMailFrom(b"FROM:<a@b> SIZE=101", extended=True, maxMessageSize=100),
            Reply(552, ("5.3.4 message size exceeds fixed maximum",)),
        )

    def test_rcptTo(self) -> None:
        self.assertEqual(parseRcptTo(b"to: <c@d>  "), RcptTo(b"c@d"))
        self.assertEqual(
            parseRcptTo(b"TO:<c@d> NOTIFY=NEVER"),
            Reply(555, ("5.5.4 RCPT TO takes no parameters here",)),
        )

    def test_startTLSOnlyWhenOfferedAndNotStarted(self) -> None:
        self.assertEqual(
            written(parse(b"STARTTLS", tlsOffered=True, secure=True)),
            b"503 5.5.1 TLS already started",
        )
        self.assertEqual(
            written(parse(b"STARTTLS now", tlsOffered=True)),
            b"501 5.5.4 STARTTLS takes no argument",
        )

    def test_helpNamesSTARTTLSWhenOffered(self) -> None:
        commands = b"EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
        self.assertEqual(written(parse(b"HELP")), b"214 2.0.0 commands: " + commands)
        self.assertEqual(
            written(parse(b"HELP me", tlsOffered=True)),
            b"214 2.0.0 commands: " + commands + b" STARTTLS",
        )

    @given(st.binary(max_size=600))
    def test_anyLineIsACommandOrAReply(self, line: bytes) -> None:
        """Peer bytes never raise: each line is a command or a reply."""
        parsed = parse(line)
        if isinstance(parsed, Reply):
            self.assertTrue(parsed.lines())
            for out in parsed.lines():
                self.assertNotIn(b"\r", out)
                self.assertNotIn(b"\n", out)


class ReplyTests(SynchronousTestCase):
    def test_lines(self) -> None:
        """Every line but the last has a ``-`` after its code."""
        self.assertEqual(
            Reply(250, ("a", "b", "c")).lines(), [b"250-a", b"250-b", b"250 c"]
        )
        self.assertEqual(Reply(221, ("bye",)).lines(), [b"221 bye"])
        self.assertEqual(Reply(250, ()).lines(), [])

    def test_textIsUTF8(self) -> None:
        self.assertEqual(Reply(250, ("\N{SNOWMAN}",)).lines(), [b"250 \xe2\x98\x83"])

    def test_helloAfterHELO(self) -> None:
        self.assertEqual(
            helloReply("hi", extended=False, maxMessageSize=10, offerTLS=True),
            Reply(250, ("hi",)),
        )

    def test_helloAfterEHLONamesTheExtensions(self) -> None:
        extensions = ("PIPELINING", "SIZE 10", "8BITMIME", "ENHANCEDSTATUSCODES")
        extensions += ("SMTPUTF8",)
        self.assertEqual(
            helloReply("hi", extended=True, maxMessageSize=10, offerTLS=False),
            Reply(250, ("hi", *extensions)),
        )
        self.assertEqual(
            helloReply("hi", extended=True, maxMessageSize=10, offerTLS=True),
            Reply(250, ("hi", *extensions, "STARTTLS")),
        )


class WithProtocolTests(SynchronousTestCase):
    def test_whatReceivedSays(self) -> None:
        """RFC 3848's names, and RFC 6531 3.7.3's with SMTPUTF8."""
        names = [
            withProtocol(extended, secure, utf8)
            for extended in (False, True)
            for secure in (False, True)
            for utf8 in (False, True)
        ]
        self.assertEqual(
            names,
            ["SMTP"] * 4 + ["ESMTP", "UTF8SMTP", "ESMTPS", "UTF8SMTPS"],
        )
