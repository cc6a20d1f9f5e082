"""
Serving a machine: a factory that gives every connection its own machine and
adapter, and a `Server` that listens on an endpoint and shuts down cleanly.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress, IListeningPort, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from statemachines.lifecycle import ConnectionMachine

from .framing import DEFAULT_MAX_FRAME_LENGTH, MachineAdapter, adapterFor

MachineMaker = Callable[[], ConnectionMachine]


class MachineServerFactory(Factory):
    """Builds one adapter and one fresh machine per connection."""

    log = Logger()
    noisy = False

    def __init__(
        self,
        makeMachine: MachineMaker,
        framing: str = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    ) -> None:
        self.makeMachine = makeMachine
        self.adapterClass = adapterFor(framing)
        self.maxFrameLength = maxFrameLength
        self.machines: set[ConnectionMachine] = set()
        self._forget = self.machines.discard  # one bound method for all machines

    def buildProtocol(self, addr: IAddress | None) -> MachineAdapter:
        machine = self.makeMachine()
        self.machines.add(machine)
        machine.notifyClosed(self._forget)
        return self.adapterClass(machine, self.maxFrameLength)

    def closeAll(self) -> Deferred[list[tuple[bool, None]]]:
        """Ask every connection to close; fires once all are gone."""
        waiting = [m.whenClosed() for m in list(self.machines)]
        for machine in list(self.machines):
            machine.close()
        return DeferredList(waiting)


class Server:
    """A factory listening on an endpoint description, with a clean stop."""

    log = Logger()

    def __init__(
        self, reactor: IReactorTime, description: str, factory: MachineServerFactory
    ) -> None:
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.port: IListeningPort | None = None

    @inlineCallbacks
    def start(self):  # type: ignore[no-untyped-def]
        """Listen; fires with the listening port."""
        endpoint = serverFromString(self.reactor, self.description)
        self.port = yield endpoint.listen(self.factory)
        assert self.port is not None
        self.log.info(
            "listening on {address} ({description})",
            address=self.port.getHost(),
            description=self.description,
        )
        return self.port

    @inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        """Stop listening, then close every connection; fires when done."""
        if self.port is not None:
            port, self.port = self.port, None
            yield port.stopListening()
        count = len(self.factory.machines)
        yield self.factory.closeAll()
        self.log.info("stopped; closed {count} connections", count=count)
