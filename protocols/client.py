"""
Clients: the client side of the adapter, a `Dialer` over a Twisted
endpoint, and small facades that build a client machine, start it, and
hand back Deferreds.

A client's adapter (`ClientAdapter`) differs from a server's in two ways.
It does not tell its machine ``connectionMade``: it fires the ``ready``
Deferred of the dial that made it (`EndpointDialer.dial`), on TLS only once
the handshake has completed and the server's certificate has been
verified; a connection lost before that fails the dial, so a wrong hostname
or an untrusted certificate counts against the client's attempts like a
refused connection.  And a server that finished sending has nothing more
for it: it closes, and the loss that follows is handled as any other.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, connectionDone
from twisted.python.failure import Failure

from statemachines.client import ClientMachine
from statemachines.echo import EchoClientMachine
from statemachines.framing import (
    DEFAULT_MAX_FRAME_LENGTH,
    Framer,
    FramerFactory,
    RawFramer,
    framerFactory,
)
from statemachines.greeting import GreetingClientMachine
from statemachines.transport import Link, TransportMachine

from .adapter import MachineAdapter

M = TypeVar("M", bound=ClientMachine)


class ClientAdapter(MachineAdapter):
    """A client's connection: ready once connected (see the module doc)."""

    lingerTimeout = None  # its closes do not linger (`protocols.lingering`)

    def __init__(
        self, machine: TransportMachine, framer: Framer, ready: Deferred[Link]
    ) -> None:
        """
        @param ready: the dial, fired with this adapter once the connection
            is ready; failed if it is lost before.
        """
        super().__init__(machine, framer)
        self.ready: Deferred[Link] | None = ready  # until it fires

    def begin(self) -> None:
        if not self.handshaking:
            self._fireReady()

    def firstHandshakeCompleted(self) -> None:
        if self.ready is not None:
            self._fireReady()

    def _fireReady(self) -> None:
        ready = self.ready
        assert ready is not None
        if ready.called:
            # The dial was cancelled, but the endpoint connected anyway:
            # nobody wants this connection.  (``ready`` stays set, so its
            # loss is not reported to the machine either.)
            self.abortConnection()
            return
        self.ready = None
        ready.callback(self)

    def readConnectionLost(self) -> None:
        # Closing unregisters first (a paused producer would keep it open).
        self.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.handshaking:
            self.handshaking = False
        ready = self.ready
        if ready is None:
            self.machine.connectionLost(reason)
            return
        self.ready = None
        if not ready.called:  # the dial may have been cancelled already
            ready.errback(reason)


class EndpointDialer:
    """A `statemachines.Dialer` over a Twisted client endpoint."""

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        framing: str | FramerFactory = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    ) -> None:
        self.endpoint = endpoint
        self.makeFramer = framerFactory(framing)
        self.maxFrameLength = maxFrameLength

    def dial(self, machine: TransportMachine) -> Deferred[Link]:
        """
        Connect an adapter for ``machine``; fires with it once the connection
        is ready (after the TLS handshake, on TLS).  Cancelling gives up on
        the connection attempt, or aborts a connection still handshaking.
        """
        adapter: ClientAdapter | None = None

        def buildAdapter() -> ClientAdapter:
            nonlocal adapter
            framer = self.makeFramer(self.maxFrameLength)
            adapter = ClientAdapter(machine, framer, ready)
            return adapter

        def cancel(ready: Deferred[Link]) -> None:
            if adapter is None:
                connecting.cancel()
            else:
                adapter.abortConnection()  # connected, but the handshake is not done

        def failed(reason: Failure) -> None:
            if not ready.called:
                ready.errback(reason)

        ready: Deferred[Link] = Deferred(cancel)
        factory = Factory.forProtocol(buildAdapter)
        factory.noisy = False
        connecting = self.endpoint.connect(factory)
        connecting.addErrback(failed)
        return ready


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
    framing: str | FramerFactory = "line",
    maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    *,
    start: bool = True,
    **machineOptions: Any,
) -> EchoClient:
    """An echo client, started unless ``start=False`` (say, for a service)."""
    dialer = EndpointDialer(endpoint, framing, maxFrameLength)
    machine = EchoClientMachine(
        dialer,
        reactor,
        boundaries=(framerFactory(framing) is not RawFramer),
        **machineOptions,
    )
    client = EchoClient(machine)
    if start:
        client.startService()
    return client


def greetingClient(
    reactor: IReactorTime,
    endpoint: IStreamClientEndpoint,
    name: str,
    framing: str | FramerFactory = "line",
    maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
    *,
    start: bool = True,
    **machineOptions: Any,
) -> GreetingClient:
    """
    A greeting client that introduces itself as ``name``, started unless
    ``start=False``.
    """
    if framerFactory(framing) is RawFramer:
        raise ValueError("greeting needs message boundaries; raw has none")
    dialer = EndpointDialer(endpoint, framing, maxFrameLength)
    machine = GreetingClientMachine(dialer, reactor, name=name, **machineOptions)
    client = GreetingClient(machine)
    if start:
        client.startService()
    return client
