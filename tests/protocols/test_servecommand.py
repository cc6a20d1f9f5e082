"""``txmachines serve``, run as a user would, in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ..helpers import COMMAND, ROOT, TIMEOUT, serveInSubprocess


class ServeTests(SynchronousTestCase):
    def serve(self, *args: str) -> tuple[subprocess.Popen[bytes], int]:
        return serveInSubprocess(self, *args)

    def connect(
        self, port: int, *args: str, stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            COMMAND + ["connect", *args, "--connect", f"tcp:127.0.0.1:{port}"],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
        )

    def stopWith(self, proc: subprocess.Popen[bytes], signum: int) -> bytes:
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, rest)
        return rest

    def test_echoServerAndClient(self) -> None:
        proc, port = self.serve("echo")
        result = self.connect(port, "echo", stdin=b"hello\nw\xc3\xb6rld\n\nlast")
        self.assertEqual(
            (result.returncode, result.stdout),
            (0, b"hello\nw\xc3\xb6rld\n\nlast\n"),
            result.stderr,
        )
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"raw\r\n")
            self.assertEqual(sock.recv(100), b"raw\r\n")
            rest = self.stopWith(proc, signal.SIGINT)
            self.assertEqual(sock.recv(100), b"")  # closed by the server
        self.assertIn(b"stopped; connections closed: 1", rest)

    def test_greetingServerAndClient(self) -> None:
        proc, port = self.serve("greeting", "--framing", "netstring")
        result = self.connect(
            port, "greeting", "--framing", "netstring", stdin=b"Bob\nhow are you\n"
        )
        self.assertEqual(
            (result.returncode, result.stdout),
            (0, b"Hello, Bob!\nhow are you\n"),
            result.stderr,
        )
        result = self.connect(
            port, "greeting", "--framing", "netstring", "--name", " ", stdin=b""
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"refused the name: name is empty", result.stderr)
        self.stopWith(proc, signal.SIGTERM)


class ServeYourOwnMachineTests(SynchronousTestCase):
    """``txmachines serve MODULE:NAME`` from the directory the module is in."""

    MODULE = (
        "from statemachines import EchoMachine\n"
        "\n"
        "class Upper(EchoMachine):\n"
        "    def onMessage(self, message: bytes) -> None:\n"
        "        self.send(message.upper())\n"
        "\n"
        "def make(clock, **options):\n"
        "    return Upper(clock, **options)\n"
        "\n"
        "def needsMore(clock, colour):\n"
        "    return Upper(clock)\n"
        "\n"
        "class NotAMachine:\n"
        "    pass\n"
        "\n"
        "from statemachines import LineFramer\n"
        "\n"
        "class Semicolons(LineFramer):\n"
        "    def __init__(self, maxLength):\n"
        "        super().__init__(maxLength, delimiter=b';')\n"
        "\n"
        "def notAFramer(maxLength):\n"
        "    return object()\n"
    )
    STUCK = (
        "from statemachines import EchoMachine, Machine, inherited\n"
        "\n"
        "class Stuck(EchoMachine):\n"
        "    _machine = Machine()\n"
        "    parent = inherited(_machine, EchoMachine)\n"
        "\n"
        "    @_machine.state()\n"
        "    def waiting(self) -> None:\n"
        "        'Outside the lifecycle.'\n"
        "\n"
        "    parent.connected.upon(parent.messageReceived, enter=waiting)\n"
    )

    def setUp(self) -> None:
        self.here = Path(self.mktemp()).absolute()
        self.here.mkdir()
        (self.here / "mymachines.py").write_text(self.MODULE)
        (self.here / "stuck.py").write_text(self.STUCK)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def test_classAndFactoryServe(self) -> None:
        for target in ("mymachines:Upper", "mymachines:make"):
            self.assertEqual(
                self.serveOnce([target], b"shout\r\n"), b"SHOUT\r\n", target
            )

    def test_userFraming(self) -> None:
        self.assertEqual(
            self.serveOnce(
                ["mymachines:Upper", "--framing", "mymachines:Semicolons"],
                b"a\r\nb;c;",
            ),
            b"A\r\nB;C;",
        )

    def serveOnce(self, args: list[str], send: bytes) -> bytes:
        """Serve with ``args``; one peer sends ``send`` then half-closes."""
        _, port = serveInSubprocess(self, *args, cwd=self.here, env=self.env)
        with socket.create_connection(("127.0.0.1", port)) as peer:
            peer.sendall(send)
            peer.shutdown(socket.SHUT_WR)
            return peer.makefile("rb").read()

    def test_badTargetsAreOneLine(self) -> None:
        for target, fragment in (
            ("mymachines:Nope", "has no 'Nope'"),
            ("nomodule:Upper", "cannot import 'nomodule'"),
            ("mymachines:NotAMachine", "is not a ConnectionMachine"),
            ("mymachines:needsMore", "cannot be called as NAME(clock"),
            ("bogus", "is not of the form"),
            ("stuck:Stuck", "state 'waiting' does not handle input"),
            ("echo --framing smoke", "unknown framing 'smoke'"),
            ("echo --framing mymachines:Nope", "has no 'Nope'"),
            ("echo --framing mymachines:NotAMachine", "NotAMachine() takes no arg"),
            ("echo --framing mymachines:notAFramer", "object is not a framer"),
            ("echo --framing mymachines:needsMore", "--framing: calling it"),
        ):
            result = subprocess.run(
                COMMAND + ["serve", *target.split()],
                capture_output=True,
                timeout=TIMEOUT,
                cwd=self.here,
                env=self.env,
            )
            lines = result.stderr.decode().splitlines()
            self.assertEqual((result.returncode, len(lines)), (2, 1), lines)
            self.assertIn(fragment, lines[0])
            if ":" in target:  # a MODULE:NAME meant no shipped protocol
                self.assertNotIn("give echo, greeting", lines[0])
