"""
No state can be stuck: the `mustHandle` requirements, checked when a class
is created.

A machine that runs a connection must never sit in a state that ignores the
connection going away, or an idle peer.  Forgetting an edge would not fail
at run time with an error; the machine would simply stay where it is.  So
a class declares (`statemachines.engine.decisions.mustHandle`) which inputs
every state must handle, and the rule is checked for the class and every
subclass, on the flat table, so a state within a superstate that handles
them passes without a line of its own:

- every state that is not declared terminal (``state(terminal=True)``:
  the machine's work is done there, and no transition leaves it) handles
  each required input: a transition, or a rejection on purpose
  (``rejects``), which says someone decided.  A state that merely has no
  way out is no terminal state but a dead end, and is refused like any;
- each of the ``ends`` inputs (``connectionLost``) leads from any state
  straight into a terminal state, or a state that rejects it on purpose
  (one with no connection to lose): a state it enters that still expects it
  would wait for what has already happened.

The same goes for state timers: every state a timer runs in must handle the
input it fires.  The first state that breaks a rule is named in a
``TypeError``, with the input and the fix.
"""

from __future__ import annotations

from .blueprint import Blueprint, RequirementDecl
from .declaring import machineAttribute

__all__ = ["checkLiveness"]


def checkLiveness(cls: type, blueprint: Blueprint) -> None:
    """Refuse ``cls`` if a state of ``blueprint`` breaks a requirement."""
    _checkTimers(cls, blueprint)
    terminal = frozenset(s for s, decl in blueprint.states.items() if decl.terminal)
    for state in terminal:
        leaving = [t for t in blueprint.transitionsFrom(state) if t.enter != state]
        if leaving:
            t = leaving[0]
            raise TypeError(
                f"{cls.__qualname__}: state {state!r} is declared terminal, but "
                f"input {t.input!r} leaves it for {t.enter!r}"
            )
    for requirement in blueprint.requirements:
        for input in dict.fromkeys([*requirement.inputs, *requirement.ends]):
            for state in blueprint.states:
                if state not in terminal and not _handled(blueprint, state, input):
                    raise TypeError(
                        _unhandled(cls, blueprint, state, input, requirement)
                    )
        for input in requirement.ends:
            for state in blueprint.states:
                _followToEnd(cls, blueprint, terminal, state, input, requirement)


def _checkTimers(cls: type, blueprint: Blueprint) -> None:
    """
    Each state a timer runs in handles the input it fires; no timer runs in
    the initial state, which no transition enters (so none would start it).
    """
    initial = blueprint.initial
    first = [initial, *blueprint.ancestorsOf(initial)] if initial else []
    for owner, decl in blueprint.timers.items():
        if decl.after is None or decl.fires is None:
            continue
        timer = decl.name or "its timer"
        if owner in first:
            where = (
                f"the initial state {initial!r}"
                if owner == initial
                else f"{owner!r}, and so is the initial state {initial!r}"
            )
            raise TypeError(
                f"{cls.__qualname__}: {timer} (declared by {decl.declaredBy}) runs "
                f"in {where}, which no transition enters, so it would never start; "
                f"the initial state must be outside every state with a timer "
                f"(did a state of {cls.__qualname__} take initial=True, or a "
                "superstate include the initial state, by mistake?)"
            )
        within = [owner] if owner in blueprint.states else blueprint.statesWithin(owner)
        for state in within:
            if not _handled(blueprint, state, decl.fires):
                on = state if owner == state else f"{owner} (or {state})"
                raise TypeError(
                    f"{cls.__qualname__}: state {state!r} does not handle input "
                    f"{decl.fires!r}, which {timer} of {owner!r} fires there; "
                    f"declare {on}.upon({decl.fires}, ...), or "
                    f"rejects({state}, {decl.fires}, why)"
                )


def _handled(blueprint: Blueprint, state: str, input: str) -> bool:
    return (state, input) in blueprint.transitions or (
        blueprint.rejectionOf(state, input) is not None
    )


def _followToEnd(
    cls: type,
    blueprint: Blueprint,
    terminal: frozenset[str],
    state: str,
    input: str,
    requirement: RequirementDecl,
) -> None:
    """
    ``input`` (the connection is gone) leads from ``state`` straight into a
    terminal state, or one that rejects it on purpose (there is no
    connection there to lose): never into a state that still expects one.
    """
    t = blueprint.transitions.get((state, input))
    if t is None or t.enter in terminal:
        return
    if blueprint.rejectionOf(t.enter, input) is None:
        raise TypeError(
            f"{cls.__qualname__}: input {input!r} in state {state!r} enters "
            f"{t.enter!r}, which still expects it ({requirement.why}), so a "
            f"machine there would wait for what has already happened; let "
            f"{input!r} lead to a terminal state (or one that rejects it)"
        )


def _unhandled(
    cls: type,
    blueprint: Blueprint,
    state: str,
    input: str,
    requirement: RequirementDecl,
) -> str:
    handling = [s for (s, i) in blueprint.superTransitions if i == input]
    where = (
        f"within a superstate that handles it ({', '.join(handling)}: "
        f"@{machineAttribute(cls)}.state(within=parent.{handling[0]}), or "
        f"parent.{handling[0]}.include({state}))"
        if handling
        else "within a superstate that handles it"
    )
    return (
        f"{cls.__qualname__}: state {state!r} does not handle input {input!r} "
        f"({requirement.why}); put the state {where}, or declare "
        f"{state}.upon({input}, ...) or rejects({state}, {input}, why) "
        f"(required by {requirement.declaredBy})"
    )
