"""
Summaries checked against the machine (`statemachines.engine.summary`): the
reader itself, then the summary in every shipped module's docstring.
"""

from __future__ import annotations

import importlib
import pkgutil

from twisted.trial.unittest import SynchronousTestCase

import statemachines
import statemachines.smtp
from statemachines import (
    ClientMachine,
    ConnectionMachine,
    EchoMachine,
    GreetingMachine,
    SMTPMachine,
    StateMachine,
)
from statemachines.engine.summary import summaryMismatches

CONNECTION = """
    idle --connectionMade--> connected --messageReceived--> receiving
    open --closeRequested | badFrame | timeout | failed | peerFinished--> closing
    open, closing --connectionLost--> closed
    idle --failed--> closed
"""

# The machine each module's docstring summarizes.
SUMMARIZED: dict[str, type[StateMachine]] = {
    "statemachines.connection": ConnectionMachine,
    "statemachines.client": ClientMachine,
    "statemachines.smtp": SMTPMachine,
    "statemachines.greeting": GreetingMachine,
    "statemachines.echo": EchoMachine,
}


def check(text: str, cls: type[StateMachine] = ConnectionMachine) -> list[str]:
    return summaryMismatches(cls.blueprint, text)


class TransitionLineTests(SynchronousTestCase):
    def test_aRightSummary(self) -> None:
        self.assertEqual(check(CONNECTION), [])

    def test_noSummary(self) -> None:
        self.assertEqual(check("Prose, with no summary at all."), [])

    def test_aMissingInput(self) -> None:
        """The slip this check was made for: ``peerFinished`` left out."""
        text = CONNECTION.replace(" | peerFinished", "")
        self.assertEqual(check(text), ["missing: open --peerFinished--> closing"])

    def test_aMissingTransitionOfAState(self) -> None:
        text = CONNECTION.replace("    idle --failed--> closed\n", "")
        self.assertEqual(check(text), ["missing: idle --failed--> closed"])

    def test_aWrongTarget(self) -> None:
        text = CONNECTION + "    closing --connectionLost--> idle\n"
        self.assertEqual(
            check(text), ["closing --connectionLost--> idle: it enters 'closed'"]
        )

    def test_noSuchTransition(self) -> None:
        text = CONNECTION + "    closed --connectionMade--> connected\n"
        self.assertEqual(
            check(text),
            [
                "closed --connectionMade--> connected: 'closed' declares no "
                "transition to another state upon it"
            ],
        )

    def test_unknownNames(self) -> None:
        text = CONNECTION + "    idle / limbo --hangUp--> nowhere\n"
        self.assertEqual(
            check(text),
            [
                "idle --hangUp--> nowhere: there is no input 'hangUp'",
                "limbo --hangUp--> nowhere: there is no input 'hangUp'",
            ],
        )
        text = CONNECTION + "    limbo --failed--> closed\n"
        self.assertEqual(
            check(text),
            ["limbo --failed--> closed: there is no state or superstate 'limbo'"],
        )

    def test_anInheritedTransitionFromAState(self) -> None:
        """From a state, an edge is read on the flat table: inherited ones count."""
        self.assertEqual(check(CONNECTION + "    connected --timeout--> closing\n"), [])

    def test_selfLoopsNeedNotAppear(self) -> None:
        """``closing`` ignores ``dataArrived`` (a self-loop): not missing."""
        self.assertNotIn("dataArrived", " ".join(check(CONNECTION)))

    def test_anUnreadableLine(self) -> None:
        self.assertEqual(
            check(CONNECTION + "    idle --> closed\n"),
            ["cannot read the transition line 'idle --> closed'"],
        )


# The tree the tests below alter: smtp's own, then a literal block that is
# no tree (the check must stop at the tree's end).
SMTP_TREE = (statemachines.smtp.__doc__ or "") + "\nWire format::\n\n    S: 220 hello\n"


class TreeTests(SynchronousTestCase):
    def test_aRightTree(self) -> None:
        self.assertEqual(check(SMTP_TREE, SMTPMachine), [])

    def test_aStateUnderTheWrongSuperstate(self) -> None:
        text = SMTP_TREE.replace("        data  ", "      data")
        self.assertEqual(
            check(text, SMTPMachine),
            ["the tree of 'open' shows 'data' within 'open'; it is within 'dataPhase'"],
        )

    def test_aStateLeftOut(self) -> None:
        text = SMTP_TREE.replace("          mail         waiting for recipients\n", "")
        self.assertEqual(
            check(text, SMTPMachine), ["the tree of 'open' leaves out 'mail'"]
        )

    def test_noSuchState(self) -> None:
        text = SMTP_TREE.replace("        data ", "        dada ")
        self.assertEqual(
            check(text, SMTPMachine),
            [
                "the tree of 'open' shows 'dada', no state",
                "the tree of 'open' leaves out 'data'",
            ],
        )


class ShippedSummaryTests(SynchronousTestCase):
    """Each module's docstring says what its machine does."""

    maxDiff = None

    def assertSummarized(self, module: str) -> None:
        doc = importlib.import_module(module).__doc__ or ""
        self.assertEqual(summaryMismatches(SUMMARIZED[module].blueprint, doc), [])

    def test_connection(self) -> None:
        self.assertSummarized("statemachines.connection")

    def test_client(self) -> None:
        self.assertSummarized("statemachines.client")

    def test_smtp(self) -> None:
        self.assertSummarized("statemachines.smtp")

    def test_greeting(self) -> None:
        self.assertSummarized("statemachines.greeting")

    def test_echo(self) -> None:
        self.assertSummarized("statemachines.echo")

    def test_everySummaryIsChecked(self) -> None:
        """A module whose docstring has a summary is one of the above."""
        modules = [
            f"statemachines.{info.name}"
            for info in pkgutil.iter_modules(statemachines.__path__)
            if not info.ispkg
        ]
        summarized = [
            module
            for module in modules
            if "-->" in (importlib.import_module(module).__doc__ or "")
            or "\n    open\n" in (importlib.import_module(module).__doc__ or "")
        ]
        self.assertEqual(set(summarized) - set(SUMMARIZED), set())
        self.assertIn("statemachines.smtp", summarized)
