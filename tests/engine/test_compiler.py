"""
The compiled dispatcher is proven equivalent to Automat's own runtime: the
same input sequences, on every shipped machine and on random machines, give
the same outputs, return values, final states and rejections.
"""

from __future__ import annotations

import linecache
import re
from typing import Any

from automat import MethodicalMachine, NoTransition
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    ConnectionMachine,
    EchoMachine,
    GreetingMachine,
    MachineError,
    StateMachine,
)
from statemachines.engine.machine import builtOf
from statemachines.testing import automatState, onAutomatRuntime

from ..helpers import RecordingLink, lost


def recording(cls: type[StateMachine]) -> type[Any]:
    """``cls``, with errors recorded instead of handled (Automat raises them)."""

    class Recording(cls):  # type: ignore[valid-type, misc]
        def machineError(self, error: MachineError) -> None:
            self.errors.append(error)

    Recording.__name__ = f"Recording{cls.__name__}"
    return Recording


Step = tuple[str, tuple[Any, ...], dict[str, Any]]


def observe(machine: Any, steps: list[Step], automat: bool) -> list[object]:
    """
    Feed ``steps``; for each, what it returned, raised or was rejected with,
    the state after it, and the machine's ``trace`` if it keeps one.
    """
    observed: list[object] = []
    for name, args, kwargs in steps:
        before = len(machine.errors)
        try:
            result = getattr(machine, name)(*args, **kwargs)
        except NoTransition as e:
            result = ("rejected", e.state.method.__name__)
        except Exception as e:  # an output raised (Automat lets it through)
            result = ("failed", type(e).__name__)
        if not automat and len(machine.errors) > before:
            [error] = machine.errors[before:]
            result = (
                ("rejected", error.state)
                if error.kind == "rejected"
                else ("failed", error.failure.type.__name__)
            )
        state = automatState(machine) if automat else machine.state
        observed.append((name, result, state, list(getattr(machine, "trace", []))))
    return observed


# -- the shipped server machines -------------------------------------------

SERVER_INPUTS = st.sampled_from(
    [
        ("connectionMade", lambda: (RecordingLink(),)),
        ("messageReceived", lambda: (b"Alice",)),
        ("messageReceived", lambda: (b"",)),
        ("messageReceived", lambda: (b"\xff",)),
        ("badFrame", lambda: ("bad",)),
        ("closeRequested", lambda: ()),
        ("timeout", lambda: ()),
        ("failed", lambda: ("oops",)),
        ("connectionLost", lambda: (lost(),)),
    ]
)


class ShippedMachinesTests(SynchronousTestCase):
    def compare(
        self, cls: type[ConnectionMachine], script: list[tuple[str, Any]]
    ) -> None:
        Recording = recording(cls)
        runs = []
        for automat in (False, True):
            # Fresh arguments for each run, so each machine has its own links.
            steps = [(name, make(), {}) for name, make in script]
            if automat:
                machine = onAutomatRuntime(Recording, Clock())
            else:
                machine = Recording(Clock())
            machine.errors = []
            observed = observe(machine, steps, automat)
            links = [
                (link.sent, link.errors, link.closing, link.aborted)
                for _, args, _ in steps
                for link in args
                if isinstance(link, RecordingLink)
            ]
            runs.append((observed, links, machine.__dict__.get("invalidNames")))
        self.assertEqual(runs[0], runs[1])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(SERVER_INPUTS, max_size=12))
    def test_echo(self, script: list[tuple[str, Any]]) -> None:
        self.compare(EchoMachine, script)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(SERVER_INPUTS, max_size=14))
    def test_greeting(self, script: list[tuple[str, Any]]) -> None:
        self.compare(
            GreetingMachine, [("connectionMade", lambda: (RecordingLink(),))] + script
        )


# -- random machines ------------------------------------------------------------

SIGNATURES = {
    "()": [],
    "(x)": ["x"],
    "(x, y=2)": ["x", "y"],
    "(x, *, z=3)": ["x", "z"],
}


