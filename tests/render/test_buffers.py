"""prepare_oneshot: trim, pre-roll fade-in, resampling, length limit, tail fade, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.render.buffers import ONSET_THRESHOLD, prepare_oneshot
from liveengine.rt.voices import ENVELOPE_HOP

RATE = 48000
PRE = round(0.5e-3 * RATE)  # the default fade_in_ms of pre-roll, in frames
TAIL = round(50e-3 * RATE)  # the default tail_fade_ms, in frames


def end_fade(n: int) -> np.ndarray:
    return np.linspace(1.0, 0.0, n + 1, dtype=np.float32)[1:]


def hit(lead: int, floor: float = 0.0, frames: int = 4800, seed: int = 5) -> np.ndarray:
    """`lead` frames of low noise (|x| <= floor) then a decaying noise burst starting at 0.8."""
    rng = np.random.default_rng(seed)
    head = floor * rng.uniform(-1.0, 1.0, lead)
    t = np.arange(frames)
    body = rng.uniform(-1.0, 1.0, frames) * np.exp(-t / 400.0)
    body[0] = 0.8
    body[-200:] = 0.0  # ends in true silence
    return np.concatenate([head, body]).astype(np.float32)


@pytest.mark.parametrize("lead", [3000, PRE, 7])
@pytest.mark.parametrize("floor", [0.0, 0.9 * ONSET_THRESHOLD])
def test_leading_silence_trimmed_to_preroll(lead, floor):
    audio = hit(lead, floor)
    buf = prepare_oneshot(audio, RATE, RATE)
    pre = min(lead, PRE)
    assert buf.onset == pre
    s = buf.samples
    assert abs(s[buf.onset]) > ONSET_THRESHOLD
    assert np.all(np.abs(s[: buf.onset]) <= ONSET_THRESHOLD)
    # The transient and what follows are the input's samples, untouched up to the end fade.
    last = int(np.flatnonzero(np.abs(audio) > ONSET_THRESHOLD)[-1])
    assert len(s) == pre + last + 1 - lead  # the silent tail is dropped
    np.testing.assert_array_equal(s[pre:-TAIL], audio[lead : last + 1 - TAIL])
    np.testing.assert_array_equal(s[-TAIL:], audio[last + 1 - TAIL : last + 1] * end_fade(TAIL))
    # The pre-roll is the input's faded in from zero.
    fade = np.linspace(0.0, 1.0, pre, endpoint=False, dtype=np.float32)
    np.testing.assert_array_equal(s[:pre], audio[lead - pre : lead] * fade)


def test_transient_on_first_sample_has_no_preroll():
    audio = hit(0)
    buf = prepare_oneshot(audio, RATE, RATE)
    assert buf.onset == 0
    assert buf.samples[0] == np.float32(0.8)


def test_preroll_fade_in_has_no_step():
    # A floor just under the threshold: cut without a fade it would start on a step of ~1e-3.
    lead = 2000
    audio = np.concatenate([np.full(lead, 0.95 * ONSET_THRESHOLD), [0.5] * 1000, np.zeros(10)]).astype(np.float32)
    buf = prepare_oneshot(audio, RATE, RATE)
    s = buf.samples
    assert s[0] == 0.0
    steps = np.abs(np.diff(s[: buf.onset].astype(np.float64)))
    assert steps.max() <= 0.95 * ONSET_THRESHOLD / buf.onset + 1e-9


def test_resampling_44100_to_48000_gives_the_right_length_and_pitch():
    n = 44100
    t = np.arange(n) / 44100
    tone = (0.5 * np.cos(2 * np.pi * 1000.0 * t)).astype(np.float32)
    buf = prepare_oneshot(tone, 44100, 48000)
    assert buf.onset == 0
    assert len(buf.samples) == round(n * 48000 / 44100)
    spectrum = np.abs(np.fft.rfft(buf.samples[: 48000 // 2] * np.hanning(48000 // 2)))
    freqs = np.fft.rfftfreq(48000 // 2, 1 / 48000)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000.0, abs=2.0)


def test_max_seconds_cuts_and_fades_the_tail():
    audio = np.full(48000, 0.5, dtype=np.float32)
    buf = prepare_oneshot(audio, RATE, RATE, max_seconds=0.1, tail_fade_ms=10.0)
    s = buf.samples
    assert len(s) == int(0.1 * RATE)
    assert s[-1] == 0.0
    tail = round(10e-3 * RATE)
    np.testing.assert_allclose(s[-tail:], 0.5 * np.linspace(1.0, 0.0, tail + 1)[1:], atol=1e-6)
    np.testing.assert_array_equal(s[: -tail], np.float32(0.5))
    assert np.max(np.abs(np.diff(s.astype(np.float64)))) <= 0.5 / tail + 1e-6


def test_buffer_ending_loud_gets_a_fade_out():
    audio = np.full(9600, 0.5, dtype=np.float32)  # stops short of silence, well within max_seconds
    buf = prepare_oneshot(audio, RATE, RATE)
    s = buf.samples
    assert len(s) == 9600
    assert s[-1] == 0.0
    assert np.max(np.abs(np.diff(s.astype(np.float64)))) <= 0.5 / TAIL + 1e-6


def test_end_fade_touches_only_the_last_tail_fade_ms():
    """The tail is cut at the last sample above -60 dBFS; only the last 50 ms before it are faded."""
    audio = hit(100)
    buf = prepare_oneshot(audio, RATE, RATE)
    last = int(np.flatnonzero(np.abs(audio) > ONSET_THRESHOLD)[-1])
    assert buf.samples[-1] == 0.0
    np.testing.assert_array_equal(buf.samples[buf.onset : -TAIL], audio[100 : last + 1 - TAIL])


@pytest.mark.parametrize("lead", [0, 1000])
def test_a_single_sample_click_survives(lead):
    """An impulse is the shortest sound there is: its transient must not be faded away."""
    audio = np.zeros(lead + 2000, np.float32)
    audio[lead] = 0.8
    buf = prepare_oneshot(audio, RATE, RATE)
    assert buf.samples[buf.onset] == np.float32(0.8)
    assert buf.peak == pytest.approx(0.8)
    assert np.all(np.abs(buf.samples[: buf.onset]) <= ONSET_THRESHOLD)


def test_short_sound_fade_never_touches_the_transient():
    audio = np.zeros(3000, np.float32)
    audio[500:600] = 0.5  # 2 ms: shorter than the 50 ms end fade
    buf = prepare_oneshot(audio, RATE, RATE)
    assert buf.samples[buf.onset] == np.float32(0.5)
    assert len(buf.samples) == buf.onset + 100
    assert buf.samples[-1] == 0.0
    assert np.all(np.diff(buf.samples[buf.onset :]) <= 0.0)  # fades down from the transient


@pytest.mark.parametrize("rate", [RATE, 44100])
@pytest.mark.parametrize("kind", ["zeros", "below threshold", "nan", "inf"])
def test_silent_or_invalid_input_gives_a_silent_buffer(kind, rate):
    audio = {
        "zeros": np.zeros(4410, np.float32),
        "below threshold": np.full(4410, 0.5 * ONSET_THRESHOLD, np.float32),
        "nan": np.full(4410, np.nan, np.float32),
        "inf": np.full(4410, np.inf, np.float32),
    }[kind]
    buf = prepare_oneshot(audio, rate, RATE)
    assert np.all(buf.samples == 0.0)
    assert buf.peak == 0.0 and buf.onset == 0
    assert len(buf.samples) >= 1 and not buf.samples.flags.writeable


@pytest.mark.parametrize("rate", [RATE, 44100])
def test_one_nan_sample_counts_as_zero_and_leaves_the_rest(rate):
    audio = hit(300, frames=6000)
    broken = audio.copy()
    broken[1000] = np.nan
    zeroed = audio.copy()
    zeroed[1000] = 0.0
    got = prepare_oneshot(broken, rate, RATE)
    want = prepare_oneshot(zeroed, rate, RATE)
    assert np.all(np.isfinite(got.samples))
    np.testing.assert_array_equal(got.samples, want.samples)


def test_samples_are_read_only_and_do_not_alias_the_input():
    audio = hit(100)
    buf = prepare_oneshot(audio, RATE, RATE)
    assert not buf.samples.flags.writeable
    with pytest.raises(ValueError):
        buf.samples[0] = 1.0
    before = buf.samples.copy()
    audio[:] = 0.25  # a worker reuses its decode buffer for the next batch
    np.testing.assert_array_equal(buf.samples, before)


def test_envelope_and_peak():
    audio = hit(50, frames=3000)
    buf = prepare_oneshot(audio, RATE, RATE)
    s = np.abs(buf.samples)
    hops = -(-len(s) // ENVELOPE_HOP)
    assert len(buf.envelope) == hops
    for i in range(hops):
        assert buf.envelope[i] == s[i * ENVELOPE_HOP : (i + 1) * ENVELOPE_HOP].max()
    assert buf.peak == pytest.approx(float(s.max()))


def test_a_sound_cut_while_ringing_fades_over_50_ms():
    """A cymbal still 30 dB below its peak at the model's window (the shipped model has 20 such pads)."""
    t = np.arange(RATE) / RATE
    ringing = (0.8 * np.exp(-t * 3.45) * np.sin(2 * np.pi * 7000 * t)).astype(np.float32)  # -30 dB after 1 s
    buf = prepare_oneshot(ringing, RATE, RATE)
    level = lambda x: float(np.max(np.abs(x)))  # noqa: E731
    assert level(buf.samples[-64:]) < 0.8 * 10 ** (-60 / 20)  # ends decayed, whatever the cut left
    assert level(buf.samples[-TAIL - 480 : -TAIL]) > 0.8 * 10 ** (-32 / 20)  # ...by a 50 ms fade, not earlier
    np.testing.assert_array_equal(buf.samples[buf.onset : -TAIL], ringing[1 : len(buf.samples) - buf.onset - TAIL + 1])  # sample 0 is silent
    # 20 ms before the end the fade is 60% down (a 10 ms fade would not have begun).
    n = len(buf.samples) - buf.onset
    assert level(buf.samples[-960:-912]) < 0.45 * level(ringing[1 + n - 960 : 1 + n - 912])

