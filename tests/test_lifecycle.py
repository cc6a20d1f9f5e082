"""
The lifecycle declared once, on superstates: what the shipped machines
declare themselves, a user's state within the lifecycle served correctly, a
state outside it refused when its class is created, and no timer left
behind in any state once the connection is gone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    ConnectionMachine,
    EchoMachine,
    GreetingClientMachine,
    GreetingMachine,
    SMTPMachine,
    StateMachine,
)
from statemachines.testing import connected

from .helpers import Wire
from .test_smtp import ListMailbox

README = Path(__file__).parent.parent / "README.md"

LIFECYCLE = {
    "connectionMade",
    "dataArrived",
    "badFrame",
    "peerFinished",
    "connectionLost",
    "failed",
    "timeout",
    "secured",
    "closeRequested",
}
CLIENT_LIFECYCLE = {
    "start",
    "stop",
    "connectionFailed",
    "waiterAdded",
    "attemptsExhausted",
}


def ownLifecycleDeclarations(cls: type[StateMachine], inputs: set[str]) -> list[str]:
    """The transitions ``cls``'s own body declares on ``inputs``."""
    blueprint = cls.blueprint
    declared = [
        *blueprint.stateTransitions.values(),
        *blueprint.superTransitions.values(),
    ]
    return [
        f"{getattr(t, 'state', None) or t.superstate}.{t.input}"
        for t in declared
        if t.declaredBy == cls.__name__ and t.input in inputs
    ]


class TargetsTests(SynchronousTestCase):
    """The issue's targets, counted from each class's own declarations."""

    def test_smtpDeclaresAtMostSixLifecycleEdges(self) -> None:
        own = ownLifecycleDeclarations(SMTPMachine, LIFECYCLE)
        self.assertLessEqual(len(own), 6, own)

    def test_greetingClientAtMostFive(self) -> None:
        own = ownLifecycleDeclarations(
            GreetingClientMachine, LIFECYCLE | CLIENT_LIFECYCLE
        )
        self.assertLessEqual(len(own), 5, own)

    def test_readmeDigestMachineDeclaresNone(self) -> None:
        from .test_readme import readmeNamespace

        digest = readmeNamespace()["DigestMachine"]
        self.assertEqual(ownLifecycleDeclarations(digest, LIFECYCLE), [])

    def test_connectionMachineDeclaresItsLifecycleOnce(self) -> None:
        blueprint = ConnectionMachine.blueprint
        for state in ("connected", "receiving"):
            own = [i for (s, i) in blueprint.stateTransitions if s == state]
            self.assertEqual(own, [], state)
        self.assertEqual(blueprint.statesWithin("open"), ["connected", "receiving"])

    def test_smtpCommandOrderIsOneTableAtTheTop(self) -> None:
        """RFC 5321 4.1.4's order reads as one table opening the transitions."""
        source = (
            Path(__file__).parent.parent / "statemachines" / "smtp.py"
        ).read_text()
        transitions = source[source.index("# -- transitions") :]
        table = transitions[transitions.index("RFC 5321 4.1.4") :]
        table = table[: table.index("\n\n")]
        commands = [
            "hello",
            "quit",
            "reset",
            "mailFrom",
            "startTLS",
            "rcptTo",
            "dataCommand",
        ]
        for command in commands:
            self.assertRegex(table, rf"\.upon\({command},", command)
        self.assertNotRegex(transitions, r"\n\s+for \w+ in ")


# -- a user's module: a small store with a data block (memcached's shape) ----

STORE = '''
from statemachines import (
    ConnectionMachine,
    FixedLengthFramer,
    LineFramer,
    Machine,
    inherited,
)

STORED = {}


class StoreMachine(ConnectionMachine):
    """SET <key> <size>, then <size> bytes; GET <key> answers them."""

    _machine = Machine()
    parent = inherited(_machine, ConnectionMachine)

    @_machine.state(WITHIN)
    def storing(self) -> None:
        "SET said how many bytes follow; they are arriving."

    @_machine.input()
    def setRequested(self, key: bytes, size: int) -> None:
        "A valid SET."

    def onMessage(self, message: bytes) -> None:
        verb, _, rest = message.partition(b" ")
        key, _, size = rest.partition(b" ")
        if verb == b"SET" and key and size.isdigit():
            self.setRequested(key, int(size))
        elif verb == b"GET" and key in STORED:
            self.send(b"VALUE " + STORED[key])
        else:
            self.send(b"NOT_FOUND")

    @_machine.output()
    def _expectData(self, key: bytes, size: int) -> None:
        self.key = key
        self.link.switchFraming(FixedLengthFramer(size))

    @_machine.output()
    def _store(self, message: bytes) -> None:
        self.link.switchFraming(LineFramer())
        STORED[self.key] = message
        self.send(b"STORED")

    parent.receiving.upon(setRequested, enter=storing, outputs=[_expectData])
    storing.upon(parent.messageReceived, enter=parent.receiving, outputs=[_store])
'''


