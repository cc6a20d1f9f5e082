"""
Instructions per echoed line, counted by valgrind's callgrind: raw Twisted
LineReceiver against txmachines' echo and greeting (after the name), each fed
the same chunks of 32-byte lines in process, writing to a transport that
discards.  Instruction counts do not depend on what else the machine is
doing, so this ratio is repeatable where wall-clock throughput
(``echo_throughput.py``) is not; it leaves out the kernel and the reactor's
socket work, which are the same for both, so it is the harsher ratio.

    python benchmarks/instructions.py [--lines-per-chunk 100]

Each contender runs twice (few and many chunks); the difference divided by
the difference in lines is the cost of one line, start-up excluded.
Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDERS = [
    "raw LineReceiver",
    "txmachines echo",
    "txmachines greeting",
    "txmachines echo, no idle",  # like the baseline: no idle timeout
]
BASELINE = CONTENDERS[0]


def child(name: str, chunks: int, linesPerChunk: int) -> None:
    """Feed ``chunks`` chunks of lines to contender ``name`` (under valgrind)."""
    sys.path.insert(0, str(HERE.parent))
    from twisted.internet.task import Clock
    from twisted.protocols.basic import LineReceiver

    from protocols.adapter import MachineAdapter
    from statemachines.echo import EchoMachine
    from statemachines.framing import LineFramer
    from statemachines.greeting import GreetingMachine

    class Discard:
        disconnecting = False

        def write(self, data: bytes) -> None:
            pass

        def registerProducer(self, producer: object, streaming: bool) -> None:
            pass

    class Raw(LineReceiver):
        def lineReceived(self, line: bytes) -> None:
            self.sendLine(line)

    protocol: LineReceiver | MachineAdapter
    if name == BASELINE:
        protocol = Raw()
    else:
        machineClass = GreetingMachine if "greeting" in name else EchoMachine
        options = {"idleTimeout": None} if "no idle" in name else {}
        protocol = MachineAdapter(machineClass(Clock(), **options), LineFramer())
    protocol.makeConnection(Discard())  # type: ignore[arg-type]
    if name == "txmachines greeting":
        protocol.dataReceived(b"Bench\r\n")
    chunk = (b"x" * 30 + b"\r\n") * linesPerChunk
    for _ in range(chunks):
        protocol.dataReceived(chunk)


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
    for name in CONTENDERS:
        ratio = perLine[BASELINE] / perLine[name]
        print(f"  {name:22} {perLine[name]:8.0f}    {ratio:.2f}x baseline's speed")


if __name__ == "__main__":
    main()
