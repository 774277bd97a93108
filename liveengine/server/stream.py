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
        self.written = state.stream_write.load()

    def free(self) -> int:
        """Frames that can be written now without overwriting what the server has not played."""
        return self.size - (self.written - self._read.load())

    def write(self, frames: np.ndarray) -> int:
        """Append up to free() frames of `frames` (mono float32); returns how many were taken."""
        count = min(len(frames), self.free())
        done = 0
        while done < count:
            start = (self.written + done) % self.size
            n = min(count - done, self.size - start)
            self.ring[start : start + n] = frames[done : done + n]
            done += n
        self.written += count
        self._write.store(self.written)  # publishes the frames
        return count
