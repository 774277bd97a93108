"""A deterministic drum-synth "decoder": the engine is playable and testable with no model.

Eight latent dimensions drive a small synthesiser (a pitched body with a sweep,
filtered noise, a click and two inharmonic partials), so neighbouring latent
points sound alike and the plane over z0/z1 runs from low thuds to bright ticks.
The same z always gives the same samples.
"""

from __future__ import annotations

import hashlib

import numpy as np

LATENT_DIM = 8
SAMPLE_RATE = 44100
OUTPUT_LENGTH = 44100
PREDELAY_SECONDS = 0.004  # a little silence before the hit, as real samples have


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class TestSynthDecoder:
    __test__ = False  # a decoder, not a test class (pytest collects classes named Test*)
    name = "testsynth"
    latent_dim = LATENT_DIM
    sample_rate = SAMPLE_RATE
    output_length = OUTPUT_LENGTH
    # numpy holds the GIL for a whole call on some operations (cumsum held it 3 ms for a
    # batch of 8 here), which delays the audio callback; one pad at a time keeps each under 0.6 ms.
    preferred_batch = 1

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed
        self.identity = hashlib.sha256(f"testsynth-v1-seed{seed}".encode()).hexdigest()[:16]
        # float32 throughout: numpy's float32 sin/exp are several times faster, and a pad
        # renders in about a millisecond, inside the on-demand deadline.
        t = np.arange(OUTPUT_LENGTH, dtype=np.float64) / SAMPLE_RATE
        self._t = np.maximum(t - PREDELAY_SECONDS, 0.0).astype(np.float32)
        self._gate = (t >= PREDELAY_SECONDS).astype(np.float32)
        rng = np.random.default_rng(seed)
        self._noise_spectrum = np.fft.rfft(rng.standard_normal(OUTPUT_LENGTH)).astype(np.complex64)
        self._freqs = np.fft.rfftfreq(OUTPUT_LENGTH, 1.0 / SAMPLE_RATE).astype(np.float32)

    def prepare(self, max_batch: int) -> None:
        self.decode_into(np.zeros((1, LATENT_DIM), np.float32), np.zeros((1, OUTPUT_LENGTH), np.float32))

    def reset(self) -> None:
        pass

    def decode_into(self, z: np.ndarray, out: np.ndarray) -> None:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != LATENT_DIM or out.shape != (z.shape[0], OUTPUT_LENGTH):
            raise ValueError(f"testsynth decodes z[batch, {LATENT_DIM}] into out[batch, {OUTPUT_LENGTH}]; got {z.shape} and {out.shape}")
        t, gate = self._t[None, :], self._gate[None, :]
        col = lambda i: z[:, i : i + 1]  # noqa: E731 - one latent dimension as a column
        f0 = np.clip(55.0 * 2.0 ** (1.6 * col(0)), 30.0, 900.0)
        sweep = 1.0 + 3.0 * _sigmoid(col(3)) * np.exp(-t / 0.012)
        phase = 2 * np.pi * np.cumsum(f0 * sweep, axis=1) / SAMPLE_RATE
        decay = 0.03 + 0.5 * _sigmoid(col(2) - 0.7 * col(1))
        body = np.sin(phase) * np.exp(-t / decay)
        # Noise brightness rises with z1: a spectral tilt applied in one FFT pass.
        cutoff = 300.0 * 2.0 ** (4.0 + 2.0 * np.tanh(col(1)) + 0.5 * col(4))
        shaped = self._noise_spectrum[None, :] / np.sqrt(1.0 + (self._freqs[None, :] / cutoff) ** 4)
        noise = np.fft.irfft(shaped, n=OUTPUT_LENGTH, axis=1)
        noise /= np.max(np.abs(noise), axis=1, keepdims=True) + 1e-9
        noise_decay = 0.02 + 0.25 * _sigmoid(col(1) - col(2))
        noise_mix = _sigmoid(1.5 * col(1))
        partials = np.sin(2 * np.pi * f0 * 3.73 * t) * _sigmoid(col(6)) + np.sin(2 * np.pi * f0 * 5.41 * t) * _sigmoid(col(7))
        click = np.exp(-t / 0.0015) * _sigmoid(col(5))
        audio = (1 - noise_mix) * body + noise_mix * noise * np.exp(-t / noise_decay) + 0.3 * partials * np.exp(-t / (0.5 * decay)) + 0.5 * click
        audio *= gate
        audio /= np.max(np.abs(audio), axis=1, keepdims=True) + 1e-9
        out[:] = 0.9 * audio
