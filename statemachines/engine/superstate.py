"""
`Superstate`: a composite state, as declared in a class body.

A superstate groups states that share handling: what it handles, every
state within it handles the same way unless the state (or a superstate
nearer to it) declares or rejects that input itself.  The rule, and how it
is flattened into one table per state, is `blueprint`'s; this module holds
only the class-body object and what it records:

- ``upon(input, enter=..., outputs=[...])``, as on a state; ``enter`` left
  out means *stay*: each state within keeps its state (an internal
  transition);
- the states within it: ``Machine.state(within=...)``, or `Superstate.include`
  (which works for any ``MethodicalMachine``, Automat's own included).

Automat has no superstates, so their declarations cannot live in its
machine: each machine's superstates are kept here (`superstatesOf`), in
the order they were made, and `declaring` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from weakref import WeakKeyDictionary

from automat import MethodicalMachine

from . import automatinternals as automat

__all__ = ["Superstate", "isSuperstate", "superstatesOf"]

_byMachine: WeakKeyDictionary[MethodicalMachine, list[Superstate]] = WeakKeyDictionary()


def superstatesOf(machine: MethodicalMachine) -> list[Superstate]:
    """The superstates made for ``machine`` (declared or stand-ins), in order."""
    return list(_byMachine.get(machine, ()))


def isSuperstate(value: object) -> bool:
    return isinstance(value, Superstate)


class Superstate:
    """
    A composite state of ``machine``, named after ``method`` (whose docstring
    says what it means), itself within ``within`` (None: at the top).
    """

    def __init__(
        self,
        machine: MethodicalMachine,
        method: Callable[..., Any],
        within: Superstate | None = None,
        *,
        standIn: bool = False,
    ) -> None:
        self.machine = machine
        self.method = method
        self.within = within
        self.standIn = standIn  # an `inherited` stand-in for a parent's
        self.transitions: list[tuple[Any, Any, list[Any], Callable[..., Any]]] = []
        self.members: list[Any] = []
        _byMachine.setdefault(machine, []).append(self)

    @property
    def name(self) -> str:
        return self.method.__name__

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.method.__doc__

    def _refuseIfBuilt(self, what: str) -> None:
        builtFor = getattr(self.machine, "builtFor", None)
        if builtFor is not None:
            raise TypeError(
                automat.inClass(
                    f"superstate {self.name!r} is {builtFor}'s, whose machine is "
                    f"built; {what} through a stand-in, "
                    f"inherited(machine, {builtFor}).{self.name}"
                )
            )

    def upon(
        self,
        input: Any,
        enter: Any = None,
        outputs: Iterable[Any] | None = None,
        collector: Callable[[Iterable[Any]], Any] = list,
    ) -> None:
        """
        Upon ``input`` in any state within, enter ``enter`` (left out: stay
        in that state) and run ``outputs``, unless that state declares or
        rejects ``input`` itself.
        """
        self._refuseIfBuilt("declare transitions on it")
        outputs = list(outputs or [])
        if automat.kindOf(input) != "input" and not getattr(
            input, "__txmachinesInput__", False
        ):
            raise TypeError(
                automat.inClass(
                    f"superstate {self.name!r}: upon({input!r}) needs an input"
                )
            )
        automat.refuseOutputsTheInputCannotFeed(
            input, outputs, f"superstate {self.name!r}"
        )
        self.transitions.append((input, enter, outputs, collector))

    def include(self, *states: Any) -> None:
        """
        Put ``states`` within this superstate.  ``Machine.state(within=...)``
        does the same when a state is declared; this also serves machines
        declared with Automat's own ``MethodicalMachine``, and a parent's
        states (through their `inherited` stand-ins).
        """
        self._refuseIfBuilt("put states within it")
        self.members.extend(states)

    def __repr__(self) -> str:
        return f"<superstate {self.name}>"