def userModule(within: str) -> dict[str, Any]:
    """The store as a user's own module (real annotations, no __future__)."""
    source = STORE.replace("WITHIN", within)
    namespace: dict[str, Any] = {"__name__": "store"}
    exec(compile(source, "store.py", "exec", dont_inherit=True), namespace)
    return namespace


class UsersStateWithinTheLifecycleTests(SynchronousTestCase):
    def wire(self) -> Wire:
        machineClass = userModule("within=parent.open")["StoreMachine"]
        return Wire(machineClass, idleTimeout=10)

    def test_served(self) -> None:
        wire = self.wire()
        wire.sendBytes(b"x\r\nSET k 4\r\nab")
        wire.sendBytes(b"cdGET k\r\n")
        self.assertEqual(wire.received(), [b"NOT_FOUND", b"STORED", b"VALUE abcd"])

    def test_aConnectionLostMidBlockEndsClosed(self) -> None:
        wire = self.wire()
        wire.sendBytes(b"x\r\nSET k 10\r\nab")
        self.assertEqual(wire.machine.state, "storing")
        wire.adapter.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(wire.machine.state, "closed")
        self.assertEqual(wire.clock.getDelayedCalls(), [])

    def test_anIdlePeerMidBlockIsClosed(self) -> None:
        wire = self.wire()
        wire.sendBytes(b"x\r\nSET k 10\r\nab")
        wire.clock.advance(9)
        wire.sendBytes(b"cd")  # a read: the idle timer starts over
        wire.clock.advance(9)
        self.assertFalse(wire.transport.disconnecting)
        wire.clock.advance(1)
        self.assertEqual(wire.machine.state, "closing")
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.received()[-1], b"Error: idle timeout")

    def test_withoutWithinItIsRefusedNamingTheState(self) -> None:
        with self.assertRaises(TypeError) as caught:
            userModule("")
        message = str(caught.exception)
        self.assertIn("StoreMachine: state 'storing' does not handle input", message)
        self.assertIn("within=parent.open", message)
        self.assertIn("rejects(storing,", message)

    def test_readmeQuotesTheRealMessage(self) -> None:
        with self.assertRaises(TypeError) as caught:
            userModule("")
        quoted = re.search(
            r"```\n(TypeError: StoreMachine: state 'storing'.*?)```",
            README.read_text(),
            re.S,
        )
        assert quoted is not None
        shown = " ".join(quoted.group(1).split())
        self.assertEqual(shown, "TypeError: " + " ".join(str(caught.exception).split()))


