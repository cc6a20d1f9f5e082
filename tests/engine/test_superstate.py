"""
Superstates (`statemachines.engine.superstate`, declared with
``Machine.superstate``): a state within a superstate handles what the
superstate handles, the same way, unless it declares or rejects the input itself; the
engine flattens that into one table per state, which runs exactly as Automat
would run the same flat table.
"""

from __future__ import annotations

import pickle
from typing import Any

from automat import MethodicalMachine
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    ANY,
    ConnectionMachine,
    Machine,
    SMTPMachine,
    StateMachine,
    Superstate,
    inherited,
    rejects,
)
from statemachines.engine.machine import builtOf
from statemachines.testing import unhandledPairs

from ..sample_machines import RecordingMachine
from .test_compiler import observe


class Lamp(RecordingMachine):
    """off, and two states within ``on``; ``broken`` outside everything."""

    _machine = Machine()

    @_machine.state(initial=True)
    def off(self) -> None:
        "Off."

    @_machine.superstate()
    def on(self) -> None:
        "Lit, one way or another."

    @_machine.state(within=on)
    def dim(self) -> None:
        "Lit, dimly."

    @_machine.state(within=on)
    def bright(self) -> None:
        "Lit, brightly."

    @_machine.state()
    def broken(self) -> None:
        "For good."

    @_machine.input()
    def press(self) -> None:
        "The switch."

    @_machine.input()
    def turn(self) -> None:
        "The dimmer."

    @_machine.input()
    def hum(self) -> None:
        "Nothing happens, but it is heard."

    @_machine.input()
    def drop(self) -> None:
        "It falls."

    @_machine.output()
    def _click(self) -> None:
        self.log.append("click")

    @_machine.output()
    def _buzz(self) -> None:
        self.log.append("buzz")

    @_machine.output()
    def _crash(self) -> None:
        self.log.append("crash")

    off.upon(press, enter=dim, outputs=[_click])
    on.upon(press, enter=off, outputs=[_click])
    on.upon(hum, outputs=[_buzz])  # stays in whichever state it is in
    on.upon(drop, enter=broken, outputs=[_crash])
    dim.upon(turn, enter=bright, outputs=[])
    bright.upon(turn, enter=dim, outputs=[])
    bright.upon(drop, enter=bright, outputs=[])  # its own declaration wins

    notWhileOff = rejects(off, [turn, hum, drop], "it is off")
    gone = rejects(broken, ANY, "broken")


def run(machine: Any, *inputs: str) -> list[str]:
    for name in inputs:
        getattr(machine, name)()
    return [machine.state, *machine.log]


