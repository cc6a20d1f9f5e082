"""
A process's memory and CPU time, read from Linux's ``/proc``: for the
benchmarks and the tests that run servers as processes.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpuSeconds", "residentBytes"]


def residentBytes(pid: int) -> int:
    """The resident set size of process ``pid``, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpuSeconds(pid: int) -> float:
    """
    CPU time process ``pid`` has used so far (Linux): its main thread's, to
    the nanosecond, where the kernel keeps scheduler statistics; else user
    plus system time of the process, in clock ticks (10 ms).
    """
    try:
        runtime = Path(f"/proc/{pid}/schedstat").read_text().split()[0]
    except (OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    return int(runtime) / 1e9
