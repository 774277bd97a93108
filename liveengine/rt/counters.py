"""Counters and timing rings written by the audio callback, read by other threads."""

from __future__ import annotations

import numpy as np


class RtCounters:
    """Plain integers and preallocated rings: writing them allocates nothing unbounded.

    Readers on other threads may see a value one block old; that is fine for
    status lines and benchmarks.
    """

    def __init__(self, history: int = 1 << 16) -> None:
        self.blocks = 0
        self.xruns = 0  # underflows/overflows reported by the backend
        self.late_commands = 0  # timed commands that arrived after their block
        self.schedule_full = 0  # timed commands dropped because the schedule was full
        self.callback_errors = 0  # exceptions caught on the audio path (block replaced by silence)
        self.last_error: BaseException | None = None
        self.callback_seconds = np.zeros(history, dtype=np.float64)
        self.lateness_seconds = np.zeros(history, dtype=np.float64)

    def record_timing(self, seconds: float, lateness: float) -> None:
        i = self.blocks % len(self.callback_seconds)
        self.callback_seconds[i] = seconds
        self.lateness_seconds[i] = lateness
        self.blocks += 1

    def timings(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the callback-time and lateness history, oldest first (non-real-time)."""
        size = len(self.callback_seconds)
        blocks = self.blocks
        index = np.arange(max(0, blocks - size), blocks) % size
        return self.callback_seconds[index], self.lateness_seconds[index]
