"""
The baseline: raw Twisted LineReceiver echo, no state machine.

    python benchmarks/baseline_server.py [PORT [IDLE_TIMEOUT]]

With IDLE_TIMEOUT, connections silent that many seconds are closed, the way
Twisted does it (``TimeoutMixin``: one DelayedCall per connection, reset on
every chunk received).

Prints ``listening on PORT`` once ready; runs until killed.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin


class Echo(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line)


class IdleEcho(Echo, TimeoutMixin):
    idleTimeout = 300.0

    def connectionMade(self) -> None:
        self.setTimeout(self.idleTimeout)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        super().dataReceived(data)

    def connectionLost(self, reason: object = None) -> None:
        self.setTimeout(None)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    protocol: type[Echo] = Echo
    if len(sys.argv) > 2:
        IdleEcho.idleTimeout = float(sys.argv[2])
        protocol = IdleEcho
    factory = Factory.forProtocol(protocol)
    factory.noisy = False
    endpoint = TCP4ServerEndpoint(reactor, port, backlog=1024, interface="127.0.0.1")

    def ready(listening: object) -> None:
        print(f"listening on {listening.getHost().port}", flush=True)  # type: ignore[attr-defined]

    endpoint.listen(factory).addCallback(ready)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
