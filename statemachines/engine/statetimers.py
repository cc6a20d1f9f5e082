"""
State timers: a timeout that belongs to a state or a superstate.

Theory of operation
===================

A class body declares ``stateTimer(where, after, fires)``: while the
machine is in ``where`` (a state, or any state within a superstate), a timer
runs, ``after`` seconds long (the name of an attribute read when the timer
starts, or a number; None: no timer), and when it runs out the input
``fires`` is called, like any other input.  As Erlang's gen_statem
``state_timeout`` and SCXML's ``<send delay>`` cancelled on exit:

- the engine starts the timer when a transition *enters* ``where`` from
  outside it, and cancels it when a transition *leaves* ``where``: the
  caller never starts or cancels it by hand, so none outlives its state;
- a transition between two states within the same superstate neither
  leaves nor enters it, so the superstate's timer keeps running; an output
  that wants it to start over says so with `StateMachine.restartTimer`
  (the idle timer: on every read);
- a self-loop (a transition that stays) leaves and enters nothing.

In UML's order: the timers of what a transition leaves are cancelled
before its outputs run, and those of what it enters start after them.  So a
timer whose length cannot be read fails the transition (the machine's error
policy answers) only once its outputs have done their work, and an output
of an entering transition never sees a timer it is about to start.

Cost: the actions are worked out when the class is built and compiled into
the transitions that cross a timer's boundary (`compiler`); every other
transition, the hot self-loops included, runs exactly as without timers.
Two timers whose states can be active together (a superstate's, and one of
a state within it) need two `Timer` objects; timers whose states never are
(siblings) share one, so each machine holds one `Timer` per level of
nesting that has a timer, made on first use.  Their attributes are set (to
None) when the machine is made (see "Attribute layout" in `machine`).  A
machine with state timers has a ``clock`` (an
``IReactorTime``).

A subclass redeclares a timer by declaring one for the same state again;
``after=None`` takes it away.  Restoring a state with an unserializer
enters it from nowhere: the timers of the state and of every superstate it
is within start (and any other stops).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .blueprint import Blueprint, TimerDecl
from .timer import Timer

__all__ = [
    "StateTimer",
    "TimerAction",
    "checkedDelay",
    "noTimer",
    "startTimer",
    "stateTimer",
    "stopTimer",
    "timerActions",
    "timerAttribute",
    "timerSlots",
]


class StateTimer:
    """A class-body declaration made by `stateTimer` (see `declaring`)."""

    def __init__(self, where: Any, after: str | float | None, fires: Any) -> None:
        self.whereSpec = where
        self.after = after
        self.firesSpec = fires


def stateTimer(where: Any, after: str | float | None, fires: Any = None) -> StateTimer:
    """
    Declare, in a machine's class body, a timer that runs while the machine
    is in ``where`` (a state or superstate, or an `inherited` stand-in of
    one) and calls the input ``fires`` after ``after`` seconds::

        idleTimer = stateTimer(open, "idleTimeout", fires=transport.timeout)

    ``after`` is the name of an attribute, read each time the timer starts
    (None there: no timer this time), or a number.  ``stateTimer(where,
    None)`` in a subclass takes an inherited timer away.  Every state within
    ``where`` must handle ``fires`` (or reject it on purpose): that is
    checked when the class is created.
    """
    if after is not None and not isinstance(after, (str, int, float)):
        raise TypeError(
            f"stateTimer: after={after!r} is neither an attribute name, a number "
            "nor None"
        )
    if isinstance(after, (int, float)) and not 0 <= after < float("inf"):
        raise ValueError(f"stateTimer: after={after!r} is not a length of time")
    return StateTimer(where, after, fires)


def timerSlots(blueprint: Blueprint) -> dict[str, tuple[int, TimerDecl]]:
    """
    The timers that run, by the state or superstate that owns each, with the
    slot (the owner's depth) of the `Timer` it runs on.
    """
    return {
        owner: (len(blueprint.ancestorsOf(owner)), decl)
        for owner, decl in blueprint.timers.items()
        if decl.after is not None
    }


@attrs.frozen
class TimerAction:
    """Start (``decl`` given) or stop the timer in ``slot``, for ``owner``."""

    slot: int
    owner: str
    decl: TimerDecl | None


def timerActions(
    blueprint: Blueprint,
    slots: Mapping[str, tuple[int, TimerDecl]],
    state: str,
    enter: str,
) -> list[TimerAction]:
    """What a transition from ``state`` into ``enter`` does to timers."""
    if state == enter:
        return []
    left = [state, *blueprint.ancestorsOf(state)]
    entered = [enter, *blueprint.ancestorsOf(enter)]
    starts = [
        TimerAction(slots[o][0], o, slots[o][1])
        for o in reversed(entered)
        if o not in left and o in slots
    ]
    started = {a.slot for a in starts}
    stops = [
        TimerAction(slots[o][0], o, None)
        for o in left
        if o not in entered and o in slots and slots[o][0] not in started
    ]
    return stops + starts


def timerAttribute(slot: int) -> str:
    """The instance attribute holding the `Timer` of ``slot`` (None: not made)."""
    return f"_txmTimer{slot}"


def _isLength(delay: object) -> bool:
    return (
        isinstance(delay, (int, float))
        and not isinstance(delay, bool)
        and 0 <= delay < float("inf")
    )


def checkedDelay(machine: Any, where: str, delay: object) -> float | None:
    """``delay``, if it is a length of time (or None); a ValueError if not."""
    if delay is None or _isLength(delay):
        return delay  # type: ignore[return-value]
    raise ValueError(
        f"{type(machine).__qualname__}: the timer of {where!r} would run "
        f"{delay!r} seconds; a length is a finite number of seconds, 0 or more, "
        "or None (no timer)"
    )


def noTimer(machine: Any, where: str) -> bool:
    """``restartTimer`` for a ``where`` that has no timer: a ValueError."""
    raise ValueError(
        f"{type(machine).__qualname__} has no state timer on {where!r}; "
        f"restartTimer takes the state or superstate a timer runs in: "
        f"{', '.join(map(repr, machine._txmTimers)) or 'it has none'}"
    )


def startTimer(
    machine: Any, slot: int, after: str | float, fires: str, owner: str
) -> None:
    """Start the timer of ``owner`` (run by the generated transitions)."""
    if isinstance(after, str):
        try:
            delay = getattr(machine, after)
        except AttributeError:
            raise AttributeError(
                f"{type(machine).__qualname__}: the timer of {owner!r} takes its "
                f"length from attribute {after!r}, which the machine does not have"
            ) from None
    else:
        delay = after
    delay = checkedDelay(machine, owner, delay)
    name = timerAttribute(slot)
    timer = getattr(machine, name)
    if timer is None:
        timer = Timer(machine.clock, machine)
        setattr(machine, name, timer)
    timer.label = owner
    timer.start(delay, fires)


def stopTimer(machine: Any, slot: int) -> None:
    """Cancel the timer in ``slot`` (run by the generated transitions)."""
    timer = getattr(machine, timerAttribute(slot))
    if timer is not None:
        timer.label = None
        timer.cancel()
