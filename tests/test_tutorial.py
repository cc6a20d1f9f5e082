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
    namespace: dict[str, Any] = {"__name__": "tutorial"}
    for block in re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.S):
        exec(compile(block, str(TUTORIAL), "exec", dont_inherit=True), namespace)
    return namespace


class TutorialTests(TestCase):
    def test_step2ServesAndEchoes(self):  # type: ignore[no-untyped-def]
        d = tutorial()["main"](reactor)
        d.addCallback(self.assertEqual, [b"1: hello", b"2: \xff binary"])
        return d

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
