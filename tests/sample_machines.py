"""
Machines tests share: a user's subclass and plain Automat classes (which
the diagram tests draw), and `Door`, a small StateMachine to subclass.
"""

from __future__ import annotations

from automat import MethodicalMachine

from statemachines import (
    GreetingMachine,
    Machine,
    MachineError,
    StateMachine,
    inherited,
)


class PoliteGreetingMachine(GreetingMachine):
    """A user's subclass: asks for a title after the name."""

    _machine = MethodicalMachine()
    parent = inherited(_machine, GreetingMachine)

    @_machine.state()
    def titling(self) -> None:
        "Waiting for a title."

    @_machine.output()
    def _askTitle(self, name: str) -> None:
        self.name = name
        self.sendText("Your title?")

    @_machine.output()
    def _greetTitled(self, message: bytes) -> None:
        self.sendText(f"Hello, {message.decode('utf-8', 'replace')} {self.name}!")

    # Declared with Automat's own MethodicalMachine, which has no within=:
    # include() puts the state within the lifecycle, whose edges it inherits.
    parent.open.include(titling)
    parent.naming.upon(parent.nameAccepted, enter=titling, outputs=[_askTitle])
    titling.upon(parent.messageReceived, enter=parent.receiving, outputs=[_greetTitled])


class Turnstile:
    """A plain Automat class that knows nothing of txmachines."""

    machine = MethodicalMachine()

    @machine.state(initial=True)
    def locked(self) -> None:
        "Locked."

    @machine.state()
    def unlocked(self) -> None:
        "Unlocked."

    @machine.state()
    def broken(self) -> None:
        "Broken for good."

    @machine.input()
    def coin(self) -> None:
        "A coin."

    @machine.input()
    def push(self) -> None:
        "A push."

    @machine.input()
    def kick(self) -> None:
        "A kick."

    @machine.output()
    def _unlock(self) -> None:
        pass

    @machine.output()
    def _lock(self) -> None:
        pass

    locked.upon(coin, enter=unlocked, outputs=[_unlock])
    locked.upon(push, enter=locked, outputs=[])
    unlocked.upon(push, enter=locked, outputs=[_lock])
    unlocked.upon(coin, enter=unlocked, outputs=[])
    locked.upon(kick, enter=broken, outputs=[])
    unlocked.upon(kick, enter=broken, outputs=[])


def _named(name: str):  # type: ignore[no-untyped-def]
    def rename(f):  # type: ignore[no-untyped-def]
        f.__name__ = name
        return f

    return rename


class Awkward:
    """Names that are keywords or special characters in DOT and Mermaid."""

    machine = MethodicalMachine()

    @machine.state(initial=True)
    @_named("node")
    def s1(self) -> None:
        "DOT keyword."

    @machine.state()
    @_named('end "quoted" {x}; -> y')
    def s2(self) -> None:
        "Mermaid keyword, quotes, braces, arrows."

    @machine.input()
    @_named("graph\\edge")
    def i1(self) -> None:
        "Backslash."

    @machine.output()
    @_named("state: #1 <b>")
    def o1(self) -> None:
        pass

    s1.upon(i1, enter=s2, outputs=[o1])


class RecordingMachine(StateMachine):
    """A machine (of no states of its own) that records outputs and errors."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.errors: list[MachineError] = []

    def machineError(self, error: MachineError) -> None:
        self.errors.append(error)


class Door(RecordingMachine):
    _machine = MethodicalMachine()

    @_machine.state(initial=True)
    def shut(self) -> None:
        "Shut."

    @_machine.state()
    def open(self) -> None:
        "Open."

    @_machine.input()
    def push(self) -> None:
        "Push the door."

    @_machine.input()
    def pull(self) -> None:
        "Pull the door."

    @_machine.output()
    def _creak(self) -> None:
        self.log.append("creak")

    @_machine.output()
    def _slam(self) -> None:
        self.log.append("slam")

    shut.upon(push, enter=open, outputs=[_creak])
    open.upon(pull, enter=shut, outputs=[_slam])


class Endings(StateMachine):
    """Several terminal states, so that their order in a drawing is tested."""

    _machine = Machine()

    @_machine.state(initial=True)
    def playing(self) -> None:
        "The game is on."

    @_machine.state()
    def won(self) -> None:
        "Won."

    @_machine.state()
    def lost(self) -> None:
        "Lost."

    @_machine.state()
    def drawn(self) -> None:
        "Drawn."

    @_machine.state()
    def abandoned(self) -> None:
        "Abandoned."

    @_machine.input()
    def win(self) -> None:
        "win"

    @_machine.input()
    def lose(self) -> None:
        "lose"

    @_machine.input()
    def draw(self) -> None:
        "draw"

    @_machine.input()
    def leave(self) -> None:
        "leave"

    playing.upon(win, enter=won, outputs=[])
    playing.upon(lose, enter=lost, outputs=[])
    playing.upon(draw, enter=drawn, outputs=[])
    playing.upon(leave, enter=abandoned, outputs=[])
