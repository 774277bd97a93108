"""The instrument's memory, as /status shows it.

PSS (proportional set size) rather than RSS: the sample pool and command FIFO are shared
memory mapped by the engine and its audio server, and RSS would count them once per process.
"""

from __future__ import annotations

from typing import Iterable


def pss_kb(pid: int) -> int | None:
    """A process's PSS in KiB, from /proc/PID/smaps_rollup (Linux); None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def instrument_memory_mb(pids: Iterable[int]) -> float | None:
    """PSS summed over these processes, in MB (10^6 bytes); None where no process could be read (not Linux)."""
    sizes = [kb for kb in (pss_kb(pid) for pid in set(pids)) if kb is not None]
    return round(sum(sizes) * 1024 / 1e6, 1) if sizes else None
