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

    def test_theSecondPathIsTheOneThatCouldNotBeMade(self) -> None:
        """``symlink(target, path)``: Twisted's UNIX socket lock links to a pid."""
        error = FileNotFoundError(
            2, "No such file or directory", "24674", None, b"/nonexistent/sock.lock"
        )
        self.assertEqual(
            reason(error), "No such file or directory: /nonexistent/sock.lock"
        )
