"""The README's examples run, and do what the README says."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from statemachines.testing import TransitionRecorder, unhandledPairs

from .helpers import Wire

README = Path(__file__).parent.parent / "README.md"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def readmeNamespace() -> dict[str, Any]:
    """Run the README's Python blocks that define machines or functions
    (those with a ``class`` or ``def``; the others are usage sketches)."""
    namespace: dict[str, Any] = {}
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    for block in blocks:
        if re.search(r"^(class|def) ", block, re.M):
            exec(compile(block, str(README), "exec", dont_inherit=True), namespace)
    return namespace


class ReadmeTests(SynchronousTestCase):
    def test_shout(self) -> None:
        wire = Wire(readmeNamespace()["ShoutMachine"])
        wire.send(b"hey")
        self.assertEqual(wire.received(), [b"HEY"])

    def test_passwordEcho(self) -> None:
        machineClass = readmeNamespace()["PasswordEchoMachine"]
        wire = Wire(machineClass)
        wire.send(b"hello", b"sesame", b"hello")
        self.assertEqual(
            wire.received(), [b"Error: say the password", b"Welcome.", b"hello"]
        )
        self.assertEqual(wire.machine.state, "receiving")
        self.assertEqual(unhandledPairs(machineClass), [])
        wire.machine.close()
        self.assertEqual(wire.machine.state, "closing")
        self.assertTrue(wire.transport.disconnecting)

    def test_digestProtocol(self) -> None:
        machineClass = readmeNamespace()["DigestMachine"]
        self.assertEqual(unhandledPairs(machineClass), [])
        stream = b"PUT 7\r\nab\r\ncd\nPUT 1\r\nxPUT\r\n"
        expected = [
            b"7 bytes from 192.168.1.1: sha256 " + sha256(b"ab\r\ncd\n"),
            b"1 bytes from 192.168.1.1: sha256 " + sha256(b"x"),
            b"Error: say PUT <size>, size 1 to 16777216",
        ]
        for cut in range(len(stream) + 1):
            wire = Wire(machineClass)
            wire.sendBytes(stream[:cut])
            wire.sendBytes(stream[cut:])
            self.assertEqual(wire.received(), expected, cut)
            self.assertEqual(wire.machine.state, "receiving")

    def test_digestDeclaresNoDeadTransition(self) -> None:
        """Each transition the example declares for a PUT is one a PUT takes."""
        machineClass = readmeNamespace()["DigestMachine"]
        declared = {
            (t.state, t.input, t.enter)
            for t in machineClass.blueprint.transitions.values()
            if t.input == "putRequested"
        }
        taken = set()
        for stream in (b"PUT 1\r\nx", b"hi\r\nPUT 1\r\nx"):  # first, or later
            wire = Wire(machineClass)
            with TransitionRecorder(wire.machine) as recorder:
                wire.sendBytes(stream)
            taken |= {(t.state, t.input, t.enter) for t in recorder.transitions}
        self.assertEqual(declared - taken, set())

    def test_digestAnswersAHalfClosingPeerThenCloses(self) -> None:
        machineClass = readmeNamespace()["DigestMachine"]
        for sent, reply in [
            (b"PUT 3\r\nabc", b"3 bytes from 192.168.1.1: sha256 " + sha256(b"abc")),
            (b"PUT 3\r\nab", None),  # mid-upload: closed, as open says
        ]:
            wire = Wire(machineClass)
            wire.sendBytes(sent)
            wire.adapter.readConnectionLost()
            self.assertEqual(wire.received(), [] if reply is None else [reply])
            self.assertTrue(wire.transport.disconnecting)
            self.assertEqual(wire.machine.state, "closing")

    def test_echoParentUnchanged(self) -> None:
        readmeNamespace()
        from statemachines.echo import EchoMachine

        self.assertNotIn("passwordAccepted", EchoMachine.blueprint.inputs)

    def test_servicesCompose(self) -> None:
        from twisted.internet.testing import MemoryReactorClock

        from protocols.client import EchoClient
        from protocols.server import Server

        reactor = MemoryReactorClock()
        application = readmeNamespace()["build"](reactor)
        server, client = list(application)
        self.assertIsInstance(server, Server)
        self.assertIsInstance(client, EchoClient)
        self.assertEqual(client.machine.state, "idle")  # start=False: not yet
        server.startService()
        [(port, factory, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (1234, "127.0.0.1"))
        self.assertIs(factory, server.factory)

    def test_testingExamplesRun(self) -> None:
        """Each as a user's own module: no name given, no __future__ inherited."""
        blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
        [wire] = [b for b in blocks if "from protocols.testing import Wire" in b]
        [table] = [b for b in blocks if "reachableStates(MyMachine)" in b]
        for block in (wire, table):
            code = compile(block, str(README), "exec", dont_inherit=True)
            exec(code, {"__name__": "users_module"})

    def test_commandsInReadmeMatchCI(self) -> None:
        text = README.read_text()
        self.assertIn("pip install . && txmachines serve echo", text)
        test_command = "python -m twisted.trial tests"
        self.assertIn(test_command, text)
        ci = (README.parent / ".ci" / "run").read_text()
        self.assertIn(test_command, ci)
