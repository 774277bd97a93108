"""Record exactly what goes to the device: a ring filled by the audio thread, emptied by a writer thread.

The audio thread only copies its output block into a preallocated ring; the
writer thread moves it to a CrashSafeWavWriter, whose header is kept current so
the file is valid after Ctrl-C, SIGTERM, a crash elsewhere, or even SIGKILL
(all but the last half second).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from liveengine.audio.wav_writer import CrashSafeWavWriter


class RecorderRing:
    """Single producer (audio thread), single consumer (writer thread), no locks.

    `written` and `read` only grow; each side writes only its own counter, and a
    Python int assignment is atomic, so neither ever waits. A full ring drops the
    block and counts it (with the default 8 s ring that means the disk stalled for 8 s).
    """

    def __init__(self, frames: int, channels: int) -> None:
        self.data = np.zeros((frames, channels), dtype=np.float32)
        self.written = 0
        self.read = 0
        self.dropped_blocks = 0

    def push(self, block: np.ndarray, frames: int) -> None:
        """Audio thread: copy `frames` frames of `block` in, or count a drop."""
        size = len(self.data)
        if self.written - self.read + frames > size:
            self.dropped_blocks += 1
            return
        start = self.written % size
        first = min(frames, size - start)
        self.data[start : start + first] = block[:first]
        if first < frames:
            self.data[: frames - first] = block[first:frames]
        self.written += frames

    def pending(self) -> tuple[np.ndarray, ...]:
        """Writer thread: the unread frames as one or two views (not yet consumed)."""
        size = len(self.data)
        count = self.written - self.read
        start = self.read % size
        first = min(count, size - start)
        views = (self.data[start : start + first],)
        if first < count:
            views += (self.data[: count - first],)
        return views

    def consume(self, frames: int) -> None:
        self.read += frames


class Recorder:
    """Owns a ring and the thread that writes it to `path`. Start before attaching the ring to the engine."""

    def __init__(self, path: Path, samplerate: int, channels: int, seconds_buffered: float = 8.0, *,
                 overwrite: bool = False, header_every_frames: int | None = None, rf64_threshold_bytes: int | None = None) -> None:
        kwargs = {} if rf64_threshold_bytes is None else {"rf64_threshold_bytes": rf64_threshold_bytes}
        self.writer = CrashSafeWavWriter(path, samplerate, channels, overwrite=overwrite,
                                         header_every_frames=header_every_frames, **kwargs)
        self.path = Path(path)
        self.ring = RecorderRing(int(seconds_buffered * samplerate), channels)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveengine-recorder", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for view in self.ring.pending():
            if len(view):
                self.writer.write(view)
                self.ring.consume(len(view))

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.05):
                self._drain()
            self._drain()
        except BaseException as exc:  # disk full, etc.: keep what is on disk valid and report
            self.error = exc
        finally:
            self.writer.close()

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    def close(self) -> None:
        """Write everything still in the ring, finish the header, close the file."""
        self._stop.set()
        self._thread.join(timeout=10.0)
