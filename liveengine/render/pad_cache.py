"""Rendered buffers per pad, swapped in by reference as workers finish them.

A slot keeps its old buffer until the new one is ready, so a re-render never
leaves a pad silent. With a sample pool (the engine's), each buffer is copied
into a pool slot as it arrives, so it is ready for the audio server before its
first hit; a replaced buffer's pool slot is freed once no voice or queued
command can name it (server/pool.py).
"""

from __future__ import annotations

import threading
import time

from liveengine.render.buffers import PlayableBuffer


class PadCache:
    """Slots 0..pads-1 hold the pads; slots pads..2*pads-1 hold each pad's next variation.

    A generation is one grid setting (mapping, centre, zoom, ...). `complete_generation`
    is the newest generation for which every pad was rendered.
    """

    def __init__(self, pads: int, pool=None) -> None:
        self.pads = pads
        self.pool = pool  # a server.pool.SamplePool, or None (buffers stay in this process only)
        self.pool_misses = 0  # renders kept out of the pool because it was full
        self.buffers: list[PlayableBuffer | None] = [None] * (2 * pads)
        self.generation = 0
        self.complete_generation = 0
        self.fresh = [False] * (2 * pads)  # rendered for the current generation (and, for a variation, not yet played)
        self.failed = [False] * (2 * pads)  # the model failed there for the current generation: the old sound stays
        self.failures = 0  # renders refused so far (the model failed, or gave silence or NaN)
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return self.pads

    def ready(self, slot: int) -> PlayableBuffer | None:
        """The slot's buffer if it is fresh for the current setting, else None."""
        return self.buffers[slot] if self.fresh[slot] else None

    def consume(self, slot: int) -> None:
        """A variation was played: it must not play again (a new one is being rendered)."""
        self.fresh[slot] = False

    def get(self, pad: int) -> PlayableBuffer | None:
        return self.buffers[pad]

    def wait_fresh(self, slot: int, timeout: float) -> PlayableBuffer | None:
        """Block (offline renders only) until the slot is rendered for the current setting; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.fresh[slot]:
                left = deadline - time.monotonic()
                if left <= 0 or self.failed[slot]:
                    return None
                self._changed.wait(min(left, 0.25))
            return self.buffers[slot]

    def begin_generation(self) -> int:
        with self._changed:
            self.generation += 1
            self.fresh = [False] * len(self.buffers)
            self.failed = [False] * len(self.buffers)
            return self.generation

    def put(self, pad: int, buffer: PlayableBuffer, generation: int) -> bool:
        """Install a render if it belongs to the current generation (worker threads)."""
        if generation != self.generation:
            return False
        if self.pool is not None and buffer.slot < 0:
            pooled = self.pool.adopt(buffer)  # the copy happens outside the lock
            if pooled is None:
                self.pool_misses += 1
            else:
                buffer = pooled
        with self._changed:
            if generation != self.generation:
                return False
            old = self.buffers[pad]
            self.buffers[pad] = buffer  # a single reference swap: a hit sees old or new
            self.fresh[pad] = True
            self.failed[pad] = False
            if pad < self.pads and self.complete_generation != generation and all(self.fresh[: self.pads]):
                self.complete_generation = generation
            self._changed.notify_all()
        del old  # its pool slot is released here, on this (worker) thread
        return True

    def fail(self, slot: int, generation: int) -> bool:
        """The model could not render the slot for this generation: it keeps its old sound (none before
        its first render) and counts as done for the waits. True for the generation's first failure."""
        with self._changed:
            if generation != self.generation:
                return False
            first = not any(self.failed)
            self.failed[slot] = True
            self.failures += 1
            self._changed.notify_all()
            return first

    @property
    def progress(self) -> tuple[int, int]:
        """Pads rendered for the current setting, of all pads (variations not counted)."""
        fresh = self.fresh[: self.pads]
        return sum(fresh), len(fresh)

    def wait_complete(self, timeout: float | None = None, on_progress=None) -> bool:
        """Block (not on the audio thread!) until every pad is fresh or failed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not all(f or x for f, x in zip(self.fresh[: self.pads], self.failed[: self.pads])):
                if on_progress is not None:
                    on_progress(*self.progress)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(0.25 if left is None else min(left, 0.25))
        if on_progress is not None:
            on_progress(*self.progress)
        return True
