"""PadCache and RenderWorkers: every pad filled, old buffers kept until replaced, stale renders dropped."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from liveengine.render.buffers import prepare_oneshot
from liveengine.render.pad_cache import PadCache
from liveengine.render.workers import BATCH, RenderWorkers

RATE = 48000
PADS = 20  # three batches of at most 8


class FakeDecoder:
    """Decodes z = (level, pad) into a 300-sample burst at `level`; optionally waits on a gate per call."""

    name = "fake"
    latent_dim = 2
    sample_rate = RATE
    output_length = 1000

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []
        self.gate: threading.Semaphore | None = None

    def prepare(self, max_batch: int) -> None:
        pass

    def decode_into(self, z: np.ndarray, out: np.ndarray) -> None:
        self.calls.append(z.copy())
        gate = self.gate
        if gate is not None and not gate.acquire(timeout=20):
            raise RuntimeError("test gate never opened")
        if np.any(z[:, 0] < 0):
            raise ValueError("cannot decode a negative level")
        out[:] = 0.0
        out[:, 100:400] = z[:, :1]


def points(level: float, pads: int = PADS) -> np.ndarray:
    """Pad p gets level + p/1000, so a buffer tells which render (and pad) it came from."""
    return np.array([[level + p / 1000, p] for p in range(pads)], dtype=np.float32)


def level_of(buffer) -> float:
    return float(buffer.samples[buffer.onset])


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


@pytest.fixture
def rig():
    made = []

    def make(threads: int = 1, pads: int = PADS, on_error=None):
        decoder = FakeDecoder()
        cache = PadCache(pads)
        workers = RenderWorkers(decoder, cache, RATE, threads=threads, on_error=on_error)
        made.append(workers)
        return decoder, cache, workers

    yield make
    for workers in made:
        workers.stop()


class Watcher:
    """Samples the cache from another thread, as the engine's control threads do."""

    def __init__(self, cache: PadCache) -> None:
        self.cache = cache
        self.seen_none_after_fill = False
        self.levels: set[float] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            buffers = list(self.cache.buffers[: self.cache.pads])
            if any(b is None for b in buffers):
                self.seen_none_after_fill = True
            self.levels.update(round(level_of(b), 4) for b in buffers if b is not None)
            time.sleep(0.0002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("threads", [1, 3])
def test_render_all_fills_every_pad(rig, threads):
    decoder, cache, workers = rig(threads=threads)
    assert cache.progress == (0, PADS)
    generation = workers.render_all(points(0.1))
    assert cache.wait_complete(timeout=20)
    assert cache.generation == generation
    assert cache.progress == (PADS, PADS)
    for pad in range(PADS):
        assert level_of(cache.get(pad)) == np.float32(0.1 + pad / 1000)
    assert workers.rendered == PADS and workers.errors == 0
    assert sum(len(z) for z in decoder.calls) == PADS


def test_new_generation_keeps_old_buffers_until_each_is_replaced(rig):
    decoder, cache, workers = rig(threads=1)
    workers.render_all(points(0.1))
    assert cache.wait_complete(timeout=20)
    old = list(cache.buffers[: cache.pads])
    watcher = Watcher(cache)
    try:
        decoder.gate = threading.Semaphore(0)
        workers.render_all(points(0.5))
        wait_for(lambda: len(decoder.calls) == 4, "the first decode of the new generation")
        assert cache.progress == (0, PADS)
        assert all(a is b for a, b in zip(cache.buffers, old))  # nothing went missing meanwhile
        decoder.gate.release()  # let one batch through
        wait_for(lambda: cache.progress[0] == BATCH, "the first batch")
        for pad in range(PADS):
            if pad < BATCH:
                assert level_of(cache.get(pad)) == np.float32(0.5 + pad / 1000)
            else:
                assert cache.get(pad) is old[pad]
        decoder.gate.release(10)
        assert cache.wait_complete(timeout=20)
    finally:
        watcher.stop()
    assert not watcher.seen_none_after_fill
    assert all(level_of(cache.get(p)) == np.float32(0.5 + p / 1000) for p in range(PADS))
    assert workers.rendered == 2 * PADS


def test_superseded_generation_is_discarded(rig):
    decoder, cache, workers = rig(threads=1)
    workers.render_all(points(0.1))
    assert cache.wait_complete(timeout=20)
    first_calls = len(decoder.calls)
    watcher = Watcher(cache)
    try:
        decoder.gate = threading.Semaphore(0)
        stale = workers.render_all(points(0.5))
        wait_for(lambda: len(decoder.calls) == first_calls + 1, "a decode of the stale generation")
        current = workers.render_all(points(0.9))  # supersedes it while it is decoding
        assert current == stale + 1
        decoder.gate.release(10)
        assert cache.wait_complete(timeout=20)
    finally:
        watcher.stop()
    assert all(level_of(cache.get(p)) == np.float32(0.9 + p / 1000) for p in range(PADS))
    # The stale batch in flight was decoded but not installed; its queued batches were never decoded.
    stale_calls = [z for z in decoder.calls[first_calls:] if abs(z[0, 0] - 0.5 - z[0, 1] / 1000) < 1e-6]
    assert len(stale_calls) == 1
    assert len(decoder.calls) == first_calls + 1 + -(-PADS // BATCH)
    assert not any(0.5 <= level < 0.6 for level in watcher.levels)
    assert workers.rendered == 2 * PADS


def test_first_pad_renders_first(rig):
    decoder, cache, workers = rig(threads=1)
    workers.render_all(points(0.1), first=10)
    assert cache.wait_complete(timeout=20)
    order = [int(p) for z in decoder.calls for p in z[:, 1]]
    assert order[:BATCH] == [10, 9, 11, 8, 12, 7, 13, 6]
    assert sorted(order) == list(range(PADS))


def test_a_failed_render_is_reported_counted_and_the_worker_carries_on(rig):
    errors = []
    decoder, cache, workers = rig(threads=1, on_error=errors.append)
    pts = points(0.1)
    pts[9, 0] = -1.0  # pad 9 cannot be decoded; its batch (pads 8..15) is retried point by point
    workers.render_all(pts)
    assert cache.wait_complete(timeout=20)  # a failed pad counts as done: nobody waits for it forever
    assert cache.failures == 1 and cache.progress[0] == PADS - 1
    assert len(errors) == 1 and "cannot decode a negative level" in str(errors[0]) and "keep their old sound" in str(errors[0])
    assert [cache.get(p) is None for p in range(PADS)] == [p == 9 for p in range(PADS)]
    # The worker is still alive: the next render fills everything.
    workers.render_all(points(0.2))
    assert cache.wait_complete(timeout=20)
    assert all(level_of(cache.get(p)) == np.float32(0.2 + p / 1000) for p in range(PADS))


def test_put_for_an_old_generation_is_refused():
    cache = PadCache(4)
    buffer = prepare_oneshot(np.full(500, 0.5, np.float32), RATE, RATE)
    g1 = cache.begin_generation()
    g2 = cache.begin_generation()
    assert cache.put(0, buffer, g1) is False
    assert cache.get(0) is None and cache.progress == (0, 4)
    assert cache.put(0, buffer, g2) is True
    assert cache.get(0) is buffer and cache.progress == (1, 4)


def test_replaced_buffers_give_their_pool_slots_back():
    from liveengine.server.layout import Layout, SharedState
    from liveengine.server.pool import GRACE_SECONDS, SamplePool
    from liveengine.testing.clock import HandClock

    clock = HandClock()  # the grace period passes when the test says, not when a stalled machine lets it
    pool = SamplePool(SharedState.create(Layout(fifo_capacity=16, slots=4, slot_frames=1000, record_frames=256)), clock=clock)
    cache = PadCache(2, pool)
    buffers = [prepare_oneshot(np.full(500, 0.1 * (i + 1), np.float32), RATE, RATE) for i in range(3)]
    g = cache.begin_generation()
    for b in buffers:
        cache.put(0, b, g)
    kept = cache.get(0)
    assert kept.slot >= 0 and np.array_equal(pool.state.samples[kept.slot, : len(kept.samples)], buffers[2].samples)
    assert pool.in_use == 3  # the two replaced ones wait out the grace period
    # One is still named by the audio server's note table (a MIDI thread that has not refreshed it yet): kept.
    named = next(s for s in range(4) if s != kept.slot and pool.state.slot_gen[s] > 0)
    pool.state.note_slots[2, 60] = (int(pool.state.slot_gen[named]) << 16) | named
    clock.now += GRACE_SECONDS * 0.9
    pool.collect()
    assert pool.in_use == 3  # within the grace period: both wait
    clock.now += GRACE_SECONDS * 0.2
    pool.collect()
    assert pool.in_use == 2
    pool.state.note_slots[2, 60] = 0  # the table refreshed
    pool.collect()
    assert pool.in_use == 1


def test_leased_pool_slots_are_written_elsewhere_adopted_here_and_given_back():
    """The render process's side of the pool (render/process_workers.py), without the process: slots
    leased, filled through `fit_into`, adopted as views; what was never written comes back."""
    import dataclasses
    import gc

    from liveengine.server.layout import Layout, SharedState
    from liveengine.render.buffers import fit_into
    from liveengine.server.pool import SamplePool

    pool = SamplePool(SharedState.create(Layout(fifo_capacity=16, slots=3, slot_frames=1000, record_frames=256)))
    slots = pool.lease(5)
    assert len(slots) == 3 and pool.lease(1) == [] and pool.in_use == 3  # only what is free
    short = prepare_oneshot(np.full(500, 0.25, np.float32), RATE, RATE)
    long = prepare_oneshot(np.full(1500, 0.5, np.float32), RATE, RATE)
    assert fit_into(pool.state.samples[slots[0]], short.samples) == (len(short.samples), False)
    assert fit_into(pool.state.samples[slots[1]], long.samples) == (1000, True)  # cut to the slot, faded
    np.testing.assert_array_equal(pool.state.samples[slots[1], :744], long.samples[:744])
    assert pool.state.samples[slots[1], 999] == 0.0
    a = pool.adopt_written(slots[0], len(short.samples), False, dataclasses.replace(short, samples=None))
    b = pool.adopt_written(slots[1], 1000, True, dataclasses.replace(long, samples=None))
    assert pool.truncated == 1 and a.slot == slots[0] and a.slot_gen > 0 and b.slot_gen > a.slot_gen
    np.testing.assert_array_equal(a.samples, short.samples)
    assert np.shares_memory(a.samples, pool.state.samples) and not a.samples.flags.writeable
    assert pool.state.slot_len[slots[0]] == len(short.samples) and pool.state.slot_gen[slots[0]] == a.slot_gen
    with pytest.raises(ValueError, match="not leased"):
        pool.adopt_written(slots[0], 10, False, dataclasses.replace(short, samples=None))  # adopted already
    pool.unlease(slots)  # the render process ended: only the unwritten slot is free again
    assert pool.in_use == 2
    del a, b
    gc.collect()
    pool._released = type(pool._released)((slot, 0.0) for slot, _ in pool._released)  # past the grace period
    pool.collect()
    assert pool.in_use == 0



def test_stop_ends_the_threads(rig):
    _, _, workers = rig(threads=2)
    workers.stop()
    assert not any(t.is_alive() for t in workers._threads)
