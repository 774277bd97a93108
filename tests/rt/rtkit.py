"""Helpers for the real-time core tests: hand-made buffers, a core, and a block loop.

Everything here drives `RealtimeCore.process` directly on a fake clock, so every
assertion can be exact to the sample.
"""

from __future__ import annotations

import itertools

import numpy as np

from liveengine.options import EngineOptions
from liveengine.render.buffers import ONSET_THRESHOLD, PlayableBuffer
from liveengine.rt.core import ASAP, CHOKE, GAIN, PANIC, START, STOP_PAD, RealtimeCore  # noqa: F401
from liveengine.rt.voices import ENVELOPE_HOP

_seq = itertools.count()


def make_buffer(samples, onset: int = 0) -> PlayableBuffer:
    """A PlayableBuffer holding exactly `samples` (float32), with a correct envelope."""
    s = np.array(samples, dtype=np.float32).reshape(-1)
    hops = -(-len(s) // ENVELOPE_HOP)
    padded = np.zeros(hops * ENVELOPE_HOP, dtype=np.float32)
    padded[: len(s)] = np.abs(s)
    envelope = padded.reshape(hops, ENVELOPE_HOP).max(axis=1)
    s.flags.writeable = False
    return PlayableBuffer(s, envelope, onset, float(envelope.max()))


def dc(level: float, frames: int) -> PlayableBuffer:
    return make_buffer(np.full(frames, level, dtype=np.float32))


def with_preroll(onset: int, body_level: float = 0.5, body_frames: int = 300) -> PlayableBuffer:
    """`onset` frames of sub-threshold pre-roll, then a DC body: the transient is sample `onset`."""
    pre = np.linspace(0.0, 0.9 * ONSET_THRESHOLD, onset, endpoint=False, dtype=np.float32)
    body = np.full(body_frames, body_level, dtype=np.float32)
    return make_buffer(np.concatenate([pre, body]), onset)


def make_core(**overrides) -> RealtimeCore:
    """A core at unity master gain (so mixes are exact) unless told otherwise."""
    overrides.setdefault("master_gain", 1.0)
    return RealtimeCore(EngineOptions(**overrides))


def start(frame: int, buffer: PlayableBuffer, gain: float = 1.0, choke: int = -1, pad: int = 0) -> tuple:
    return (frame, next(_seq), START, buffer, gain, choke, pad)


def event(frame: int, kind: int, *args) -> tuple:
    return (frame, next(_seq), kind, *args)


def run(core: RealtimeCore, frames: int, blocksize: int | None = None, before_block=None) -> np.ndarray:
    """Process whole blocks until at least `frames` frames; return float32[frames_done, channels].

    `before_block(core)` runs before each block (the core's clock is at the block's first frame).
    """
    options = core.options
    blocksize = blocksize or options.blocksize
    out = np.zeros((blocksize, options.channels), dtype=np.float32)
    blocks = []
    end = core.frame + frames
    while core.frame < end:
        if before_block is not None:
            before_block(core)
        out.fill(np.nan)  # the core must write every sample
        core.process(out, blocksize, core.frame / options.samplerate)
        blocks.append(out.copy())
    return np.concatenate(blocks)


def first_loud(signal: np.ndarray, threshold: float = ONSET_THRESHOLD) -> int:
    loud = np.flatnonzero(np.abs(signal) > threshold)
    assert loud.size, "no sample above the threshold"
    return int(loud[0])
