"""
``serve echo --workers N``: lines per second and server CPU per line for 1
and 2 workers, in the same run, alternating, medians.

    python benchmarks/workers.py [--rounds 3] [--clients 4] [--lines 100000]

Each round starts each server afresh; ``--clients`` client *processes* each
drive one pipelined connection (``echo_throughput.drive``: 32-byte lines,
1,000 in flight) at once.  Server CPU is the supervisor's plus its workers'
(read from /proc).  On a 2-core machine the clients share the cores with the
workers, so 2 workers cannot reach 2x: the figures say how far they get.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.echo_throughput import drive  # noqa: E402
from benchmarks.procfs import cpuSeconds  # noqa: E402
from benchmarks.servers import TXMACHINES, UNLIMITED, runningCommand  # noqa: E402


def family(pid: int) -> list[int]:
    """``pid`` and its children (the workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def client(port: int, lines: int) -> None:
    drive(port, lines, 32, 1000, False)


def measure(workers: int, clients: int, lines: int) -> tuple[float, float]:
    command = TXMACHINES + ["serve", "echo", "--workers", str(workers), *UNLIMITED]
    command += ["--listen", "tcp:0:interface=127.0.0.1:backlog=1024"]
    with runningCommand(command) as (proc, port):
        time.sleep(1.0)  # let the workers start and adopt the socket
        pids = family(proc.pid)
        before = sum(cpuSeconds(p) for p in pids)
        start = time.perf_counter()
        with multiprocessing.Pool(clients) as pool:
            pool.starmap(client, [(port, lines)] * clients)
        elapsed = time.perf_counter() - start
        cpu = sum(cpuSeconds(p) for p in pids) - before
    total = clients * lines
    return total / elapsed, cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for round in range(args.rounds):
        for workers in results:
            rate, cpu = measure(workers, args.clients, args.lines)
            results[workers].append((rate, cpu))
            print(
                f"  round {round + 1}: {workers} worker(s) {rate:10,.0f} lines/s"
                f"  {cpu:5.2f} server CPU us/line",
                flush=True,
            )
    print(f"\n{args.clients} client processes, medians of {args.rounds} rounds:")
    rates = {}
    for workers, runs in results.items():
        rates[workers] = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"  {workers} worker(s): {rates[workers]:10,.0f} lines/s"
            f"  {cpu:5.2f} us/line"
        )
    print(f"2 workers / 1 worker: {rates[2] / rates[1]:.2f}x lines per second")


if __name__ == "__main__":
    main()
