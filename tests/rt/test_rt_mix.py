"""The mix after the voices: master gain, limiter, output channels, and errors on the audio path."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rtkit import ASAP, GAIN, dc, event, make_buffer, make_core, run, start

from liveengine.rt.limiter import SafetyLimiter


def noise(frames: int, peak: float, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, frames)
    return (peak * x / np.max(np.abs(x))).astype(np.float32)


# ---- limiter ----

def test_64_loud_overlapping_hits_at_gain_2_never_pass_the_ceiling():
    core = make_core(voices=64, master_gain=2.0, blocksize=128)
    ceiling = np.float32(core.options.limiter_ceiling)
    for i in range(64):
        core.queue.put(start(100 + 7 * i, make_buffer(noise(3000, 1.0, seed=i)), pad=i))
    out = run(core, 6000)
    assert np.max(np.abs(out)) <= ceiling
    assert core.peak <= ceiling
    assert core.limiter.active_blocks > 0
    assert core.voices.steals == 0 and core.counters.callback_errors == 0
    # It limits, it does not mute: the loud part stays near the ceiling.
    assert np.max(np.abs(out[1000:3000, 0])) > 0.5 * ceiling


def test_quiet_signal_passes_bit_exactly():
    core = make_core(master_gain=1.0, blocksize=128)
    quiet = noise(5000, 0.5)
    core.queue.put(start(37, make_buffer(quiet)))
    mono = run(core, 6000)[:, 0]
    np.testing.assert_array_equal(mono[37 : 37 + 5000], quiet)
    assert np.all(mono[:37] == 0.0) and np.all(mono[5037:] == 0.0)
    assert core.limiter.gain == 1.0 and core.limiter.active_blocks == 0


def test_limiter_releases_toward_unity_and_then_passes_exactly_again():
    blocksize = 128
    core = make_core(master_gain=1.0, blocksize=blocksize)
    core.queue.put(start(0, dc(4.0, 1024)))  # 12 dB over the ceiling for eight blocks
    run(core, 1024)
    reduction = 1.0 - core.limiter.gain
    assert reduction > 0.7  # about 1 - 0.98/4
    recover = math.exp(-blocksize / (core.options.limiter_release_ms * 1e-3 * core.options.samplerate))
    gains = []
    for _ in range(40):
        run(core, blocksize)
        gains.append(core.limiter.gain)
    # Exponential release: 1 - gain shrinks by the same factor every block.
    expected = reduction * recover ** np.arange(1, 41)
    np.testing.assert_allclose(1.0 - np.array(gains), expected, rtol=1e-9)
    # Long after, unity is reached exactly and a quiet signal is untouched again.
    run(core, 2000 * blocksize)
    assert core.limiter.gain == 1.0
    active = core.limiter.active_blocks
    run(core, 10 * blocksize)
    assert core.limiter.active_blocks == active  # back at unity, the limiter is idle
    quiet = noise(1000, 0.5)
    at = core.frame + 5
    core.queue.put(start(at, make_buffer(quiet)))
    mono = run(core, 1280)[:, 0]
    np.testing.assert_array_equal(mono[5:1005], quiet)


def test_limiter_gain_drop_is_ramped_and_lands_on_ceiling_over_peak():
    limiter = SafetyLimiter(0.98, 80.0, 48000, 1024)
    block = np.full(256, 2.0, dtype=np.float32)
    limiter.process(block)
    target = 0.98 / 2.0
    assert limiter.gain == pytest.approx(target)
    # The last frame carries the new gain; the ramp from 1 is clipped at the ceiling on the way.
    assert block[-1] == pytest.approx(2.0 * target, rel=1e-6)
    assert np.max(block) <= np.float32(0.98)
    assert np.all(np.diff(block) <= 1e-7)  # never rises while gain drops


# ---- master gain ----

@pytest.mark.parametrize("new", [0.25, 1.5])
def test_master_gain_ramps_over_one_block_then_settles(new):
    blocksize = 128
    core = make_core(master_gain=1.0, blocksize=blocksize)
    level = 0.5
    core.queue.put(start(0, dc(level, 4000)))
    mono0 = run(core, 2 * blocksize)[:, 0]
    np.testing.assert_array_equal(mono0, np.float32(level))
    core.queue.put(event(ASAP, GAIN, new))
    mono = run(core, 4 * blocksize)[:, 0]
    step = abs(new - 1.0) * level / blocksize
    seam = np.concatenate([mono0[-1:], mono])
    assert np.max(np.abs(np.diff(seam.astype(np.float64)))) <= step + 1e-6  # no step anywhere
    expected_ramp = level * (1.0 + (new - 1.0) * np.arange(blocksize) / blocksize)
    np.testing.assert_allclose(mono[:blocksize], expected_ramp, rtol=1e-6)
    np.testing.assert_allclose(mono[blocksize:], level * new, rtol=1e-6)
    assert core.gain == new
    assert core.counters.late_commands == 0


def test_unchanged_master_gain_scales_exactly():
    core = make_core(master_gain=0.5, blocksize=128)
    x = noise(500, 0.8)
    core.queue.put(start(0, make_buffer(x)))
    mono = run(core, 512)[:, 0]
    np.testing.assert_array_equal(mono[:500], x * np.float32(0.5))


# ---- output channels ----

@pytest.mark.parametrize("channels, pair", [(4, (3, 4)), (4, (2, 2)), (2, (2, 1)), (1, (1, 1))])
def test_output_pair_selects_device_channels(channels, pair):
    core = make_core(channels=channels, output_pair=pair, blocksize=128)
    x = noise(300, 0.5)
    core.queue.put(start(10, make_buffer(x)))
    out = run(core, 512)
    assert out.shape == (512, channels)
    expected = np.zeros(512, dtype=np.float32)
    expected[10:310] = x
    used = {pair[0] - 1, pair[1] - 1}
    for ch in range(channels):
        if ch in used:
            np.testing.assert_array_equal(out[:, ch], expected)
        else:
            assert np.all(out[:, ch] == 0.0), f"channel {ch + 1} should be silent"


# ---- errors on the audio path ----

def _fail_once(core, method: str, when) -> None:
    """Make core.voices.<method> raise once, when `when(*args)` holds: a bug on the audio path."""
    original = getattr(core.voices, method)
    state = {"failed": False}

    def wrapped(*args, **kwargs):
        if not state["failed"] and when(*args):
            state["failed"] = True
            raise RuntimeError("broken buffer")
        return original(*args, **kwargs)

    setattr(core.voices, method, wrapped)


@pytest.mark.parametrize("where", ["start", "mix_into"], ids=["start fails", "mix fails"])
def test_exception_on_audio_path_silences_one_block_only(where):
    blocksize = 128
    core = make_core(blocksize=blocksize)
    level = 0.25
    good = dc(level, 10 * blocksize)
    core.queue.put(start(0, good, pad=1))
    run(core, 2 * blocksize)
    # The broken START lands in block 2, beside a good hit starting at the same time.
    if where == "start":
        _fail_once(core, "start", lambda *args: args[6] == 2)
        core.queue.put(start(2 * blocksize + 5, dc(0.5, 4 * blocksize), pad=2))
    else:
        _fail_once(core, "mix_into", lambda *args: True)
    core.queue.put(start(2 * blocksize + 5, dc(0.125, 4 * blocksize), pad=3))
    out = run(core, 6 * blocksize)
    mono = out[:, 0]
    assert core.counters.callback_errors == 1
    assert "RuntimeError: broken buffer" in core.counters.last_error
    assert np.all(out[:blocksize] == 0.0)  # the failed block is silence, on every channel
    # The stream carries on: the following blocks play, the first voice included.
    after = mono[blocksize:]
    assert np.all(after > 0.0)
    assert np.all(np.isin(after, [np.float32(level), np.float32(level + 0.125)]))
    assert core.counters.blocks == 8


# ---- queue and schedule ----

def test_core_queue_overflow_is_counted_and_the_rest_play():
    core = make_core(queue_capacity=8, blocksize=128)
    imp = make_buffer([0.125])
    accepted = [core.queue.put(start(10 + i, imp, pad=i)) for i in range(12)]
    assert accepted == [True] * 8 + [False] * 4
    assert core.queue.dropped == 4
    mono = run(core, 128)[:, 0]
    assert np.count_nonzero(mono) == 8
    np.testing.assert_array_equal(np.flatnonzero(mono), np.arange(10, 18))


def test_schedule_overflow_is_counted_in_schedule_full():
    core = make_core(schedule_capacity=4, blocksize=128)
    imp = make_buffer([0.125])
    for i in range(6):
        core.queue.put(start(1000 + 10 * i, imp, pad=i))  # all for later blocks
    mono = run(core, 1280)[:, 0]
    assert core.counters.schedule_full == 2
    # The four that fitted play on their frames; the two that did not never play.
    np.testing.assert_array_equal(np.flatnonzero(mono), [1000, 1010, 1020, 1030])


def test_at_most_max_drain_commands_per_block():
    core = make_core(max_drain=3, blocksize=128)
    imp = make_buffer([0.125])
    for i in range(7):
        core.queue.put(start(ASAP, imp, pad=i))
    mono = run(core, 384)[:, 0]
    # Three per block: the rest wait in the queue for the next blocks.
    np.testing.assert_array_equal(mono[[0, 128, 256]], np.float32([0.375, 0.375, 0.125]))
    assert np.count_nonzero(mono) == 3
    assert len(core.queue) == 0
