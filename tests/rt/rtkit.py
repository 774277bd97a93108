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


class _Queue:
    """Old-style event tuples in, FIFO records out: hand-made buffers go into the core's sample pool."""

    def __init__(self, state, fifo, pool) -> None:
        self.fifo, self.pool, self.keep = fifo, pool, []

    def put(self, event: tuple) -> bool:
        frame, _, kind, *args = event
        record = [frame, 0, kind, -1, 0.0, -1, -1, 0, 0.0, 0, 0]
        if kind == START:
            buffer, gain, choke, pad = args
            pooled = self.pool.adopt(buffer)
            self.keep.append(pooled)  # the test owns its buffers for the core's lifetime
            record[1], record[3], record[4], record[5], record[6], record[7] = pooled.slot_gen, pooled.slot, gain, choke, pad, buffer.onset
        elif kind == STOP_PAD:
            record[6] = args[0]
        elif kind == CHOKE:
            record[5] = args[0]
        elif kind == GAIN:
            record[8] = args[0]
        return self.fifo.put(tuple(record)) >= 0

    @property
    def dropped(self) -> int:
        return self.fifo.dropped

    def __len__(self) -> int:
        return self.fifo.pending()


class _Counters:
    def __init__(self, core) -> None:
        self._core = core

    def __getattr__(self, name: str):
        state = self._core.state
        if name == "blocks":
            return self._core.blocks - state.counter("first_block")
        if name == "last_error":
            return state.error_message() or None
        return state.counter(name)


def make_core(**overrides) -> RealtimeCore:
    """A core at unity master gain (so mixes are exact) unless told otherwise, on shared memory of its own,
    with `queue` (old-style event tuples) and `counters` (attribute access) for the tests."""
    from liveengine.server.fifo import FifoWriter
    from liveengine.server.layout import Layout, SharedState
    from liveengine.server.pool import SamplePool

    overrides.setdefault("master_gain", 1.0)
    options = EngineOptions(**overrides)
    state = SharedState.create(Layout(fifo_capacity=options.queue_capacity, slots=256, slot_frames=48000,
                                      record_frames=4096, channels=options.channels, timing_history=4096))
    core = RealtimeCore(options, state)
    core.queue = _Queue(state, FifoWriter(state), SamplePool(state))
    core.counters = _Counters(core)
    return core


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
