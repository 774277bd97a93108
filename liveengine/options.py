"""Engine options: one frozen object with fixed capacities, checked once at creation."""

from __future__ import annotations

from dataclasses import dataclass

from liveengine.errors import LiveEngineError

SAMPLE_RATES = (44100, 48000, 96000)
TIMING_MODES = ("constant", "lowest-latency")
STEAL_MODES = ("oldest", "quietest")


@dataclass(frozen=True)
class EngineOptions:
    """Everything the real-time path needs to know, fixed before the stream opens.

    Capacities (voices, queues, schedule) are allocated once; running past one is a
    counted event, never a resize on the audio thread.
    """

    samplerate: int = 48000
    blocksize: int = 128
    channels: int = 2  # device channels opened
    output_pair: tuple[int, int] = (1, 2)  # 1-based device channels the mono mix goes to
    voices: int = 32  # polyphony: voices that may sound at once
    release_voices: int = 32  # extra slots where stolen or choked voices fade out
    steal: str = "oldest"
    timing: str = "constant"
    velocity_curve: float = 1.6  # gain = velocity ** velocity_curve
    master_gain: float = 0.7
    limiter_ceiling: float = 0.98  # linear; output is also hard-clipped here
    limiter_release_ms: float = 80.0
    fade_ms: float = 3.0  # fade on steal, choke and panic
    queue_capacity: int = 1024  # commands waiting for the audio thread
    schedule_capacity: int = 4096  # timed commands waiting for their block
    max_drain: int = 256  # commands taken from the queue per block
    record_seconds_buffered: float = 8.0  # recorder ring size

    def __post_init__(self) -> None:
        def bad(field: str, value: object, allowed: str) -> LiveEngineError:
            return LiveEngineError(f"engine option {field} = {value!r} is not allowed; allowed: {allowed}.")

        if self.samplerate not in SAMPLE_RATES:
            raise bad("samplerate", self.samplerate, ", ".join(map(str, SAMPLE_RATES)))
        if not 32 <= self.blocksize <= 1024:
            raise bad("blocksize", self.blocksize, "32 to 1024 frames")
        if not 1 <= self.channels <= 64:
            raise bad("channels", self.channels, "1 to 64")
        if len(self.output_pair) != 2 or not all(1 <= c <= self.channels for c in self.output_pair):
            raise bad("output_pair", self.output_pair, f"two channel numbers from 1 to {self.channels}")
        if not 32 <= self.voices <= 256:
            raise bad("voices", self.voices, "32 to 256")
        if not 1 <= self.release_voices <= 256:
            raise bad("release_voices", self.release_voices, "1 to 256")
        if self.steal not in STEAL_MODES:
            raise bad("steal", self.steal, ", ".join(STEAL_MODES))
        if self.timing not in TIMING_MODES:
            raise bad("timing", self.timing, ", ".join(TIMING_MODES))
        if not 0.2 <= self.velocity_curve <= 5.0:
            raise bad("velocity_curve", self.velocity_curve, "0.2 to 5 (1 = linear)")
        if not 0.0 <= self.master_gain <= 2.0:
            raise bad("master_gain", self.master_gain, "0 to 2")
        if not 0.1 <= self.limiter_ceiling <= 1.0:
            raise bad("limiter_ceiling", self.limiter_ceiling, "0.1 to 1.0")
        if not 0.5 <= self.fade_ms <= 50.0:
            raise bad("fade_ms", self.fade_ms, "0.5 to 50 ms")

    @property
    def fade_frames(self) -> int:
        return max(1, round(self.fade_ms * 1e-3 * self.samplerate))