class InheritanceTests(SynchronousTestCase):
    def test_substatesInheritTheSuperstatesEdges(self) -> None:
        self.assertEqual(run(Lamp(), "press", "press"), ["off", "click", "click"])
        self.assertEqual(
            run(Lamp(), "press", "turn", "press"), ["off", "click", "click"]
        )
        self.assertEqual(run(Lamp(), "press", "drop"), ["broken", "click", "crash"])

    def test_leavingEnterOutStays(self) -> None:
        lamp = Lamp()
        self.assertEqual(run(lamp, "press", "turn", "hum"), ["bright", "click", "buzz"])
        self.assertEqual(
            Lamp.blueprint.transitions["dim", "hum"].enter, "dim"
        )  # a self-loop per state: the dispatcher's fast path

    def test_ownDeclarationWins(self) -> None:
        self.assertEqual(
            run(Lamp(), "press", "turn", "drop"), ["bright", "click"]
        )  # bright's own drop, not on's crash

    def test_flatTableSaysWhereEachEdgeCameFrom(self) -> None:
        transitions = Lamp.blueprint.transitions
        self.assertEqual(transitions["dim", "drop"].via, "on")
        self.assertIsNone(transitions["bright", "drop"].via)
        self.assertNotIn(("on", "press"), transitions)  # a superstate is no state

    def test_ownRejectionWins(self) -> None:
        class Childproof(Lamp):
            _machine = Machine()
            parent = inherited(_machine, Lamp)
            locked = rejects(parent.bright, parent.press, "too bright to switch off")

        lamp = Childproof()
        run(lamp, "press", "turn", "press")
        self.assertEqual(lamp.state, "bright")
        [error] = lamp.errors
        self.assertEqual(
            (error.kind, error.state, error.why),
            ("rejected", "bright", "too bright to switch off"),
        )
        self.assertEqual(run(Childproof(), "press", "press"), ["off", "click", "click"])

    def test_rejectsOnASuperstate(self) -> None:
        class Warm(Lamp):
            _machine = Machine()
            parent = inherited(_machine, Lamp)

            @_machine.state(within=parent.on)
            def warm(self) -> None:
                "Lit, warmly; it has no dimmer."

            parent.off.upon(parent.turn, enter=warm, outputs=[])
            noDimmer = rejects(parent.on, parent.turn, "no dimmer on this model")

        lamp = Warm()
        run(lamp, "turn", "turn")
        [error] = lamp.errors
        self.assertEqual((error.state, error.why), ("warm", "no dimmer on this model"))
        self.assertEqual(run(lamp, "hum", "drop"), ["broken", "buzz", "crash"])
        # dim and bright declare turn themselves: their own declarations win.
        self.assertEqual(run(Warm(), "press", "turn")[0], "bright")

    def test_subclassChangesTheSuperstateOnceForEveryState(self) -> None:
        before = dict(Lamp.blueprint.transitions)

        class Fused(Lamp):
            _machine = Machine()
            parent = inherited(_machine, Lamp)

            @_machine.output()
            def _fuse(self) -> None:
                self.log.append("fuse")

            parent.on.upon(parent.drop, enter=parent.off, outputs=[_fuse])

        self.assertEqual(run(Fused(), "press", "drop"), ["off", "click", "fuse"])
        self.assertEqual(
            run(Fused(), "press", "turn", "drop"), ["bright", "click"]
        )  # bright declares drop itself
        self.assertEqual(run(Lamp(), "press", "drop"), ["broken", "click", "crash"])
        self.assertEqual(dict(Lamp.blueprint.transitions), before)

    def test_aSubclassAddsAStateWithin(self) -> None:
        class Flashing(Lamp):
            _machine = Machine()
            parent = inherited(_machine, Lamp)

            @_machine.state(within=parent.on)
            def flashing(self) -> None:
                "Lit, flashing."

            parent.bright.upon(parent.turn, enter=flashing, outputs=[])

        lamp = Flashing()
        self.assertEqual(
            run(lamp, "press", "turn", "turn", "hum"), ["flashing", "click", "buzz"]
        )
        self.assertEqual(run(Flashing(), "press", "turn", "turn", "drop")[0], "broken")
        self.assertEqual(
            unhandledPairs(Flashing), [("flashing", "turn")]
        )  # the one input nobody decided about there

    def test_nestedTwoDeepNearestWins(self) -> None:
        class Deep(StateMachine):
            _machine = Machine()

            def __init__(self) -> None:
                self.log: list[str] = []

            @_machine.superstate()
            def outer(self) -> None:
                "Outer."

            @_machine.superstate(within=outer)
            def inner(self) -> None:
                "Inner, within outer."

            @_machine.state(initial=True, within=inner)
            def a(self) -> None:
                "a"

            @_machine.state(within=outer)
            def b(self) -> None:
                "b"

            @_machine.input()
            def go(self) -> None:
                "go"

            @_machine.input()
            def back(self) -> None:
                "back"

            @_machine.output()
            def _outer(self) -> None:
                self.log.append("outer")

            @_machine.output()
            def _inner(self) -> None:
                self.log.append("inner")

            outer.upon(go, enter=a, outputs=[_outer])
            outer.upon(back, enter=b, outputs=[_outer])
            inner.upon(go, outputs=[_inner])

        deep = Deep()
        self.assertEqual(run(deep, "go", "go"), ["a", "inner", "inner"])  # nearest
        self.assertEqual(Deep.blueprint.ancestorsOf("a"), ["inner", "outer"])
        deep = Deep()
        self.assertEqual(run(deep, "back", "go"), ["a", "outer", "outer"])
        self.assertEqual(Deep.blueprint.transitions["a", "back"].via, "outer")
        self.assertEqual(Deep.blueprint.transitions["b", "go"].via, "outer")


