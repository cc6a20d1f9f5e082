"""
What SMTP lets a client name (``statemachines.smtpaddress``): generated
domains, address literals and mailboxes are taken and kept byte for byte;
the same with a control character, or bytes that are not UTF-8, are
refused - by the grammar, by the command parser, and by the machine, whose
stored envelopes, replies and log lines are checked for control bytes.
"""

from __future__ import annotations

import ipaddress
import string

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from protocols.maildir import headers
from statemachines.smtpaddress import (
    INVALID_UTF8,
    NEEDS_SMTPUTF8,
    NOT_A_MAILBOX,
    checkMailbox,
    isAddressLiteral,
    isDomain,
    isHelloArgument,
    splitPath,
    stripSourceRoute,
)
from statemachines.smtpcommands import (
    Command,
    Hello,
    MailFrom,
    RcptTo,
    Reply,
    parseCommand,
    parseMailFrom,
    parseRcptTo,
)

from .test_smtp import session

SIZE = 1000

# -- the grammar, generated (RFC 5321 4.1.2, 4.1.3) --------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
LET_DIG = string.ascii_letters + string.digits
QTEXT = "".join(chr(c) for c in range(32, 127) if chr(c) not in '"\\')
PRINTABLE = "".join(chr(c) for c in range(32, 127))
DCONTENT = "".join(chr(c) for c in range(33, 127) if chr(c) not in "[\\]")
# Letters beyond ASCII (RFC 6531's UTF8-non-ascii, no controls).
NON_ASCII = st.characters(min_codepoint=0xA0, categories=["Ll", "Lu", "Lo"])

atoms = st.text(ATEXT, min_size=1, max_size=8)
dotStrings = st.lists(atoms, min_size=1, max_size=4).map(".".join)
quotedStrings = st.lists(
    st.one_of(st.sampled_from(QTEXT), st.sampled_from(PRINTABLE).map("\\".__add__)),
    max_size=10,
).map(lambda parts: '"' + "".join(parts) + '"')
subDomains = st.builds(
    lambda first, middle, last: first + (middle + last if last else ""),
    st.sampled_from(LET_DIG),
    st.text(LET_DIG + "-", max_size=6),
    st.one_of(st.just(""), st.sampled_from(LET_DIG)),
)
domains = st.lists(subDomains, min_size=1, max_size=4).map(".".join)
snums = st.integers(0, 255).flatmap(
    lambda n: st.sampled_from([str(n), str(n).zfill(3)])
)
ipv4s = st.lists(snums, min_size=4, max_size=4).map(".".join)
ipv6s = st.integers(0, 2**128 - 1).flatmap(
    lambda n: st.sampled_from(
        [
            str(ipaddress.IPv6Address(n)),
            ipaddress.IPv6Address(n).exploded,
            f"::ffff:{ipaddress.IPv4Address(n % 2**32)}",
        ]
    )
)
generalLiterals = st.builds(
    lambda tag, content: f"{tag}:{content}",
    domains.filter(lambda d: "." not in d and d.lower() != "ipv6"),
    st.text(DCONTENT, min_size=1, max_size=10),
)
addressLiterals = st.one_of(ipv4s, ipv6s.map("IPv6:".__add__), generalLiterals).map(
    lambda inner: f"[{inner}]"
)
mailboxes = st.builds(
    lambda local, domain: f"{local}@{domain}".encode(),
    st.one_of(dotStrings, quotedStrings),
    st.one_of(domains, addressLiterals),
)
utf8Mailboxes = st.builds(
    lambda local, letter, domain: f"{local}{letter}@{domain}".encode(),
    dotStrings,
    NON_ASCII,
    domains,
)
controls = st.sampled_from([chr(c).encode() for c in [*range(32), 127]])
# Bytes that are never UTF-8: a lone continuation, a cut sequence, an
# overlong form, a surrogate, past U+10FFFF.
notUTF8 = st.sampled_from(
    [
        b"\xff",
        b"\xfe",
        b"\x80",
        b"\xc3",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
    ]
)


def inserted(data: bytes, insert: bytes, where: int) -> bytes:
    where %= len(data) + 1
    return data[:where] + insert + data[where:]


def hasControl(data: bytes) -> bool:
    return any(b < 32 or b == 127 for b in data)


