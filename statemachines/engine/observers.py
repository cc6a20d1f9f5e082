"""
Who watches machines' transitions: tracing to the log, and observers such as
`statemachines.testing.TransitionRecorder` and the coverage report.

Theory of operation
===================

A machine runs on its class's *plain* tables, which never look at any of
this, or on its *traced* tables, whose every transition first calls
`TransitionObservers.transition`.  It runs on the traced ones while it logs
its transitions (``setTracing``), while an observer watches it in particular
(``watch``), or while observers watch every machine (`observeEverything`).
So tracing and observing cost nothing for machines nobody watches.

There is one registry per process, `OBSERVERS`: the traced tables of every
class call it.  It sits below `machine` (which imports it): what it needs of
a machine and of a machine class is all it knows of them, `Observed` and
`ObservedClass`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

from twisted.logger import Logger

__all__ = [
    "OBSERVERS",
    "Observed",
    "ObservedClass",
    "TransitionObserver",
    "TransitionObservers",
]

TransitionObserver = Callable[[Any, str, str, str, tuple[str, ...]], None]


class Observed(Protocol):
    """A machine, as the registry sees it: whether it logs its transitions."""

    _txmLogging: bool


class ObservedClass(Protocol):
    """A machine class, as the registry sees it (`StateMachine` is one)."""

    def _txmSelectInitialTable(self) -> None:
        """Start new instances on traced tables if `OBSERVERS` watches all."""


class TransitionObservers:
    """The registry of transition observers, and of the machine classes."""

    def __init__(self) -> None:
        self.log = Logger(namespace="txmachines.trace")
        self.observers: list[TransitionObserver] = []
        self.creationObservers: list[Callable[[Any], None]] = []
        self.everything = 0  # how many observers watch every machine
        self.classes: weakref.WeakSet[ObservedClass] = weakref.WeakSet()

    def transition(
        self,
        machine: Observed,
        old: str,
        input: str,
        new: str,
        outputs: tuple[str, ...],
    ) -> None:
        """Called by traced tables after every transition."""
        if machine._txmLogging:
            self.log.info(
                "{machineClass} {machineId:x}: {oldState} --{input}--> {newState} "
                "{outputs}",
                machineClass=type(machine).__name__,
                machineId=id(machine),
                oldState=old,
                input=input,
                newState=new,
                outputs=outputs,
            )
        for observer in self.observers:
            try:
                observer(machine, old, input, new, outputs)
            except Exception:
                self.log.failure(
                    "transition observer {observer!r} failed", observer=observer
                )

    def created(self, machine: object) -> None:
        """Called for every machine created while `observeEverything` is on."""
        for observer in self.creationObservers:
            try:
                observer(machine)
            except Exception:
                self.log.failure(
                    "creation observer {observer!r} failed", observer=observer
                )

    def add(self, observer: TransitionObserver) -> None:
        """
        Call ``observer(machine, oldState, input, newState, outputs)`` after
        every transition of a traced or watched machine.
        """
        self.observers.append(observer)

    def remove(self, observer: TransitionObserver) -> None:
        self.observers.remove(observer)

    def observeEverything(self, on: bool) -> None:
        """
        While on (calls nest), every machine created from now on, of every
        class, runs on traced tables, so observers see it, and each one
        created is handed to every one of ``creationObservers``.
        """
        self.everything += 1 if on else -1
        assert self.everything >= 0, "observeEverything(False) without True"
        for cls in list(self.classes):
            cls._txmSelectInitialTable()

    def register(self, cls: ObservedClass) -> None:
        """A class was built: choose the table its new instances start on."""
        self.classes.add(cls)
        cls._txmSelectInitialTable()


OBSERVERS = TransitionObservers()