class NoTimerOutlivesTheConnectionTests(SynchronousTestCase):
    """In every state, once the connection is gone, no DelayedCall is pending."""

    def reachEveryState(
        self,
        machineClass: type[ConnectionMachine],
        scripts: dict[str, list[bytes]],
        **options: Any,
    ) -> None:
        visited = set()
        for state, chunks in scripts.items():
            for how in ("lost", "closed"):
                wire = Wire(machineClass, **options)
                for chunk in chunks:
                    wire.sendBytes(chunk)
                self.assertEqual(wire.machine.state, state, chunks)
                self.assertNotEqual(wire.clock.getDelayedCalls(), [], state)
                if how == "closed":
                    wire.machine.close()
                    self.assertEqual(wire.machine.state, "closing")
                    self.assertEqual(len(wire.clock.getDelayedCalls()), 1)
                    visited.add("closing")
                wire.adapter.connectionLost(Failure(ConnectionLost()))
                self.assertEqual(wire.machine.state, "closed")
                self.assertEqual(wire.clock.getDelayedCalls(), [], (state, how))
                visited.add(state)
        reachable = set(machineClass.blueprint.states) - {"idle", "closed"}
        # naming (greeting) is only ever occupied while a name is judged;
        # startingTLS has a test of its own.
        self.assertEqual(reachable - visited - {"naming", "startingTLS"}, set())

    def test_echo(self) -> None:
        self.reachEveryState(EchoMachine, {"connected": [], "receiving": [b"hi\r\n"]})

    def test_greeting(self) -> None:
        self.reachEveryState(
            GreetingMachine,
            {"connected": [b"\r\n"], "receiving": [b"Ada\r\n"]},
        )

    def test_smtp(self) -> None:
        helo = b"EHLO x\r\n"
        mail = helo + b"MAIL FROM:<a@b>\r\n"
        rcpt = mail + b"RCPT TO:<c@d>\r\n"
        self.reachEveryState(
            SMTPMachine,
            {
                "connected": [],
                "receiving": [helo],
                "mail": [mail],
                "recipients": [rcpt],
                "data": [rcpt + b"DATA\r\n", b"text\r\n"],
            },
            mailbox=ListMailbox(),
        )

    def test_smtpStartingTLS(self) -> None:
        # StringTransport cannot start TLS: the recording link can.
        machine, link, clock = connected(
            SMTPMachine, mailbox=ListMailbox(), tlsOptions="the options"
        )
        for line in (b"EHLO x", b"STARTTLS"):
            machine.dataArrived()
            machine.messageReceived(line)
        self.assertEqual(machine.state, "startingTLS")
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        machine.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(machine.state, "closed")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_closingHasTheCloseDeadlineAndNothingElse(self) -> None:
        wire = Wire(GreetingMachine, nameTimeout=20, idleTimeout=300, closeTimeout=7)
        wire.machine.close()
        [call] = wire.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 7)


class LostMeansGoneTests(SynchronousTestCase):
    def test_aLostConnectionMustNotLeadIntoALiveState(self) -> None:
        """connectionLost into a state that still expects a connection: refused."""
        source = STORE.replace("WITHIN", "within=parent.open").replace(
            "    storing.upon(parent.messageReceived,",
            "    storing.upon(parent.connectionLost, enter=parent.receiving)\n"
            "    storing.upon(parent.messageReceived,",
        )
        with self.assertRaises(TypeError) as caught:
            exec(compile(source, "store.py", "exec", dont_inherit=True), {})
        message = str(caught.exception)
        self.assertIn(
            "input 'connectionLost' in state 'storing' enters 'receiving', which "
            "still expects it",
            message,
        )

    def test_aDeadEndIsNoTerminalState(self) -> None:
        """A state with no way out is not exempt: only terminal=True is."""
        source = STORE.replace("WITHIN", "").replace(
            "storing.upon(parent.messageReceived, enter=parent.receiving,",
            "storing.upon(parent.messageReceived, enter=storing,",
        )
        self.assertIn("enter=storing,", source)
        with self.assertRaises(TypeError) as caught:
            exec(compile(source, "store.py", "exec", dont_inherit=True), {})
        self.assertIn("state 'storing' does not handle input", str(caught.exception))

    def test_aTerminalStateMayNotBeLeft(self) -> None:
        from statemachines import Machine, inherited

        with self.assertRaises(TypeError) as caught:

            class Undead(ConnectionMachine):
                _machine = Machine()
                parent = inherited(_machine, ConnectionMachine)
                parent.closed.upon(parent.failed, enter=parent.closing, outputs=[])

        self.assertIn(
            "state 'closed' is declared terminal, but input 'failed' leaves it",
            str(caught.exception),
        )


class BrokenTimerTests(SynchronousTestCase):
    def test_aMisspelledTimerLengthClosesTheConnection(self) -> None:
        """The timer fails after the outputs: the link is there to close."""
        from twisted.logger import capturedLogs

        from statemachines import Machine, inherited, stateTimer

        class Typo(EchoMachine):
            _machine = Machine()
            parent = inherited(_machine, EchoMachine)
            greetTimer = stateTimer(
                parent.connected, "idleTimout", fires=parent.timeout
            )

        with capturedLogs():
            wire = Wire(Typo, closeTimeout=1)
        [logged] = self.flushLoggedErrors(AttributeError)
        self.assertIn("'idleTimout'", logged.getErrorMessage())
        self.assertEqual(wire.received(), [b"Error: internal error"])
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(wire.machine.state, "closing")
        [deadline] = wire.clock.getDelayedCalls()  # the close deadline runs
        self.assertEqual(deadline.getTime(), 1)
        wire.lose()
        self.assertEqual(wire.clock.getDelayedCalls(), [])
