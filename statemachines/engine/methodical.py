"""
`Machine`: the ``MethodicalMachine`` to declare a `StateMachine` with.

It is Automat's, with two differences:

- its states match a transition's outputs to its input by parameter name,
  so annotations never matter (see `automatinternals.newState`);
- it declares superstates (`superstate`) and states within them
  (``state(within=...)``); see `statemachines.engine.superstate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automat import MethodicalMachine

from . import automatinternals as automat
from .superstate import Superstate

__all__ = ["Machine"]


class Machine(MethodicalMachine):
    """
    Automat's ``MethodicalMachine``, whose states match a transition's
    outputs to its input by parameter name (annotations never matter), and
    which has superstates.  Declare a machine's states, superstates, inputs
    and outputs with it.

    ``builtFor`` names the class a machine was built for: its states and
    superstates refuse new transitions, which would change that class.
    """

    builtFor: str | None = None

    def state(  # type: ignore[override]
        self,
        *,
        initial: bool = False,
        terminal: bool = False,
        serialized: Any = None,
        within: Superstate | None = None,
    ) -> Callable[[Callable[..., Any]], Any]:
        """
        Declare a state, as ``MethodicalMachine.state`` does; ``within``
        puts it in a superstate, whose handling it inherits.  ``terminal``
        says the machine's work is done there (a closed connection): no
        transition may leave it, and it need not handle what every other
        state must (see `statemachines.engine.liveness`).  Automat's own
        ``MethodicalMachine.state`` takes ``terminal=`` and forgets it.
        """

        def decorator(method: Callable[..., Any]) -> Any:
            state = automat.newState(
                self, method, initial=initial, serialized=serialized, terminal=terminal
            )
            if within is not None:
                _needSuperstate(within, automat.nameOf(state))
                within.include(state)
            return state

        return decorator

    def superstate(
        self, *, within: Superstate | None = None
    ) -> Callable[[Callable[..., Any]], Superstate]:
        """
        Declare a superstate: a group of states (declared later with
        ``state(within=it)``) that handle what it handles, the same way,
        unless a state declares or rejects an input itself::

            @_machine.superstate()
            def open(self) -> None:
                "The connection is open."

            @_machine.state(within=open)
            def connected(self) -> None:
                "Nothing has arrived yet."

            open.upon(connectionLost, enter=closed, outputs=[disconnected])

        Superstates nest (``within=``).  A machine is never in a superstate
        itself, only in a state within one, so a transition enters a state.
        """

        def decorator(method: Callable[..., Any]) -> Superstate:
            if within is not None:
                _needSuperstate(within, method.__name__)
            return Superstate(self, method, within)

        return decorator


def _needSuperstate(within: object, name: str) -> None:
    if not isinstance(within, Superstate):
        raise TypeError(
            automat.inClass(
                f"{name!r} is declared within={within!r}, which is not a "
                "superstate (declare one with @machine.superstate())"
            )
        )