@st.composite
def machines(draw: st.DrawFn) -> tuple[type[Any], dict[str, list[str]]]:
    """A random StateMachine subclass: states, inputs with signatures, outputs."""
    nStates = draw(st.integers(2, 5))
    inputSigs = draw(
        st.lists(st.sampled_from(sorted(SIGNATURES)), min_size=1, max_size=4)
    )
    m = MethodicalMachine()
    namespace: dict[str, Any] = {"m": m}
    states = []
    for i in range(nStates):
        exec(f"def s{i}(self): pass", namespace)
        states.append(m.state(initial=(i == 0))(namespace.pop(f"s{i}")))
    inputs = []
    for i, sig in enumerate(inputSigs):
        exec(
            f"def i{i}{sig.replace('(', '(self, ', 1).replace(', )', ')')}: pass",
            namespace,
        )
        inputs.append(m.input()(namespace.pop(f"i{i}")))
    outputs: dict[int, list[Any]] = {}
    for i, sig in enumerate(inputSigs):
        names = SIGNATURES[sig]
        outputs[i] = []
        for j in range(draw(st.integers(0, 3))):
            keep = [n for n in names if draw(st.booleans())]
            raises = draw(st.integers(0, 9)) == 0
            positional = [n for n in keep if n != "z"]
            params = ", ".join(
                ["self", *positional, *(["*", "z"] if "z" in keep else [])]
            )
            record = f"('o{i}_{j}', " + "".join(f"{n}, " for n in keep) + ")"
            body = (
                "raise ValueError('boom')"
                if raises
                else f"self.trace.append({record}); return {len(keep)}"
            )
            exec(f"def o{i}_{j}({params}): {body}", namespace)
            outputs[i].append(m.output()(namespace.pop(f"o{i}_{j}")))
    # Every state but the initial one is entered from another (a state
    # nothing enters is refused), not necessarily one the initial reaches.
    enters: dict[tuple[int, int], int] = {}
    for target in range(1, nStates):
        free = [
            (s, i)
            for s in range(nStates)
            for i in range(len(inputs))
            if s != target and (s, i) not in enters
        ]
        enters[draw(st.sampled_from(free))] = target
    for s, state in enumerate(states):
        for i, inp in enumerate(inputs):
            if (s, i) in enters or draw(st.booleans()):
                chosen = [o for o in outputs[i] if draw(st.booleans())]
                collector = draw(st.sampled_from([list, tuple, sum]))
                target = enters.get((s, i))
                state.upon(
                    inp,
                    enter=draw(st.sampled_from(states))
                    if target is None
                    else states[target],
                    outputs=chosen,
                    collector=collector,
                )
    namespace.update({f"s{i}": s for i, s in enumerate(states)})
    namespace.update({f"i{i}": inp for i, inp in enumerate(inputs)})
    namespace["__init__"] = lambda self: setattr(self, "trace", [])
    namespace["machineError"] = lambda self, error: self.errors.append(error)
    cls = type("Random", (StateMachine,), namespace)
    return cls, {f"i{i}": SIGNATURES[sig] for i, sig in enumerate(inputSigs)}


@st.composite
def scripts(draw: st.DrawFn, signatures: dict[str, list[str]]) -> list[Step]:
    steps = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(sorted(signatures)))
        params = signatures[name]
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if "x" in params:
            if draw(st.booleans()):
                args.append(draw(st.integers(-5, 5)))
            else:
                kwargs["x"] = draw(st.integers(-5, 5))
        if "y" in params and draw(st.booleans()):
            kwargs["y"] = draw(st.integers(-5, 5))
        if "z" in params:
            # Always given: where it is not, Automat passes an output neither
            # the input's default for a keyword-only parameter nor anything
            # (a TypeError), while the compiled dispatcher passes the default.
            kwargs["z"] = draw(st.integers(-5, 5))
        steps.append((name, tuple(args), kwargs))
    return steps


class RandomMachinesTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.data())
    def test_equivalentToAutomat(self, data: st.DataObject) -> None:
        cls, signatures = data.draw(machines())
        steps = data.draw(scripts(signatures))
        ours, reference = cls(), onAutomatRuntime(cls)
        ours.errors, reference.errors = [], []
        self.assertEqual(observe(ours, steps, False), observe(reference, steps, True))


