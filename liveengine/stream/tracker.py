"""A causal pitch and loudness tracker (YIN on a window that ends at each hop's last sample).

The same tracker labels the training data and tracks a live input, so the model sees the same
kind of f0 and loudness in both.

Per hop (a frame, e.g. 5 ms):
- loudness_db: 10*log10 of the mean square of the last 2 hops (dB re full scale: a sine of
  amplitude 1 reads -3.0 dB), floored at -100 dB. Its window ends at the hop's last sample, so
  its group delay is one hop: `latency`, in samples. An onset shows in the first hop it enters.
- f0_hz and confidence: YIN (de Cheveigné and Kawahara 2002) on the last 2 * tau_max samples
  (tau_max = one period of f0_min): the cumulative mean normalised difference d'(tau), the first
  dip below 0.15 (else the global minimum) refined by a parabola. confidence = 1 - d'(tau),
  clipped to 0..1, and 0 when the window's level is below -70 dBFS or the window has not filled
  since `reset`. While confidence is below 0.5, f0_hz holds the last confident estimate (f0_min
  before any), so a model fed by it does not jump through noise. The pitch window's group delay
  is tau_max samples (`pitch_latency`): 20 ms for f0_min = 50 Hz; raise f0_min to shorten it.

No lookahead: a hop's values depend only on samples up to its last one. Not thread-safe.
"""

from __future__ import annotations

import numpy as np

YIN_THRESHOLD = 0.15
CONFIDENT = 0.5
SILENT_DB = -70.0
FLOOR_DB = -100.0


def _clamp(value: float, low: float, high: float) -> float:
    """np.clip for one number (NaN stays NaN), without its per-call cost: 3 of them were 17 of a hop's 130 us."""
    return min(max(float(value), low), high)


class CausalTracker:
    """push(audio) -> (f0_hz [n], loudness_db [n], confidence [n]) for each hop completed by the block."""

    def __init__(self, sample_rate: int, hop: int, f0_min_hz: float = 50.0, f0_max_hz: float = 2000.0) -> None:
        if not 0 < f0_min_hz < f0_max_hz < sample_rate / 2:
            raise ValueError(f"need 0 < f0_min_hz < f0_max_hz < sample_rate / 2, got {f0_min_hz}, {f0_max_hz} at {sample_rate} Hz")
        self.sample_rate = int(sample_rate)
        self.hop = int(hop)
        self.f0_min_hz = float(f0_min_hz)
        self.f0_max_hz = float(f0_max_hz)
        self.tau_min = max(2, int(np.floor(sample_rate / f0_max_hz)))
        self.tau_max = int(np.ceil(sample_rate / f0_min_hz))
        self.window = 2 * self.tau_max  # YIN: integration window tau_max over lags up to tau_max
        self.loud_window = 2 * self.hop
        self.latency = self.hop
        self.pitch_latency = self.tau_max
        self._keep = max(self.window, self.loud_window)
        # r(tau) needs frame[j + tau] for j < tau_max, tau <= tau_max: indices below the window, so an FFT as long as the
        # window correlates without wrapping round (half the length window + tau_max would take)
        self._fft = 1 << int(np.ceil(np.log2(self.window)))
        self._lags = np.arange(self.tau_max + 1)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(self._keep, dtype=np.float64)
        self._pending = np.zeros(0, dtype=np.float64)
        self._filled = 0  # samples seen since reset, up to the window
        self._f0 = self.f0_min_hz

    def push(self, audio: np.ndarray):
        x = np.asarray(audio, dtype=np.float64).reshape(-1)
        data = np.concatenate((self._pending, x))
        n = len(data) // self.hop
        f0 = np.empty(n, dtype=np.float32)
        loud = np.empty(n, dtype=np.float32)
        conf = np.empty(n, dtype=np.float32)
        for i in range(n):
            f0[i], loud[i], conf[i] = self.step(data[i * self.hop:(i + 1) * self.hop])
        self._pending = data[n * self.hop:].copy()
        return f0, loud, conf

    def step(self, hop_samples: np.ndarray) -> tuple[float, float, float]:
        """One frame: exactly `hop` new samples -> (f0_hz, loudness_db, confidence). For a caller that frames the
        input itself (the producer, which starts a frame at an onset); do not mix with `push`'s pending samples."""
        self.absorb(hop_samples)
        return self._analyse(self._buf)

    def absorb(self, samples: np.ndarray) -> None:
        """Samples that no frame covers (the producer's gap before an onset): into the analysis window, no values."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        n = len(x)
        if n >= self._keep:
            self._buf = x[-self._keep:].copy()
        elif n:
            self._buf = np.concatenate((self._buf[n:], x))
        self._filled = min(self._filled + n, self._keep)

    def _analyse(self, buf: np.ndarray):
        recent = buf[-self.loud_window:]
        mean_square = float(np.dot(recent, recent)) / len(recent)
        loud = max(FLOOR_DB, 10.0 * np.log10(mean_square + 1e-12))
        frame = buf[-self.window:]
        level = 10.0 * np.log10(float(np.dot(frame, frame)) / len(frame) + 1e-12)
        if self._filled < self.window or level < SILENT_DB:
            return self._f0, loud, 0.0
        tau, dip = self._yin(frame)
        confidence = _clamp(1.0 - dip, 0.0, 1.0)
        if confidence >= CONFIDENT:
            self._f0 = _clamp(self.sample_rate / tau, self.f0_min_hz, self.f0_max_hz)
        return self._f0, loud, confidence

    def _yin(self, frame: np.ndarray) -> tuple[float, float]:
        """(period in samples, refined; d' at it) for a frame of 2 * tau_max samples."""
        w = self.tau_max
        head = frame[:w]
        # r(tau) = sum_j head[j] * frame[j + tau] for tau = 0..tau_max, by FFT
        spec = np.fft.rfft(frame, self._fft) * np.conj(np.fft.rfft(head, self._fft))
        r = np.fft.irfft(spec, self._fft)[: w + 1]
        sq = np.concatenate(([0.0], np.cumsum(frame * frame)))
        energy_head = sq[w]
        energy_shifted = sq[self._lags + w] - sq[self._lags]  # sum of frame[tau : tau + w]^2
        d = np.maximum(energy_head + energy_shifted - 2.0 * r, 0.0)
        cum = np.cumsum(d[1:])
        dn = np.ones(w + 1)
        dn[1:] = d[1:] * self._lags[1:] / np.maximum(cum, 1e-12)
        search = dn[self.tau_min: w + 1]
        below = np.flatnonzero(search < YIN_THRESHOLD)
        if len(below):
            k = below[0]
            while k + 1 < len(search) and search[k + 1] < search[k]:
                k += 1
        else:
            k = int(np.argmin(search))
        tau = k + self.tau_min
        if 1 <= tau < w:
            a, b, c = dn[tau - 1], dn[tau], dn[tau + 1]
            denom = a - 2 * b + c
            shift = 0.5 * (a - c) / denom if denom > 0 else 0.0
            return tau + _clamp(float(shift), -0.5, 0.5), float(dn[tau])
        return float(tau), float(dn[tau])
