"""The commands' standard error: a failure's reason, in one line."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from protocols.commandlog import reason


class ReasonTests(SynchronousTestCase):
    def test_oneLineWithoutTheClassPath(self) -> None:
        self.assertEqual(
            reason(FileNotFoundError(2, "No such file or directory", "/k.pem")),
            "No such file or directory: /k.pem",
        )
        self.assertEqual(reason(ValueError("bad port")), "bad port")
        self.assertEqual(reason(KeyError()), "KeyError")  # no message: its kind
