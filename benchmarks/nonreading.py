"""
Many peers that send and never read: does the server's memory stay bounded
in total, and is a fresh client still served meanwhile?

    python benchmarks/nonreading.py [--peers 5000] [--addresses 50] [--mib 1]
                                    [-- extra txmachines serve options]

Starts ``txmachines serve echo`` (default limits: 100 connections per
address), opens ``--peers`` connections spread over ``--addresses``
loopback source addresses (127.0.0.2, 127.0.0.3, ...), and has each send
``--mib`` MiB of lines without ever reading the echo.  Once no peer can
send more, it reports how much the server's resident memory grew, then times
fresh clients (from another address) doing one echo each.

Targets (issue 15): 5,000 peers from 50 addresses, 1 MiB each, grow the
server by under 256 MiB; a fresh client is served in under 100 ms.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.servers import TXMACHINES, runningCommand  # noqa: E402
from protocols.testing import cpuSeconds, residentBytes  # noqa: E402

LINE = b"x" * 62 + b"\r\n"


def flood(port: int, peers: int, addresses: int, payload: bytes) -> list[socket.socket]:
    """Connect ``peers`` sockets; push ``payload`` on each until none can."""
    selector = selectors.DefaultSelector()
    sockets: list[socket.socket] = []
    for i in range(peers):
        peer = socket.socket()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        peer.bind((f"127.0.0.{2 + i % addresses}", 0))
        peer.connect(("127.0.0.1", port))
        peer.setblocking(False)
        sockets.append(peer)
        selector.register(peer, selectors.EVENT_WRITE, [0])
    view = memoryview(payload)
    quietSince = time.monotonic()
    while selector.get_map():
        events = selector.select(timeout=0.5)
        progressed = False
        for key, _ in events:
            sent = key.data
            try:
                n = key.fileobj.send(view[sent[0] : sent[0] + 262144])  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                selector.unregister(key.fileobj)
                continue
            progressed = progressed or n > 0
            sent[0] += n
            if sent[0] >= len(payload):
                selector.unregister(key.fileobj)
        if progressed:
            quietSince = time.monotonic()
        elif time.monotonic() - quietSince > 3:
            break  # every peer is blocked: the server stopped reading them
    total = sum(key.data[0] for key in selector.get_map().values())
    blocked = len(selector.get_map())
    print(f"  {blocked} of {peers} peers blocked (the server stopped reading them)")
    del total
    return sockets


def freshEcho(port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as peer:
        peer.sendall(b"fresh\r\n")
        reply = peer.recv(100)
    elapsed = time.perf_counter() - start
    if reply != b"fresh\r\n":
        raise RuntimeError(f"fresh client got {reply!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=50)
    parser.add_argument("--mib", type=float, default=1)
    parser.add_argument("serveOptions", nargs="*")
    args = parser.parse_args()
    payload = LINE * int(args.mib * 1024 * 1024 / len(LINE))
    command = TXMACHINES + ["serve", "echo", *args.serveOptions]
    command += ["--listen", "tcp:0:interface=127.0.0.1:backlog=4096"]
    with runningCommand(command) as (proc, port):
        freshEcho(port)
        before = residentBytes(proc.pid)
        print(
            f"{args.peers} peers from {args.addresses} addresses, each sending "
            f"{args.mib:g} MiB and never reading; server {' '.join(args.serveOptions)}"
        )
        during: list[float] = []
        flooding = threading.Event()
        flooding.set()

        def probe() -> None:  # a fresh client every 100 ms while flooding
            while flooding.is_set():
                during.append(freshEcho(port))
                time.sleep(0.1)

        prober = threading.Thread(target=probe)
        start = time.perf_counter()
        prober.start()
        try:
            sockets = flood(port, args.peers, args.addresses, payload)
        finally:
            flooding.clear()
            prober.join()
        print(f"  flooded in {time.perf_counter() - start:.1f} s")
        settled = time.perf_counter()
        while True:  # until the server is idle: it read what it will read
            used = cpuSeconds(proc.pid)
            time.sleep(0.5)
            if cpuSeconds(proc.pid) - used < 0.05:
                break
        print(f"  the server settled {time.perf_counter() - settled:.1f} s later")
        grown = residentBytes(proc.pid) - before
        after = [freshEcho(port) for _ in range(20)]
        print(f"  server RSS grew by {grown / 2**20:.0f} MiB (target < 256)")
        for when, latencies in (("during the flood", during), ("once settled", after)):
            print(
                f"  fresh client echo {when}: {len(latencies)} clients, median"
                f" {statistics.median(latencies) * 1000:.1f} ms,"
                f" max {max(latencies) * 1000:.1f} ms (target < 100)"
            )
        for peer in sockets:
            peer.close()


if __name__ == "__main__":
    main()
