"""
`StateMachine`: the base class whose every subclass gets a machine of its own.

Theory of operation
===================

When a subclass is created, `declaring.collect` reads what its body declares
(with a ``MethodicalMachine`` of its own) into a `Blueprint` laid over the
parent's, and `building.build` compiles that into the class's state tables
and input functions, which the class keeps.  The parent is never touched.

At run time an instance holds one reference, ``_txmTable``: the table of its
current state.  Calling an input looks the input up in it and runs the
transition (see `compiler`).  What this class adds are the slow paths the
generated code calls: queueing re-entrant inputs, draining the queue, and
turning a rejected input or an output's exception into a `MachineError`
handed to `StateMachine.machineError`.  Neither ever escapes to the caller.

Rules
=====

- A name means one thing in a class hierarchy: a state stays a state, an input
  stays an input.  Replacing an input with a plain method is a ``TypeError``.
- Every ``(state, input)`` pair is either a declared transition or rejected:
  rejection is the uniform policy `StateMachine.machineError` implements.
  ``rejects(...)`` declares pairs rejected on purpose, with a reason, so that
  tests can tell them from pairs nobody decided about; it changes nothing but
  the reason in the error.
- A state within a superstate handles what the superstate handles unless
  it declares or rejects the input itself (`blueprint` has the rule); the
  class runs on the flattened table, so superstates cost nothing per event.
- Declaration mistakes are a ``TypeError`` when the class is created, one
  sentence naming the class and the state, input or output at fault: a
  transition naming another machine's state, input or output (a parent's
  included: use `inherited`), ``upon()`` on a built class's state or
  superstate, an output parameter the input does not give, a state the
  class declares that no transition from another state enters, no initial
  state, two states serialized alike, a ``rejects(...)`` naming what is not
  the class's or changing nothing, a state within two superstates, an empty
  superstate, a name that hides a parent's attribute, and a state that
  breaks a ``mustHandle`` requirement or ignores its timer's input
  (`liveness`).

Attribute layout (CPython 3.11)
===============================

The one place this is said; the project's other modules refer here.  What
is read on every event (a machine's table, its link, an adapter's framer)
is kept fast by two habits:

- It is an instance attribute, never a class attribute that instances
  shadow: CPython 3.11 reads an instance attribute that shadows a class one,
  or a class attribute through an instance, more slowly.
- Every instance attribute is set when the object is made, in the same
  order, and none first later: CPython 3.11 sizes a class's new instances
  for every attribute any instance of it has had, so one first set when a
  connection ends would make every later connection bigger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from twisted.python.failure import Failure

from .blueprint import Blueprint
from .building import Built, build
from .compiler import StateTable
from .declaring import collect, machineAttribute
from .liveness import checkLiveness
from .observers import OBSERVERS
from .statetimers import noTimer, startTimer, stopTimer

__all__ = ["MachineError", "StateMachine", "builtOf"]


@attrs.frozen
class MachineError:
    """
    Something went wrong inside a machine: ``kind`` is ``"rejected"`` (an
    input the current state does not accept) or ``"failed"`` (an output
    raised; ``failure`` says what).
    """

    kind: str
    state: str
    input: str
    failure: Failure | None = None
    why: str | None = None  # for a deliberate rejection: the declared reason


class StateMachine:
    """
    Base class for machines that subclasses may extend.

    Declare a ``MethodicalMachine`` in the class body and use it as usual.
    Each subclass may declare another one for what it adds (see
    `statemachines.inherited`); a subclass that only overrides methods needs
    none.
    """

    blueprint: ClassVar[Blueprint] = Blueprint.empty()
    _txmBuilt: ClassVar[Built | None] = None  # see builtOf
    _txmTables: ClassVar[dict[str, StateTable]] = {}
    _txmTracedTables: ClassVar[dict[str, StateTable]] = {}
    # The state timers that run, by their state: (slot, declaration), and
    # (the Timer's attribute, its length: an attribute's name, or a number).
    _txmTimerSlots: ClassVar[dict[str, tuple[int, Any]]] = {}
    _txmTimers: ClassVar[dict[str, tuple[str, Any]]] = {}
    _txmTimerAttributes: ClassVar[tuple[str, ...]] = ()

    # The dispatcher's per-instance state.  ``_txmTable`` and ``_txmQueue``
    # are set by __new__, so a machine works whatever its __init__ does, and
    # are never class attributes, since every input reads both (see
    # "Attribute layout" above).  A new machine starts on its class's *fresh*
    # table, whose every input first moves it to the class's initial table as
    # it is then (plain or traced: see observers).
    _txmInitialTable: ClassVar[StateTable]
    _txmFreshTable: ClassVar[StateTable]
    _txmTable: StateTable
    _txmQueue: list[tuple[Callable[..., Any], tuple[Any, ...], Any]] | None
    _handlingMachineError: bool = False
    _txmLogging: bool = False  # setTracing
    _txmWatchers: int = 0  # how many transition observers watch this instance

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        self._txmTable = cls._txmFreshTable
        self._txmQueue = None
        for name in cls._txmTimerAttributes:
            setattr(self, name, None)
        if OBSERVERS.everything:
            OBSERVERS.created(self)
        return self

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        blueprint = collect(cls, cls.blueprint)  # cls.blueprint: the parent's
        cls.blueprint = blueprint
        if blueprint.states:
            if blueprint.initial is None:
                names = ", ".join(repr(name) for name in blueprint.states)
                raise TypeError(
                    f"{cls.__qualname__} has no initial state: mark one of its "
                    f"states ({names}) with @machine.state(initial=True)"
                )
            checkLiveness(cls, blueprint)
            cls._txmKeep(build(cls, machineAttribute(cls), blueprint))
            OBSERVERS.register(cls)
            cls._txmFreshTable = _freshTable(cls)

    @classmethod
    def _txmKeep(cls, built: Built) -> None:
        """Keep what `building.build` made of this class."""
        cls._txmBuilt = built
        cls._txmTables = built.tables
        cls._txmTracedTables = built.tracedTables
        cls._txmTimerSlots = built.timerSlots
        cls._txmTimers = built.timers
        cls._txmTimerAttributes = built.timerAttributes
        if built.restartTimer is not None:
            built.restartTimer.__doc__ = cls.restartTimer.__doc__
            cls.restartTimer = built.restartTimer  # type: ignore[method-assign]

    @classmethod
    def _txmSelectInitialTable(cls) -> None:
        """New instances start on traced tables while `OBSERVERS` watches all."""
        tables = cls._txmTracedTables if OBSERVERS.everything else cls._txmTables
        initial = cls.blueprint.initial
        assert initial is not None
        cls._txmInitialTable = tables[initial]

    @property
    def state(self) -> str:
        """The name of the current state."""
        return self._txmTable.name

    def restartTimer(self, where: str) -> bool:
        """
        Start the state timer of ``where`` (a state or superstate, by name)
        over, from now, if it is running, that is if the machine is in
        ``where``: an idle timer restarted by each read, say.  Returns
        whether it was running.  See `statemachines.engine.statetimers`.
        (Each class with state timers has a compiled one of these.)
        """
        return noTimer(self, where)

    @property
    def tracing(self) -> bool:
        """Whether every transition is logged (see `setTracing`)."""
        return self._txmLogging

    def setTracing(self, on: bool) -> None:
        """
        Log every transition of this machine as a ``txmachines.trace`` event
        with ``machineClass``, ``machineId``, ``oldState``, ``input``,
        ``newState`` and ``outputs``.  Off by default, and free when off.
        """
        self._txmWhenIdle(self._txmSetLogging, on)

    def _txmSetLogging(self, on: bool) -> None:
        self._txmLogging = on
        self._txmSelectTables()

    def _txmWatch(self, delta: int) -> None:
        """One more (+1) or one fewer (-1) transition observer watches this."""
        self._txmWhenIdle(self._txmAddWatchers, delta)

    def _txmAddWatchers(self, delta: int) -> None:
        self._txmWatchers += delta
        self._txmSelectTables()

    def _txmEnter(self, name: str) -> None:
        """Put this machine in state ``name``, as an unserializer does."""
        self._txmWhenIdle(self._txmEnterNow, name)

    def _txmEnterNow(self, name: str) -> None:
        self._txmTable = self._txmTables[name]
        self._txmSelectTables()
        # Entered from nowhere: the timers of everything it is in start.
        slots = self._txmTimerSlots
        for slot in {slot for slot, _ in slots.values()}:
            stopTimer(self, slot)
        for owner in reversed([name, *self.blueprint.ancestorsOf(name)]):
            if owner in slots:
                slot, decl = slots[owner]
                assert decl.after is not None and decl.fires is not None
                startTimer(self, slot, decl.after, decl.fires, owner)

    def _txmWhenIdle(self, change: Callable[[Any], None], argument: Any) -> None:
        # A change made mid-transition is queued like any re-entrant call.
        table = self._txmTable
        if table is table.busy:
            self._txmDefer(change, argument)
        else:
            change(argument)

    def _txmSelectTables(self) -> None:
        traced = self._txmLogging or self._txmWatchers or OBSERVERS.everything
        tables = self._txmTracedTables if traced else self._txmTables
        self._txmTable = tables[self._txmTable.name]

    # -- the dispatcher's slow paths (see compiler) -------------------------

    def _txmDefer(
        self, function: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> None:
        if self._txmQueue is None:
            self._txmQueue = []
        self._txmQueue.append((function, args, kwargs))

    def _txmDrain(self) -> None:
        queue, self._txmQueue = self._txmQueue, None
        for function, args, kwargs in queue or ():
            function(*args, **kwargs)

    def _txmReject(self, inputName: str) -> None:
        state = self.state
        why = self.blueprint.rejectionOf(state, inputName)
        self._reportMachineError(MachineError("rejected", state, inputName, why=why))

    def _txmFail(self, inputName: str) -> None:
        failure = Failure()
        self._reportMachineError(MachineError("failed", self.state, inputName, failure))
        if self._txmQueue is not None:
            self._txmDrain()

    # -- errors ---------------------------------------------------------------

    def _reportMachineError(self, error: MachineError) -> None:
        if self._handlingMachineError:
            # An error while handling an error: stop here, never loop.
            self.machineErrorUnhandled(error)
            return
        self._handlingMachineError = True
        try:
            self.machineError(error)
        except Exception:
            self.machineErrorUnhandled(
                attrs.evolve(error, kind="failed", failure=Failure())
            )
        finally:
            self._handlingMachineError = False

    def machineError(self, error: MachineError) -> None:
        """
        Called when an input is rejected or an output raised.  Subclasses
        decide what that means for their protocol; the default only reports
        to `machineErrorUnhandled`.
        """
        self.machineErrorUnhandled(error)

    def machineErrorUnhandled(self, error: MachineError) -> None:
        """Last resort for errors nobody can act on: override to log them."""


def _freshTable(cls: type[StateMachine]) -> StateTable:
    """
    The table a new instance of ``cls`` starts on: named for the initial
    state; each input moves the machine to the initial table first.
    """
    initial = cls._txmInitialTable
    fresh = StateTable(initial.name)
    fresh.busy = initial.busy  # never itself: changes to a fresh machine apply now

    def start(name: str) -> Callable[..., Any]:
        def startThen(self: StateMachine, *args: Any, **kwargs: Any) -> Any:
            self._txmTable = type(self)._txmInitialTable
            return getattr(self, name)(*args, **kwargs)

        return startThen

    for name in cls.blueprint.inputs:
        fresh[name] = start(name)
    return fresh


def builtOf(cls: type[StateMachine]) -> Built:
    """
    What the engine built for ``cls`` (a `Built`): Automat's own machine
    (what ``asDigraph()`` draws, and the runtime of
    `statemachines.testing.onAutomatRuntime`) and its inputs, and the
    compiled state tables, plain and traced, whose generated functions carry
    their source (``__source__``).  For testing tools and for reading the
    generated code; a machine runs without it.  A ``TypeError`` for a class
    with no states, which has no machine.
    """
    built = cls.__dict__.get("_txmBuilt")
    if built is None:
        raise TypeError(f"{cls.__qualname__} declares no states: it has no machine")
    return built
