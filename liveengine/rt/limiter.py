"""A safety limiter with no look-ahead beyond the block being computed.

The whole block is in hand before it leaves, so its peak is known without adding
latency. Gain drops to what keeps that peak under the ceiling (ramped across the
block so the drop does not click), recovers with a release time constant, and a
final hard clip at the ceiling guarantees the output never passes it.
"""

from __future__ import annotations

import math

import numpy as np


class SafetyLimiter:
    def __init__(self, ceiling: float, release_ms: float, samplerate: int, blocksize_max: int) -> None:
        self.ceiling = ceiling
        self.release_ms = release_ms
        self.samplerate = samplerate
        self.gain = 1.0
        self.ramp = np.zeros(blocksize_max, dtype=np.float32)
        self._index = np.arange(blocksize_max, dtype=np.float32)
        self.active_blocks = 0  # blocks where the limiter reduced gain

    def process(self, block: np.ndarray) -> None:
        """Limit `block` (float32[frames]) in place. Audio-thread safe."""
        frames = len(block)
        recover = math.exp(-frames / (self.release_ms * 1e-3 * self.samplerate))
        peak = float(np.max(np.abs(block))) if frames else 0.0
        target = 1.0 - (1.0 - self.gain) * recover  # release toward unity
        if target > 1.0 - 1e-9:
            # Snap the last of the release to unity: the recursion above stalls a few ulps
            # short of 1.0, which would keep the limiter (and active_blocks) on forever.
            # Below float32 resolution, so no sample changes.
            target = 1.0
        if peak * target > self.ceiling:
            target = self.ceiling / peak
        if target < 1.0 or self.gain < 1.0:
            self.active_blocks += target < 1.0
            # Linear ramp from the last gain to the new one across the block.
            ramp = self.ramp[:frames]
            np.multiply(self._index[:frames], (target - self.gain) / max(frames - 1, 1), out=ramp)
            ramp += self.gain
            block *= ramp
        self.gain = target
        np.clip(block, -self.ceiling, self.ceiling, out=block)
