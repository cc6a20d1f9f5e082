"""
Helpers for testing machines, for this project's tests and for users'.

- `reachableStates` and `rejectedPairs` read a machine's `Blueprint`: which
  states its inputs can reach from the initial state, and which (state,
  input) pairs it rejects (everything it does not declare; the framework's
  rule).  `unhandledPairs` is the part of those no ``rejects(...)``
  declaration covers: the pairs nobody decided about.  A test can pin all
  three, so a change to the table is a visible change.
- `RecordingLink` and `RecordingDialer` stand in for a connection and a
  dialer (whose attempts the test fires), and `connected` gives a machine
  that has just connected to a `RecordingLink`.  (`protocols.testing.Wire`
  drives a machine through its real adapter.)
- `inputSequences` is a Hypothesis strategy of input sequences for a
  machine, to drive it with arbitrary events (Hypothesis is imported only
  when it is called).
- `TransitionRecorder` records the transitions given machines take, and
  `uncoveredTransitions` names the declared transitions that none took.
  `TransitionCoverage` does it for every machine a whole test run creates
  and reports per class what was never taken: transition coverage, which
  Automat itself does not offer (automat#38).  (They live in
  `statemachines.engine.coverage`.)
- `summaryMismatches` checks the summaries of a machine in prose (lines of
  transitions between states, a tree of superstates) against its blueprint:
  ``summaryMismatches(cls.blueprint, module.__doc__)``.  (It lives in
  `statemachines.engine.summary`.)
- `onAutomatRuntime` builds an instance that runs on Automat's own runtime,
  the reference for differential tests; `automatState` reads its state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from .connection import ConnectionMachine
from .engine import StateMachine
from .engine import automatinternals as _automat
from .engine.coverage import (
    Transition,
    TransitionCoverage,
    TransitionRecorder,
    uncoveredTransitions,
)
from .engine.machine import builtOf
from .engine.summary import summaryMismatches
from .framing import Framer
from .transport import Link

__all__ = [
    "RecordingDialer",
    "RecordingLink",
    "Transition",
    "TransitionCoverage",
    "TransitionRecorder",
    "automatState",
    "connected",
    "inputSequences",
    "onAutomatRuntime",
    "reachableStates",
    "rejectedPairs",
    "summaryMismatches",
    "uncoveredTransitions",
    "unhandledPairs",
]


class RecordingLink:
    """
    A `Link` that records what the machine asked of it: messages ``sent``,
    ``errors`` reported, ``framers`` switched to, ``tlsStarted`` (the
    context factories), ``closing``, ``aborted``.  Its ``peer`` is
    127.0.0.1:40000 and its ``host`` 127.0.0.1:1234 unless given.
    """

    def __init__(
        self, peer: IAddress | None = None, host: IAddress | None = None
    ) -> None:
        self.sent: list[bytes] = []
        self.errors: list[str] = []
        self.framers: list[Framer] = []
        self.sendingFramers: list[Framer] = []
        self.tlsStarted: list[Any] = []
        self.closing = False
        self.aborted = False
        self.peer = peer or IPv4Address("TCP", "127.0.0.1", 40000)
        self.host = host or IPv4Address("TCP", "127.0.0.1", 1234)

    secure = False
    peerCertificate = None

    def switchFraming(self, framer: Framer, *, sending: bool = False) -> None:
        self.framers.append(framer)
        if sending:
            self.sendingFramers.append(framer)

    def startTLS(self, contextFactory: Any) -> None:
        self.tlsStarted.append(contextFactory)

    def sendMessage(self, message: bytes) -> None:
        self.sent.append(message)

    def reportError(self, reason: str) -> None:
        self.errors.append(reason)

    def loseConnection(self) -> None:
        self.closing = True

    def abortConnection(self) -> None:
        self.aborted = True

    def describePeer(self) -> str:
        return "test-peer"

    peer: IAddress | None
    host: IAddress | None


class RecordingDialer:
    """
    A `Dialer` that records each attempt as a Deferred for the test to fire
    (`succeed`, `fail`) or leave pending, and counts cancelled attempts.
    """

    def __init__(self) -> None:
        self.attempts: list[Deferred[Link]] = []
        self.cancels = 0

    @property
    def dials(self) -> int:
        """How many attempts were started."""
        return len(self.attempts)

    def dial(self, machine: object) -> Deferred[Link]:
        def cancel(attempt: Deferred[Link]) -> None:
            self.cancels += 1

        attempt: Deferred[Link] = Deferred(cancel)
        self.attempts.append(attempt)
        return attempt

    def succeed(self, link: Link | None = None) -> Link:
        """The latest attempt connects (to a new `RecordingLink` by default)."""
        link = link if link is not None else RecordingLink()
        self.attempts[-1].callback(link)
        return link

    def fail(self, reason: Failure) -> None:
        """The latest attempt fails with ``reason``."""
        self.attempts[-1].errback(reason)


M = TypeVar("M", bound=ConnectionMachine)


def connected(machineClass: type[M], **options: Any) -> tuple[M, RecordingLink, Clock]:
    """
    A ``machineClass(clock, **options)`` that has just seen ``connectionMade``
    with a `RecordingLink`: the machine, the link, and the ``Clock``.
    """
    clock = Clock()
    machine = machineClass(clock, **options)
    link = RecordingLink()
    machine.connectionMade(link)
    return machine, link, clock


def unhandledPairs(cls: type[StateMachine]) -> list[tuple[str, str]]:
    """
    Every (state, input) pair ``cls`` neither handles (a transition) nor
    rejects on purpose (`statemachines.rejects`), in declaration order: the
    pairs nobody decided about.  A test asserting it is empty keeps it so.
    """
    blueprint = cls.blueprint
    return [pair for pair in rejectedPairs(cls) if blueprint.rejectionOf(*pair) is None]


def reachableStates(cls: type[StateMachine]) -> list[str]:
    """The states ``cls`` can reach from its initial state, in declaration order."""
    blueprint = cls.blueprint
    seen = {blueprint.initial}
    frontier = [blueprint.initial]
    while frontier:
        state = frontier.pop()
        for t in blueprint.transitionsFrom(state or ""):
            if t.enter not in seen:
                seen.add(t.enter)
                frontier.append(t.enter)
    return [s for s in blueprint.states if s in seen]


def rejectedPairs(cls: type[StateMachine]) -> list[tuple[str, str]]:
    """Every (state, input) pair ``cls`` does not declare, in declaration order."""
    blueprint = cls.blueprint
    return [
        (state, input)
        for state in blueprint.states
        for input in blueprint.inputs
        if (state, input) not in blueprint.transitions
    ]


def inputSequences(
    cls: type[StateMachine],
    arguments: Mapping[str, Callable[[], tuple[Any, ...]]],
    maxSize: int = 20,
) -> Any:
    """
    A Hypothesis strategy of lists of ``(input name, arguments)`` for ``cls``.

    ``arguments`` maps the inputs that take arguments to a function that
    makes fresh ones for each call; inputs not in it are called without.
    Feed a sequence with ``getattr(machine, name)(*args)``.
    """
    from hypothesis import strategies as st

    names = list(cls.blueprint.inputs)
    return st.lists(
        st.sampled_from(names).map(
            lambda name: (name, arguments[name]() if name in arguments else ())
        ),
        max_size=maxSize,
    )


def onAutomatRuntime(cls: type[StateMachine], *args: Any, **kwargs: Any) -> Any:
    """
    An instance of ``cls`` whose inputs run on Automat's own runtime instead
    of the compiled dispatcher: the reference for differential tests.  Its
    inputs raise what Automat raises (``NoTransition``, output exceptions)
    and run re-entrant calls immediately; read its state with `automatState`.
    """
    instance = cls.__new__(cls)
    for name, automatInput in builtOf(cls).automatInputs.items():
        instance.__dict__[name] = automatInput.__get__(instance)
    cls.__init__(instance, *args, **kwargs)
    return instance


def automatState(instance: StateMachine) -> str:
    """The current state of an instance made by `onAutomatRuntime`."""
    machine = builtOf(type(instance)).automatMachine
    state = _automat.automatStateOf(instance, machine)
    return state if state is not None else type(instance).blueprint.initial or ""
