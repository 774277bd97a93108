"""The one clock: host time to the engine's sample time, from the server's recent callbacks.

The audio server writes, for every block, the frame it starts and the host time
its callback was entered (`clock_frames`, `clock_times`, published by `blocks`).
Every input that stamps arrivals or places timetags (OSC, MIDI, scores, the
engine) asks this clock. `frame_at(t)` reads the line through the last entry at
the nominal rate. `fit=True` instead fits the offset over the last FIT_BLOCKS
entries (Ableton Link's HostTimeUtility averages the same way): it smooths the
callbacks' wake-up jitter, but a callback only ever starts late, so the last
entry errs on the safe side (a command stamped a little early still lands in its
block) while the average can place "now" ahead of the stream and push a
constant-latency hit into the block after (seen on the JACK rig: 5 of 24 hits a
block late). So the last entry is the default until the bench shows otherwise.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from liveengine.server.layout import CLOCK_RING, SharedState

FIT_BLOCKS = 16  # entries in the fit: 43 ms at 48 kHz / 128, long enough to average jitter, short enough to follow drift
STALL_BLOCKS = 4  # a stream silent this long is stalled: arrivals go to the first block after it resumes


class Clock:
    def __init__(self, state: SharedState, samplerate: int, blocksize: int, now: Callable[[], float] = time.perf_counter,
                 fit: bool = False) -> None:
        self.state = state
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.now = now  # host clock on the callbacks' scale (perf_counter; the fake clock offline)
        self.fit = fit

    def _entries(self, count: int) -> tuple[np.ndarray, np.ndarray] | None:
        state = self.state
        for _ in range(3):
            blocks = state.blocks.load()
            first = state.counter("first_block")  # entries before this are from a server that died
            n = min(count, blocks - first, CLOCK_RING // 2)
            if n <= 0:
                return None
            index = np.arange(blocks - n, blocks) % CLOCK_RING
            frames = state.clock_frames[index].copy()
            times = state.clock_times[index].copy()
            if state.blocks.load() - blocks < CLOCK_RING // 2:  # not overwritten while copying
                return frames, times
        return None

    def anchor(self) -> tuple[int, float] | None:
        """(frame, host time) of the latest block's start, or None before the first block."""
        entries = self._entries(1)
        if entries is None:
            return None
        return int(entries[0][-1]), float(entries[1][-1])

    def frame_at(self, t: float) -> int:
        """The engine frame sounding at host time `t` (seconds on `now`'s scale)."""
        entries = self._entries(FIT_BLOCKS if self.fit else 1)
        if entries is None:
            return self.state.counter("frame")
        frames, times = entries
        last_time = float(times[-1])
        offset = float(np.mean(frames - self.samplerate * (times - last_time)))
        return int(round(offset + self.samplerate * (t - last_time)))

    def time_of(self, frame: int) -> float | None:
        """The host time (on `now`'s scale) at which engine frame `frame` starts sounding; None before the first block."""
        anchor = self.anchor()
        if anchor is None:
            return None
        return anchor[1] + (frame - anchor[0]) / self.samplerate

    def now_frame(self) -> int:
        """The current frame. A stream that has not called back for a few blocks is stalled or gone:
        what arrives meanwhile is for the first block after it resumes, not for wall-clock time."""
        anchor = self.anchor()
        if anchor is None:
            return self.state.counter("frame")
        now = self.now()
        limit = STALL_BLOCKS * self.blocksize / self.samplerate
        if now - anchor[1] > limit:
            return anchor[0] + int(round(limit * self.samplerate))
        return self.frame_at(now)
