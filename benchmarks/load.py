"""
Load: many concurrent echo clients, random binary messages, every framing.

For each framing, starts ``txmachines serve echo`` in its own process and
connects ``--clients`` txmachines echo clients from this process; each sends
``--messages`` random messages (0 to ``--max-size`` bytes; on the line
framing without CR or LF, on raw at least one byte) and checks that the
replies are byte-exact.  Prints, per framing, the clients that succeeded and
failed, the messages and bytes echoed, and the throughput.  Bounded: a
framing that does not finish within ``--timeout`` seconds counts the
unfinished clients as failed.

The server listens with ``backlog=1024``: with Twisted's default of 50, a
burst of a thousand connects overflows the listen queue and the kernel's
SYN retries (1 s, then 3 s) dominate the timings.  A server that expects
such bursts wants the same in its ``--listen`` description.

    python benchmarks/load.py [--clients 1000] [--messages 20] [--max-size 1024]
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from typing import Any

from servers import TXMACHINES, UNLIMITED, runningCommand
from twisted.internet.defer import DeferredList, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import react

from protocols.client import echoClient

FRAMINGS = ["line", "netstring", "int32", "raw"]


def randomMessage(rng: random.Random, framing: str, maxSize: int) -> bytes:
    size = rng.randint(1 if framing == "raw" else 0, maxSize)
    message = rng.randbytes(size)
    if framing == "line":
        message = message.replace(b"\r", b"r").replace(b"\n", b"n")
    return message


@inlineCallbacks
def oneClient(reactor: Any, port: int, framing: str, messages: list[bytes]):  # type: ignore[no-untyped-def]
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    client = echoClient(reactor, endpoint, framing)
    try:
        replies = yield client.echo(messages)
    finally:
        yield client.stop()
    if framing == "raw":  # no boundaries: compare the streams
        ok = b"".join(replies) == b"".join(messages)
    else:
        ok = replies == messages
    if not ok:
        raise AssertionError("replies differ from what was sent")
    return sum(len(m) for m in messages)


@inlineCallbacks
def loadFraming(reactor: Any, framing: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    rng = random.Random(f"{args.seed}-{framing}")
    work = [
        [randomMessage(rng, framing, args.max_size) for _ in range(args.messages)]
        for _ in range(args.clients)
    ]
    argv = TXMACHINES + [
        "serve",
        "echo",
        *UNLIMITED,
        "--framing",
        framing,
        "--listen",
        "tcp:0:interface=127.0.0.1:backlog=1024",
    ]
    with runningCommand(argv) as (_, port):
        start = time.perf_counter()
        attempts = [oneClient(reactor, port, framing, messages) for messages in work]
        for d in attempts:
            d.addTimeout(args.timeout, reactor)
        results = yield DeferredList(attempts, consumeErrors=True)
        elapsed = time.perf_counter() - start
    succeeded = [value for ok, value in results if ok]
    failures = [value for ok, value in results if not ok]
    echoed = sum(succeeded)
    print(
        f"  {framing:9s} clients ok {len(succeeded):5d}  failed {len(failures):4d}  "
        f"messages {len(succeeded) * args.messages:7d}  bytes {echoed:11,d}  "
        f"{elapsed:6.2f} s  {echoed / elapsed / 1e6:6.2f} MB/s  "
        f"{len(succeeded) * args.messages / elapsed:9,.0f} messages/s",
        flush=True,
    )
    for failure in failures[:3]:
        print(f"    error: {failure.getErrorMessage()}")
    return len(failures)


@inlineCallbacks
def main(reactor: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    print(
        f"{args.clients} clients x {args.messages} messages of up to "
        f"{args.max_size} bytes, per framing"
    )
    failed = 0
    for framing in args.framings:
        failed += yield loadFraming(reactor, framing, args)
    if failed:
        raise SystemExit(1)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--max-size", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seed", default="txmachines")
    parser.add_argument("--framings", nargs="+", choices=FRAMINGS, default=FRAMINGS)
    return parser.parse_args()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    react(main, [parse()])
