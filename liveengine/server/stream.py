"""The producer's side of the stream ring (see rt/stream.py): write frames ahead, never wait.

For a streaming decoder's process (built later) and the tests. One producer; the
audio server's StreamVoice is the one consumer.
"""

from __future__ import annotations

import numpy as np

from liveengine.server.layout import SharedState


class StreamWriter:
    def __init__(self, state: SharedState) -> None:
        self.ring = state.stream
        self.size = len(state.stream)
        self._write = state.stream_write
        self._read = state.stream_read
        self._tail = state.stream_tail
        self._seq = state.stream_seq
        if self._seq.load() & 1:  # a producer killed in the middle of a write: that write is over
            self._seq.store(self._seq.load() + 1)
        self.written = state.stream_write.load()

    def free(self) -> int:
        """Frames that can be written now without overwriting what the server has not played."""
        return self.size - (self.written - self._read.load())

    def write(self, frames: np.ndarray, tail: np.ndarray | None = None) -> int:
        """Append up to free() frames of `frames` (mono float32); returns how many were taken. `tail`: what would
        follow them (rt/stream.py: a block and FADE_FRAMES of it), written past them unpublished, for the voice to play
        through or fade over if the next frames come late; only when all of `frames` and it fit (`stream_tail`: where
        it ends; never moved back)."""
        count = min(len(frames), self.free())
        seq = self._seq.load()
        self._seq.store(seq + 1)  # odd: the ring past stream_write is being rewritten
        self._put(self.written, frames[:count])
        self.written += count
        if tail is not None and count == len(frames) and self.free() >= len(tail):
            self._put(self.written, tail)
            self._tail.store(self.written + len(tail))  # before the frames are published: the voice reads it after them
        elif self._tail.load() < self.written:
            self._tail.store(self.written)
        # else the last continuation stays promised: the voice may have counted on it (it kept no fade reserve) and these
        # frames took the place of its first ones, so what is left of it still follows them in time
        self._write.store(self.written)  # publishes the frames
        self._seq.store(seq + 2)
        return count

    def _put(self, at: int, frames: np.ndarray) -> None:
        done = 0
        while done < len(frames):  # at most two pieces: the ring wraps once
            start = (at + done) % self.size
            n = min(len(frames) - done, self.size - start)
            self.ring[start : start + n] = frames[done : done + n]
            done += n
