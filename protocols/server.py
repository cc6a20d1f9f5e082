"""
Serving a machine: a factory that gives every connection its own machine and
adapter, and a `Server` that listens on an endpoint and shuts down cleanly.

The factory also admits connections: past ``maxConnections`` in all, or
``maxPerPeer`` from one address (IPv4 or IPv6 host; any other address type
counts as itself), a connection gets a `RefusedConnection` instead of the
protocol's machine.  It is told why (an ``Error:`` line on the line framing),
the refusal is logged once, and that connection alone closes, aborted if it
does not within the close timeout.  Behind a balancer the client is known
only once its PROXY header has come: `protocols.proxyheader` wraps the
factory, and its connections are ``pending`` until then.

Every close the server makes lingers (`protocols.lingering`): it
half-closes, discards what the peer still sends until the peer closes or
sends nothing for ``lingerTimeout`` seconds, then closes, so the replies it
wrote are not destroyed by a reset; all within the close timeout.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any, cast

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IAddress, IListeningPort, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from statemachines import limits
from statemachines.connection import DEFAULT_CLOSE_TIMEOUT, ConnectionMachine
from statemachines.eventrate import EventRate
from statemachines.framing import (
    DEFAULT_MAX_FRAME_LENGTH,
    FramerFactory,
    framerFactory,
)

from .adapter import MachineAdapter
from .addresses import peerKey
from .budget import DEFAULT_MAX_BUFFERED, BufferBudget
from .commandlog import reason
from .lingering import DEFAULT_LINGER_TIMEOUT
from .proxyheader import ProxyHeaderFactory

MachineMaker = Callable[[], ConnectionMachine]
DEFAULT_MAX_CONNECTIONS = 10_000
DEFAULT_MAX_PER_PEER = 100


class RefusedConnection(ConnectionMachine):
    """A connection refused on arrival: the peer is told why, then it closes."""

    def __init__(
        self,
        clock: IReactorTime,
        reason: str,
        closeTimeout: float,
        message: bytes | None = None,
    ) -> None:
        """
        @param message: what to tell the peer, in the protocol's own terms
            (SMTP's ``421``); by default the framing's error message.
        """
        super().__init__(clock, idleTimeout=None, closeTimeout=closeTimeout)
        self.reason = reason
        self.message = message

    def onConnected(self) -> None:
        if self.message is None:
            self.link.reportError(self.reason)
        else:
            self.send(self.message)
        self.close()


class MachineServerFactory(Factory):
    """Builds one adapter and one fresh machine per connection."""

    log = Logger()
    noisy = False

    def __init__(
        self,
        makeMachine: MachineMaker,
        framing: str | FramerFactory = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
        maxConnections: int | None = DEFAULT_MAX_CONNECTIONS,
        maxPerPeer: int | None = DEFAULT_MAX_PER_PEER,
        clock: IReactorTime | None = None,
        closeTimeout: float = DEFAULT_CLOSE_TIMEOUT,
        maxBuffered: int | None = DEFAULT_MAX_BUFFERED,
        refusal: Callable[[str], bytes] | None = None,
        lingerTimeout: float | None = DEFAULT_LINGER_TIMEOUT,
    ) -> None:
        """
        @param framing: a framing's name or a framer factory (see
            `statemachines.framing`); each connection gets a fresh framer.
        @param clock: the refused connections' clock (default: the reactor).
        @param closeTimeout: how long a refused connection may take to close
            before it is aborted.
        @param refusal: turns the reason a connection is refused into the
            message it gets (SMTP: ``SMTPMachine.refusal``, a ``421``); by
            default the framing's error message (``Error: ...`` on lines).
        @param maxBuffered: bytes of unsent replies all connections may hold
            together, roughly (see `protocols.budget`); None or 0: only
            Twisted's 64 KiB per connection.
        @param lingerTimeout: how long a closing connection waits for more
            from a peer still sending, discarding it, before it closes (see
            `protocols.lingering`); bounded in all by ``closeTimeout`` (and
            by each machine's own); None or 0: closes do not linger.
        """
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self.clock: IReactorTime = clock
        self.closeTimeout = limits.timeout("closeTimeout", closeTimeout)
        self.lingerTimeout = limits.optionalTimeout("lingerTimeout", lingerTimeout)
        self.makeMachine = makeMachine
        self.refusal = refusal
        self.makeFramer = framerFactory(framing)
        self.maxFrameLength = limits.limit("maxFrameLength", maxFrameLength)
        self.maxConnections = limits.optionalLimit("maxConnections", maxConnections)
        self.maxPerPeer = limits.optionalLimit("maxPerPeer", maxPerPeer)
        total = limits.optionalLimit("maxBuffered", maxBuffered)
        self.budget = None if total is None else BufferBudget(total)
        self.machines: dict[ConnectionMachine, str] = {}  # machine -> peerKey
        self.perPeer: dict[str, int] = {}
        self.refused: set[RefusedConnection] = set()  # until they are closed
        #: Connections accepted but not admitted yet (behind a balancer:
        #: still reading their PROXY header); each has ``abortConnection()``.
        #: They count toward ``maxConnections`` and are aborted on stop.
        self.pending: set[Any] = set()
        self._onClosed = self._closed  # one bound method for all machines

    def buildProtocol(self, addr: IAddress | None) -> MachineAdapter:
        framer = self.makeFramer(self.maxFrameLength)
        adapter = MachineAdapter(self.admit(addr), framer, budget=self.budget)
        if self.lingerTimeout != DEFAULT_LINGER_TIMEOUT:  # else: the class's
            adapter.lingerTimeout = self.lingerTimeout
        return adapter

    def full(self) -> bool:
        """Whether ``maxConnections`` are open (admitted, or pending)."""
        return (
            self.maxConnections is not None
            and len(self.machines) + len(self.pending) >= self.maxConnections
        )

    def admit(self, addr: IAddress | None) -> ConnectionMachine:
        """The machine for a connection from ``addr``: its own, or a refusal."""
        peer = peerKey(addr)
        reason = self._refusal(peer)
        if reason is not None:
            EventRate.of(self.clock).emit(
                self.log,
                LogLevel.info,
                "refused a connection from {peer}: {reason}",
                peer=peer,
                reason=reason,
            )
            message = None if self.refusal is None else self.refusal(reason)
            refused = RefusedConnection(self.clock, reason, self.closeTimeout, message)
            self.refused.add(refused)
            refused.notifyClosed(self.refused.discard)
            return refused
        machine = self.makeMachine()
        self.machines[machine] = peer
        self.perPeer[peer] = self.perPeer.get(peer, 0) + 1
        machine.notifyClosed(self._onClosed)
        if self.budget is not None:
            self.budget.opened()
        return machine

    def _refusal(self, peer: str) -> str | None:
        if self.full():
            return "too many connections"
        if self.maxPerPeer is not None and self.perPeer.get(peer, 0) >= self.maxPerPeer:
            return "too many connections from your address"
        return None

    def _closed(self, machine: ConnectionMachine) -> None:
        if self.budget is not None:
            self.budget.closed()
        peer = self.machines.pop(machine)
        left = self.perPeer[peer] - 1
        if left:
            self.perPeer[peer] = left
        else:
            del self.perPeer[peer]

    def connections(self) -> list[ConnectionMachine]:
        """Every open connection's machine, refused ones included."""
        return [*self.machines, *self.refused]

    def abortAll(self) -> int:
        """Abort every connection now, dropping what is unsent; how many."""
        machines = self.connections()
        for machine in machines:
            machine.link.abortConnection()
        return len(machines) + self._abortPending()

    def closeAll(self) -> Deferred[list[tuple[bool, None]]]:
        """
        Ask every connection to close; fires once all are gone.  A pending
        one is aborted: it has no client to tell yet, and must not be
        admitted once the server is stopping.
        """
        self._abortPending()
        machines = self.connections()
        waiting = [m.whenClosed() for m in machines]
        for machine in machines:
            machine.close()
        return DeferredList(waiting)

    def _abortPending(self) -> int:
        pending, self.pending = self.pending, set()
        for connection in pending:
            connection.abortConnection()
        return len(pending)


class Server(Service):
    """
    A factory listening on an endpoint description, with a clean stop; also
    a Twisted ``IService``, so it composes into an application
    (``startService`` listens, ``stopService`` is `stop`).
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        description: str,
        factory: MachineServerFactory,
        proxyHeader: bool = False,
    ) -> None:
        """
        @param proxyHeader: connections start with a PROXY protocol header
            (behind HAProxy's ``send-proxy``/``send-proxy-v2``): listen with
            the factory wrapped in a `protocols.proxyheader.ProxyHeaderFactory`,
            which reads it first, so the factory admits, limits and logs by
            the client it names.
        """
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.listeningFactory: Factory = (
            ProxyHeaderFactory(factory) if proxyHeader else factory
        )
        self.port: IListeningPort | None = None
        self.listening: Deferred[IListeningPort] | None = None
        self.listenFailure: Failure | None = None

    def startService(self) -> None:
        super().startService()
        self.listening = self.start()
        self.listening.addErrback(self._listenFailed)

    def _listenFailed(self, failure: Failure) -> None:
        self.listenFailure = failure
        self.log.critical(
            "could not listen on {description}: {why}",
            description=self.description,
            why=reason(failure.value),
        )

    def stopService(self) -> Deferred[None]:
        super().stopService()
        d: Deferred[None] = self.stop()
        return d

    adoptSocket: int | None = None  # a worker's: a listening socket's descriptor

    @inlineCallbacks
    def start(self):  # type: ignore[no-untyped-def]
        """Listen (or adopt ``adoptSocket``); fires with the listening port."""
        if self.adoptSocket is not None:
            probe = socket.socket(fileno=os.dup(self.adoptSocket))
            family = probe.family
            probe.close()
            self.port = self.reactor.adoptStreamPort(  # type: ignore[attr-defined]
                self.adoptSocket, family, self.listeningFactory
            )
        else:
            endpoint = serverFromString(self.reactor, self.description)
            self.port = yield endpoint.listen(self.listeningFactory)
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
        EventRate.of(self.factory.clock).flush()
        self.log.info("stopped; connections closed: {count}", count=count)
