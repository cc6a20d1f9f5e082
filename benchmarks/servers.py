"""Start the servers the benchmarks compare, each in its own process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent
TXMACHINES = [sys.executable, "-c", "from protocols.cli import main; main()"]
# Like the baseline, no connection limits (the memory benchmark holds 10,000
# connections from one address):
UNLIMITED = ["--max-connections", "0", "--max-per-peer", "0"]

SERVERS = {
    "raw LineReceiver": [sys.executable, str(HERE / "baseline_server.py")],
    # With an idle timeout like txmachines' default, Twisted's way:
    "raw LineReceiver, idle": [sys.executable, str(HERE / "baseline_server.py")]
    + ["--idle-timeout", "300"],
    # The same echo written by hand for speed (one split per chunk):
    "hand-written": [sys.executable, str(HERE / "baseline_server.py")]
    + ["--hand-written"],
    # ... and writing each chunk's replies at once (the floor):
    "hand-written, batched": [sys.executable, str(HERE / "baseline_server.py")]
    + ["--hand-written-batched"],
    "txmachines echo": TXMACHINES
    + [
        "serve",
        "echo",
        *UNLIMITED,
        "--listen",
        "tcp:0:interface=127.0.0.1:backlog=1024",
    ],
    "txmachines greeting": TXMACHINES
    + [
        "serve",
        "greeting",
        *UNLIMITED,
        "--listen",
        "tcp:0:interface=127.0.0.1:backlog=1024",
    ],
    # Like the baseline, with no idle timeout:
    "txmachines echo, no idle": TXMACHINES
    + ["serve", "echo", *UNLIMITED, "--idle-timeout", "0"]
    + ["--listen", "tcp:0:interface=127.0.0.1:backlog=1024"],
}

# What the throughput benchmarks measure txmachines against (see
# baseline_server.py): the limit, and what a Twisted user writes first.
BASELINES = ["hand-written", "raw LineReceiver"]


def roundRatios(
    values: list[float], baseline: list[float], higherIsFaster: bool = True
) -> list[float]:
    """Each round's speed relative to the baseline's in the same round."""
    return [
        v / b if higherIsFaster else b / v
        for v, b in zip(values, baseline, strict=True)
    ]


@contextmanager
def running(name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start server ``name``; yield its process and port; stop it after."""
    with runningCommand(SERVERS[name]) as started:
        yield started


@contextmanager
def runningCommand(
    argv: list[str],
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start the server ``argv``; yield its process and port; kill it after."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=HERE.parent
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(rb"listening on (?:.*port=)?(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        else:
            raise RuntimeError(f"{argv} exited before listening")
        yield proc, port
    finally:
        proc.kill()
        proc.wait()
