"""
State timers: started on entering their state or superstate, cancelled on
leaving it, never restarted by moves within a superstate unless an output
says so, and checked when the class is created.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from statemachines import ANY, Machine, StateMachine, inherited, rejects
from statemachines.engine.statetimers import stateTimer


class Kettle(StateMachine):
    """
    cold, then heating (within on, with its boil timer), boiling (within on),
    and off.  ``on`` has a safety timer; ``heating`` a boil timer.
    """

    _machine = Machine()

    def __init__(self, clock: Clock, safety: float | None = 60.0) -> None:
        self.clock = clock
        self.safety = safety
        self.boilAfter = 5.0
        self.log: list[str] = []

    @_machine.state(initial=True)
    def cold(self) -> None:
        "Not started."

    @_machine.superstate()
    def on(self) -> None:
        "Switched on."

    @_machine.state(within=on)
    def heating(self) -> None:
        "Getting there."

    @_machine.state(within=on)
    def boiling(self) -> None:
        "There."

    @_machine.state()
    def off(self) -> None:
        "Done."

    @_machine.input()
    def switch(self) -> None:
        "The switch."

    @_machine.input()
    def stir(self) -> None:
        "Someone stirs."

    @_machine.input()
    def boiled(self) -> None:
        "The boil timer ran out."

    @_machine.input()
    def tooLong(self) -> None:
        "The safety timer ran out."

    @_machine.input()
    def reset(self) -> None:
        "The safety button."

    @_machine.output()
    def _note(self) -> None:
        self.log.append(f"{self.clock.seconds():g}")

    @_machine.output()
    def _restartSafety(self) -> None:
        self.log.append(f"restarted {self.restartTimer('on')}")

    cold.upon(switch, enter=heating, outputs=[_note])
    heating.upon(boiled, enter=boiling, outputs=[_note])
    heating.upon(stir, enter=heating, outputs=[])
    boiling.upon(stir, enter=heating, outputs=[])  # within on: no new safety timer
    on.upon(tooLong, enter=off, outputs=[_note])
    on.upon(switch, enter=off, outputs=[])
    off.upon(switch, enter=heating, outputs=[_restartSafety])
    on.upon(reset, outputs=[_restartSafety])

    safetyTimer = stateTimer(on, "safety", fires=tooLong)
    boilTimer = stateTimer(heating, "boilAfter", fires=boiled)
    boiledOnlyWhileHeating = rejects(ANY, [boiled, tooLong], "only timers fire these")
    resetWhileOn = rejects([cold, off], reset, "only while on")


def pending(clock: Clock) -> list[float]:
    return sorted(call.getTime() for call in clock.getDelayedCalls())


class StartAndStopTests(SynchronousTestCase):
    def test_startedOnEntryCancelledOnExit(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        self.assertEqual(pending(clock), [])  # cold: no timer
        kettle.switch()
        clock.advance(5)  # the boil timer
        self.assertEqual(kettle.state, "boiling")
        clock.advance(55)  # the safety timer, from switching on
        self.assertEqual((kettle.state, kettle.log), ("off", ["0", "5", "60"]))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_leavingCancels(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        kettle.switch()  # on --switch--> off: both timers go
        self.assertEqual(kettle.state, "off")
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(1000)
        self.assertEqual(kettle.log, ["0"])

    def test_movesWithinASuperstateKeepItsTimer(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        clock.advance(5)  # boiling
        clock.advance(10)
        kettle.stir()  # boiling -> heating: heating's timer starts again...
        clock.advance(5)
        self.assertEqual(kettle.state, "boiling")  # ... and runs out at 20
        clock.advance(39.9)
        self.assertEqual(kettle.state, "boiling")
        clock.advance(0.1)  # ... but on's started at 0 and runs out at 60
        self.assertEqual(kettle.state, "off")

    def test_aSelfLoopRestartsNothing(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        clock.advance(4)
        kettle.stir()  # heating --stir--> heating: stays, no restart
        clock.advance(1)
        self.assertEqual(kettle.state, "boiling")

    def test_twoTimersAtOnceOneEachLevel(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        # One Timer per level (one delayed call per clock for all timers).
        self.assertEqual(
            sorted(k for k in vars(kettle) if k.startswith("_txmTimer")),
            ["_txmTimer0", "_txmTimer1"],
        )
        self.assertEqual(pending(clock), [5.0])

    def test_restartTimerFromAnOutput(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        clock.advance(50)
        kettle.reset()  # on --reset--> (stays): the safety timer starts over
        self.assertEqual(kettle.log[-1], "restarted True")
        clock.advance(59)
        self.assertEqual(kettle.state, "boiling")
        clock.advance(1)
        self.assertEqual(kettle.state, "off")
        self.assertFalse(kettle.restartTimer("on"))  # not in on now

    def test_anEnteringTransitionsOutputsRunBeforeItsTimersStart(self) -> None:
        clock = Clock()
        kettle = Kettle(clock)
        kettle.switch()
        kettle.switch()
        kettle.switch()  # off -> heating: outputs first, then on's timer
        self.assertEqual(kettle.log[-1], "restarted False")
        self.assertEqual(pending(clock), [5.0])

    def test_aBadLengthAtRunTimeFailsAfterTheOutputs(self) -> None:
        for bad in (float("nan"), -1, float("inf"), True, "5"):
            clock = Clock()
            kettle = Kettle(clock, safety=bad)  # type: ignore[arg-type]
            errors: list[Any] = []
            kettle.machineError = errors.append  # type: ignore[method-assign]
            kettle.switch()
            [error] = errors
            self.assertIn("a length is a finite number", str(error.failure.value))
            self.assertEqual(kettle.log, ["0"])  # the outputs ran
            clock.advance(1000)  # and nothing spins or fires

    def test_restartTimerOnAStateWithoutOne(self) -> None:
        with self.assertRaises(ValueError) as caught:
            Kettle(Clock()).restartTimer("boilTimer")
        self.assertIn("'on', 'heating'", str(caught.exception))

    def test_aMisspelledLengthSaysSo(self) -> None:
        class Typo(Kettle):
            _machine = Machine()
            parent = inherited(_machine, Kettle)
            boilTimer = stateTimer(parent.heating, "boilAftr", fires=parent.boiled)

        errors: list[Any] = []
        kettle = Typo(Clock())
        kettle.machineError = errors.append  # type: ignore[method-assign]
        kettle.switch()
        [error] = errors
        self.assertIn(
            "the timer of 'heating' takes its length from attribute 'boilAftr'",
            str(error.failure.value),
        )

    def test_lengthNoneMeansNoTimer(self) -> None:
        clock = Clock()
        kettle = Kettle(clock, safety=None)
        kettle.switch()
        clock.advance(5)
        self.assertEqual((kettle.state, clock.getDelayedCalls()), ("boiling", []))

    def test_aSubclassTakesATimerAway(self) -> None:
        class Unsafe(Kettle):
            _machine = Machine()
            parent = inherited(_machine, Kettle)
            safetyTimer = stateTimer(parent.on, None)

        clock = Clock()
        kettle = Unsafe(clock)
        kettle.switch()
        clock.advance(1000)
        self.assertEqual(kettle.state, "boiling")
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertIsNotNone(Kettle.blueprint.timers["on"].after)  # parent unchanged

    def test_aSubclassChangesALength(self) -> None:
        class Quick(Kettle):
            _machine = Machine()
            parent = inherited(_machine, Kettle)
            boilTimer = stateTimer(parent.heating, 1, fires=parent.boiled)

        clock = Clock()
        kettle = Quick(clock)
        kettle.switch()
        clock.advance(1)
        self.assertEqual(kettle.state, "boiling")


class MistakeTests(SynchronousTestCase):
    def refused(self, body: Any) -> str:
        with self.assertRaises(TypeError) as caught:
            body()
        return str(caught.exception)

    def test_aStateThatIgnoresItsTimersInput(self) -> None:
        def body() -> None:
            class Deaf(Kettle):
                _machine = Machine()
                parent = inherited(_machine, Kettle)

                @_machine.state(within=parent.on)
                def resting(self) -> None:
                    "resting"

                parent.boiling.upon(parent.switch, enter=resting, outputs=[])
                # on's safety timer runs here too; tooLong is handled by on.
                badTimer = stateTimer(resting, 1, fires=parent.stir)

        message = self.refused(body)
        self.assertIn("state 'resting' does not handle input 'stir'", message)
        self.assertIn("badTimer of 'resting'", message)
        self.assertIn("declare resting.upon(stir, ...)", message)

    def test_aTimerOnTheInitialState(self) -> None:
        def body() -> None:
            class Early(Kettle):
                _machine = Machine()
                parent = inherited(_machine, Kettle)
                early = stateTimer(parent.cold, 1, fires=parent.switch)

        self.assertIn(
            "early (declared by Early) runs in the initial state 'cold'",
            self.refused(body),
        )

    def test_theInitialStateWithinATimersSuperstate(self) -> None:
        def body() -> None:
            class Early(Kettle):
                _machine = Machine()
                parent = inherited(_machine, Kettle)
                parent.on.include(parent.cold)

        message = self.refused(body)
        self.assertIn(
            "safetyTimer (declared by Kettle) runs in 'on', and so is "
            "the initial state 'cold'",
            message,
        )

    def test_aSecondTimerOnAStateIsRefused(self) -> None:
        def body() -> None:
            class Two(Kettle):
                _machine = Machine()
                parent = inherited(_machine, Kettle)
                another = stateTimer(parent.on, 1, fires=parent.tooLong)

        message = self.refused(body)
        self.assertIn("'on' has a timer already, safetyTimer (from Kettle)", message)

    def test_aTimerNeedsItsInput(self) -> None:
        def body() -> None:
            class Mute(Kettle):
                _machine = Machine()
                parent = inherited(_machine, Kettle)
                mute = stateTimer(parent.off, 1)

        self.assertIn("needs fires=", self.refused(body))

    def test_badLengths(self) -> None:
        with self.assertRaises(ValueError):
            stateTimer(None, -1)
        with self.assertRaises(TypeError):
            stateTimer(None, [1])  # type: ignore[arg-type]


class RestoredTests(SynchronousTestCase):
    def test_anUnserializerStartsTheTimersOfWhereItRestores(self) -> None:
        class Saved(Kettle):
            _machine = Machine()

            @_machine.unserializer()
            def restore(self, state: str) -> str:
                return state

        clock = Clock()
        kettle = Saved(clock)
        kettle.restore("heating")
        self.assertEqual(pending(clock), [5.0])  # heating's (and on's, at 60)
        clock.advance(5)
        self.assertEqual(kettle.state, "boiling")
        kettle.restore("off")
        self.assertEqual(clock.getDelayedCalls(), [])