class GrammarTests(SynchronousTestCase):
    @given(st.one_of(domains, addressLiterals))
    def test_helloTakesADomainOrAnAddressLiteral(self, name: str) -> None:
        self.assertTrue(isHelloArgument(name.encode()))
        self.assertEqual(parse(b"EHLO " + name.encode()), Hello(b"EHLO", name), name)

    @given(st.one_of(domains, addressLiterals), controls, st.integers())
    def test_helloRefusesControlCharacters(
        self, name: str, control: bytes, where: int
    ) -> None:
        line = b"HELO " + inserted(name.encode(), control, where)
        parsed = parse(line)
        if isinstance(parsed, Hello):  # white space around it is not its
            self.assertEqual(parsed.name, name)
            self.assertIn(control, b" \t\x0b\x0c")  # not stored
            return
        self.assertIsInstance(parsed, Reply)
        assert isinstance(parsed, Reply)
        self.assertIn(parsed.code, (500, 501), line)

    def test_helloRefusesWhatTheAttackSent(self) -> None:
        """Issue 27: each was stored in ``Received:`` as it came."""
        for line in (
            b"EHLO a) by trusted.example (x",
            b"HELO ev\x00il",
            b"EHLO x\tReceived:",
            b"EHLO a b c",
            b"HELO \xff",
            b"EHLO [300.1.1.1]",
            b"EHLO [IPv6:1::2::3]",
            b"EHLO example.com.",
            b"EHLO -a.example",
        ):
            self.assertEqual(
                parse(line),
                Reply(
                    501,
                    (
                        f"5.5.4 {line[:4].decode()} needs a domain or an"
                        " address literal",
                    ),
                ),
                line,
            )

    @given(mailboxes)
    def test_mailboxesAreTakenByteExact(self, mailbox: bytes) -> None:
        self.assertIsNone(checkMailbox(mailbox, utf8=False))
        self.assertEqual(mailFrom(b"FROM:<" + mailbox + b">"), MailFrom(mailbox))
        self.assertEqual(parseRcptTo(b"TO:<" + mailbox + b">"), RcptTo(mailbox))

    @given(mailboxes, controls, st.integers())
    def test_noControlCharacterInAMailbox(
        self, mailbox: bytes, control: bytes, where: int
    ) -> None:
        path = b"<" + inserted(mailbox, control, where) + b">"
        for parsed in (
            mailFrom(b"FROM:" + path + b" SMTPUTF8"),
            parseRcptTo(b"TO:" + path, utf8=True),
        ):
            self.assertIsInstance(parsed, Reply)
            assert isinstance(parsed, Reply)
            self.assertIn(parsed.code, (501, 553), path)

    @given(utf8Mailboxes)
    def test_utf8MailboxesOnlyWithSMTPUTF8(self, mailbox: bytes) -> None:
        self.assertEqual(checkMailbox(mailbox, utf8=False), NEEDS_SMTPUTF8)
        self.assertEqual(
            mailFrom(b"FROM:<" + mailbox + b">"),
            Reply(553, ("5.6.7 a non-ASCII sender needs SMTPUTF8",)),
        )
        self.assertEqual(
            mailFrom(b"FROM:<" + mailbox + b"> SMTPUTF8"), MailFrom(mailbox, True)
        )
        self.assertEqual(
            parseRcptTo(b"TO:<" + mailbox + b">"),
            Reply(553, ("5.6.7 a non-ASCII recipient needs SMTPUTF8",)),
        )
        self.assertEqual(
            parseRcptTo(b"TO:<" + mailbox + b">", utf8=True), RcptTo(mailbox)
        )

    @given(st.one_of(mailboxes, utf8Mailboxes), notUTF8, st.integers())
    def test_invalidUTF8IsRefusedNeverRewritten(
        self, mailbox: bytes, bad: bytes, where: int
    ) -> None:
        path = b"<" + inserted(mailbox, bad, where) + b">"
        for utf8 in (False, True):
            parsed = parseRcptTo(b"TO:" + path, utf8=utf8)
            self.assertIsInstance(parsed, Reply)
            assert isinstance(parsed, Reply)
            self.assertIn(parsed.code, (501, 553), path)

    def test_whatTheAttackSentIsRefused(self) -> None:
        """Issue 27: each was stored as it came (or rewritten to U+FFFD)."""
        self.assertEqual(
            mailFrom(b"FROM:<a\x01\x7f@b>"),
            Reply(553, ("5.1.7 the sender is not a mailbox (RFC 5321 4.1.2)",)),
        )
        self.assertEqual(
            parseRcptTo(b"TO:<c\x00@d>"),
            Reply(553, ("5.1.3 the recipient is not a mailbox (RFC 5321 4.1.2)",)),
        )
        for utf8 in (b"", b" SMTPUTF8"):
            self.assertEqual(
                mailFrom(b"FROM:<\xff\xfe@b>" + utf8),
                Reply(553, ("5.1.7 the sender is not valid UTF-8",)),
            )
        self.assertEqual(checkMailbox(b"\xff\xfe@b", utf8=True), INVALID_UTF8)

    def test_mailboxes(self) -> None:
        """The grammar's corners, each way."""
        good = [
            b"a@b",
            b"first.last+tag@sub.example.com",
            b'"a b>c"@example.com',
            b'"\\"quoted\\\\"@example.com',
            b'""@example.com',
            b"a@[192.0.2.1]",
            b"a@[IPv6:2001:db8::1]",
            b"a@[IPv6:::ffff:192.0.2.1]",
            b"a@[x-tag:any)thing(]",
        ]
        for mailbox in good:
            self.assertIsNone(checkMailbox(mailbox, utf8=False), mailbox)
        bad = [
            b"",
            b"a",
            b"@b",
            b"a@",
            b"a..b@c",
            b".a@c",
            b"a.@c",
            b"a b@c",
            b'"a@c',
            b'"a"b@c',
            b"a@b@c",
            b"a@b..c",
            b"a@-b",
            b"a@b_c",
            b"a@[1.2.3]",
            b"a@[IPv6:12345::]",
            b"a@[IPv6:1:2:3:4:5:6:7]",
            b"a@[:x]",
            b'"\x7f"@b',
            "a\x85b@c".encode(),  # NEL, a C1 control
            "a\u2028b@c".encode(),  # LINE SEPARATOR
            "a@b\u2029c".encode(),  # PARAGRAPH SEPARATOR
        ]
        for mailbox in bad:
            self.assertEqual(checkMailbox(mailbox, utf8=True), NOT_A_MAILBOX, mailbox)

    def test_domainsAndLiterals(self) -> None:
        self.assertTrue(isDomain("xn--bcher-kva.example"))
        self.assertFalse(isDomain("bücher.example"))
        self.assertTrue(isDomain("bücher.example", utf8=True))
        self.assertFalse(isDomain("-bücher.example", utf8=True))
        self.assertTrue(isAddressLiteral("[IPv6:1:2:3:4:5:6:7:8]"))
        self.assertTrue(isAddressLiteral("[IPv6:1:2:3:4:5:6:1.2.3.4]"))
        self.assertFalse(isAddressLiteral("[IPv6:1:2:3:4:5:6::1.2.3.4]"))
        self.assertFalse(isAddressLiteral("[IPv6:zz]"))
        self.assertFalse(isAddressLiteral("192.0.2.1"))

    def test_sourceRoutesAreDropped(self) -> None:
        """RFC 5321 4.1.1.3: accepted, and ignored."""
        self.assertEqual(stripSourceRoute(b"@a,@b.c:user@d"), b"user@d")
        self.assertIsNone(stripSourceRoute(b"@a,b:user@d"))
        self.assertEqual(mailFrom(b"FROM:<@relay.example:a@b>"), MailFrom(b"a@b"))

    def test_pathsEndAtTheirBracketOutsideQuotes(self) -> None:
        self.assertEqual(splitPath(b'<"a>b"@c> X'), (b'"a>b"@c', b" X"))
        self.assertIsNone(splitPath(b"<a<b@c>"))
        self.assertIsNone(splitPath(b"a@b"))
        self.assertEqual(parseRcptTo(b"TO:<Postmaster>"), RcptTo(b"Postmaster"))


