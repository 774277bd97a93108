"""CausalTracker: pitch of test tones, loudness, low confidence for silence and noise, causality."""

import numpy as np
import pytest

from liveengine.stream.tracker import CausalTracker

SR, HOP = 48000, 240


def tone(f0, seconds=0.5, amp=0.5, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    x = amp * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * 2 * f0 * t + 1.0) + 0.25 * np.sin(2 * np.pi * 3 * f0 * t + 2.0))
    return x.astype(np.float32)


@pytest.mark.parametrize("f0", [65.4, 110.0, 261.6, 440.0, 987.8, 1568.0])
def test_pitch_of_test_tones_within_20_cents(f0):
    tracker = CausalTracker(SR, HOP)
    est, _, conf = tracker.push(tone(f0))
    settled = slice(2 * tracker.tau_max // HOP + 1, None)  # once the window has filled
    cents = 1200 * np.log2(est[settled] / f0)
    assert np.abs(cents).max() < 20
    assert conf[settled].min() > 0.9


def test_loudness_follows_the_level():
    tracker = CausalTracker(SR, HOP)
    x = np.concatenate([tone(220, 0.3, 0.05), tone(220, 0.3, 0.5)])
    _, loud, _ = tracker.push(x)
    quiet, loud_part = loud[10:55], loud[70:]
    assert abs(np.median(loud_part) - np.median(quiet) - 20.0) < 1.0
    # a sine of amplitude 1 reads -3 dBFS (400 Hz: whole periods in the 10 ms window)
    t = np.arange(SR // 4) / SR
    _, loud, _ = CausalTracker(SR, HOP).push(np.sin(2 * np.pi * 400 * t))
    assert abs(loud[-1] + 3.01) < 0.05


def test_silence_and_noise_give_low_confidence():
    tracker = CausalTracker(SR, HOP)
    _, loud, conf = tracker.push(np.zeros(SR // 2, dtype=np.float32))
    assert conf.max() == 0.0 and loud.max() == -100.0
    tracker.reset()
    noise = 0.3 * np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32)
    est, _, conf = tracker.push(noise)
    assert conf.max() < 0.5
    assert np.all(est == tracker.f0_min_hz)  # nothing confident to hold


def test_any_block_sizes_give_the_same_frames_and_no_lookahead():
    x = tone(330, 0.3)
    whole = CausalTracker(SR, HOP).push(x)
    tracker = CausalTracker(SR, HOP)
    parts, start = [], 0
    for size in [1, 100, 239, 240, 241, 1000, 7, 5000]:
        parts.append(tracker.push(x[start:start + size]))
        start += size
    parts.append(tracker.push(x[start:]))
    for k in range(3):
        assert np.array_equal(whole[k], np.concatenate([p[k] for p in parts]))
    # changing samples after hop 30 leaves hops 0..30 unchanged
    y = x.copy()
    y[31 * HOP:] = 0.0
    changed = CausalTracker(SR, HOP).push(y)
    for k in range(3):
        assert np.array_equal(whole[k][:31], changed[k][:31])
        assert not np.array_equal(whole[k][31:], changed[k][31:])