class DeclarationFormsTests(SynchronousTestCase):
    def test_plainAutomatMachineWithInclude(self) -> None:
        class Nightlight(Lamp):
            _machine = MethodicalMachine()  # Automat's own: no within=
            parent = inherited(_machine, Lamp)

            @_machine.state()
            def glowing(self) -> None:
                "Barely lit."

            parent.on.include(glowing)
            parent.dim.upon(parent.turn, enter=glowing, outputs=[])
            glowing.upon(parent.turn, enter=parent.dim, outputs=[])

        light = Nightlight()
        self.assertEqual(
            run(light, "press", "turn", "hum"), ["glowing", "click", "buzz"]
        )
        self.assertEqual(run(light, "press"), ["off", "click", "buzz", "click"])
        self.assertEqual(Nightlight.blueprint.states["glowing"].within, "on")

    def test_userModuleWithRealAnnotations(self) -> None:
        source = """
from statemachines import Machine, inherited
from tests.engine.test_superstate import Lamp


class Strobe(Lamp):
    _machine = Machine()
    parent = inherited(_machine, Lamp)

    @_machine.state(within=parent.on)
    def strobing(self) -> None:
        "Flashing fast."

    @_machine.input()
    def tap(self, times: int) -> None:
        "Tapped."

    @_machine.output()
    def _count(self, times: int) -> None:
        self.log.append(f"x{times}")

    parent.dim.upon(tap, enter=strobing, outputs=[_count])
    parent.on.upon(tap, outputs=[_count])
"""
        namespace: dict[str, Any] = {"__name__": "usermodule"}
        exec(compile(source, "usermodule.py", "exec", dont_inherit=True), namespace)
        strobe = namespace["Strobe"]()
        strobe.press()
        strobe.tap(3)
        strobe.tap(2)
        self.assertEqual(run(strobe, "hum"), ["strobing", "click", "x3", "x2", "buzz"])


class MistakeTests(SynchronousTestCase):
    def assertRefused(self, fragment: str, body: Any) -> None:
        with self.assertRaises(TypeError) as caught:
            body()
        self.assertIn(fragment, str(caught.exception))

    def test_enteringASuperstateIsRefused(self) -> None:
        def body() -> None:
            class Wrong(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)
                parent.off.upon(parent.turn, enter=parent.on, outputs=[])

        self.assertRefused("enters <superstate on>, which is not a state", body)

        def onSuperstate() -> None:
            class Wrong(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)
                parent.on.upon(parent.turn, enter=parent.on, outputs=[])

        self.assertRefused("enters superstate 'on'", onSuperstate)

    def test_withinSomethingElseIsRefused(self) -> None:
        def body() -> None:
            class Wrong(StateMachine):
                _machine = Machine()

                @_machine.state(initial=True)
                def a(self) -> None:
                    "a"

                @_machine.state(within=a)  # type: ignore[arg-type]
                def b(self) -> None:
                    "b"

        self.assertRefused("which is not a superstate", body)

    def test_includingAnotherMachinesStateIsRefused(self) -> None:
        def body() -> None:
            class Wrong(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)
                parent.on.include(Lamp.broken)

        self.assertRefused("not a state of this class's machine", body)

    def test_aSuperstateDeclaresAnInputOnce(self) -> None:
        def body() -> None:
            class Wrong(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)
                parent.on.upon(parent.turn, outputs=[])
                parent.on.upon(parent.turn, enter=parent.off, outputs=[])

        self.assertRefused("declares input 'turn' twice", body)

    def test_aNameMeansOneThing(self) -> None:
        def body() -> None:
            class Wrong(Lamp):
                _machine = Machine()

                @_machine.superstate()
                def dim(self) -> None:
                    "dim again"

        self.assertRefused("superstate 'dim' has the name", body)