class ParameterTests(SynchronousTestCase):
    def test_repeatedParametersAre501(self) -> None:
        """Recognised (so not 555, RFC 5321 4.1.1.11), but which counts?"""
        for line, key in [
            (b"FROM:<a@b> SIZE=10 SIZE=20", "SIZE"),
            (b"FROM:<a@b> BODY=7BIT body=8BITMIME", "BODY"),
            (b"FROM:<a@b> SMTPUTF8 SMTPUTF8", "SMTPUTF8"),
        ]:
            self.assertEqual(
                mailFrom(line), Reply(501, (f"5.5.4 duplicate parameter {key}",))
            )

    def test_smtpUTF8TakesNoValue(self) -> None:
        self.assertEqual(
            mailFrom(b"FROM:<a@b> SMTPUTF8=yes"),
            Reply(501, ("5.5.4 SMTPUTF8 takes no value",)),
        )
        self.assertEqual(mailFrom(b"FROM:<> smtputf8"), MailFrom(b"", True))

    def test_startTLSAfterHELOIs503(self) -> None:
        """RFC 3207 4 and RFC 5321 2.2.1: STARTTLS needs EHLO."""
        self.assertEqual(
            parse(b"STARTTLS", extended=False, tlsOffered=True),
            Reply(503, ("5.5.1 send EHLO first: STARTTLS is an ESMTP extension",)),
        )

    @given(st.binary(max_size=600))
    def test_noReplyCarriesAControlByte(self, line: bytes) -> None:
        """Whatever a line holds, its reply has no control byte."""
        for extended in (False, True):
            parsed = parse(b"MAIL FROM:<a@b> " + line, extended=extended)
            if isinstance(parsed, Reply):
                for out in parsed.lines():
                    self.assertFalse(hasControl(out), out)

    @given(st.text())
    def test_repliesEscapeControlCharacters(self, text: str) -> None:
        [line] = Reply(250, (text,)).lines()
        self.assertFalse(hasControl(line), line)
        if text.isprintable():
            self.assertEqual(line, b"250 " + text.encode("utf-8", "replace"))


