"""
Per-event dispatch cost: one input, one output that takes the input's
argument, on the same self-looping machine, through

- a plain method call (the floor),
- the same machine written by hand, twice: the state check, the output call
  and Automat's list of results, which any dispatcher with Automat's
  semantics must do; then with the re-entrancy guard too (mark the machine
  busy so an input called from inside an output is queued, and run the
  queue after), i.e. everything txmachines' dispatcher does,
- txmachines' compiled dispatcher,
- Automat's MethodicalMachine (bound input looked up each time, and cached),
- Automat's TypeMachine.

Rounds alternate between the contenders; medians are printed.

    python benchmarks/dispatch.py [--rounds 7] [--events 200000]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Protocol

from automat import MethodicalMachine, TypeMachineBuilder

from statemachines import StateMachine


class Plain:
    def messageReceived(self, message: bytes) -> bytes:
        return message


RECEIVING, BUSY = object(), object()  # the hand-written machines' states


def _message(self: object, message: bytes) -> bytes:
    return message


class ByHand:
    """The state check, the output and the list of its results."""

    def __init__(self) -> None:
        self.state = RECEIVING

    def messageReceived(self, message: bytes) -> list[bytes]:
        if self.state is not RECEIVING:
            raise RuntimeError("rejected")
        return [_message(self, message)]


class ByHandGuarded:
    """`ByHand`, and inputs called from inside the output queued."""

    def __init__(self) -> None:
        self.state = RECEIVING
        self.queue: list[bytes] | None = None

    def messageReceived(self, message: bytes) -> list[bytes] | None:
        state = self.state
        if state is not RECEIVING:
            if state is not BUSY:
                raise RuntimeError("rejected")
            self.queue = [*(self.queue or ()), message]
            return None
        self.state = BUSY
        result = [_message(self, message)]
        self.state = state
        if self.queue is not None:
            queue, self.queue = self.queue, None
            for queued in queue:
                self.messageReceived(queued)
        return result


def receiver(base: type) -> type:
    """The benchmark's machine, declared with a MethodicalMachine, on ``base``."""

    class Receiver(base):  # type: ignore[valid-type, misc]
        _machine = MethodicalMachine()

        @_machine.state(initial=True)
        def receiving(self) -> None:
            "Receiving."

        @_machine.input()
        def messageReceived(self, message: bytes) -> None:
            "A message."

        @_machine.output()
        def _message(self, message: bytes) -> bytes:
            return message

        receiving.upon(messageReceived, enter=receiving, outputs=[_message])

    return Receiver


Compiled = receiver(StateMachine)  # txmachines' compiled dispatcher
Methodical = receiver(object)  # Automat's own runtime


class Receiver(Protocol):
    def messageReceived(self, message: bytes) -> bytes:
        "A message."


class Core:
    pass


def typeMachine() -> Receiver:
    builder = TypeMachineBuilder(Receiver, Core)
    receiving = builder.state("receiving")

    @receiving.upon(Receiver.messageReceived).loop()
    def message(receiver: Receiver, core: Core, message: bytes) -> bytes:
        return message

    return builder.build()(Core())


def contenders() -> dict[str, str]:
    return {
        "plain method call": "plain.messageReceived(b'x')",
        "by hand: state, output, result list": "byHand.messageReceived(b'x')",
        "by hand, with the re-entrancy guard": "guarded.messageReceived(b'x')",
        "txmachines compiled": "compiled.messageReceived(b'x')",
        "Automat MethodicalMachine": "methodical.messageReceived(b'x')",
        "Automat MethodicalMachine, input cached": "cached(b'x')",
        "Automat TypeMachine": "typed.messageReceived(b'x')",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    methodical = Methodical()
    namespace = {
        "plain": Plain(),
        "byHand": ByHand(),
        "guarded": ByHandGuarded(),
        "compiled": Compiled(),
        "methodical": methodical,
        "cached": methodical.messageReceived,
        "typed": typeMachine(),
    }
    for statement in contenders().values():  # all must work, and warm up
        eval(statement, namespace)
    results: dict[str, list[float]] = {name: [] for name in contenders()}
    for _ in range(args.rounds):
        for name, statement in contenders().items():
            seconds = timeit.timeit(statement, globals=namespace, number=args.events)
            results[name].append(seconds / args.events * 1e6)
    compiled = statistics.median(results["txmachines compiled"])
    print(f"per-event dispatch, median of {args.rounds} rounds x {args.events} events")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"  {name:44s} {median:7.3f} us   {median / compiled:6.2f}x the time "
            "of compiled"
        )


if __name__ == "__main__":
    main()
