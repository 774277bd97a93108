"""Turn a decoder's raw output into a buffer the voice pool can play.

Done once per render on a worker thread: resample to the device rate (soxr),
trim leading silence so the transient lands on the hit's frame, fade in over the
sub-millisecond pre-roll so the trim leaves no step, drop the silent tail, and
cut anything longer than the patch allows, and fade every end out over 50 ms
(each end is a cut, seldom 60 dB below the peak).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import soxr

from liveengine.decoders.base import SILENCE
from liveengine.render.describe import PadDescription
from liveengine.rt.voices import ENVELOPE_HOP

ONSET_THRESHOLD = 10 ** (-60 / 20)  # -60 dBFS: the first sample above this is the transient


def unplayable(audio: np.ndarray) -> str:
    """Why a decoded row must not be played ('' if it may): NaN or infinity, or silence.

    Decoders may scrub NaN to zeros themselves, so a NaN render often arrives as silence.
    """
    if not np.all(np.isfinite(audio)):
        return "the model outputs NaN or infinity there"
    if not np.any(np.abs(audio) >= SILENCE):
        return "the model outputs silence (or NaN) there"
    return ""


@dataclass(frozen=True, eq=False)
class PlayableBuffer:
    samples: np.ndarray  # float32, mono, device rate, read-only
    envelope: np.ndarray  # float32 peak level per ENVELOPE_HOP frames
    onset: int  # frames of pre-roll before the transient
    peak: float
    point: np.ndarray | None = None  # the latent point it was decoded from (float32[latent_dim])
    description: "PadDescription | None" = None
    generation: int = 0  # the grid setting it was rendered for (see PadCache)
    slot: int = -1  # its sample-pool slot once copied there (server/pool.py), else -1
    slot_gen: int = -1  # the slot's generation then; commands naming the slot carry it
    in_slot: bool = False  # samples are a view of the pool slot (a render process wrote them there)

    def detached(self) -> "PlayableBuffer":
        """The same sound, not holding its pool slot (for the hit log and captures, which outlive it).
        Samples a render process wrote straight into the slot are a view of it: copied, since the
        slot is reused once freed."""
        if self.slot < 0:
            return self
        samples = self.samples
        if self.in_slot:
            samples = samples.copy()
            samples.flags.writeable = False
        return dataclasses.replace(self, samples=samples, slot=-1, slot_gen=-1, in_slot=False)


def prepare_oneshot(
    audio: np.ndarray,
    source_rate: int,
    device_rate: int,
    *,
    fade_in_ms: float = 0.5,
    max_seconds: float = 4.0,
    tail_fade_ms: float = 50.0,
) -> PlayableBuffer:
    """Make a PlayableBuffer from mono float audio at `source_rate`. Not for the audio thread."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    # Before resampling: the filter would smear one NaN over hundreds of samples.
    if not np.isfinite(audio).all():  # the check is a quarter of the copy nan_to_num makes every time
        audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    if source_rate != device_rate:
        audio = soxr.resample(audio, source_rate, device_rate, quality="HQ").astype(np.float32, copy=False)
    loud = np.flatnonzero(np.abs(audio) > ONSET_THRESHOLD)
    if loud.size == 0:
        silent = np.zeros(1, dtype=np.float32)
        silent.flags.writeable = False
        return PlayableBuffer(silent, np.zeros(1, dtype=np.float32), 0, 0.0)
    onset, last = int(loud[0]), int(loud[-1])
    pre = min(onset, max(1, round(fade_in_ms * 1e-3 * device_rate)))
    samples = audio[onset - pre : last + 1].copy()
    if pre:
        # The pre-roll is below -60 dBFS; fading it in removes the step the cut leaves.
        samples[:pre] *= np.linspace(0.0, 1.0, pre, endpoint=False, dtype=np.float32)
    limit = int(max_seconds * device_rate)
    if len(samples) > limit:
        samples = samples[:limit]
    # Every buffer now ends on a cut: at the last sample above -60 dBFS (for all but a
    # 0 dBFS peak, less than 60 dB below the peak), at the length limit, or where the decoder
    # stopped (a cymbal still ringing at the model's window, 14 to 44 dB below its peak).
    # A 50 ms fade-out, so the voice neither ends on a step nor stops dead mid-ring.
    # Never the transient itself (sample `pre`): a one-sample click would vanish.
    tail = min(len(samples) - pre - 1, max(1, round(tail_fade_ms * 1e-3 * device_rate)))
    if tail > 0:
        samples[-tail:] *= np.linspace(1.0, 0.0, tail + 1, dtype=np.float32)[1:]
    hops = -(-len(samples) // ENVELOPE_HOP)
    padded = np.zeros(hops * ENVELOPE_HOP, dtype=np.float32)
    padded[: len(samples)] = np.abs(samples)
    envelope = padded.reshape(hops, ENVELOPE_HOP).max(axis=1)
    samples.flags.writeable = False
    return PlayableBuffer(samples, envelope, pre, float(envelope.max()))


def fit_into(row: np.ndarray, samples: np.ndarray) -> tuple[int, bool]:
    """Write `samples` at the start of a pool slot's `row`; one longer than the slot is cut with a short
    fade. Returns (frames written, whether it was cut). The control process or a render process."""
    n = len(samples)
    if n <= len(row):
        row[:n] = samples
        return n, False
    n = len(row)
    fade = min(n, 256)
    row[:] = samples[:n]
    row[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return n, True
