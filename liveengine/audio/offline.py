"""The offline backend: the same engine driven block by block on a fake clock.

Used by `liveengine render`, the demo when no device exists, tests and benchmarks.
Nothing here waits for real time, so a render is as fast as the CPU allows and
exactly repeatable.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from liveengine.audio.backend import ProcessFn


class OfflineBackend:
    output_latency = 0.0

    def __init__(self, samplerate: int, blocksize: int, channels: int) -> None:
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.channels = channels
        self.frame = 0
        self.description = f"offline render, {samplerate} Hz, {blocksize}-frame blocks"
        self._process: ProcessFn | None = None
        self._block = np.zeros((blocksize, channels), dtype=np.float32)

    def start(self, process: ProcessFn) -> None:
        self._process = process

    def stop(self) -> None:
        self._process = None

    def now(self) -> float:
        return self.frame / self.samplerate

    @property
    def alive(self) -> bool:
        return True

    def run(self, frames: int, before_block: Callable[[int], None] | None = None,
            on_block: Callable[[np.ndarray], None] | None = None) -> None:
        """Advance the fake clock by `frames` (rounded up to whole blocks).

        `before_block(frame)` runs first each block (feed timed commands there);
        `on_block(out)` gets each finished block (a view, reused next block).
        """
        if self._process is None:
            raise RuntimeError("OfflineBackend.run() before start()")
        end = self.frame + frames
        while self.frame < end:
            if before_block is not None:
                before_block(self.frame)
            self._process(self._block, self.blocksize, self.frame / self.samplerate, 0.0, False)
            self.frame += self.blocksize
            if on_block is not None:
                on_block(self._block)

    def render(self, frames: int, before_block: Callable[[int], None] | None = None) -> np.ndarray:
        """Run and return the output as float32[frames_rounded_up, channels]."""
        blocks: list[np.ndarray] = []
        self.run(frames, before_block, lambda out: blocks.append(out.copy()))
        return np.concatenate(blocks) if blocks else np.zeros((0, self.channels), np.float32)
