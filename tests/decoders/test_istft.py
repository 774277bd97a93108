"""The numpy inverse STFT against a forward STFT written here (centred, zero-padded, periodic Hann)."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.decoders.istft import InverseSTFT

from onnx_helpers import forward_stft, periodic_hann, reference_istft


def test_window_is_periodic_hann():
    istft = InverseSTFT(256, 64, 65, 4096, 1)
    np.testing.assert_allclose(istft.window, periodic_hann(256), rtol=0, atol=1e-7)
    assert istft.window[0] == 0.0 and istft.window[128] == pytest.approx(1.0)  # periodic: no zero at the end
    assert istft.window[-1] > 0.0


@pytest.mark.parametrize("n_fft, hop, length", [(256, 64, 4096 + 37), (256, 64, 4096), (2048, 512, 44100)])
def test_reconstructs_a_signal_from_its_stft(n_fft, hop, length):
    rng = np.random.default_rng(n_fft + length)
    batch = 3
    signals = rng.uniform(-1.0, 1.0, (batch, length))
    signals[1] *= np.exp(-np.arange(length) / 2000.0)  # a decaying one
    signals[2] = np.sin(2 * np.pi * 440.0 * np.arange(length) / 44100.0)  # a tone
    frames = 1 + length // hop
    spectra = np.stack([forward_stft(s, n_fft, hop) for s in signals])
    assert spectra.shape == (batch, n_fft // 2 + 1, frames)
    magnitude = np.abs(spectra).astype(np.float32)
    phase = np.angle(spectra).astype(np.float32)

    istft = InverseSTFT(n_fft, hop, frames, length, max_batch=8)  # used with fewer rows than it allows
    out = np.full((batch, length), np.nan, np.float32)
    istft(magnitude, phase, out)
    assert np.max(np.abs(out - signals)) < 1e-4
    # The first and last samples too (the edges of the window-square sum).
    assert np.max(np.abs(out[:, :hop] - signals[:, :hop])) < 1e-4
    assert np.max(np.abs(out[:, -hop:] - signals[:, -hop:])) < 1e-4


@pytest.mark.parametrize("n_fft, hop", [(256, 64), (2048, 512), (64, 32)])
def test_cos_sin_equals_exp_1j_phase(n_fft, hop):
    """On spectra no signal has (random magnitude and phase), the fast path equals the contract's formula."""
    rng = np.random.default_rng(n_fft)
    length = 16 * hop + 5
    frames = 1 + length // hop
    bins = n_fft // 2 + 1
    magnitude = rng.uniform(0.0, 2.0, (4, bins, frames)).astype(np.float32)
    phase = rng.uniform(-4.0, 4.0, (4, bins, frames)).astype(np.float32)  # outside (-pi, pi] too
    out = np.zeros((4, length), np.float32)
    InverseSTFT(n_fft, hop, frames, length, max_batch=4)(magnitude, phase, out)
    expected = reference_istft(magnitude, phase, n_fft, hop, length)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * np.max(np.abs(expected)))


def test_rows_are_independent_and_buffers_are_reused():
    n_fft, hop, length = 256, 64, 2048
    frames = 1 + length // hop
    rng = np.random.default_rng(0)
    magnitude = rng.uniform(0.0, 1.0, (5, n_fft // 2 + 1, frames)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, magnitude.shape).astype(np.float32)
    istft = InverseSTFT(n_fft, hop, frames, length, max_batch=5)
    together = np.zeros((5, length), np.float32)
    istft(magnitude, phase, together)
    for i in range(5):
        alone = np.zeros((1, length), np.float32)
        istft(magnitude[i : i + 1], phase[i : i + 1], alone)
        np.testing.assert_array_equal(alone[0], together[i])
    again = np.zeros((5, length), np.float32)
    istft(magnitude, phase, again)
    np.testing.assert_array_equal(again, together)
