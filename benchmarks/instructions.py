"""
Instructions per echoed line, counted by valgrind's callgrind: a hand-written
split-and-write echo and raw Twisted LineReceiver (`baseline_server.py`)
against txmachines' echo and greeting (after the name), each fed the same
chunks of 32-byte lines in process, writing to a real Twisted TCP
transport over a socket pair (buffering, producer checks, the reactor's
write registration, the sends), flushed once per chunk as the reactor would.
Instruction counts do not depend on what else the machine is doing, so this
ratio is repeatable where wall-clock throughput (``echo_throughput.py``) is
not.  Only this process's instructions count: not the kernel's work (where a
reply written at once also saves the two ``epoll_ctl`` calls of a buffered
one), nor the reactor's polling and reads, the same for all.

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
    "hand-written, batched",  # ... and one write per chunk: the floor
    "txmachines echo",
    "txmachines greeting",
    "txmachines echo, no idle",  # like the baseline: no idle timeout
]
HAND_WRITTEN, LINE_RECEIVER = CONTENDERS[:2]


def child(name: str, chunks: int, linesPerChunk: int) -> None:
    """Feed ``chunks`` chunks of lines to contender ``name`` (under valgrind)."""
    sys.path.insert(0, str(HERE.parent))
    from twisted.internet import reactor
    from twisted.internet.tcp import Connection
    from twisted.protocols.basic import LineReceiver

    sys.path.insert(0, str(HERE))
    from baseline_server import Echo, HandWrittenBatchedEcho, HandWrittenEcho

    from protocols.adapter import MachineAdapter
    from statemachines.echo import EchoMachine
    from statemachines.framing import LineFramer
    from statemachines.greeting import GreetingMachine

    class Sink(Connection):
        """
        A TCP connection as the reactor drives it - Twisted's buffering,
        producer checks, the reactor's write registration, real sends -
        over a socket pair whose other end this process drains.
        """

        def __init__(self) -> None:
            mine, self.other = socket.socketpair()
            mine.setblocking(False)
            self.other.setblocking(False)
            super().__init__(mine, None, reactor)  # type: ignore[arg-type]
            self.connected = True
            self.writable = False  # whether the reactor would call doWrite

        def startWriting(self) -> None:
            self.writable = True
            super().startWriting()

        def stopWriting(self) -> None:
            self.writable = False
            super().stopWriting()

        def turn(self) -> None:
            """The reactor's turn: flush if asked to, and the peer reads."""
            if self.writable:
                self.doWrite()
            try:
                while self.other.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass

    sink = Sink()

    protocol: LineReceiver | HandWrittenEcho | MachineAdapter
    if name == LINE_RECEIVER:
        protocol = Echo()
    elif name == HAND_WRITTEN:
        protocol = HandWrittenEcho()
    elif name == "hand-written, batched":
        protocol = HandWrittenBatchedEcho()
    else:
        machineClass = GreetingMachine if "greeting" in name else EchoMachine
        options = {"idleTimeout": None} if "no idle" in name else {}
        protocol = MachineAdapter(machineClass(reactor, **options), LineFramer())
    protocol.makeConnection(sink)
    if name == "txmachines greeting":
        protocol.dataReceived(b"Bench\r\n")
    chunk = (b"x" * 30 + b"\r\n") * linesPerChunk
    for _ in range(chunks):
        protocol.dataReceived(chunk)
        sink.turn()


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
