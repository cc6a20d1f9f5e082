"""
Liveness (`statemachines.engine.liveness`): ``mustHandle`` checked when a
class is created, and what ``Machine.state(terminal=True)`` changes there.
"""

from __future__ import annotations

from typing import Any

from automat import MethodicalMachine
from twisted.trial.unittest import SynchronousTestCase

from statemachines import Machine, StateMachine, mustHandle


def phone(terminal: bool, hangUpWhenHungUp: bool = False) -> type[StateMachine]:
    """
    A machine whose every state must handle ``hangUp``, which must end it:
    ``hungUp`` is declared ``terminal=terminal``, and handles ``hangUp``
    itself (a self-loop) only if ``hangUpWhenHungUp``.
    """

    class Phone(StateMachine):
        m = Machine()

        @m.state(initial=True)
        def ringing(self) -> None:
            "Ringing."

        @m.state()
        def talking(self) -> None:
            "Talking."

        @m.state(terminal=terminal)
        def hungUp(self) -> None:
            "Done."

        @m.input()
        def answer(self) -> None:
            "Picked up."

        @m.input()
        def hangUp(self) -> None:
            "Put down."

        noStuckStates = mustHandle(
            [hangUp], "a caller can always hang up", ends=[hangUp]
        )

        ringing.upon(answer, enter=talking, outputs=[])
        ringing.upon(hangUp, enter=hungUp, outputs=[])
        talking.upon(hangUp, enter=hungUp, outputs=[])
        if hangUpWhenHungUp:
            hungUp.upon(hangUp, enter=hungUp, outputs=[])

    return Phone


class TerminalTests(SynchronousTestCase):
    """``terminal=True`` is what lets a state be the end of the line."""

    def refused(self, **kwargs: Any) -> str:
        with self.assertRaises(TypeError) as caught:
            phone(**kwargs)
        return str(caught.exception)

    def test_aTerminalStateNeedNotHandleWhatEveryStateMust(self) -> None:
        """The same machine: refused without ``terminal=True``, built with it."""
        self.assertIn(
            "Phone: state 'hungUp' does not handle input 'hangUp' "
            "(a caller can always hang up)",
            self.refused(terminal=False),
        )
        machine = phone(terminal=True)()
        machine.answer()
        machine.hangUp()
        self.assertEqual(machine.state, "hungUp")
        self.assertTrue(type(machine).blueprint.states["hungUp"].terminal)

    def test_anEndMustLeadIntoATerminalState(self) -> None:
        """
        Handling the input is not enough for ``ends``: where it leads must
        be terminal, or it would wait for what has already happened.
        """
        self.assertIn(
            "input 'hangUp' in state 'ringing' enters 'hungUp', which still expects it",
            self.refused(terminal=False, hangUpWhenHungUp=True),
        )
        machine = phone(terminal=True, hangUpWhenHungUp=True)()
        machine.hangUp()
        machine.hangUp()  # a self-loop does not leave a terminal state
        self.assertEqual(machine.state, "hungUp")

    def test_aTerminalStateMayNotBeLeft(self) -> None:
        with self.assertRaises(TypeError) as caught:

            class Redial(StateMachine):
                m = Machine()

                @m.state(initial=True)
                def idle(self) -> None:
                    "Idle."

                @m.state(terminal=True)
                def done(self) -> None:
                    "Done."

                @m.input()
                def go(self) -> None:
                    "Go."

                idle.upon(go, enter=done, outputs=[])
                done.upon(go, enter=idle, outputs=[])

        self.assertIn(
            "Redial: state 'done' is declared terminal, but input 'go' leaves "
            "it for 'idle'",
            str(caught.exception),
        )

    def test_automatsOwnTerminalIsInformational(self) -> None:
        """
        A plain ``MethodicalMachine`` takes ``terminal=`` and forgets it
        (Automat keeps no record of it), so only `Machine` declares a
        terminal state: with Automat's, the state is an ordinary one.
        """

        class Plain(StateMachine):
            m = MethodicalMachine()

            @m.state(initial=True)
            def idle(self) -> None:
                "Idle."

            @m.state(terminal=True)
            def done(self) -> None:
                "Done."

            @m.input()
            def go(self) -> None:
                "Go."

            idle.upon(go, enter=done, outputs=[])

        self.assertFalse(Plain.blueprint.states["done"].terminal)
