"""
The SMTP receiver: the protocol through its real adapter (every reply, in
order, however the commands arrive), end to end with Python's own
``smtplib`` against ``txmachines serve smtp``, and the deadline on a whole
message's text (``dataTimeout``, RFC 5321 4.5.3.2's ten minutes).
"""

from __future__ import annotations

import concurrent.futures
import mailbox
import math
import shutil
import smtplib
import socket
import ssl
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from protocols.adapter import MachineAdapter
from protocols.maildir import Maildir
from protocols.server import MachineServerFactory
from statemachines.framing import LineFramer
from statemachines.smtp import DEFAULT_DATA_TIMEOUT, Envelope, SMTPMachine
from statemachines.testing import unhandledPairs

from .certificates import Authority
from .helpers import TIMEOUT, Wire, serveInSubprocess
from .protocols.test_adapter import FakeTLSTransport


class ListMailbox:
    """A mailbox in memory: ``envelopes``, and ``texts`` (committed only)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.texts: list[bytes] = []
        self.drafts: list[ListDraft] = []
        self.failing = False

    def begin(self, envelope: Envelope) -> ListDraft:
        draft = ListDraft(self, envelope)
        self.drafts.append(draft)
        return draft


class ListDraft:
    def __init__(self, box: ListMailbox, envelope: Envelope) -> None:
        self.box, self.envelope = box, envelope
        self.pieces: list[bytes] = []
        self.aborted = False

    def write(self, text: bytes) -> None:
        self.pieces.append(text)

    def commit(self) -> str:
        if self.box.failing:
            raise OSError("disk full")
        self.box.envelopes.append(self.envelope)
        self.box.texts.append(b"".join(self.pieces))
        return f"id{len(self.box.envelopes)}"

    def abort(self) -> None:
        self.aborted = True


def session(**options: object) -> tuple[Wire[SMTPMachine], ListMailbox]:
    box = ListMailbox()
    wire: Wire[SMTPMachine] = Wire(SMTPMachine, mailbox=box, **options)
    return wire, box


def codes(wire: Wire[SMTPMachine]) -> list[bytes]:
    return [line[:4] for line in wire.received()]


TRANSACTION = (
    b"EHLO client.example\r\n"
    b"MAIL FROM:<a@example.com> SIZE=20 BODY=8BITMIME\r\n"
    b"RCPT TO:<b@example.com>\r\n"
    b"RCPT TO:<c@example.com>\r\n"
    b"DATA\r\n"
    b"Subject: hi\r\n\r\n..leading dot\r\n\xff 8 bit\r\n.\r\n"
    b"QUIT\r\n"
)
TRANSACTION_CODES = [b"220 "]
TRANSACTION_CODES += [b"250-"] * 5 + [b"250 "] + [b"250 "] * 3 + [b"354 "]
TRANSACTION_CODES += [b"250 ", b"221 "]


class ProtocolTests(SynchronousTestCase):
    def test_everyPairDecided(self) -> None:
        self.assertEqual(unhandledPairs(SMTPMachine), [])

    def test_aTransaction(self) -> None:
        wire, box = session()
        wire.sendBytes(TRANSACTION)
        self.assertEqual(codes(wire), TRANSACTION_CODES)
        [envelope] = box.envelopes
        self.assertEqual(envelope.sender, b"a@example.com")
        self.assertEqual(envelope.recipients, (b"b@example.com", b"c@example.com"))
        self.assertEqual(
            box.texts, [b"Subject: hi\r\n\r\n.leading dot\r\n\xff 8 bit\r\n"]
        )
        self.assertEqual(
            (envelope.clientName, envelope.protocol), ("client.example", "ESMTP")
        )
        self.assertTrue(wire.transport.disconnecting)

    @settings(max_examples=100, deadline=None)
    @given(cuts=st.lists(st.integers(0, len(TRANSACTION)), max_size=8))
    def test_pipelinedUnderAnySplit(self, cuts: list[int]) -> None:
        wire, box = session()
        points = sorted({0, len(TRANSACTION), *cuts})
        for a, b in zip(points, points[1:], strict=False):
            wire.sendBytes(TRANSACTION[a:b])
        self.assertEqual(codes(wire), TRANSACTION_CODES)
        self.assertEqual(len(box.envelopes), 1)

    def test_sequenceErrorsAre503FromTheTable(self) -> None:
        wire, box = session()
        for line, reply in [
            (b"MAIL FROM:<a@b>", b"503 5.5.1 send EHLO or HELO first"),
            (b"RCPT TO:<a@b>", b"503 5.5.1 need MAIL command first"),
            (b"DATA", b"503 5.5.1 need MAIL command first"),
            (b"HELO me", b"250 localhost greets me [192.168.1.1]"),
            (b"RCPT TO:<a@b>", b"503 5.5.1 need MAIL command first"),
            (b"MAIL FROM:<>", b"250 2.1.0 sender OK"),
            (b"DATA", b"503 5.5.1 need RCPT command first"),
            (b"MAIL FROM:<x@y>", b"503 5.5.1 nested MAIL command"),
            (b"RSET", b"250 2.0.0 OK"),
            (b"DATA", b"503 5.5.1 need MAIL command first"),
        ]:
            wire.received()
            wire.send(line)
            self.assertEqual(wire.received()[-1:], [reply], line)
        self.assertFalse(wire.transport.disconnecting)
        self.assertEqual(box.envelopes, [])

    def assertAnswers(
        self, wire: Wire[SMTPMachine], exchanges: list[tuple[bytes, bytes]]
    ) -> None:
        """Each line gets exactly its reply, and the connection stays open."""
        for line, reply in exchanges:
            wire.send(line)
            self.assertEqual(wire.received(), [reply], line)
        self.assertFalse(wire.transport.disconnecting)

    def test_commandsAreReadWithWhatTheSessionOffers(self) -> None:
        """
        The parser (``test_smtpcommands``) answers what the state does not
        decide, knowing what this session offers: MAIL FROM's parameters
        after EHLO only, SIZE within ``maxMessageSize``, STARTTLS and HELP
        as TLS is configured.
        """
        wire, _ = session(maxMessageSize=100)
        wire.received()
        exchanges = [
            (b"FROB", b"500 5.5.2 command not recognized"),
            (b"HELO x", b"250 localhost greets x [192.168.1.1]"),
            (
                b"MAIL FROM:<a@b> SIZE=10",
                b"555 5.5.4 MAIL FROM parameters need EHLO, not HELO",
            ),
            (b"STARTTLS", b"502 5.5.1 STARTTLS not available"),
            (b"NOOP " + b"x" * 600, b"500 5.5.2 line too long"),
        ]
        self.assertAnswers(wire, exchanges)
        wire.send(b"EHLO x")
        self.assertIn(b"250-SIZE 100", wire.received())
        exchanges = [
            (
                b"MAIL FROM:<a@b> SIZE=101",
                b"552 5.3.4 message size exceeds fixed maximum",
            ),
            (b"MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME", b"250 2.1.0 sender OK"),
        ]
        self.assertAnswers(wire, exchanges)

    def test_peerBytesNeverBecomeTracebacksOrInjectedLines(self) -> None:
        wire, _ = session(bareLF="accept")  # reject: tests/test_smtpframing.py
        wire.received()
        exchanges = [
            (b"EHLO x\nMAIL FROM:<evil>", b"500 5.5.2 bare CR or LF in a command"),
            (b"HELO x", b"250 localhost greets x [192.168.1.1]"),
            (
                b"MAIL FROM:<a@b> \xff",
                b"555 5.5.4 MAIL FROM parameters need EHLO, not HELO",
            ),
        ]
        self.assertAnswers(wire, exchanges)

    def test_thousandPipelinedTransactionsInOneRead(self) -> None:
        wire, box = session()
        one = b"MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n.\r\n"
        wire.sendBytes(b"EHLO x\r\n" + one * 1000 + b"QUIT\r\n")
        self.assertEqual(len(box.envelopes), 1000)
        replies = codes(wire)
        self.assertEqual(replies.count(b"354 "), 1000)
        self.assertEqual(replies[-1], b"221 ")

    def test_commandLinesHaveOneLimitFromTheStart(self) -> None:
        wire, _ = session()
        wire.received()
        with capturedLogs():
            wire.send(b"NOOP " + b"x" * 5000)
        self.assertEqual(codes(wire), [b"421 "])
        self.assertTrue(wire.transport.disconnecting)

    def test_refusedConnectionsGet421(self) -> None:
        factory = MachineServerFactory(
            lambda: SMTPMachine(Clock(), ListMailbox()),
            maxPerPeer=1,
            clock=Clock(),
            refusal=SMTPMachine.refusal,
        )
        peer = IPv4Address("TCP", "127.0.0.1", 1)
        factory.buildProtocol(peer).makeConnection(StringTransport())
        transport = StringTransport()
        with capturedLogs():
            factory.buildProtocol(peer).makeConnection(transport)
        self.assertEqual(
            transport.value(),
            b"421 4.7.0 too many connections from your address, try again later\r\n",
        )

    def test_oversizedBodyIs552AndTheConnectionStaysUsable(self) -> None:
        wire, box = session(maxMessageSize=100)
        wire.sendBytes(b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        wire.received()
        wire.sendBytes(b"x" * 70 + b"\r\n" + b"y" * 70 + b"\r\n.\r\nNOOP\r\n")
        self.assertEqual(
            wire.received(),
            [b"552 5.3.4 message size exceeds fixed maximum", b"250 2.0.0 OK"],
        )
        self.assertEqual(box.envelopes, [])
        self.assertEqual(wire.machine.state, "receiving")

    def test_tooManyRecipients(self) -> None:
        wire, box = session(maxRecipients=2)
        wire.sendBytes(b"EHLO c\r\nMAIL FROM:<a@b>\r\n")
        wire.received()
        for _ in range(3):
            wire.send(b"RCPT TO:<x@y>")
        self.assertEqual(codes(wire), [b"250 ", b"250 ", b"452 "])

    def test_storeFailureIs451AndTheClientMayRetry(self) -> None:
        wire, box = session()
        box.failing = True
        with capturedLogs() as events:
            wire.sendBytes(TRANSACTION.replace(b"QUIT\r\n", b""))
        self.assertEqual(codes(wire)[-1], b"451 ")
        self.assertEqual([e.get("what") for e in events if "what" in e], ["store"])
        box.failing = False
        wire.sendBytes(TRANSACTION[TRANSACTION.index(b"MAIL") :])
        self.assertEqual(codes(wire)[-2:], [b"250 ", b"221 "])
        self.assertEqual(len(box.envelopes), 1)

    def test_aFailedWriteIs451OnceAndTheSessionGoesOn(self) -> None:
        wire, box = session()

        def full(text: bytes) -> None:
            raise OSError(28, "No space left on device")

        wire.sendBytes(TRANSACTION[: TRANSACTION.index(b"Subject")])
        box.drafts[-1].write = full  # type: ignore[method-assign]
        with capturedLogs() as events:
            wire.sendBytes(
                TRANSACTION[TRANSACTION.index(b"Subject") :].replace(b"QUIT", b"NOOP")
            )
        self.assertEqual(codes(wire)[-2:], [b"451 ", b"250 "])
        self.assertTrue(box.drafts[-1].aborted)
        # The disk's errors are one line each, not a traceback:
        [event] = [e for e in events if "could not {what}" in e["log_format"]]
        self.assertEqual(
            (event["what"], str(event["why"])),
            ("write", "[Errno 28] No space left on device"),
        )
        self.assertNotIn("log_failure", event)
        self.assertFalse(wire.transport.disconnecting)

    def test_lostInTheMiddleOfDataStoresNothing(self) -> None:
        wire, box = session()
        wire.sendBytes(TRANSACTION[: TRANSACTION.index(b"\xff")])
        self.assertEqual(wire.machine.state, "data")
        with capturedLogs():
            wire.lose(Failure(ConnectionLost()))
        self.assertEqual(box.envelopes, [])
        self.assertEqual(wire.machine.state, "closed")

    def test_halfCloseInTheMiddleOfDataStoresNothing(self) -> None:
        wire, box = session()
        wire.sendBytes(TRANSACTION[: TRANSACTION.index(b"\xff")])
        wire.adapter.readConnectionLost()
        self.assertEqual(box.envelopes, [])
        self.assertTrue(wire.transport.disconnecting)

    def test_shutdownSays421(self) -> None:
        for before in (b"", b"EHLO x\r\n", b"EHLO x\r\nMAIL FROM:<>\r\n"):
            wire, box = session()
            wire.sendBytes(before)
            wire.received()
            wire.machine.close()  # the server is stopping
            self.assertEqual(codes(wire), [b"421 "])
            self.assertTrue(wire.transport.disconnecting)

    def test_idleTimeoutIs421(self) -> None:
        wire, _ = session(idleTimeout=300)
        wire.received()
        wire.advance(300)
        self.assertEqual(codes(wire), [b"421 "])
        self.assertTrue(wire.transport.disconnecting)

    def test_idleTimeoutCountsFromTheLastCommandNotTheLastByte(self) -> None:
        wire, _ = session(idleTimeout=300)
        wire.sendBytes(b"EHLO x\r\n")
        wire.received()
        for _ in range(299):  # a byte a second, never a whole command
            wire.advance(1)
            wire.sendBytes(b"N")
        self.assertFalse(wire.transport.disconnecting)
        wire.advance(1)
        self.assertEqual(codes(wire), [b"421 "])
        self.assertTrue(wire.transport.disconnecting)

    def test_aCommandOrTextRestartsTheIdleTimeout(self) -> None:
        wire, _ = session(idleTimeout=300, dataTimeout=0)
        wire.sendBytes(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
        for command in (b"NOOP\r\n", b"DATA\r\n", b"text\r\n", b"more\r\n"):
            wire.advance(299)
            wire.sendBytes(command)
        wire.advance(299)
        self.assertFalse(wire.transport.disconnecting)
        wire.advance(1)
        self.assertEqual(codes(wire)[-1:], [b"421 "])

    def test_aTLSHandshakeMustFinishWithinTheIdleTimeout(self) -> None:
        clock = Clock()
        machine = SMTPMachine(
            clock, ListMailbox(), tlsOptions="the options", idleTimeout=300
        )
        adapter = MachineAdapter(machine, LineFramer())
        transport = FakeTLSTransport()
        adapter.makeConnection(transport)
        adapter.dataReceived(b"EHLO x\r\nSTARTTLS\r\n")
        self.assertEqual(
            (transport.started, machine.state), (["the options"], "startingTLS")
        )
        for _ in range(299):  # whatever arrives meanwhile
            clock.advance(1)
            adapter.dataReceived(b"\x16")
        self.assertEqual(machine.state, "startingTLS")
        with capturedLogs():
            clock.advance(1)
        self.assertEqual(machine.state, "closing")

    def test_inTheTextTheIdleTimeoutCountsFromTheLastRead(self) -> None:
        wire, box = session(idleTimeout=30)
        wire.sendBytes(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        wire.received()
        for piece in (b"one\r\n", b"two\r\n"):
            wire.advance(29)  # each read starts the text's timer over
            wire.sendBytes(piece)
        wire.advance(29)
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs() as events:
            wire.advance(1)
        self.assertEqual(codes(wire), [b"421 "])
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(box.texts, [])
        self.assertIn(
            "closing: idle for 30 s",
            [formatEvent(e).partition(">")[2].strip() for e in events],
        )

    def test_afterTheTextTheCommandTimerStartsAfresh(self) -> None:
        wire, box = session(idleTimeout=300, dataTimeout=30)
        wire.sendBytes(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        wire.advance(20)
        wire.sendBytes(b"text\r\n.\r\n")
        self.assertEqual(box.texts, [b"text\r\n"])
        wire.advance(299)  # the command timer, from the end of the text
        self.assertFalse(wire.transport.disconnecting)
        wire.advance(1)
        self.assertTrue(wire.transport.disconnecting)

    def test_overLongGarbageEndsWith421(self) -> None:
        wire, _ = session()
        wire.received()
        with capturedLogs():
            wire.sendBytes(b"x" * 20000)
        self.assertEqual(codes(wire), [b"421 "])
        self.assertTrue(wire.transport.disconnecting)


class SMTPLibTests(SynchronousTestCase):
    """``txmachines serve smtp`` in a process of its own; smtplib as the client."""

    def serve(self, *options: str) -> int:
        self.maildir = Path(self.mktemp())
        _, port = serveInSubprocess(
            self, "smtp", "--maildir", str(self.maildir), *options
        )
        return port

    def stored(self) -> list[bytes]:
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        return [box.get_bytes(key) for key in box.keys()]

    def body(self, stored: bytes) -> bytes:
        """The message as the client sent it: after our two headers."""
        lines = stored.split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"Return-Path: <"))
        end = 1
        while lines[end].startswith(b"Delivered-To: "):
            end += 1
        self.assertTrue(lines[end].startswith(b"Received: from "))
        end += 1
        while lines[end].startswith(b"\t"):
            end += 1
        return b"\r\n".join(lines[end:])

    def test_messagesPipelinedDotsAnd8Bit(self) -> None:
        port = self.serve()
        text = b"Subject: t\r\n\r\n.dot first\r\n..two dots\r\n.\r\n\xe9t\xe9 8 bit\r\n"
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            self.assertIn("pipelining", client.ehlo()[1].decode().lower())
            for _ in range(5):
                refused = client.sendmail("a@example.com", ["b@example.com"], text)
                self.assertEqual(refused, {})
            client.rset()
            self.assertEqual(client.noop()[0], 250)
        stored = self.stored()
        self.assertEqual(len(stored), 5)
        for message in stored:
            self.assertEqual(self.body(message), text)

    def test_tenMiBAndSizeLimits(self) -> None:
        port = self.serve("--max-message-size", "11MiB")
        big = b"Subject: big\r\n\r\n" + (b"y" * 1022 + b"\r\n") * 10240
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            client.sendmail("a@b", ["c@d"], big)
            with self.assertRaises(smtplib.SMTPSenderRefused) as caught:
                client.sendmail(
                    "a@b", ["c@d"], big + big, mail_options=["SIZE=99999999"]
                )
            self.assertEqual(caught.exception.smtp_code, 552)
            # Without a declared size, the body itself is refused, after the dot:
            self.assertEqual(client.mail("a@b")[0], 250)
            self.assertEqual(client.rcpt("c@d")[0], 250)
            self.assertEqual(client.data(big + big)[0], 552)
            self.assertEqual(client.noop()[0], 250)
        [stored] = self.stored()
        self.assertEqual(self.body(stored), big)

    def test_sequenceErrorsFromSmtplib(self) -> None:
        port = self.serve()
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            self.assertEqual(client.docmd("RCPT TO:<a@b>")[0], 503)
            self.assertEqual(client.docmd("DATA")[0], 503)
            client.ehlo()
            self.assertEqual(client.docmd("MAIL FROM:<a@b>")[0], 250)
            self.assertEqual(client.docmd("RSET")[0], 250)
            self.assertEqual(client.docmd("RCPT TO:<a@b>")[0], 503)

    def test_disconnectInTheMiddleOfDataStoresNothing(self) -> None:
        port = self.serve()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as peer:
            peer.sendall(
                b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhalf a mess"
            )
            replies = b""
            while not replies.endswith(b"354 end data with <CR><LF>.<CR><LF>\r\n"):
                replies += peer.recv(1000)
        with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as client:
            client.sendmail("a@b", ["c@d"], b"after\r\n")
        [stored] = self.stored()
        self.assertEqual(self.body(stored), b"after\r\n")

    def test_startTLS(self) -> None:
        here = Path(self.mktemp())
        authority = Authority.create(here / "ca")
        pem = authority.issue(here / "server.pem", "localhost")
        port = self.serve("--tls-key", str(pem), "--tls-cert", str(pem))
        context = ssl.create_default_context(
            cafile=str(authority.trustRoots / "ca.pem")
        )
        with smtplib.SMTP("localhost", port, timeout=TIMEOUT) as client:
            client.ehlo()
            self.assertTrue(client.has_extn("starttls"))
            client.starttls(context=context)
            client.ehlo()
            self.assertFalse(client.has_extn("starttls"))
            self.assertEqual(client.docmd("STARTTLS")[0], 503)
            client.sendmail("a@b", ["c@d"], b"secret\r\n")
        [stored] = self.stored()
        self.assertIn(b"with ESMTPS", stored)

    def test_swaks(self) -> None:
        """A real client nobody here wrote, pipelining, dots and all."""
        swaks = shutil.which("swaks")
        if swaks is None:
            raise SkipTest("swaks is not installed (apt-get install swaks)")
        port = self.serve()
        result = subprocess.run(
            [swaks, "--server", f"127.0.0.1:{port}", "--pipeline"]
            + ["--from", "a@example.com", "--to", "b@example.com,c@example.com"]
            + ["--body", ".starts with a dot\n..two"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-2000:])
        self.assertIn(b"<-  250 2.0.0 OK queued as", result.stdout)
        [stored] = self.stored()
        self.assertIn(b"\r\n.starts with a dot\r\n..two\r\n", self.body(stored))

    def test_swaksWithSTARTTLS(self) -> None:
        swaks = shutil.which("swaks")
        if swaks is None:
            raise SkipTest("swaks is not installed (apt-get install swaks)")
        here = Path(self.mktemp())
        authority = Authority.create(here / "ca")
        pem = authority.issue(here / "server.pem", "localhost")
        port = self.serve("--tls-key", str(pem), "--tls-cert", str(pem))
        result = subprocess.run(
            [swaks, "--server", f"localhost:{port}", "--tls", "--pipeline"]
            + ["--tls-ca-path", str(authority.trustRoots / "ca.pem"), "--tls-verify"]
            + ["--from", "a@example.com", "--to", "b@example.com"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-2000:] + result.stderr)
        self.assertIn(b"TLS started", result.stdout)
        [stored] = self.stored()
        self.assertIn(b"with ESMTPS", stored)

    def test_fiftyClientsTwentyMessagesEach(self) -> None:
        port = self.serve()

        def send(client: int) -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT) as smtp:
                for i in range(20):
                    smtp.sendmail(
                        "a@b", ["c@d"], b"client %d message %d\r\n" % (client, i)
                    )

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            list(pool.map(send, range(50)))
        bodies = sorted(self.body(m) for m in self.stored())
        expected = sorted(
            b"client %d message %d\r\n" % (c, i) for c in range(50) for i in range(20)
        )
        self.assertEqual(bodies, expected)


HEAD = b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"


def messages(events: list[dict[str, object]]) -> list[str]:
    return [formatEvent(e).partition(">")[2].strip() for e in events]


class DataDeadlineTests(SynchronousTestCase):
    def test_tenMinutesByDefault(self) -> None:
        self.assertEqual(DEFAULT_DATA_TIMEOUT, 600)
        machine = SMTPMachine(Clock(), ListMailbox(), idleTimeout=None)
        self.assertEqual(machine.dataTimeout, 600)
        for off in (0, None):
            machine = SMTPMachine(Clock(), ListMailbox(), dataTimeout=off)
            self.assertIsNone(machine.dataTimeout)
        for bad in (-1, math.nan, math.inf, "600"):
            with self.assertRaises(ValueError) as caught:
                SMTPMachine(Clock(), ListMailbox(), dataTimeout=bad)  # type: ignore[arg-type]
            self.assertIn("dataTimeout", str(caught.exception))

    def test_aTrickleCannotHoldTheText(self) -> None:
        """
        A byte a second restarts the idle timer (5 s) every time, but not
        the deadline of the whole text: 421 at 600 s, nothing stored.
        """
        wire, box = session(idleTimeout=5)
        wire.sendBytes(HEAD)
        wire.received()
        for _ in range(599):
            wire.advance(1)
            wire.sendBytes(b"x")
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs() as events:
            wire.advance(1)
        self.assertEqual(
            wire.received(), [b"421 4.4.2 localhost timeout, closing connection"]
        )
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.machine.state, "closing")
        self.assertEqual(box.texts, [])
        self.assertTrue(box.drafts[0].aborted)  # at once, not when the peer goes
        self.assertIn(
            "closing: the text did not all arrive within 600 s", messages(events)
        )

    def test_itCountsFromDataNotFromTheSession(self) -> None:
        wire, box = session(idleTimeout=300, dataTimeout=30)
        wire.sendBytes(b"EHLO x\r\n")
        wire.advance(200)
        wire.sendBytes(HEAD[8:])
        wire.advance(29)
        wire.sendBytes(b"text\r\n.\r\n")
        self.assertEqual(box.texts, [b"text\r\n"])
        wire.sendBytes(HEAD[8:])  # the next message: a deadline of its own
        wire.advance(29)
        self.assertFalse(wire.transport.disconnecting)
        with capturedLogs():
            wire.advance(1)
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(len(box.texts), 1)

    def test_offMeansOnlyTheIdleTimeout(self) -> None:
        wire, box = session(idleTimeout=5, dataTimeout=0)
        wire.sendBytes(HEAD)
        for _ in range(1000):
            wire.advance(4)
            wire.sendBytes(b"x")
        wire.sendBytes(b"\r\n.\r\n")
        self.assertEqual(box.texts, [b"x" * 1000 + b"\r\n"])
        self.assertFalse(wire.transport.disconnecting)

    def test_nothingIsLeftInTheMaildir(self) -> None:
        path = Path(self.mktemp())
        wire: Wire[SMTPMachine] = Wire(
            SMTPMachine, mailbox=Maildir(path), idleTimeout=5, dataTimeout=20
        )
        wire.sendBytes(HEAD)
        for _ in range(19):
            wire.advance(1)
            wire.sendBytes(b"y" * 100)
        self.assertNotEqual(list((path / "tmp").iterdir()), [])  # the draft
        with capturedLogs():
            wire.advance(1)
        self.assertTrue(wire.transport.disconnecting)
        for sub in ("tmp", "new", "cur"):
            self.assertEqual(list((path / sub).iterdir()), [], sub)
