"""
Clients: a `Dialer` over a Twisted endpoint, and small facades that build a
client machine, start it, and hand back Deferreds.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocol, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from statemachines.client import ClientMachine
from statemachines.echo_client import EchoClientMachine
from statemachines.greeting_client import GreetingClientMachine
from statemachines.interfaces import Link

from .framing import DEFAULT_MAX_FRAME_LENGTH, MachineAdapter, adapterFor

M = TypeVar("M", bound=ClientMachine)


class EndpointDialer:
    """Implements `statemachines.interfaces.Dialer` with an endpoint."""

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        framing: str = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    ) -> None:
        self.endpoint = endpoint
        self.adapterClass = adapterFor(framing)
        self.maxFrameLength = maxFrameLength
        self.machine: ClientMachine | None = None
        self._attempt: Deferred[IProtocol] | None = None
        self._adapter: MachineAdapter | None = None

    def dial(self) -> None:
        machine = self.machine
        assert machine is not None, "EndpointDialer.machine is not set"

        def buildAdapter() -> MachineAdapter:
            adapter = self.adapterClass(machine, self.maxFrameLength)
            adapter.connectsAfterHandshake = True
            self._adapter = adapter
            return adapter

        factory = Factory.forProtocol(buildAdapter)
        factory.noisy = False
        self._adapter = None
        self._attempt = attempt = self.endpoint.connect(factory)

        def done(result: object) -> None:
            if self._attempt is attempt:
                self._attempt = None
            if isinstance(result, Failure):
                machine.connectionFailed(result)

        attempt.addBoth(done)

    def cancelDial(self) -> None:
        attempt, self._attempt = self._attempt, None
        adapter, self._adapter = self._adapter, None
        if attempt is not None:
            attempt.cancel()
        elif adapter is not None and adapter.handshaking:
            adapter.abortConnection()  # connected, but the TLS handshake is not done


class Client(Service, Generic[M]):
    """
    A client machine, with ``stop()`` that returns a Deferred.  Also a
    Twisted ``IService``: ``startService`` starts it, ``stopService`` is
    `stop`, so it composes into an application beside a `Server`.
    """

    def __init__(self, machine: M) -> None:
        self.machine = machine

    def start(self) -> None:
        self.machine.start()

    def startService(self) -> None:
        super().startService()
        self.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.stop()

    def whenConnected(self, failAfterFailures: int | None = None) -> Deferred[Link]:
        """As ``ClientService.whenConnected``: fires with the connection."""
        return self.machine.whenConnected(failAfterFailures)

    def stop(self) -> Deferred[None]:
        """Close for good; fires once the connection is gone."""
        d = self.machine.whenStopped()
        self.machine.stop()
        return d


class EchoClient(Client[EchoClientMachine]):
    def echo(self, messages: list[bytes]) -> Deferred[list[bytes]]:
        """Send ``messages``; fires with the replies, in order."""
        return self.machine.echo(messages)


class GreetingClient(EchoClient):
    machine: GreetingClientMachine

    def whenGreeted(self) -> Deferred[str]:
        """Fires with the server's greeting."""
        return self.machine.whenGreeted()


def echoClient(
    reactor: IReactorTime,
    endpoint: IStreamClientEndpoint,
    framing: str = "line",
    maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    *,
    start: bool = True,
    **machineOptions: Any,
) -> EchoClient:
    """An echo client, started unless ``start=False`` (say, for a service)."""
    dialer = EndpointDialer(endpoint, framing, maxFrameLength)
    machine = EchoClientMachine(
        dialer, reactor, boundaries=(framing != "raw"), **machineOptions
    )
    dialer.machine = machine
    client = EchoClient(machine)
    if start:
        client.startService()
    return client


def greetingClient(
    reactor: IReactorTime,
    endpoint: IStreamClientEndpoint,
    name: str,
    framing: str = "line",
    maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    *,
    start: bool = True,
    **machineOptions: Any,
) -> GreetingClient:
    """
    A greeting client that introduces itself as ``name``, started unless
    ``start=False``.
    """
    if framing == "raw":
        raise ValueError("greeting needs message boundaries; raw has none")
    dialer = EndpointDialer(endpoint, framing, maxFrameLength)
    machine = GreetingClientMachine(dialer, reactor, name=name, **machineOptions)
    dialer.machine = machine
    client = GreetingClient(machine)
    if start:
        client.startService()
    return client
