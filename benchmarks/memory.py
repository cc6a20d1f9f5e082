"""
Memory per idle connection: raw Twisted LineReceiver echo (and the
hand-written echo, `baseline_server.py`) against txmachines' echo and
greeting servers, each in its own process, holding
``--connections`` connections from this process.  The baseline has no idle
timeout; txmachines' servers have one by default (300 s), so echo is also
measured without it, and the baseline with one (Twisted's ``TimeoutMixin``).
Each connection makes one exchange (so the server has surely set it up),
then stays idle.  Per
connection = (server RSS with the connections - RSS before) / connections.
`memory_objects.py` shows where those bytes go.

    python benchmarks/memory.py [--connections 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import resource
import selectors
import socket
import statistics

from servers import running

from protocols.testing import residentBytes as rss

BASELINE = "raw LineReceiver"
CONTENDERS = [
    BASELINE,
    "hand-written",
    "raw LineReceiver, idle",
    "txmachines echo, no idle",
    "txmachines echo",
    "txmachines greeting",
]
BATCH = 200


def exchange(sockets: list[socket.socket], greeting: bool) -> None:
    """Wait until every socket has had its reply (echo or banner)."""
    expect = b"Hello! What is your name?\r\n" if greeting else b"ping\r\n"
    waiting = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            if not greeting:
                sock.sendall(b"ping\r\n")
            selector.register(sock, selectors.EVENT_READ)
            waiting[sock] = b""
        while waiting:
            for key, _ in selector.select(timeout=30):
                sock = key.fileobj  # type: ignore[assignment]
                waiting[sock] += sock.recv(4096)
                if waiting[sock] == expect:
                    del waiting[sock]
                    selector.unregister(sock)
            if not selector.get_map() and waiting:
                raise RuntimeError("replies missing")


def measure(name: str, connections: int) -> float:
    greeting = "greeting" in name
    with running(name) as (proc, port):
        warm = [socket.create_connection(("127.0.0.1", port))]
        exchange(warm, greeting)
        warm[0].close()
        before = rss(proc.pid)
        held: list[socket.socket] = []
        try:
            while len(held) < connections:
                batch = [
                    socket.create_connection(("127.0.0.1", port))
                    for _ in range(min(BATCH, connections - len(held)))
                ]
                exchange(batch, greeting)
                held.extend(batch)
            after = rss(proc.pid)
        finally:
            for sock in held:
                sock.close()
    return (after - before) / connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.connections + 100
    if hard < needed:
        raise SystemExit(f"needs {needed} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # servers inherit it
    results: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for round in range(args.rounds):
        for name in CONTENDERS:
            perConnection = measure(name, args.connections)
            results[name].append(perConnection)
            print(
                f"  round {round + 1}: {name:22s} {perConnection:8,.0f} bytes",
                flush=True,
            )
    baseline = statistics.median(results[BASELINE])
    idle = statistics.median(results["raw LineReceiver, idle"])
    print(
        f"\nbytes per idle connection, medians of {args.rounds} rounds, "
        f"{args.connections} connections; relative to raw LineReceiver, and to "
        "raw LineReceiver with an idle timeout"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"  {name:24s} {median:8,.0f} bytes   {median / baseline:5.2f}x, "
            f"{median / idle:5.2f}x"
        )


if __name__ == "__main__":
    main()
