"""
Instructions per echoed line, counted by valgrind's callgrind: a hand-written
split-and-write echo and raw Twisted LineReceiver (`baseline_server.py`)
against txmachines' echo and greeting (after the name), each fed the same
chunks of 32-byte lines in process, writing to Twisted's own socket
transport code (buffering, producer checks, the reactor's write
registration, one flush per chunk) with the send system call left out.
Instruction counts do not depend on what else the machine is doing, so this
ratio is repeatable where wall-clock throughput (``echo_throughput.py``) is
not; it leaves out the kernel and the reactor's reads, which are the same for
all, so it is the harsher ratio.

    python benchmarks/instructions.py [--lines-per-chunk 100]

Each contender runs twice (few and many chunks); the difference divided by
the difference in lines is the cost of one line, start-up excluded.
Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDERS = [
    "hand-written",  # one split per chunk, one write per line: the limit
    "raw LineReceiver",
    "txmachines echo",
    "txmachines greeting",
    "txmachines echo, no idle",  # like the baseline: no idle timeout
]
HAND_WRITTEN, LINE_RECEIVER = CONTENDERS[:2]


def child(name: str, chunks: int, linesPerChunk: int) -> None:
    """Feed ``chunks`` chunks of lines to contender ``name`` (under valgrind)."""
    sys.path.insert(0, str(HERE.parent))
    from twisted.internet import reactor
    from twisted.internet.abstract import FileDescriptor
    from twisted.internet.task import Clock
    from twisted.protocols.basic import LineReceiver

    sys.path.insert(0, str(HERE))
    from baseline_server import Echo, HandWrittenEcho

    from protocols.adapter import MachineAdapter
    from statemachines.echo import EchoMachine
    from statemachines.framing import LineFramer
    from statemachines.greeting import GreetingMachine

    class Sink(FileDescriptor):
        """
        A connection's transport as the reactor drives it (Twisted's own
        buffering, producer checks, epoll registration), minus the send
        system call: what it would send is dropped.
        """

        def __init__(self) -> None:
            super().__init__(reactor)
            self.connected = True
            self.socket, self.other = socket.socketpair()

        def fileno(self) -> int:
            return self.socket.fileno()

        def writeSomeData(self, data: bytes) -> int:
            return len(data)

    sink = Sink()

    protocol: LineReceiver | HandWrittenEcho | MachineAdapter
    if name == LINE_RECEIVER:
        protocol = Echo()
    elif name == HAND_WRITTEN:
        protocol = HandWrittenEcho()
    else:
        machineClass = GreetingMachine if "greeting" in name else EchoMachine
        options = {"idleTimeout": None} if "no idle" in name else {}
        protocol = MachineAdapter(machineClass(Clock(), **options), LineFramer())
    protocol.makeConnection(sink)
    if name == "txmachines greeting":
        protocol.dataReceived(b"Bench\r\n")
    chunk = (b"x" * 30 + b"\r\n") * linesPerChunk
    for _ in range(chunks):
        protocol.dataReceived(chunk)
        sink.doWrite()  # the reactor's turn: the socket is writable


def instructions(name: str, chunks: int, linesPerChunk: int) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/out",
                sys.executable,
                __file__,
                "--child",
                name,
                str(chunks),
                str(linesPerChunk),
            ],
            capture_output=True,
            text=True,
            check=True,
            # Hash randomisation changes dict layouts, and so the count.
            env=dict(os.environ, PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0")),
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr}")
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--lines-per-chunk", type=int, default=100)
    options.add_argument("--chunks", type=int, default=400)
    args = options.parse_args()
    few, many = 40, 40 + args.chunks
    lines = (many - few) * args.lines_per_chunk
    perLine = {}
    for name in CONTENDERS:
        counts = [instructions(name, n, args.lines_per_chunk) for n in (few, many)]
        perLine[name] = (counts[1] - counts[0]) / lines
    print(
        f"instructions per echoed line ({args.lines_per_chunk} lines of 32 bytes "
        "per chunk, in process, callgrind):"
    )
    print(f"  {'':26} {'':8}    speed relative to {HAND_WRITTEN}, {LINE_RECEIVER}")
    for name in CONTENDERS:
        print(
            f"  {name:26} {perLine[name]:8.0f}    "
            f"{perLine[HAND_WRITTEN] / perLine[name]:.2f}x, "
            f"{perLine[LINE_RECEIVER] / perLine[name]:.2f}x"
        )


if __name__ == "__main__":
    main()