def parse(
    line: bytes, extended: bool = True, tlsOffered: bool = False
) -> Command | Reply:
    return parseCommand(
        line,
        extended=extended,
        maxMessageSize=SIZE,
        tlsOffered=tlsOffered,
        secure=False,
    )


def mailFrom(argument: bytes) -> MailFrom | Reply:
    return parseMailFrom(argument, extended=True, maxMessageSize=SIZE)


class MachineTests(SynchronousTestCase):
    """The receiver: what it stores, replies and logs."""

    @settings(max_examples=30)
    @given(
        st.one_of(domains, addressLiterals),
        st.one_of(mailboxes, utf8Mailboxes),
        st.lists(st.one_of(mailboxes, utf8Mailboxes), min_size=1, max_size=3),
    )
    def test_storedByteExact(
        self, name: str, sender: bytes, recipients: list[bytes]
    ) -> None:
        wire, box = session()
        wire.sendBytes(
            b"EHLO "
            + name.encode()
            + b"\r\nMAIL FROM:<"
            + sender
            + b"> SMTPUTF8\r\n"
            + b"".join(b"RCPT TO:<" + r + b">\r\n" for r in recipients)
            + b"DATA\r\nhi\r\n.\r\nQUIT\r\n"
        )
        self.assertEqual(wire.received()[-2][:4], b"250 ", wire.received())
        [envelope] = box.envelopes
        self.assertEqual(
            (envelope.clientName, envelope.sender, envelope.recipients),
            (name, sender, tuple(recipients)),
        )
        self.assertEqual(envelope.protocol, "UTF8SMTP")
        written = headers(envelope, "id")
        self.assertIn(b"Return-Path: <" + sender + b">\r\n", written)
        self.assertFalse(hasControl(written.replace(b"\r\n", b"").replace(b"\t", b"")))

    def test_smtpUTF8LastsOneTransaction(self) -> None:
        wire, box = session()
        wire.sendBytes(
            "EHLO x\r\nMAIL FROM:<pelé@b> SMTPUTF8\r\nRSET\r\n"
            "MAIL FROM:<a@b>\r\nRCPT TO:<zoë@d>\r\n".encode()
        )
        self.assertEqual(
            wire.received()[-3:],
            [
                b"250 2.0.0 OK",
                b"250 2.1.0 sender OK",
                b"553 5.6.7 a non-ASCII recipient needs SMTPUTF8",
            ],
        )

    def test_theAttackStoresNothingAndLogsNoControlByte(self) -> None:
        """Issue 27's session: every line refused, no control byte out."""
        wire, box = session(tlsOptions="the options")
        attack = [
            b"EHLO a) by trusted.example (x",
            b"HELO ev\x00il",
            b"EHLO x\tReceived:",
            b"HELO x",
            b"STARTTLS",
            b"MAIL FROM:<a\x01\x7f@b>",
            b"MAIL FROM:<\xff\xfe@b>",
            b"MAIL FROM:<a@b> FOO=\x1b[2J",
            b"MAIL FROM:<>",
            b"RCPT TO:<c\x00@d>",
            b"RCPT TO:<\xc3\xa9@d>",
            b"DATA",
        ]
        with capturedLogs() as events:
            wire.sendBytes(b"".join(line + b"\r\n" for line in attack))
        replies = wire.received()
        self.assertEqual(
            [line[:4] for line in replies],
            [
                b"220 ",
                b"501 ",
                b"501 ",
                b"501 ",
                b"250 ",
                b"503 ",
                b"553 ",
                b"553 ",
                b"555 ",
                b"250 ",
                b"553 ",
                b"553 ",
                b"503 ",
            ],
        )
        for line in replies:
            self.assertFalse(hasControl(line), line)
        for event in events:
            self.assertFalse(hasControl((formatEvent(event) or "").encode()), event)
        self.assertEqual(box.envelopes, [])
