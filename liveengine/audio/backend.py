"""The audio backend protocol: a clock and a stream that calls the real-time core once per block.

Real devices run inside the audio server process (liveengine/server/); a lost
device is handled by replacing that process, so backends need no recovery logic.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

# process(out float32[frames, channels], frames, stream_time_s, lateness_s, xrun):
# stream_time_s is the backend clock when the callback was entered.
ProcessFn = Callable[[np.ndarray, int, float, float, bool], None]


class AudioBackend(Protocol):
    samplerate: int
    blocksize: int
    channels: int
    description: str  # one line for the status display: host API, device, ports
    output_latency: float  # seconds, as reported by the device

    def start(self, process: ProcessFn) -> None:
        """Open the device and begin calling `process` from the audio thread."""

    def stop(self) -> None:
        """Stop calling `process` and release the device. Idempotent."""

    def now(self) -> float:
        """The backend's clock in seconds, on the same scale as the `stream_time_s` it passes
        to `process` (time.perf_counter for real devices, the fake clock offline); any thread."""
