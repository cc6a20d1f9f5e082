"""
What one idle connection holds, allocation by allocation: raw Twisted
``LineReceiver`` echo (with and without ``TimeoutMixin``'s idle timeout)
against txmachines' echo server as ``txmachines serve echo`` builds it, in
this process, over real loopback TCP connections, counted by
``tracemalloc``.  `memory.py` measures the whole process (RSS); this says
where the bytes go.

Each connection makes one exchange, then stays idle; the clients' sockets
are made before counting starts, after one warm-up connection has come and
gone.  Allocations are grouped by the innermost
line of Twisted's or this project's code that made them, and shown per
connection with that line.  Python's allocator rounds sizes up to 16 bytes,
so RSS differs from these totals by a few percent.

    python benchmarks/memory_objects.py [--connections 2000] [--top 12]
"""

from __future__ import annotations

import argparse
import gc
import linecache
import socket
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baseline_server import Echo, idle
from twisted.internet import reactor
from twisted.internet.protocol import Factory
from twisted.logger import globalLogBeginner

from protocols.options import parser
from protocols.servecommand import serverFromOptions

HERE = Path(__file__).resolve().parent
# Code whose allocations are counted (the clients' are this file's).
OURS = (str(HERE.parent / "statemachines"), str(HERE.parent / "protocols"))
TWISTED = str(Path(sys.modules["twisted"].__file__ or "").parent)
BATCH = 100


def txmachinesEcho() -> Factory:
    args = parser().parse_args(
        ["serve", "echo", "--max-connections", "0", "--max-per-peer", "0"]
    )
    return serverFromOptions(reactor, args).factory


CONTENDERS: dict[str, Callable[[], Any]] = {
    "raw LineReceiver": lambda: Factory.forProtocol(Echo),
    "raw LineReceiver, idle": lambda: Factory.forProtocol(idle(Echo, 300)),
    "txmachines echo": txmachinesEcho,
}


def exchange(port: int, clients: list[socket.socket]) -> None:
    """Connect ``clients``, each sends a line; run the reactor until echoed."""
    for client in clients:
        client.connect(("127.0.0.1", port))
        client.sendall(b"ping\r\n")
        client.setblocking(False)
    waiting = set(clients)
    while waiting:
        reactor.iterate(0.01)  # type: ignore[attr-defined]
        for client in list(waiting):
            try:
                if client.recv(100) == b"ping\r\n":
                    waiting.discard(client)
            except BlockingIOError:
                pass


def where(frame: tracemalloc.Frame) -> str:
    short = frame.filename
    for root, name in ((TWISTED, "twisted"), (str(HERE.parent), "")):
        if short.startswith(root):
            short = name + short[len(root) :]
    line = linecache.getline(frame.filename, frame.lineno).strip()
    return f"{short.lstrip('/')}:{frame.lineno}  {line}"


def measure(name: str, connections: int, top: int) -> float:
    listening: Any = reactor.listenTCP(  # type: ignore[attr-defined]
        0, CONTENDERS[name](), 1024, "127.0.0.1"
    )
    port = listening.getHost().port
    # Warm up with a connection that ends, as a live server's have (see
    # "Attribute layout" in statemachines.engine.machine).
    warm = socket.socket()
    exchange(port, [warm])
    warm.close()
    for _ in range(20):
        reactor.iterate(0.01)  # type: ignore[attr-defined]
    clients = [socket.socket() for _ in range(connections)]
    gc.collect()
    tracemalloc.start(30)
    before = tracemalloc.take_snapshot()
    for start in range(0, connections, BATCH):
        exchange(port, clients[start : start + BATCH])
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    bySite: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        frames = [
            f
            for f in stat.traceback
            if f.filename.startswith(OURS) or f.filename.startswith(TWISTED)
        ]
        if not frames:
            continue  # this file's (the clients')
        site = where(frames[-1])  # tracemalloc lists the innermost frame last
        bySite[site] = bySite.get(site, 0) + stat.size_diff
    total = sum(bySite.values()) / connections
    print(f"\n{name}: {total:,.0f} bytes per connection; the largest:")
    ranked = sorted(bySite.items(), key=lambda item: -item[1])
    for site, size in ranked[:top]:
        print(f"  {size / connections:7,.0f} B  {site[:110]}")
    listening.stopListening()
    for client in clients:
        client.close()
    for _ in range(20):
        reactor.iterate(0.01)  # type: ignore[attr-defined]
    return total


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--connections", type=int, default=2000)
    options.add_argument("--top", type=int, default=12)
    args = options.parse_args()
    # Log events go nowhere (not into the buffer kept until logging begins).
    globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    totals = {name: measure(name, args.connections, args.top) for name in CONTENDERS}
    baseline = totals["raw LineReceiver"]
    print(f"\nbytes per idle connection ({args.connections} connections, tracemalloc)")
    for name, total in totals.items():
        print(f"  {name:24s} {total:7,.0f}  {total - baseline:+6,.0f} B")


if __name__ == "__main__":
    main()
