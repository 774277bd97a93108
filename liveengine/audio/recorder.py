"""Record exactly what goes to the device: the server's record ring, written to a WAV by a thread here.

The audio server copies every output block into a shared ring at its frame
(`frame % ring size`) and publishes how far it has written (`rec_written`). The
writer thread in the control process moves frames from where the recording
started to a CrashSafeWavWriter, whose header is kept current so the file is
valid after Ctrl-C, SIGTERM, a crash elsewhere, or even SIGKILL (all but the
last half second). Nothing is lost silently: frames the writer fell a whole
ring behind on, and frames no server played (a server killed and restarted),
are written as silence, so the file stays in time, and counted.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path

import numpy as np

from liveengine.audio.wav_writer import CrashSafeWavWriter
from liveengine.server.layout import SharedState


class Recorder:
    """Writes the server's output from frame `start` on to `path`, until `close`."""

    def __init__(self, path: Path, samplerate: int, channels: int, state: SharedState, start: int, *,
                 overwrite: bool = False, header_every_frames: int | None = None, rf64_threshold_bytes: int | None = None) -> None:
        kwargs = {} if rf64_threshold_bytes is None else {"rf64_threshold_bytes": rf64_threshold_bytes}
        self.writer = CrashSafeWavWriter(path, samplerate, channels, overwrite=overwrite,
                                         header_every_frames=header_every_frames, **kwargs)
        self.path = Path(path)
        self.state = state
        self.ring = state.record
        self.next = start  # the next frame to write
        self.lost_frames = 0  # written as silence: the writer fell behind, or no server played them
        self.error: BaseException | None = None
        self._gaps: collections.deque = collections.deque()  # (from, to): frames no server played
        self._seen_start = state.counter("started_frame")  # the server whose gap is already known
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveengine-recorder", daemon=True)
        self._thread.start()

    def _note_restart(self) -> None:
        """A replacement server publishes where its predecessor stopped recording and where it began:
        the frames between were never played (read after `rec_written`, which publishes them)."""
        state = self.state
        started = state.counter("started_frame")
        if started != self._seen_start:
            self._seen_start = started
            first = max(state.counter("rec_resumed_from"), self.next)
            if started > first:
                self._gaps.append((first, started))

    def _silence(self, frames: int) -> None:
        chunk = np.zeros((min(frames, 48000), self.ring.shape[1]), np.float32)
        while frames > 0:
            n = min(frames, len(chunk))
            self.writer.write(chunk[:n])
            self.next += n
            self.lost_frames += n
            frames -= n

    def drain(self) -> None:
        """Write everything the server has published so far (the writer thread; offline runs call it too)."""
        with self._lock:
            size = len(self.ring)
            written = self.state.rec_written.load()
            self._note_restart()
            while self.next < written:
                if self._gaps and self.next >= self._gaps[0][0]:
                    end = self._gaps[0][1]
                    if end <= written:
                        self._gaps.popleft()
                    self._silence(min(end, written) - self.next)
                    continue
                limit = self._gaps[0][0] if self._gaps else written
                if written - self.next > size:  # lapped: those frames are gone
                    self._silence(min(written - size, limit) - self.next)
                    continue
                start = self.next % size
                n = min(limit - self.next, size - start)
                if n <= 0:
                    break
                block = self.ring[start : start + n].copy()
                if self.state.rec_written.load() - self.next > size:
                    continue  # overwritten while copying: counted as lost on the next turn
                self.writer.write(block)
                self.next += n

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.05):
                self.drain()
            self.drain()
        except BaseException as exc:  # disk full, etc.: keep what is on disk valid and report
            self.error = exc
        finally:
            self.writer.close()

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    def close(self) -> None:
        """Write everything the server has played, finish the header, close the file."""
        self._stop.set()
        self._thread.join(timeout=10.0)
