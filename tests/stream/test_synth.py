"""HarmonicNoiseSynth: the frame contract (block equals frame by frame), pitch, level, Nyquist, noise."""

import numpy as np
import pytest

from liveengine.stream.synth import HarmonicNoiseSynth

EDGES = [0, 250, 500, 1000, 2000, 4000, 8000, 12000]


def controls(t, h=16, b=len(EDGES) - 1, seed=1):
    rng = np.random.default_rng(seed)
    f0 = 150 + 300 * rng.random(t)
    return f0, rng.random(t), rng.random((t, h)), 0.05 * rng.random((t, b))


@pytest.mark.parametrize("sample_rate,hop", [(48000, 240), (24000, 120), (44100, 221)])
def test_block_equals_frame_by_frame(sample_rate, hop):
    synth = HarmonicNoiseSynth(sample_rate, hop, 16, EDGES)
    f0, amp, harm, noise = controls(40)
    whole = synth.render(f0, amp, harm, noise)
    synth.reset()
    frames = [synth.render(f0[i:i + 1], amp[i:i + 1], harm[i:i + 1], noise[i:i + 1]) for i in range(40)]
    # and in uneven blocks
    synth.reset()
    cuts = [0, 3, 4, 17, 30, 40]
    blocks = [synth.render(f0[a:b], amp[a:b], harm[a:b], noise[a:b]) for a, b in zip(cuts, cuts[1:])]
    assert whole.dtype == np.float32 and whole.shape == (40 * hop,)
    assert np.abs(whole - np.concatenate(frames)).max() < 1e-5
    assert np.abs(whole - np.concatenate(blocks)).max() < 1e-5


def test_single_harmonic_is_a_sine_of_that_pitch_and_amplitude():
    sr, hop, t = 48000, 240, 200
    synth = HarmonicNoiseSynth(sr, hop, 8, EDGES)
    harm = np.zeros((t, 8))
    harm[:, 0] = 3.0  # normalised: the weights' scale does not matter
    out = synth.render(np.full(t, 440.0), np.full(t, 0.5), harm, np.zeros((t, len(EDGES) - 1)))
    steady = out[hop:]
    assert abs(np.abs(steady).max() - 0.5) < 1e-3
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    peak_hz = np.argmax(spectrum) * sr / len(steady)
    assert abs(peak_hz - 440) < sr / len(steady)
    # the first frame fades in from silence
    assert abs(out[0]) < 0.5 / hop * 2 + 1e-6


def test_harmonics_above_nyquist_are_silent():
    sr, hop, t = 8000, 40, 100
    synth = HarmonicNoiseSynth(sr, hop, 4, [0, 4000])
    harm = np.zeros((t, 4))
    harm[:, 2] = 1.0  # 3 * 1500 Hz = 4500 Hz, above 4000 Hz Nyquist
    out = synth.render(np.full(t, 1500.0), np.ones(t), harm, np.zeros((t, 1)))
    assert np.abs(out).max() == 0.0


def test_noise_bands_sum_to_white_noise_of_the_given_magnitude():
    sr, hop, t = 24000, 120, 400
    synth = HarmonicNoiseSynth(sr, hop, 4, EDGES[:-1] + [sr / 2])
    out = synth.render(np.full(t, 100.0), np.zeros(t), np.zeros((t, 4)), np.full((t, len(EDGES) - 1), 0.2))
    assert abs(np.std(out[hop:]) - 0.2) < 0.02
    # one band only: its energy stays in that band
    synth.reset()
    noise = np.zeros((t, len(EDGES) - 1))
    noise[:, 3] = 1.0  # 1000-2000 Hz
    out = synth.render(np.full(t, 100.0), np.zeros(t), np.zeros((t, 4)), noise)[hop:]
    power = np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / sr)
    inside = power[(freqs >= 1000) & (freqs < 2000)].sum()
    assert inside / power.sum() > 0.99


def test_reset_repeats_the_same_audio():
    synth = HarmonicNoiseSynth(48000, 240, 16, EDGES, seed=3)
    f0, amp, harm, noise = controls(10)
    first = synth.render(f0, amp, harm, noise)
    second = synth.render(f0, amp, harm, noise)
    synth.reset()
    assert np.array_equal(first, synth.render(f0, amp, harm, noise))
    assert not np.array_equal(first, second)  # phase and noise continue across calls


def test_the_continuation_is_the_next_frame_with_the_controls_held_and_moves_nothing_on():
    synth = HarmonicNoiseSynth(48000, 240, 16, (0.0, 500.0, 2000.0, 8000.0))
    assert not synth.continuation(64).any()  # before any frame: silence
    rng = np.random.default_rng(3)
    f0, amp, harm, noise = np.array([200.0, 230.0]), np.array([0.4, 0.5]), rng.random((2, 16)), 0.02 * rng.random((2, 3))
    synth.render(f0, amp, harm, noise)
    tail = synth.continuation(64)
    again = synth.continuation(64)
    np.testing.assert_array_equal(tail, again)  # nothing moved on
    held = synth.render(f0[1:], amp[1:], harm[1:], noise[1:])
    np.testing.assert_allclose(tail, held[:64], atol=1e-6)
    assert np.max(np.abs(tail)) > 0.1
    synth.jump()
    assert not synth.continuation(64).any()  # the next frame starts at its own controls: nothing to continue