class MoreMistakesTests(SynchronousTestCase):
    """Declarations that would silently do something else are refused."""

    def refused(self, body: Any) -> str:
        with self.assertRaises(TypeError) as caught:
            body()
        return str(caught.exception)

    def test_aStateWithinTwoSuperstates(self) -> None:
        def body() -> None:
            class Both(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)

                @_machine.superstate()
                def spare(self) -> None:
                    "spare"

                spare.include(parent.dim)
                parent.on.include(parent.dim)

        self.assertIn("'dim' is put within both", self.refused(body))

    def test_standInsForAnotherMachine(self) -> None:
        def body() -> None:
            class Lost(Lamp):
                _machine = Machine()
                parent = inherited(Machine(), Lamp)
                parent.on.include(parent.broken)

        self.assertIn("was made for a machine that is not the one", self.refused(body))

    def test_aRejectionATransitionOverrides(self) -> None:
        def body() -> None:
            class Useless(Lamp):
                _machine = Machine()
                parent = inherited(_machine, Lamp)
                nope = rejects(parent.on, parent.hum, "no")

        message = self.refused(body)
        self.assertIn("rejects(on, hum) changes nothing", message)
        self.assertIn("(in Lamp)", message)

    def test_anEmptySuperstate(self) -> None:
        def body() -> None:
            class Empty(Lamp):
                _machine = Machine()

                @_machine.superstate()
                def nowhere(self) -> None:
                    "nothing within"

        self.assertIn("superstate 'nowhere' has no state within it", self.refused(body))

    def test_aNameThatHidesAParentsMethod(self) -> None:
        from statemachines import EchoMachine

        def body() -> None:
            class Hiding(EchoMachine):
                _machine = Machine()
                parent = inherited(_machine, EchoMachine)

                @_machine.superstate(within=parent.open)
                def close(self) -> None:
                    "hides close()"

                parent.open.include(parent.receiving)
                close.include(parent.connected)

        self.assertIn(
            "superstate 'close' would hide ConnectionMachine.close", self.refused(body)
        )

    def test_aTimerOnATerminalState(self) -> None:
        from statemachines import EchoMachine, stateTimer

        def body() -> None:
            class Haunted(EchoMachine):
                _machine = Machine()
                parent = inherited(_machine, EchoMachine)
                ghost = stateTimer(parent.closed, 1, fires=parent.timeout)

        self.assertIn("stateTimer on 'closed', a terminal state", self.refused(body))

    def test_automatsOwnStatesRefuseOnceBuilt(self) -> None:
        kept: list[Any] = []

        class Plain(Lamp):
            _machine = MethodicalMachine()
            parent = inherited(_machine, Lamp)

            @_machine.state()
            def glowing(self) -> None:
                "glowing"

            parent.on.include(glowing)
            parent.dim.upon(parent.turn, enter=glowing, outputs=[])
            glowing.upon(parent.turn, enter=parent.dim, outputs=[])
            kept.append(glowing)

        with self.assertRaises(TypeError) as caught:
            kept[0].upon(Plain.press, enter=kept[0], outputs=[])
        self.assertIn("whose machine is built", str(caught.exception))


