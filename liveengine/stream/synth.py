"""Harmonic-plus-filtered-noise synthesis (DDSP's synthesiser) in numpy, frame by frame.

A stream model outputs, per frame, an amplitude, the relative weights of H harmonics of f0 and
the magnitude of B noise bands. This module turns those controls into audio at any sample
rate: the controls are in Hz and linear units, so a model trained at 24 kHz plays at the
server's 48 kHz.

Contract (both the producer process and the training mirror, liveengine/training/stream_synth.py,
follow it sample for sample):

- Frame t covers samples [t*hop, (t+1)*hop). Every control is interpolated linearly across the
  frame from the previous frame's value (reached at the frame's last sample): sample i of the
  frame (0..hop-1) takes prev + (cur - prev) * (i + 1) / hop. After `reset` the previous
  amplitude and noise are zero (the first frame fades in, no click) and the previous f0 is the
  first frame's f0; after `jump` every previous control is the next frame's own (no glide).
- Harmonic k (1..H) sounds at k * f0 with weight harmonics[k-1]; harmonics at or above Nyquist
  are silenced and the remaining weights normalised to sum to 1, then scaled by amplitude, so
  `amplitude` is the peak the harmonic part can reach.
- The phase of f0 is accumulated in float64 across calls: a call of T frames equals T calls of
  one frame (within 1e-5; tests/stream/test_synth.py).
- Noise: each band is read from a precomputed table of band-limited white noise (one white
  noise of unit variance, split by FFT into the bands, so all bands at magnitude 1 sum to that
  white noise). Reading B tables costs B multiply-adds per sample, far less than filtering or
  frequency-domain shaping with overlap-add, which would also add a frame of latency. The
  tables are cyclic (2**17 samples, 2.7 s at 48 kHz); noise in these voices is breath and bow
  texture under the harmonics, where that period is not heard.

No checks on the audio path: a NaN control gives NaN samples and stays in the carried state until
`reset` (the producer checks the model's outputs and resets both). Not thread-safe: one synth per
producer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NOISE_TABLE_LENGTH = 1 << 17


def noise_tables(sample_rate: int, band_edges_hz: Sequence[float], seed: int = 0, length: int = NOISE_TABLE_LENGTH) -> np.ndarray:
    """[B, length] float32 cyclic band-limited noise: one white Gaussian noise of unit variance split
    into the bands [edge_b, edge_b+1) by zeroing FFT bins (bins above the last edge or at and above
    Nyquist are dropped)."""
    edges = np.asarray(band_edges_hz, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise ValueError(f"band_edges_hz must be at least 2 increasing frequencies from 0 Hz up, got {list(edges)}")
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(length)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    tables = np.zeros((len(edges) - 1, length), dtype=np.float32)
    for b in range(len(edges) - 1):
        keep = (freqs >= edges[b]) & (freqs < edges[b + 1]) & (freqs < sample_rate / 2)
        if keep.any():
            tables[b] = np.fft.irfft(np.where(keep, spectrum, 0), n=length)
    return tables


class HarmonicNoiseSynth:
    """Renders frames of (f0, amplitude, harmonics, noise) controls to audio, phase-continuous across calls."""

    def __init__(self, sample_rate: int, hop: int, n_harmonics: int, band_edges_hz: Sequence[float], seed: int = 0) -> None:
        if sample_rate <= 0 or hop <= 0 or n_harmonics <= 0:
            raise ValueError(f"sample_rate, hop and n_harmonics must be positive, got {sample_rate}, {hop}, {n_harmonics}")
        self.sample_rate = int(sample_rate)
        self.hop = int(hop)
        self.n_harmonics = int(n_harmonics)
        self.band_edges_hz = tuple(float(e) for e in band_edges_hz)
        self.n_bands = len(self.band_edges_hz) - 1
        self._tables = np.ascontiguousarray(noise_tables(self.sample_rate, self.band_edges_hz, seed).T)  # [length, B]
        self._orders = np.arange(1, self.n_harmonics + 1, dtype=np.float64)
        self._ramp = np.arange(1, self.hop + 1, dtype=np.float64) / self.hop  # [hop]: (i + 1) / hop
        self._ramp32 = self._ramp.astype(np.float32)
        self.reset()

    def reset(self) -> None:
        """Phase, noise position and the previous frame's controls back to the start."""
        self._phase = 0.0  # cycles of f0, in [0, 1)
        self._noise_pos = 0
        self._prev_f0: float | None = None
        self._prev_harm = np.zeros(self.n_harmonics)  # amplitude * normalised weights
        self._prev_noise = np.zeros(self.n_bands)

    def jump(self) -> None:
        """The next frame starts at its own controls instead of gliding from the last frame's (the producer's onset
        after silence: a glide up from silent controls would blur the attack over a whole frame). Phase carries on."""
        self._prev_f0 = None
        self._prev_harm = None
        self._prev_noise = None

    def continuation(self, n: int) -> np.ndarray:
        """float32 [n]: the samples that would follow the last frame with its controls held, without moving the synth
        on (its phase, noise position and controls stay): what the stream voice plays through when the next frame is
        late (rt/stream.py). Silence before the first frame, after `reset` and after `jump`."""
        if self._prev_f0 is None or self._prev_harm is None or self._prev_noise is None:
            return np.zeros(n, np.float32)
        cycles = (self._phase + np.arange(1, n + 1) * (self._prev_f0 / self.sample_rate))[:, None] * self._orders[None, :]
        cycles -= np.floor(cycles)
        out = np.sin((2.0 * np.pi) * cycles.astype(np.float32)) @ self._prev_harm.astype(np.float32)
        rows = (self._noise_pos + np.arange(n)) % self._tables.shape[0]
        out += self._tables[rows] @ self._prev_noise.astype(np.float32)
        return out.astype(np.float32, copy=False)

    def render(self, f0_hz, amplitude, harmonics, noise) -> np.ndarray:
        """f0_hz [T], amplitude [T], harmonics [T, H], noise [T, B] -> float32 [T * hop]."""
        f0 = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
        amp = np.asarray(amplitude, dtype=np.float64).reshape(-1)
        t = len(f0)
        harm = np.asarray(harmonics, dtype=np.float64).reshape(t, self.n_harmonics)
        nz = np.asarray(noise, dtype=np.float64).reshape(t, self.n_bands)
        if t == 0:
            return np.zeros(0, dtype=np.float32)
        hop = self.hop
        ramp = self._ramp

        # f0 per sample, then the phase of f0 per sample (cycles), continuing the last call's.
        prev_f0 = f0[0] if self._prev_f0 is None else self._prev_f0
        f0_prev = np.concatenate(([prev_f0], f0[:-1]))
        f0_samples = (f0_prev[:, None] + (f0 - f0_prev)[:, None] * ramp[None, :]).reshape(-1)
        phase = self._phase + np.cumsum(f0_samples / self.sample_rate)
        self._phase = float(phase[-1] % 1.0)
        phase %= 1.0

        # Harmonic weights: silence those at or above Nyquist, normalise, scale by amplitude.
        weights = np.maximum(harm, 0.0) * (f0[:, None] * self._orders[None, :] < self.sample_rate / 2)
        total = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0) * amp[:, None]
        w_prev = np.concatenate((weights[:1] if self._prev_harm is None else self._prev_harm[None, :], weights[:-1]))

        # sin(k * theta) for k = 1..H: the phase of each harmonic in cycles (float64, wrapped into [0, 1) so float32 keeps
        # it to 1e-7 of a cycle), its sine in float32 (vectorised; half the memory of float64)
        cycles = phase[:, None] * self._orders[None, :]
        cycles -= np.floor(cycles)
        sines = np.sin((2.0 * np.pi) * cycles.astype(np.float32)).reshape(t, hop, self.n_harmonics)
        # sum_k (prev_k + (cur_k - prev_k) * ramp_i) * sin_ik, frame by frame: one product with [prev, cur - prev]
        both = np.stack((w_prev, weights - w_prev), axis=2).astype(np.float32)  # [t, H, 2]
        parts = np.matmul(sines, both)  # [t, hop, 2]
        out = parts[:, :, 0] + parts[:, :, 1] * self._ramp32[None, :]

        # Noise bands from the cyclic tables ([length, B], so a frame's rows are contiguous), magnitudes interpolated the same way.
        nz = np.maximum(nz, 0.0)
        n_prev = np.concatenate((nz[:1] if self._prev_noise is None else self._prev_noise[None, :], nz[:-1]))
        n = t * hop
        length = self._tables.shape[0]
        pos = self._noise_pos
        if pos + n <= length:
            bands = self._tables[pos : pos + n]
        else:
            bands = self._tables[(pos + np.arange(n)) % length]
        both = np.stack((n_prev, nz - n_prev), axis=2).astype(np.float32)  # [t, B, 2]
        parts = np.matmul(bands.reshape(t, hop, self.n_bands), both)
        out += parts[:, :, 0] + parts[:, :, 1] * self._ramp32[None, :]
        self._noise_pos = int((pos + n) % length)

        self._prev_f0 = float(f0[-1])
        self._prev_harm = weights[-1].copy()
        self._prev_noise = nz[-1].copy()
        return out.reshape(-1).astype(np.float32)
