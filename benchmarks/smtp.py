"""
SMTP: messages per second and server CPU per message, txmachines' SMTP
receiver against aiosmtpd (its ``Mailbox`` handler, into a Maildir), in the
same run, alternating, medians.

    python benchmarks/smtp.py [--rounds 5] [--clients 10] [--messages 100]

Each round starts each server afresh (its own empty Maildir), then
``--clients`` threads of Python's ``smtplib`` each open one connection and
send ``--messages`` messages of about 1 KiB.  Needs ``pip install
aiosmtpd``.  Note that the two do not do the same work per message:
txmachines fsyncs each message (and its directory) before it says 250,
aiosmtpd's ``Mailbox`` does not fsync, but parses each message into an
``email.message.Message`` and writes it back out.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.servers import TXMACHINES, runningCommand  # noqa: E402
from protocols.testing import cpuSeconds  # noqa: E402

BODY = b"Subject: benchmark\r\n\r\n" + (b"x" * 70 + b"\r\n") * 14


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aiosmtpd(maildir: str) -> tuple[list[str], int]:
    port = freePort()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    return command + ["-c", "aiosmtpd.handlers.Mailbox", maildir], port


def txmachines(maildir: str) -> tuple[list[str], int]:
    command = TXMACHINES + ["serve", "smtp", "--maildir", maildir]
    return command + ["--listen", "tcp:0:interface=127.0.0.1"], 0


def waitForPort(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def send(port: int, clients: int, messages: int) -> None:
    def client(_: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for _ in range(messages):
                smtp.sendmail("a@example.com", ["b@example.com"], BODY)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))


def measure(
    make: Callable[[str], tuple[list[str], int]], clients: int, messages: int
) -> tuple[float, float]:
    """Messages per second, and server CPU microseconds per message."""
    with tempfile.TemporaryDirectory() as scratch:
        maildir = str(Path(scratch) / "mail")
        command, port = make(maildir)
        if port:
            proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                waitForPort(port)
                return _timed(proc.pid, port, clients, messages, maildir)
            finally:
                proc.kill()
                proc.wait()
        with runningCommand(command) as (proc, port):
            return _timed(proc.pid, port, clients, messages, maildir)


def _timed(
    pid: int, port: int, clients: int, messages: int, maildir: str
) -> tuple[float, float]:
    total = clients * messages
    before, start = cpuSeconds(pid), time.perf_counter()
    send(port, clients, messages)
    elapsed, cpu = time.perf_counter() - start, cpuSeconds(pid) - before
    stored = len(list((Path(maildir) / "new").iterdir()))
    if stored != total:
        raise RuntimeError(f"{stored} of {total} messages stored")
    return total / elapsed, cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    contenders = {"aiosmtpd Mailbox": aiosmtpd, "txmachines smtp": txmachines}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for round in range(args.rounds):
        for name, make in contenders.items():
            results[name].append(measure(make, args.clients, args.messages))
        print(
            f"round {round + 1}: "
            + ", ".join(f"{name} {results[name][-1][0]:.0f}/s" for name in contenders),
            flush=True,
        )
    print(
        f"{args.clients} smtplib clients x {args.messages} messages of "
        f"{len(BODY)} bytes, {args.rounds} rounds, medians:"
    )
    medians = {}
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = rate
        print(f"  {name:18} {rate:7.0f} messages/s  {cpu:6.0f} µs server CPU/message")
    ratio = medians["txmachines smtp"] / medians["aiosmtpd Mailbox"]
    print(f"txmachines / aiosmtpd: {ratio:.2f}x messages per second")


if __name__ == "__main__":
    main()
