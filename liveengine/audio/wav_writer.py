"""Crash-safe float32 WAV recorder that switches to RF64 when it has to.

Why this exists: libsndfile (by default) and the stdlib ``wave`` module write
the final sizes into the header only on close, so a recording killed by
SIGKILL or the OOM killer leaves a header claiming zero samples, and players
refuse the file. This writer rewrites the header whenever
``header_every_frames`` frames (default: half a second of audio) have been
written since the last rewrite. The file on disk is therefore always a valid
WAV holding everything up to the last header update; a killed process loses
only the audio written after it. There is deliberately no fsync (it can stall
the writer thread for long stretches), so after a power cut how much survives
is up to the filesystem's own writeback.

Header layout (92 bytes; audio starts at byte 92 and never moves):

    offset  0  'RIFF' | 'RF64'  riff size (0xFFFFFFFF once RF64)  'WAVE'
    offset 12  'JUNK' | 'ds64'  28: riffSize64 dataSize64 sampleCount64 tableLength=0
    offset 48  'fmt '  16: tag 3 (IEEE float), channels, rate, byte rate, align, 32 bits
    offset 72  'fact'   4: frame count (0xFFFFFFFF once RF64)
    offset 84  'data'   data size (0xFFFFFFFF once RF64)

The 28-byte JUNK chunk is EBU Tech 3306's trick: it is exactly the size of a
ds64 chunk with an empty table, so the switch to RF64 past the 4 GiB RIFF limit
is a rewrite of the header in place, not a copy of gigabytes of audio.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["CrashSafeWavWriter"]

# One struct for the whole header, so that every update is a single 92-byte
# write() at offset 0: a process killed at any instant leaves either the old
# header or the new one, never a mix of RIFF sizes and RF64 markers.
_HEADER = struct.Struct("<4sI4s" "4sIQQQI" "4sIHHIIHH" "4sII" "4sI")
_DATA_OFFSET = _HEADER.size  # 92
assert _DATA_OFFSET == 92
_WAVE_FORMAT_IEEE_FLOAT = 3
_U32_MAX = 0xFFFFFFFF


class CrashSafeWavWriter:
    """Float32 WAV writer whose header is always valid on disk. Not thread-safe: one writer thread owns it."""

    def __init__(
        self,
        path,
        samplerate: int,
        channels: int,
        *,
        header_every_frames: int | None = None,
        rf64_threshold_bytes: int = _U32_MAX - (1 << 20),
        overwrite: bool = False,
    ):
        if int(samplerate) != samplerate or not 1 <= samplerate <= _U32_MAX // 4:
            raise ValueError(f"samplerate must be a positive integer, got {samplerate!r}")
        if int(channels) != channels or not 1 <= channels <= 0xFFFF:
            raise ValueError(f"channels must be an integer in 1..65535, got {channels!r}")
        if samplerate * channels * 4 > _U32_MAX:
            raise ValueError(f"{samplerate} Hz x {channels} channels overflows the WAV byte-rate field")
        if not 0 <= rf64_threshold_bytes <= _U32_MAX:
            # Above 0xFFFFFFFF the 32-bit RIFF size field would overflow before the switch.
            raise ValueError(f"rf64_threshold_bytes must be in 0..0xFFFFFFFF, got {rf64_threshold_bytes!r}")
        if header_every_frames is None:
            header_every_frames = max(1, int(samplerate) // 2)
        if int(header_every_frames) != header_every_frames or header_every_frames < 1:
            raise ValueError(f"header_every_frames must be a positive integer, got {header_every_frames!r}")

        self._path = Path(path)
        self._samplerate = int(samplerate)
        self._channels = int(channels)
        self._frame_bytes = 4 * self._channels
        self._header_every = int(header_every_frames)
        self._rf64_threshold = int(rf64_threshold_bytes)
        self._frames = 0
        self._frames_at_header = 0
        self._rf64 = False
        self._failed = False
        self._closed = True  # until the file exists, close() has nothing to do

        # 'xb' by default: a recording must never silently destroy an earlier one.
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)  # `render --out takes/x.wav` as `render-grid --out takes/grid`
            self._f = open(self._path, "wb" if overwrite else "xb")
        except FileExistsError as e:
            raise FileExistsError(
                e.errno, "refusing to overwrite existing recording (pass overwrite=True)", str(self._path)
            ) from None
        self._closed = False
        # Header first, flushed at once: even a recording killed before its
        # first block leaves a valid (empty) WAV rather than a 0-byte file.
        self._f.write(self._header())
        self._f.flush()

    # -- properties --------------------------------------------------------
    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def is_rf64(self) -> bool:
        return self._rf64

    @property
    def path(self) -> Path:
        return self._path

    # -- writing -----------------------------------------------------------
    def write(self, block) -> None:
        """Append a float32 block of shape (frames, channels), or (frames,) for mono."""
        if self._closed:
            raise ValueError(f"write to closed recording {self._path}")
        if self._failed:
            raise ValueError(f"recording {self._path} had a write error; close() it (the header covers every complete block)")
        data = self._validate(block)
        n = data.shape[0]
        if n == 0:
            return
        new_bytes = (self._frames + n) * self._frame_bytes
        switch = not self._rf64 and (_DATA_OFFSET - 8) + new_bytes > self._rf64_threshold
        try:
            # A byte view of the (usually already little-endian, contiguous)
            # array: no per-sample Python work and no extra copy.
            self._f.write(data.reshape(-1).view(np.uint8))
        except BaseException:
            # Part of the block may be on disk, so later frames would land
            # misaligned. Refuse further writes; the header still describes
            # only whole blocks, so close() leaves a valid file.
            self._failed = True
            raise
        self._frames += n
        if switch:
            # Flip only once the block is in (a failed write changes nothing).
            # The header is rewritten right below with 64-bit sizes, so the
            # 32-bit fields on disk never held a size above the threshold.
            self._rf64 = True
        if switch or self._frames - self._frames_at_header >= self._header_every:
            self.flush_header()

    def flush_header(self) -> None:
        """Patch the sizes in the header and push everything to the OS (no fsync)."""
        if self._closed:
            raise ValueError(f"flush_header on closed recording {self._path}")
        f = self._f
        # Audio reaches the OS before the header that counts it, so the header
        # on disk never claims samples that a SIGKILL could still lose.
        f.flush()
        f.seek(0)
        f.write(self._header())
        f.seek(0, os.SEEK_END)  # flushes the header in one write at offset 0
        f.flush()
        self._frames_at_header = self._frames

    def close(self) -> None:
        """Write the final header and close the file. Safe to call twice."""
        if self._closed:
            return
        try:
            self.flush_header()
        finally:
            self._closed = True
            self._f.close()

    def __enter__(self) -> CrashSafeWavWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ---------------------------------------------------------
    def _header(self) -> bytes:
        data_bytes = self._frames * self._frame_bytes
        riff_bytes = _DATA_OFFSET - 8 + data_bytes
        if self._rf64:
            chunk, riff32, data32, fact32 = b"ds64", _U32_MAX, _U32_MAX, _U32_MAX
            ds64 = (riff_bytes, data_bytes, self._frames, 0)
        else:
            chunk, riff32, data32, fact32 = b"JUNK", riff_bytes, data_bytes, self._frames
            ds64 = (0, 0, 0, 0)
        return _HEADER.pack(
            b"RF64" if self._rf64 else b"RIFF", riff32, b"WAVE",
            chunk, 28, *ds64,
            b"fmt ", 16, _WAVE_FORMAT_IEEE_FLOAT, self._channels, self._samplerate,
            self._samplerate * self._frame_bytes, self._frame_bytes, 32,
            b"fact", 4, fact32,
            b"data", data32,
        )

    def _validate(self, block) -> np.ndarray:
        ch = self._channels
        allowed = "(frames,) or (frames, 1)" if ch == 1 else f"(frames, {ch})"
        if not isinstance(block, np.ndarray):
            raise ValueError(f"block must be a numpy float32 array of shape {allowed}, got {type(block).__name__}")
        # No silent conversion: an int16 or float64 block means a bug upstream,
        # and the recording must be exactly what went to the device.
        if block.dtype.kind != "f" or block.dtype.itemsize != 4:
            raise ValueError(f"block dtype must be float32, got {block.dtype} (shape {block.shape})")
        ok = (block.ndim == 2 and block.shape[1] == ch) or (block.ndim == 1 and ch == 1)
        if not ok:
            raise ValueError(f"block shape must be {allowed} for this {ch}-channel recording, got {block.shape}")
        return np.ascontiguousarray(block, dtype="<f4")
