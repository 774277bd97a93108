"""Rendered buffers per pad, swapped in by reference as workers finish them.

A slot keeps its old buffer until the new one is ready, so a re-render never
leaves a pad silent. Replaced buffers are parked for a while before being
dropped, so the last reference usually goes away on a worker thread rather
than when a voice on the audio thread lets go of it.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from liveengine.render.buffers import PlayableBuffer

RETIRE_SECONDS = 10.0  # longer than the longest buffer a voice can be playing


class PadCache:
    """Slots 0..pads-1 hold the pads; slots pads..2*pads-1 hold each pad's next variation.

    A generation is one grid setting (mapping, centre, zoom, ...). `complete_generation`
    is the newest generation for which every pad was rendered.
    """

    def __init__(self, pads: int) -> None:
        self.pads = pads
        self.buffers: list[PlayableBuffer | None] = [None] * (2 * pads)
        self.generation = 0
        self.complete_generation = 0
        self.fresh = [False] * (2 * pads)  # rendered for the current generation (and, for a variation, not yet played)
        self._retired: deque[tuple[float, PlayableBuffer]] = deque()
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

    def begin_generation(self) -> int:
        with self._changed:
            self.generation += 1
            self.fresh = [False] * len(self.buffers)
            return self.generation

    def put(self, pad: int, buffer: PlayableBuffer, generation: int) -> bool:
        """Install a render if it belongs to the current generation (worker threads)."""
        with self._changed:
            if generation != self.generation:
                return False
            old = self.buffers[pad]
            self.buffers[pad] = buffer  # a single reference swap: the audio side sees old or new
            self.fresh[pad] = True
            if pad < self.pads and self.complete_generation != generation and all(self.fresh[: self.pads]):
                self.complete_generation = generation
            if old is not None:
                self._retired.append((time.monotonic(), old))
            self._changed.notify_all()
        self.drop_retired()
        return True

    def drop_retired(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self._retired and now - self._retired[0][0] > RETIRE_SECONDS:
            self._retired.popleft()

    @property
    def progress(self) -> tuple[int, int]:
        """Pads rendered for the current setting, of all pads (variations not counted)."""
        fresh = self.fresh[: self.pads]
        return sum(fresh), len(fresh)

    def wait_complete(self, timeout: float | None = None, on_progress=None) -> bool:
        """Block (not on the audio thread!) until every pad is fresh; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not all(self.fresh[: self.pads]):
                if on_progress is not None:
                    on_progress(*self.progress)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(0.25 if left is None else min(left, 0.25))
        if on_progress is not None:
            on_progress(*self.progress)
        return True