class ReentrancyTests(SynchronousTestCase):
    def test_inputsFromOutputsAreQueued(self) -> None:
        class Relay(StateMachine):
            m = MethodicalMachine()

            def __init__(self) -> None:
                self.log: list[str] = []

            @m.state(initial=True)
            def a(self) -> None:
                "a"

            @m.state()
            def b(self) -> None:
                "b"

            @m.input()
            def go(self) -> None:
                "go"

            @m.input()
            def back(self) -> None:
                "back"

            @m.output()
            def _first(self) -> None:
                self.back()  # re-entrant: runs after this transition
                self.log.append(f"first in {self.state}")

            @m.output()
            def _second(self) -> None:
                self.log.append(f"second in {self.state}")

            @m.output()
            def _returned(self) -> None:
                self.log.append(f"back in {self.state}")

            a.upon(go, enter=b, outputs=[_first, _second])
            b.upon(back, enter=a, outputs=[_returned])

        relay = Relay()
        self.assertEqual(relay.go(), [None, None])
        self.assertEqual(relay.log, ["first in b", "second in b", "back in a"])
        self.assertEqual(relay.state, "a")

    def test_inputsFromSelfLoopsAreQueued(self) -> None:
        # A self-loop runs inside the input function (the fast path); what
        # its outputs call must still be queued and run after it.
        class Ticker(StateMachine):
            m = MethodicalMachine()

            def __init__(self) -> None:
                self.log: list[str] = []

            @m.state(initial=True)
            def running(self) -> None:
                "running"

            @m.input()
            def tick(self, n: int) -> None:
                "tick"

            @m.input()
            def tock(self) -> None:
                "tock"

            @m.output()
            def _tick(self, n: int) -> int:
                if n:
                    self.tick(n - 1)  # re-entrant, from a self-loop
                    self.tock()
                self.log.append(f"tick {n}")
                return n

            @m.output()
            def _tock(self) -> None:
                self.log.append("tock")

            running.upon(tick, enter=running, outputs=[_tick])
            running.upon(tock, enter=running, outputs=[_tock])

        ticker = Ticker()
        self.assertIn("if table is S0", type(ticker).tick.__source__)
        self.assertEqual(ticker.tick(2), [2])
        # Each transition's queued calls run as soon as it ends:
        # tick 2 queues (tick 1, tock); tick 1 queues (tick 0, tock) and runs
        # them as it ends, before tick 2's tock.
        self.assertEqual(ticker.log, ["tick 2", "tick 1", "tick 0", "tock", "tock"])


class GeneratedSourceTests(SynchronousTestCase):
    """Generated functions show their source in tracebacks, as attrs' do."""

    def test_hookExceptionShowsTheGeneratedLine(self) -> None:
        class Boom(StateMachine):
            m = MethodicalMachine()

            def __init__(self) -> None:
                self.errors: list[MachineError] = []

            @m.state(initial=True)
            def calm(self) -> None:
                "calm"

            @m.input()
            def light(self, fuse: int) -> None:
                "light"

            @m.output()
            def _explode(self, fuse: int) -> None:
                raise ValueError(f"boom after {fuse}")

            calm.upon(light, enter=calm, outputs=[_explode])

            def machineError(self, error: MachineError) -> None:
                self.errors.append(error)

        boom = Boom()
        boom.light(3)
        [error] = boom.errors
        assert error.failure is not None
        traceback = error.failure.getTraceback()
        # The self-loop runs inline in the input function, or (traced, as
        # under the coverage reporter) in the traced table's transition.
        # The innermost generated frame (Twisted before 24.11 also shows the
        # frames above the one that caught the exception).
        found = re.findall(
            r'File "(<txmachines [^"]*Boom\.[^"]*>)", line (\d+)', traceback
        )
        assert found, traceback
        filename, line = found[-1][0], int(found[-1][1])
        shown = linecache.getline(filename, line).strip()
        self.assertIn("(self, fuse)]", shown)
        self.assertIn(f"\n    {shown}\n", traceback)
        self.assertIn("boom after 3", traceback)

    def test_everyGeneratedFunctionHasItsOwnFile(self) -> None:
        files = {
            function.__code__.co_filename
            for table in builtOf(GreetingMachine).tables.values()
            for function in table.values()
        }
        self.assertIn("<txmachines GreetingMachine.naming.nameAccepted>", files)
        self.assertEqual(len(files), len(GreetingMachine.blueprint.transitions))
        for filename in files:
            self.assertEqual(linecache.getline(filename, 1)[:15], "def transition(")

    def test_sameNameDifferentSourceGetsAnotherFile(self) -> None:
        def make(greeting: bytes) -> type[StateMachine]:
            class Twin(StateMachine):
                m = MethodicalMachine()

                @m.state(initial=True)
                def a(self) -> None:
                    "a"

                @m.input()
                def go(self) -> None:
                    "go"

                @m.output()
                def _say(self) -> bytes:
                    return greeting

                a.upon(go, enter=a, outputs=[_say, _say] if greeting else [_say])

            return Twin

        first, second = make(b""), make(b"twice")
        self.assertNotEqual(
            first.go.__code__.co_filename, second.go.__code__.co_filename
        )
        self.assertEqual(second.go(second()), [b"twice", b"twice"])


class PositionalOnlyTests(SynchronousTestCase):
    def test_positionalOnlyOutputParameterIsPassedByPosition(self) -> None:
        class Plain(StateMachine):
            m = MethodicalMachine()

            @m.state(initial=True)
            def a(self) -> None:
                "a"

            @m.input()
            def go(self, x: int) -> None:
                "go"

            @m.output()
            def _double(self, x: int, /) -> int:
                return 2 * x

            a.upon(go, enter=a, outputs=[_double])

        self.assertEqual(Plain().go(4), [8])
        self.assertEqual(onAutomatRuntime(Plain).go(4), [8])