class NothingLeaksTests(SynchronousTestCase):
    def test_loopVariablesAndAliasesAreGone(self) -> None:
        for name in ("_state", "_connected", "_receiving", "_closing", "_lose"):
            self.assertFalse(hasattr(SMTPMachine, name), name)
        self.assertFalse(hasattr(SMTPMachine, "parent"))

    def test_builtClassesRefuseDeclarations(self) -> None:
        for declare in (
            lambda: SMTPMachine.session.upon(SMTPMachine.quit, outputs=[]),
            lambda: SMTPMachine.data.upon(SMTPMachine.quit, enter=SMTPMachine.data),
            lambda: ConnectionMachine.open.include(ConnectionMachine.closing),
            lambda: Lamp.on.upon(Lamp.turn, outputs=[]),
        ):
            with self.assertRaises(TypeError) as caught:
                declare()
            self.assertIn("whose machine is built", str(caught.exception))
        self.assertIsInstance(SMTPMachine.session, Superstate)

    def test_theBodysOwnStatesRefuseToo(self) -> None:
        kept: list[Any] = []

        class Kept(Lamp):
            _machine = Machine()
            parent = inherited(_machine, Lamp)

            @_machine.state(within=parent.on)
            def warm(self) -> None:
                "warm"

            parent.dim.upon(parent.turn, enter=warm, outputs=[])
            kept.extend([warm, parent.on])
            alias = warm

        self.assertFalse(hasattr(Kept, "alias"))
        for declared in kept:
            with self.assertRaises(TypeError):
                declared.upon(Lamp.press, enter=kept[0], outputs=[])
        self.assertEqual(Kept.blueprint.transitions["warm", "press"].enter, "off")


class PersistenceAndDrawingTests(SynchronousTestCase):
    def test_serializerAndUnserializer(self) -> None:
        class Saved(Lamp):
            _machine = Machine()

            @_machine.serializer()
            def save(self, state: str) -> str:
                return state

            @_machine.unserializer()
            def restore(self, state: str) -> None:
                return state  # type: ignore[return-value]

        lamp = Saved()
        run(lamp, "press", "turn")
        self.assertEqual(lamp.save(), "bright")
        other = Saved()
        other.restore("dim")
        self.assertEqual(run(other, "hum", "drop"), ["broken", "buzz", "crash"])
        self.assertEqual(pickle.loads(pickle.dumps(lamp.save())), "bright")

    def test_asDigraphDrawsTheFlatTable(self) -> None:
        machine = builtOf(Lamp).automatMachine
        source = machine.asDigraph().source
        self.assertIn("dim", source)
        self.assertIn("_crash", source)


# -- compiled against Automat, on random machines with superstates ------------


