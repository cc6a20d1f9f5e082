"""
Request/response echo: one 32-byte line at a time, each sent only when the
previous reply is back, so every line arrives alone and pays a whole round
trip (system calls, the reactor, the machine).  A hand-written
split-and-write echo and raw Twisted LineReceiver (`baseline_server.py`)
against txmachines' echo (with and without its idle timeout), each in its own
process, alternating; prints medians of lines per second and of server CPU
time per line, and the ratios.

    python benchmarks/request_response.py [--rounds 3] [--lines 20000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

from servers import BASELINES, roundRatios, running

from protocols.testing import cpuSeconds

CONTENDERS = [*BASELINES, "txmachines echo", "txmachines echo, no idle"]


def drive(port: int, lines: int) -> float:
    """Echo ``lines`` lines one at a time; lines per second."""
    line = b"x" * 30 + b"\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        for _ in range(lines):
            sock.sendall(line)
            reply = b""
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(4096)
        return lines / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for round in range(args.rounds):
        for name in CONTENDERS:
            with running(name) as (proc, port):
                before = cpuSeconds(proc.pid)
                rate = drive(port, args.lines)
                perLine = (cpuSeconds(proc.pid) - before) / args.lines * 1e6
            rates[name].append(rate)
            cpu[name].append(perLine)
            print(
                f"  round {round + 1}: {name:26} {rate:9,.0f} lines/s "
                f"{perLine:6.1f} server CPU us/line",
                flush=True,
            )
    print(
        f"\nmedians of {args.rounds} rounds, {args.lines} lines, one in flight; "
        f"speed relative to {' and '.join(BASELINES)} (medians of each round's)"
    )
    for name in CONTENDERS:
        relative = [
            statistics.median(roundRatios(rates[name], rates[baseline]))
            for baseline in BASELINES
        ]
        print(
            f"  {name:26} {statistics.median(rates[name]):9,.0f} lines/s "
            f"{relative[0]:5.2f}x, {relative[1]:5.2f}x; "
            f"{statistics.median(cpu[name]):5.1f} us CPU/line"
        )


if __name__ == "__main__":
    main()
