"""docs/tutorial.md runs: its Python blocks, executed in order, do what it says."""

from __future__ import annotations

import re
import unittest
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

TUTORIAL = Path(__file__).parent.parent / "docs" / "tutorial.md"


def tutorial() -> dict[str, Any]:
    """
    The tutorial's Python blocks run in order in one namespace, as one
    module; what they print is collected in its ``printed`` list (not
    written into trial's output).
    """
    printed: list[str] = []

    def collect(*values: object) -> None:
        printed.append(" ".join(map(str, values)))

    namespace: dict[str, Any] = {"__name__": "tutorial", "print": collect}
    for block in re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.S):
        exec(compile(block, str(TUTORIAL), "exec", dont_inherit=True), namespace)
    namespace["printed"] = printed
    return namespace


class TutorialTests(TestCase):
    def test_step2ServesAndEchoes(self):  # type: ignore[no-untyped-def]
        namespace = tutorial()
        d = namespace["main"](reactor)
        d.addCallback(self.assertEqual, [b"1: hello", b"2: \xff binary"])
        # ... and prints them, as its comment says.
        d.addCallback(
            lambda _: self.assertEqual(
                namespace["printed"][-1], "[b'1: hello', b'2: \\xff binary']"
            )
        )
        return d

    def test_step3DrawsTheMachine(self) -> None:
        """The drawing printed in code is the echo lifecycle, named for the class."""
        [drawing] = tutorial()["printed"]
        self.assertTrue(drawing.startswith("stateDiagram-v2\n"), drawing)
        self.assertIn("CountingEchoMachine extends EchoMachine", drawing)
        # The lifecycle drawn once, from the superstate open:
        self.assertIn("state open {", drawing)
        self.assertIn("open --> s2 : messageReceived / onMessage", drawing)

    def test_step3TestsPass(self) -> None:
        cases = tutorial()["CountingEchoTests"]
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cases)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual((result.testsRun, result.errors, result.failures), (2, [], []))

    def test_step3HelperTestsPass(self) -> None:
        cases = tutorial()["CountingEchoHelperTests"]
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cases)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual((result.testsRun, result.errors, result.failures), (2, [], []))

    def test_step4TestsPass(self) -> None:
        cases = tutorial()["RawModeTests"]
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cases)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual((result.testsRun, result.errors, result.failures), (2, [], []))


class TutorialSamplesTests(SynchronousTestCase):
    def test_everyBrokenSampleIsMapped(self) -> None:
        """The README of shared/reference lists the broken samples; each has a row."""
        text = TUTORIAL.read_text()
        for sample in (
            "twisted.protocols.basic import Factory",
            "StringReceiver",
            "sendLine(",
            "factory = Echo()",
            "ProtocolFactory()",
            "data.decode()",
            "ping-pong",
            "BinaryEchoProtocol(LineReceiver)",
        ):
            self.assertIn(sample, text)
