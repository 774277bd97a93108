"""The engine end to end on the offline backend: timing modes, velocity, choke, patch swaps, recording, threads.

The offline backend drives the same RealtimeCore on a fake clock, so every
check here is exact to the sample and repeatable.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.render.buffers import ONSET_THRESHOLD

# With velocity_curve 1 and master gain 1 this is the voice gain: a power of two, so scaling is exact
# (the first sample above VELOCITY * -60 dBFS is the buffer's transient), and peaks stay under the limiter.
VELOCITY = 0.5




def pad_hit(row: int, col: int, velocity: float = VELOCITY, at: int | None = None):
    return make_command("/pad", (row, col, velocity), at)


def place(frames: int, buffer, begin: int, gain: float) -> np.ndarray:
    """What one voice contributes: `buffer` starting at frame `begin` (clipped to [0, frames))."""
    out = np.zeros(frames, dtype=np.float32)
    s = buffer.samples * np.float32(gain)
    skip = max(0, -begin)
    begin = max(0, begin)
    n = min(len(s) - skip, frames - begin)
    out[begin : begin + n] = s[skip : skip + n]
    return out


def first_loud(signal: np.ndarray, threshold: float) -> int:
    return int(np.flatnonzero(np.abs(signal) > threshold)[0])


def write_patch(path: Path, grid: int = 8, extra: str = "", name: str = "") -> Path:
    path.write_text(
        (f'[patch]\nname = "{name}"\n' if name else "")
        + f'[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = {grid}\ncols = {grid}\n{extra}\n'
        "[audio]\nsamplerate = 48000\nblocksize = 128\n"
        "[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nvelocity_curve = 1.0\n"
    )
    return path


# ---- timing modes ----

@pytest.mark.parametrize("block", [0, 7])
def test_constant_timing_starts_exactly_one_block_after_arrival(engines, short_patch, block):
    engine, backend = engines(short_patch())
    bs = engine.options.blocksize
    arrival = block * bs
    buffer = engine.instrument.cache.get(engine.instrument.setting.pad_index(2, 3))

    def before(frame):
        if frame == arrival:
            assert engine.submit(pad_hit(2, 3))

    out = backend.render(arrival + 4000, before)
    expected = place(len(out), buffer, arrival + bs - buffer.onset, VELOCITY)
    np.testing.assert_array_equal(out[:, 0], expected)
    np.testing.assert_array_equal(out[:, 1], expected)
    assert first_loud(out[:, 0], VELOCITY * ONSET_THRESHOLD) == arrival + bs
    assert engine.shared.counter("late_commands") == 0


def test_constant_timing_with_preroll_longer_than_a_block(engines, short_patch):
    """96 kHz, 32-frame blocks: the 48-frame pre-roll would begin before the arrival block; it is skipped into."""
    patch = load_patch(short_patch())
    options = dataclasses.replace(patch.options(), samplerate=96000, blocksize=32)
    engine, backend = engines(short_patch(), options)
    buffer = engine.instrument.cache.get(0)
    assert buffer.onset > 32
    arrival = 10 * 32

    def before(frame):
        if frame == arrival:
            assert engine.submit(pad_hit(0, 0))

    out = backend.render(arrival + 8000, before)
    expected = place(len(out), buffer, arrival + 32 - buffer.onset, VELOCITY)
    expected[:arrival] = 0.0  # the start of the pre-roll fell in a block already gone
    np.testing.assert_array_equal(out[:, 0], expected)
    assert first_loud(out[:, 0], VELOCITY * ONSET_THRESHOLD) == arrival + 32
    assert engine.shared.counter("late_commands") == 0


def test_lowest_latency_starts_the_buffer_on_the_next_blocks_first_frame(engines, short_patch):
    engine, backend = engines(short_patch(extra_audio='timing = "lowest-latency"'))
    assert engine.options.timing == "lowest-latency"
    bs = engine.options.blocksize
    arrival = 5 * bs
    buffer = engine.instrument.cache.get(engine.instrument.setting.pad_index(4, 1))

    def before(frame):
        if frame == arrival:
            assert engine.submit(pad_hit(4, 1))

    out = backend.render(arrival + 4000, before)
    # The buffer (pre-roll first) begins on the block's first frame; the transient follows `onset` frames later.
    np.testing.assert_array_equal(out[:, 0], place(len(out), buffer, arrival, VELOCITY))
    assert first_loud(out[:, 0], VELOCITY * ONSET_THRESHOLD) == arrival + buffer.onset
    assert engine.shared.counter("late_commands") == 0


@pytest.mark.parametrize("timing", ["constant", "lowest-latency"])
def test_timed_commands_land_on_their_frame(engines, short_patch, timing):
    engine, backend = engines(short_patch(extra_audio=f'timing = "{timing}"'))
    cache, grid = engine.instrument.cache, engine.instrument.setting
    targets = [(0, (0, 0)), (23, (1, 1)), (3000, (2, 2)), (6000 + 77, (3, 3)), (9000 + 127, (5, 6))]
    for at, (r, c) in targets:
        assert engine.submit(pad_hit(r, c, at=at))
    out = backend.render(12000)
    expected = np.zeros(len(out), np.float32)
    for at, (r, c) in targets:
        buffer = cache.get(grid.pad_index(r, c))
        expected += place(len(out), buffer, at - buffer.onset, VELOCITY)
        if at >= 3000:  # alone in its stretch: the transient is the first loud sample
            assert first_loud(out[at - 500 :, 0], VELOCITY * ONSET_THRESHOLD) == 500
    np.testing.assert_array_equal(out[:, 0], expected)
    # The hits on frames 0 and 23 began in the pre-roll (frames -24 and -1): their transients are exact too.
    assert first_loud(out[:, 0], VELOCITY * ONSET_THRESHOLD) == 0
    assert engine.shared.counter("late_commands") == 0


# ---- velocity ----

@pytest.mark.parametrize("curve", [1.0, 1.6, 3.0])
def test_velocity_curve_sets_the_peak_ratio(engines, short_patch, curve):
    patch = load_patch(short_patch())
    engine, backend = engines(short_patch(), dataclasses.replace(patch.options(), velocity_curve=curve))
    v1, v2 = 0.9, 0.35
    assert engine.submit(pad_hit(3, 3, v1, at=1000))
    assert engine.submit(pad_hit(3, 3, v2, at=5000))
    mono = backend.render(9000)[:, 0]
    p1 = np.max(np.abs(mono[:4000]))
    p2 = np.max(np.abs(mono[4000:]))
    assert p1 / p2 == pytest.approx((v1 / v2) ** curve, rel=1e-5)
    assert p1 == pytest.approx(engine.instrument.cache.get(engine.instrument.setting.pad_index(3, 3)).peak * v1**curve, rel=1e-5)


# ---- choke groups ----

CHOKE = "[choke]\nhats = [[0, 0], [0, 1]]\n"


def test_patch_choke_group_fades_the_other_hat_at_the_new_hits_frame(engines, short_patch):
    engine, backend = engines(short_patch(extra=CHOKE))
    cache, grid = engine.instrument.cache, engine.instrument.setting
    ff = engine.options.fade_frames
    v = 0.3  # three overlapping voices stay under the limiter
    a, b, other = (cache.get(grid.pad_index(*p)) for p in [(0, 0), (0, 1), (2, 2)])
    assert engine.submit(pad_hit(0, 0, v, at=1000))
    assert engine.submit(pad_hit(2, 2, v, at=1100))  # not in the group
    assert engine.submit(pad_hit(0, 1, v, at=1600))  # chokes (0, 0)
    mono = backend.render(6000)[:, 0]
    n = len(mono)
    begin_b = 1600 - b.onset
    fade = np.ones(n, np.float32)
    fade[begin_b : begin_b + ff] = np.linspace(1.0, 0.0, ff + 1, dtype=np.float32)[1:]
    fade[begin_b + ff :] = 0.0
    expected = place(n, a, 1000 - a.onset, v) * fade + place(n, other, 1100 - other.onset, v) + place(n, b, begin_b, v)
    np.testing.assert_allclose(mono, expected, rtol=0, atol=2e-6)
    # The choked voice really was cut short: without the fade (0, 0) would still sound after it.
    assert np.max(np.abs(place(n, a, 1000 - a.onset, v)[begin_b + ff :])) > 0.01


def test_choke_command_fades_the_group_and_leaves_others(engines, short_patch):
    engine, backend = engines(short_patch(extra=CHOKE))
    cache, grid = engine.instrument.cache, engine.instrument.setting
    ff = engine.options.fade_frames
    bs = engine.options.blocksize
    v = 0.4
    a, other = cache.get(grid.pad_index(0, 1)), cache.get(grid.pad_index(4, 4))
    assert engine.submit(pad_hit(0, 1, v, at=1000))
    assert engine.submit(pad_hit(4, 4, v, at=1000))
    arrival = 12 * bs  # 1536: (0, 1) still sounds

    def before(frame):
        if frame == arrival:
            assert engine.submit(make_command("/choke", ("hats",)))  # constant timing: one block later

    mono = backend.render(6000, before)[:, 0]
    n = len(mono)
    at = arrival + bs
    fade = np.ones(n, np.float32)
    fade[at : at + ff] = np.linspace(1.0, 0.0, ff + 1, dtype=np.float32)[1:]
    fade[at + ff :] = 0.0
    expected = place(n, a, 1000 - a.onset, v) * fade + place(n, other, 1000 - other.onset, v)
    np.testing.assert_allclose(mono, expected, rtol=0, atol=2e-6)


def test_unknown_choke_group_is_an_error(engines, short_patch):
    engine, _ = engines(short_patch(extra=CHOKE))
    with pytest.raises(LiveEngineError, match="'snare'.*hats"):
        engine.submit(make_command("/choke", ("snare",)))
    assert engine.fifo.pending() == 0


def test_master_gain_param_via_engine(engines, short_patch):
    engine, backend = engines(short_patch())
    assert engine.submit(make_command("/param", ("gain", 0.5), at=0))
    backend.render(256)
    assert engine.core.gain == 0.5
    assert engine.submit(pad_hit(1, 2, 1.0, at=1000))
    mono = backend.render(4000)[:, 0]
    buffer = engine.instrument.cache.get(engine.instrument.setting.pad_index(1, 2))
    np.testing.assert_allclose(mono, place(len(mono), buffer, 1000 - 256 - buffer.onset, 0.5), rtol=0, atol=1e-7)


def test_panic_via_engine_drops_scheduled_hits(engines, short_patch):
    engine, backend = engines(short_patch())
    assert engine.submit(pad_hit(1, 1, at=100))
    assert engine.submit(pad_hit(2, 2, at=20000))  # scheduled, never to play
    backend.render(1024)
    assert engine.submit(make_command("/panic"))
    mono = backend.render(30000)[:, 0]
    ff = engine.options.fade_frames
    assert np.all(mono[ff:] == 0.0)
    assert engine.core.voices.active == 0 and engine.core.schedule == []


# ---- patch swaps ----

def render_hits(engine, backend) -> np.ndarray:
    for at, (r, c) in [(1000, (0, 0)), (4000, (3, 5)), (7000, (7, 7))]:
        assert engine.submit(pad_hit(r, c, at=backend.frame + at))
    return backend.render(10000)


def test_failed_patch_load_keeps_the_old_instrument_playing(engines, tmp_path):
    good = write_patch(tmp_path / "good.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("max_seconds = 0.05", "max_seconds = 0.05\nvoicez = 48"))
    reference_engine, reference_backend = engines(good)
    reference = render_hits(reference_engine, reference_backend)

    engine, backend = engines(good)
    instrument = engine.instrument
    assert engine.load_patch(bad) is False
    assert engine.instrument is instrument
    assert "voicez" in engine.reports[-1] and str(bad) in engine.reports[-1]
    after = render_hits(engine, backend)
    assert np.max(np.abs(after)) > 0.1
    np.testing.assert_array_equal(after, reference)


def test_good_patch_swaps_in(engines, tmp_path):
    first = write_patch(tmp_path / "first.toml")
    second = write_patch(tmp_path / "second.toml", grid=4, extra="center_x = 2.0\nzoom = 3.0", name="second")
    engine, backend = engines(first)
    old_buffer = engine.instrument.cache.get(0)
    engine.submit(pad_hit(5, 5, at=10**9))  # (5, 5) is on the 8x8 grid
    backend.run(engine.options.blocksize)  # into the server's schedule: far in the future, it never plays here
    assert engine.load_patch(second) is True
    assert engine.instrument.patch.name == "second"
    assert "second" in engine.reports[-1]
    assert engine.wait_rendered(timeout=60)
    with pytest.raises(LiveEngineError, match="outside the 4x4 grid"):
        engine.submit(pad_hit(5, 5))
    new_buffer = engine.instrument.cache.get(0)
    assert not np.array_equal(new_buffer.samples, old_buffer.samples)
    start = backend.frame
    assert engine.submit(pad_hit(0, 0, at=start + 1000))
    mono = backend.render(4000)[:, 0]
    np.testing.assert_array_equal(mono, place(len(mono), new_buffer, 1000 - new_buffer.onset, VELOCITY))


# ---- recording ----

def test_recording_is_bit_identical_to_the_output(engines, short_patch, tmp_path):
    engine, backend = engines(short_patch())
    path = tmp_path / "take.wav"
    recorder = engine.record(path)
    for i in range(20):
        assert engine.submit(pad_hit(i % 8, (3 * i) % 8, 0.3 + 0.03 * i, at=500 + 1700 * i))
    rendered = backend.render(48000)
    engine.stop_recording()
    assert recorder.lost_frames == 0
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == 48000
    assert data.shape == rendered.shape
    assert np.max(np.abs(rendered)) > 0.1
    np.testing.assert_array_equal(data, rendered)
    # Nothing after stop_recording reaches the file.
    backend.render(4800)
    assert soundfile.info(str(path)).frames == len(rendered)


def test_recording_refuses_to_overwrite(engines, short_patch, tmp_path):
    engine, _ = engines(short_patch())
    path = tmp_path / "exists.wav"
    path.write_bytes(b"an earlier take")
    with pytest.raises(LiveEngineError) as info:
        engine.record(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"an earlier take"
    assert engine.recorder is None


# ---- threads ----

def test_concurrent_submitters_lose_nothing_uncounted(engines, short_patch):
    engine, backend = engines(short_patch())
    producers, per_producer = 4, 2000
    accepted = [0] * producers
    failures: list[BaseException] = []
    rendering = threading.Event()
    done = threading.Event()

    def produce(index: int) -> None:
        try:
            rendering.wait(10)
            for i in range(per_producer):
                if engine.submit(pad_hit((index + i) % 8, (i // 8) % 8, 0.2)):
                    accepted[index] += 1
        except BaseException as exc:
            failures.append(exc)

    def render() -> None:
        try:
            rendering.set()
            while not done.is_set():
                backend.run(engine.options.blocksize * 4)
        except BaseException as exc:
            failures.append(exc)

    renderer = threading.Thread(target=render)
    threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
    renderer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    renderer.join(60)
    assert not renderer.is_alive() and not any(t.is_alive() for t in threads)
    assert failures == []
    core = engine.core
    # Apply whatever is still queued or scheduled.
    while engine.fifo.pending() or core.schedule:
        backend.run(engine.options.blocksize)
    backend.run(engine.options.blocksize * 4)
    submitted = producers * per_producer
    assert sum(accepted) + engine.fifo.dropped == submitted
    assert core.voices.counter == sum(accepted)
    assert sum(accepted) > 0
    assert engine.shared.counter("schedule_full") == 0 and engine.shared.counter("callback_errors") == 0
    assert engine.not_ready == 0


def test_pad_off_fades_only_that_pads_voices(engines, tmp_path):
    path = tmp_path / "long.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 8\ncols = 8\n'
                    "[audio]\nsamplerate = 48000\nblocksize = 128\n[engine]\nmax_seconds = 1.0\nmaster_gain = 1.0\nvelocity_curve = 1.0\nfade_ms = 3.0\n")
    engine, backend = engines(path)
    engine.submit(make_command("/pad", [0, 0, 0.5], at=128))
    engine.submit(make_command("/pad", [7, 7, 0.5], at=128))
    backend.run(2048)
    assert engine.playing_pads() == frozenset({0, 63})
    engine.submit(make_command("/pad/off", [0, 0], at=backend.frame + 128))
    backend.run(2048)
    assert engine.playing_pads() == frozenset({63})  # the other pad rings on


def test_param_value_reads_back_what_was_set(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.submit(make_command("/param", ["zoom", 2.5]))
    engine.submit(make_command("/param", ["gain", 0.5], at=0))
    backend.run(256)
    assert engine.param_value("zoom") == 2.5 and engine.param_value("gain") == 0.5
    with pytest.raises(LiveEngineError, match="not a parameter"):
        engine.param_value("warp")
