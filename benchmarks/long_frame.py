"""
Server CPU for one long frame: a 32 MiB line (or netstring, or int32
string) echoed back, with the frame limit raised to 64 MiB.  Framing must be
linear in the bytes received however they are chunked; Twisted's
``LineReceiver`` (the baseline, same run) re-scans and re-copies what it has
buffered on every read, so it is quadratic for one long line.

    python benchmarks/long_frame.py [--mib 32] [--skip-baseline]

Each server is its own process; its CPU time (user + system, from /proc) is
read before the frame is sent and after the echo has come back.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.servers import TXMACHINES, runningCommand  # noqa: E402
from protocols.testing import cpuSeconds  # noqa: E402

LIMIT = 64 * 1024 * 1024


def serveBaseline() -> None:
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Factory
    from twisted.protocols.basic import LineReceiver

    class Echo(LineReceiver):
        MAX_LENGTH = LIMIT

        def lineReceived(self, line: bytes) -> None:
            self.sendLine(line)

    def listening(port: object) -> None:
        print(f"listening on {port.getHost().port}", flush=True)  # type: ignore[attr-defined]

    TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(Echo)
    ).addCallback(listening)
    reactor.run()  # type: ignore[attr-defined]


def encode(framing: str, payload: bytes) -> bytes:
    if framing == "line":
        return payload + b"\r\n"
    if framing == "netstring":
        return b"%d:%s," % (len(payload), payload)
    return struct.pack("!I", len(payload)) + payload


def echoOnce(port: int, frame: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as peer:
        peer.sendall(frame)
        got = 0
        while got < len(frame):
            data = peer.recv(1 << 20)
            if not data:
                raise RuntimeError(f"closed after {got} of {len(frame)} bytes")
            got += len(data)


def measure(argv: list[str], framing: str, payload: bytes) -> tuple[float, float]:
    """Server CPU seconds and wall seconds for one echoed frame."""
    with runningCommand(argv) as (proc, port):
        before, start = cpuSeconds(proc.pid), time.perf_counter()
        echoOnce(port, encode(framing, payload))
        return cpuSeconds(proc.pid) - before, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serveBaseline()
        return
    payload = b"x" * (args.mib * 1024 * 1024)
    contenders: list[tuple[str, list[str], str]] = []
    if not args.skip_baseline:
        baseline = [sys.executable, __file__, "--serve-baseline"]
        contenders.append(("raw LineReceiver, line", baseline, "line"))
    for framing in ("line", "netstring", "int32"):
        command = TXMACHINES + ["serve", "echo", "--framing", framing]
        command += ["--max-frame", str(LIMIT), "--listen", "tcp:0:interface=127.0.0.1"]
        contenders.append((f"txmachines echo, {framing}", command, framing))
    print(f"one {args.mib} MiB frame echoed, frame limit 64 MiB; server CPU:")
    results = {}
    for name, command, framing in contenders:
        cpu, wall = measure(command, framing, payload)
        results[name] = cpu
        print(f"  {name:28} {cpu:7.2f} s CPU  ({wall:.2f} s wall)", flush=True)
    if "raw LineReceiver, line" in results:
        ratio = results["raw LineReceiver, line"] / results["txmachines echo, line"]
        print(f"line: txmachines used {ratio:.1f}x less CPU than LineReceiver")


if __name__ == "__main__":
    main()