@st.composite
def superMachines(draw: st.DrawFn) -> tuple[type[Any], list[str]]:
    """
    A random machine with superstates nested up to two deep, edges on
    states and superstates, rejections on superstates; then, half the time,
    a subclass that redeclares some superstate edges.
    """
    m = Machine()
    ns: dict[str, Any] = {"m": m}
    nSupers = draw(st.integers(1, 3))
    supers: list[Superstate] = []
    for k in range(nSupers):
        within = draw(st.sampled_from([None, *supers[-2:]])) if supers else None
        exec(f"def g{k}(self): 'g{k}'", ns)
        supers.append(m.superstate(within=within)(ns.pop(f"g{k}")))
    nStates = draw(st.integers(max(2, nSupers), 5))
    states = []
    for i in range(nStates):
        exec(f"def s{i}(self): 's{i}'", ns)
        # Each superstate has a state of its own (an empty one is refused).
        within = supers[i] if i < nSupers else draw(st.sampled_from([None, *supers]))
        states.append(m.state(initial=(i == 0), within=within)(ns.pop(f"s{i}")))
    inputs = []
    for i in range(draw(st.integers(1, 4))):
        exec(f"def i{i}(self, x=0): 'i{i}'", ns)
        inputs.append(m.input()(ns.pop(f"i{i}")))
    outputs = []
    for j in range(3):
        exec(f"def o{j}(self, x): self.trace.append(('o{j}', x))", ns)
        outputs.append(m.output()(ns.pop(f"o{j}")))
    declared = set()
    for n, target in enumerate(states[1:], 1):  # each but the first is entered
        free = [
            (a, b)
            for a in range(nStates)
            for b in range(len(inputs))
            if a != n and (a, b) not in declared
        ]
        a, b = draw(st.sampled_from(free))
        states[a].upon(inputs[b], enter=target, outputs=[])
        declared.add((a, b))
    for a, s in enumerate(states):
        for b, i in enumerate(inputs):
            if (a, b) not in declared and draw(st.integers(0, 3)) == 0:
                s.upon(i, enter=draw(st.sampled_from(states)), outputs=[])
    free: dict[int, list[Any]] = {}
    for k, g in enumerate(supers):
        free[k] = []
        for i in inputs:
            if not draw(st.booleans()):
                free[k].append(i)  # rejecting what g handles would change nothing
            else:
                enter = draw(st.sampled_from([None, *states]))
                chosen = draw(st.lists(st.sampled_from(outputs), max_size=2))
                g.upon(i, enter=enter, outputs=chosen)
    for k, g in enumerate(supers):
        if free[k] and draw(st.integers(0, 2)) == 0:
            ns[f"r{k}"] = rejects(g, draw(st.sampled_from(free[k])), f"not in g{k}")
    ns.update({f"g{k}": g for k, g in enumerate(supers)})
    ns.update({f"s{i}": s for i, s in enumerate(states)})
    ns.update({f"i{i}": inp for i, inp in enumerate(inputs)})
    ns["__init__"] = lambda self: setattr(self, "trace", [])
    ns["machineError"] = lambda self, error: self.errors.append(error)
    cls = type("RandomSuper", (StateMachine,), ns)
    names = [i.method.__name__ for i in inputs]
    if draw(st.booleans()):
        sub = Machine()
        parent = inherited(sub, cls)
        body: dict[str, Any] = {"_machine": sub, "parent": parent}
        exec("def o9(self, x): self.trace.append(('o9', x))", body)
        o9 = sub.output()(body["o9"])
        for k in range(nSupers):
            if draw(st.booleans()):
                g = getattr(parent, f"g{k}")
                enter = draw(st.sampled_from([None, *range(nStates)]))
                g.upon(
                    getattr(parent, draw(st.sampled_from(names))),
                    enter=None if enter is None else getattr(parent, f"s{enter}"),
                    outputs=[o9],
                )
        cls = type("RandomSuperChild", (cls,), body)
    return cls, names


class FlattenedLikeAutomatTests(SynchronousTestCase):
    @settings(max_examples=250, deadline=None)
    @given(st.data())
    def test_equivalentToAutomat(self, data: st.DataObject) -> None:
        from statemachines.testing import onAutomatRuntime

        cls, names = data.draw(superMachines())
        steps = [
            (name, (x,), {})
            for name, x in data.draw(
                st.lists(st.tuples(st.sampled_from(names), st.integers(0, 3)))
            )
        ]
        ours, reference = cls(), onAutomatRuntime(cls)
        ours.errors, reference.errors = [], []
        self.assertEqual(observe(ours, steps, False), observe(reference, steps, True))

    @settings(max_examples=250, deadline=None)
    @given(st.data())
    def test_flatTableFollowsTheRule(self, data: st.DataObject) -> None:
        """Each pair holds what the nearest declaration says: a second reading."""
        cls, _ = data.draw(superMachines())
        bp = cls.blueprint
        for state in bp.states:
            for input in bp.inputs:
                expected = None
                for level in [state, *bp.ancestorsOf(state)]:
                    table = (
                        bp.stateTransitions if level == state else bp.superTransitions
                    )
                    found = table.get((level, input))
                    if found is not None:
                        expected = getattr(found, "enter", None) or state
                        break
                    if any(
                        r.states == (level,) and r.inputs == (input,)
                        for r in bp.rejections
                    ):
                        break
                got = bp.transitions.get((state, input))
                self.assertEqual(None if got is None else got.enter, expected)
