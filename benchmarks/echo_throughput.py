"""
Echo throughput: a hand-written split-and-write echo and raw Twisted
LineReceiver (`baseline_server.py`) against txmachines' echo and greeting
servers, each in its own process, driven by the same pipelined client over
loopback.  Rounds alternate between the servers; the medians of
lines per second and of the per-round ratios to each baseline are printed
(this machine's speed drifts between rounds; a round's servers run within
seconds of each other), and so is each server's CPU time per line, which
other load on the machine disturbs far less than wall-clock throughput.

    python benchmarks/echo_throughput.py [--rounds 5] [--lines 200000]
                                         [--size 32] [--window 1000]

The client keeps ``--window`` lines in flight on one connection: it sends
lines in batches and counts CRLFs coming back, so it costs far less per line
than the servers it measures.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

from procfs import cpuSeconds
from servers import BASELINES, roundRatios, running

CONTENDERS = [
    *BASELINES,
    "hand-written, batched",  # one write per read: the floor, for reference
    "txmachines echo",
    "txmachines greeting",
]


def drive(port: int, lines: int, size: int, window: int, greeting: bool) -> float:
    """Echo ``lines`` lines of ``size`` bytes; lines per second."""
    line = b"x" * (size - 2) + b"\r\n"
    batch = 100
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if greeting:
            expect = b"Hello! What is your name?\r\n"
            got = b""
            while len(got) < len(expect):
                got += sock.recv(4096)
            sock.sendall(b"Bench\r\n")
            expect = b"Hello, Bench!\r\n"
            got = b""
            while len(got) < len(expect):
                got += sock.recv(4096)
        credit = threading.Semaphore(max(1, window // batch))
        done = threading.Event()

        def send() -> None:
            chunk = line * batch
            for _ in range(lines // batch):
                credit.acquire()
                sock.sendall(chunk)
            done.set()

        start = time.perf_counter()
        sender = threading.Thread(target=send)
        sender.start()
        received = pending = 0
        while received < lines:
            data = sock.recv(1 << 16)
            if not data:
                raise RuntimeError("server closed the connection")
            pending += data.count(b"\r\n")
            while pending >= batch:
                pending -= batch
                received += batch
                credit.release()
        elapsed = time.perf_counter() - start
        sender.join()
    return lines / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--size", type=int, default=32, help="bytes per line, CRLF included"
    )
    parser.add_argument("--window", type=int, default=1000, help="lines in flight")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for round in range(args.rounds):
        for name in CONTENDERS:
            greeting = "greeting" in name
            with running(name) as (proc, port):
                drive(port, args.lines // 10, args.size, args.window, greeting)
                before = cpuSeconds(proc.pid)
                rate = drive(port, args.lines, args.size, args.window, greeting)
                perLine = (cpuSeconds(proc.pid) - before) / args.lines * 1e6
            rates[name].append(rate)
            cpu[name].append(perLine)
            print(
                f"  round {round + 1}: {name:22s} {rate:12,.0f} lines/s"
                f"  {perLine:6.3f} server CPU us/line",
                flush=True,
            )
    print(
        f"\nmedians of {args.rounds} rounds, {args.lines} lines of {args.size} bytes, "
        f"{args.window} in flight; ratios are medians of each round's ratio"
    )
    report("throughput", rates, "lines/s", higherIsFaster=True, decimals=0)
    report(
        "server CPU time per line (far less disturbed by other load)",
        cpu,
        "us/line",
        higherIsFaster=False,
        decimals=3,
    )


def report(
    title: str,
    results: dict[str, list[float]],
    unit: str,
    higherIsFaster: bool,
    decimals: int,
) -> None:
    """Medians, and the median of each round's speed relative to each baseline."""
    print(f"{title}; speed relative to {' and '.join(BASELINES)}:")
    for name, values in results.items():
        relative = []
        for baseline in BASELINES:
            ratios = roundRatios(values, results[baseline], higherIsFaster)
            relative.append(
                f"{statistics.median(ratios):5.2f}x"
                f" ({min(ratios):.2f} to {max(ratios):.2f})"
            )
        print(
            f"  {name:22s} {statistics.median(values):12,.{decimals}f} {unit}   "
            + ", ".join(relative)
        )


if __name__ == "__main__":
    main()
