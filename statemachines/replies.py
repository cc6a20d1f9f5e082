"""
What the server owes a client, and until when.

Theory of operation
===================

A client that sends a request is owed a reply.  `ReplyDeadline` remembers
what is owed, one thing at a time (say, "a reply to b'hi'", then the next
outstanding message), and runs the client's timer for ``replyTimeout``
seconds while it waits.  If the timer fires first, the client quits, saying
what it waited for (`ReplyDeadline.silence`).

A client has one timer for all its deadlines (connecting, a reply, the
retry delay, closing): at most one of them is pending.  The reply deadline
has the timer only while something is owed, and only while the connection
is open.  When the client closes the connection, or loses it, nothing is
owed any more (`ReplyDeadline.forget`): a reply that still arrives while
closing does not cancel what is then the close deadline.
"""

from __future__ import annotations

from .engine import Timer

__all__ = ["ReplyDeadline"]


class ReplyDeadline:
    """What the server owes us, if anything, under a deadline."""

    def __init__(self, timer: Timer, replyTimeout: float | None) -> None:
        """
        @param timer: the client's one timer (see the module doc).
        @param replyTimeout: seconds each reply may take (None: no limit).
        """
        self.timer = timer
        self.replyTimeout = replyTimeout
        self.awaiting: str | None = None  # what is owed

    def expect(self, what: str) -> None:
        """
        The server owes us ``what``: start the deadline.  Does nothing while
        something is owed already.

        @param what: the reply, in words, for the log line if it never comes.
        """
        if self.awaiting is None:
            self.awaiting = what
            if self.replyTimeout is not None:
                self.timer.start(self.replyTimeout)

    def arrived(self, nextAwaited: str | None = None) -> None:
        """
        What was owed came: stop the deadline, or start it afresh for
        ``nextAwaited``.  Does nothing when nothing was owed (the timer may
        be another deadline then).
        """
        if self.awaiting is None:
            return
        self.awaiting = None
        self.timer.cancel()
        if nextAwaited is not None:
            self.expect(nextAwaited)

    def forget(self) -> None:
        """
        Nothing is owed any more (the connection is closing or gone); the
        timer is left to whoever starts it next.
        """
        self.awaiting = None

    def silence(self) -> str:
        """
        @return: why the client quits when the deadline passes, in words.
        """
        return (
            f"the server sent nothing for {self.replyTimeout:g} s while we waited "
            f"for {self.awaiting}"
        )
