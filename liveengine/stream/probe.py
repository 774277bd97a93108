"""A stream model tried the way its producer runs it: frames one at a time from the zero state, timed, and the
same frames in one block, compared (the state contract). `liveengine check` prints it; a model that breaks the
contract is one ModelError."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from liveengine.decoders.contract import ModelError
from liveengine.decoders.stream_model import StreamModel
from liveengine.stream.synth import HarmonicNoiseSynth

TOLERANCE = 1e-5  # frame by frame against one block, relative to the largest output (docs/model-contract.md)


@dataclass(frozen=True)
class StreamProbe:
    frames: int
    hop: int  # samples per frame at the probed rate
    frame_ms_median: float  # model plus synthesis, one frame per call, as the producer runs
    frame_ms_p99: float
    model_ms_median: float  # the model alone
    state_difference: float  # largest |one frame at a time - one block| over every output, relative to the largest output


def probe_controls(model: StreamModel, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch gliding over the declared range, loudness over its upper half and back, z round the pad."""
    info = model.info
    low, high = info.f0_range_hz
    t = np.linspace(0.0, 1.0, frames)
    f0 = np.exp(np.log(low) + (np.log(high) - np.log(low)) * (0.1 + 0.8 * t))
    quiet, loud = info.loudness_range_db
    loudness = quiet + (loud - quiet) * (0.5 + 0.45 * np.sin(np.pi * t))
    angle = 2 * np.pi * t
    z = np.stack((0.8 * np.cos(angle), 0.8 * np.sin(angle)), axis=1)
    return f0.astype(np.float32), loudness.astype(np.float32), z.astype(np.float32)


def probe_stream(model: StreamModel, sample_rate: int, frames: int = 200) -> StreamProbe:
    """Run `frames` frames one at a time (timed, with the synth) and in one block; ModelError if any output is NaN or
    infinity, or if the two differ by more than TOLERANCE. The model's state is back at zeros afterwards."""
    info = model.info
    hop = info.hop(sample_rate)
    synth = HarmonicNoiseSynth(sample_rate, hop, info.harmonics, info.band_edges_hz)
    f0, loudness, z = probe_controls(model, frames)
    nan_before = model.nan_frames
    model.reset()
    model.run(f0[:1], loudness[:1], z[:1])  # the model's first call is slower (onnxruntime allocates): not counted
    model.reset()
    each, alone, stepped = [], [], []
    for i in range(frames):
        began = time.perf_counter()
        out = model.run(f0[i : i + 1], loudness[i : i + 1], z[i : i + 1])
        ran = time.perf_counter()
        synth.render(f0[i : i + 1], *out)
        each.append(time.perf_counter() - began)
        alone.append(ran - began)
        stepped.append(out)
    model.reset()
    whole = model.run(f0, loudness, z)
    model.reset()
    bad = model.nan_frames - nan_before
    if bad:
        raise ModelError(f"{model.where}: {bad} of {2 * frames} frames gave NaN or infinity from the zero state (pitch, loudness "
                         "and z swept over their declared ranges); expected finite outputs everywhere in them.")
    difference, scale = 0.0, 1e-12
    for k in range(3):
        one = np.concatenate([s[k].reshape(1, -1) for s in stepped])
        block = whole[k].reshape(frames, -1)
        difference = max(difference, float(np.max(np.abs(one - block))))
        scale = max(scale, float(np.max(np.abs(block))))
    relative = difference / max(scale, 1.0)
    if not math.isfinite(relative) or relative > TOLERANCE:
        raise ModelError(f"{model.where}: {frames} frames one at a time differ from the same frames in one block by {relative:.2g} "
                         f"(allowed {TOLERANCE:g}): state_out does not carry what the next frame needs; the contract wants a block "
                         "split anywhere to give the same outputs (docs/model-contract.md).")
    ms = np.array(each) * 1000.0
    return StreamProbe(frames=frames, hop=hop, frame_ms_median=float(np.median(ms)), frame_ms_p99=float(np.percentile(ms, 99)),
                       model_ms_median=float(np.median(alone)) * 1000.0, state_difference=relative)
