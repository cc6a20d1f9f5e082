"""
The baseline: raw Twisted LineReceiver echo, no state machine.

    python benchmarks/baseline_server.py [PORT]

Prints ``listening on PORT`` once ready; runs until killed.
"""

from __future__ import annotations

import sys

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class Echo(LineReceiver):
    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    endpoint = TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")

    def ready(listening: object) -> None:
        print(f"listening on {listening.getHost().port}", flush=True)  # type: ignore[attr-defined]

    endpoint.listen(factory).addCallback(ready)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
