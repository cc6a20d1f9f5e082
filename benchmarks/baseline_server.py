"""
The baselines: echo servers in raw Twisted, no state machine.

    python benchmarks/baseline_server.py [--hand-written | --hand-written-batched]
                                         [--port PORT] [--idle-timeout SECONDS]

``LineReceiver`` (the default) is what a Twisted user writes first.  With
``--hand-written``, the same echo written by hand for speed: a plain
``Protocol`` that splits each chunk with one ``bytes.split`` and writes each
line back as it goes (the limit a framework's per-line cost is measured
against).  With ``--hand-written-batched``, the same again writing the
lines of each chunk back with one ``write``: the floor for any server that
does per-line work in Python.  All close a connection whose unfinished line
exceeds 16 KiB, as txmachines' default ``--max-frame`` does.

With ``--idle-timeout``, connections silent that many seconds are closed,
the way Twisted does it (``TimeoutMixin``: one DelayedCall per connection,
reset on every chunk received).

Prints ``listening on PORT`` once ready; runs until killed.
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin

MAX_LENGTH = 16384


class Echo(LineReceiver):
    MAX_LENGTH = MAX_LENGTH

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line)


class HandWrittenEcho(Protocol):
    """Echo CRLF-terminated lines: one split per chunk, one write per line."""

    unfinished = b""

    def dataReceived(self, data: bytes) -> None:
        if self.unfinished:
            data = self.unfinished + data
        lines = data.split(b"\r\n")
        self.unfinished = lines.pop()
        write = self.transport.write  # type: ignore[union-attr]
        for line in lines:
            write(line + b"\r\n")
        if len(self.unfinished) > MAX_LENGTH:
            self.transport.loseConnection()  # type: ignore[union-attr]


class HandWrittenBatchedEcho(HandWrittenEcho):
    """Echo CRLF-terminated lines: one split and one write per chunk."""

    def dataReceived(self, data: bytes) -> None:
        if self.unfinished:
            data = self.unfinished + data
        lines = data.split(b"\r\n")
        self.unfinished = lines.pop()
        if lines:
            lines.append(b"")
            self.transport.write(b"\r\n".join(lines))  # type: ignore[union-attr]
        if len(self.unfinished) > MAX_LENGTH:
            self.transport.loseConnection()  # type: ignore[union-attr]


def idle(protocol: type[Protocol], timeout: float) -> type[Protocol]:
    """``protocol`` with Twisted's idle timeout."""

    class Idle(protocol, TimeoutMixin):  # type: ignore[valid-type, misc]
        def connectionMade(self) -> None:
            self.setTimeout(timeout)
            super().connectionMade()

        def dataReceived(self, data: bytes) -> None:
            self.resetTimeout()
            super().dataReceived(data)

        def connectionLost(self, reason: object = None) -> None:
            self.setTimeout(None)

    return Idle


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    flavour = options.add_mutually_exclusive_group()
    flavour.add_argument("--hand-written", action="store_true")
    flavour.add_argument("--hand-written-batched", action="store_true")
    options.add_argument("--port", type=int, default=0)
    options.add_argument("--idle-timeout", type=float)
    args = options.parse_args()
    protocol: type[Protocol] = Echo
    if args.hand_written:
        protocol = HandWrittenEcho
    elif args.hand_written_batched:
        protocol = HandWrittenBatchedEcho
    if args.idle_timeout:
        protocol = idle(protocol, args.idle_timeout)
    factory = Factory.forProtocol(protocol)
    factory.noisy = False
    endpoint = TCP4ServerEndpoint(
        reactor, args.port, backlog=1024, interface="127.0.0.1"
    )

    def ready(listening: object) -> None:
        print(f"listening on {listening.getHost().port}", flush=True)  # type: ignore[attr-defined]

    endpoint.listen(factory).addCallback(ready)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
