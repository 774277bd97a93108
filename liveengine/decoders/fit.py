"""Fit a latent point to a sound: analysis by synthesis on top of the encoder.

The encoder guesses z in one pass, but on kits unlike its training kits it lands some way from
the point whose decoded sound is nearest. `fit` starts at the encoder's mean and walks z down the
multi-resolution spectral distance between the decoded sound and the sound itself (Adam on z,
the decoder frozen): the same distance the drum model trained on and bench/model_quality.py
measures, plus a tether: TETHER x the squared distance from the encoder's mean. The encoder knows
what kind of sound it heard; the distance alone also rewards matching a recording's room and bleed,
and walked held-out closed hats to points the classifier and an independent ear both hear as
percussion or open hats (bench/encode_vs_fit.py --tethers). The gradient is numpy from the distance
back to the decoder's magnitude and phase (`SpectralDistance`, `synthesis_adjoint`), then the model's `decoder_grad.onnx` (its
vector-Jacobian product, docs/model-contract.md) from there to z. No autograd at play time.

Any thread but the audio thread: a fit decodes a batch every step.
"""

from __future__ import annotations

import numpy as np

from liveengine.decoders.istft import InverseSTFT

RESOLUTIONS = (512, 1024, 2048)  # n_fft, hop n_fft / 4
EPS = 1e-5  # inside the log-magnitude term, as the training loss and the bench
PEAK = 0.9  # both signals are peak-normalised before they are compared: the distance ignores level
STEPS = 30
LEARNING_RATE = 0.1
TETHER = 0.03  # weight of |z - encoder mean|^2 in the fit's objective: chosen on training sounds re-recorded (bench/encode_vs_fit.py)


def _windows(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1]


class SpectralDistance:
    """Per-row multi-resolution STFT distance of peak-normalised signals to fixed targets.

    For each resolution: spectral convergence ||A - T|| / ||T|| plus the mean |log(A + eps) - log(T + eps)|,
    A and T the magnitudes of the centred (reflect-padded) Hann STFTs; the distance is their mean over
    the resolutions. `value_and_grad` also gives the gradient with respect to the (un-normalised) signals.
    float32 by default: a fit needs the direction, and it halves the time of every step (float64 checks the algebra).
    """

    def __init__(self, targets: np.ndarray, resolutions: tuple[int, ...] = RESOLUTIONS, dtype=np.float32) -> None:
        self.dtype = np.dtype(dtype)
        targets = np.asarray(targets, self.dtype)
        self.length = targets.shape[1]
        if self.length <= max(resolutions) // 2 + 1:
            raise ValueError(f"spectral distance needs sounds longer than {max(resolutions) // 2 + 1} samples; got {self.length}")
        self.resolutions = resolutions
        self.windows = {n: _windows(n).astype(self.dtype) for n in resolutions}
        normalised, _, _ = self._normalise(targets)
        self.targets = {n: np.abs(self._stft(normalised, n)) for n in resolutions}
        self.log_targets = {n: np.log(t + EPS) for n, t in self.targets.items()}
        self.target_norms = {n: np.linalg.norm(t.reshape(len(t), -1), axis=1) + 1e-7 for n, t in self.targets.items()}

    @staticmethod
    def _normalise(x: np.ndarray):
        peak_at = np.argmax(np.abs(x), axis=1)
        peak = np.abs(x[np.arange(len(x)), peak_at])
        scale = (PEAK / np.maximum(peak, 1e-8)).astype(x.dtype)
        return x * scale[:, None], scale, peak_at

    def _stft(self, x: np.ndarray, n_fft: int) -> np.ndarray:
        hop, pad = n_fft // 4, n_fft // 2
        padded = np.pad(x, ((0, 0), (pad, pad)), mode="reflect")
        frames = 1 + self.length // hop
        view = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop][:, :frames]
        return np.fft.rfft(view * self.windows[n_fft], axis=-1)  # [rows, frames, bins]

    def _stft_adjoint(self, grad: np.ndarray, n_fft: int) -> np.ndarray:
        """The gradient with respect to the signal, given that with respect to the STFT's real and imaginary
        parts (as one complex array): the transpose of window, framing and reflect padding, and of the rfft."""
        hop, pad = n_fft // 4, n_fft // 2
        rows, frames, _ = grad.shape
        grad[..., 1:-1] *= 0.5  # irfft counts the inner bins twice (their mirror images)
        time = np.fft.irfft(grad, n=n_fft, axis=-1)
        time *= self.windows[n_fft] * n_fft  # [rows, frames, n_fft]
        padded = np.zeros((rows, (frames + n_fft // hop) * hop), self.dtype)
        for k in range(n_fft // hop):  # overlap-add, one pass per hop-sized slice of the frame
            padded[:, k * hop:(k + frames) * hop].reshape(rows, frames, hop)[:] += time[:, :, k * hop:(k + 1) * hop]
        signal = padded[:, pad:pad + self.length].copy()
        signal[:, 1:pad + 1] += padded[:, :pad][:, ::-1]  # the reflected head: padded[j] = x[pad - j]
        tail = padded[:, pad + self.length:pad + self.length + pad]  # padded[pad + L + i] = x[L - 2 - i]
        signal[:, self.length - 1 - pad:self.length - 1] += tail[:, ::-1]
        return signal

    def value_and_grad(self, signals: np.ndarray, rows: np.ndarray | None = None, grad: bool = True):
        """Distances [n] of `signals` [n, length] to the targets `rows` (all when None), and their gradient
        [n, length] with respect to the signals (None when `grad` is False)."""
        signals = np.asarray(signals, self.dtype)
        rows = np.arange(len(signals)) if rows is None else np.asarray(rows)
        x, scale, peak_at = self._normalise(signals)
        value = np.zeros(len(x), self.dtype)
        gx = np.zeros_like(x) if grad else None
        count = len(self.resolutions)
        for n_fft in self.resolutions:
            spec = self._stft(x, n_fft)
            a = np.abs(spec)
            diff = a - self.targets[n_fft][rows]
            diff_norm = np.linalg.norm(diff.reshape(len(a), -1), axis=1) + 1e-12
            target_norm = self.target_norms[n_fft][rows]
            log_diff = np.log(a + EPS)
            log_diff -= self.log_targets[n_fft][rows]
            value += (diff_norm / target_norm + np.mean(np.abs(log_diff).reshape(len(a), -1), axis=1)) / count
            if grad:
                # d/dA of both terms, then d|X|/dX = X / |X| (0 where X is 0)
                ga = np.sign(log_diff, out=log_diff)
                ga *= self.dtype.type(1.0 / (a[0].size * count))
                ga /= a + EPS
                diff *= (1.0 / (diff_norm * target_norm * count)).astype(self.dtype)[:, None, None]
                ga += diff
                np.divide(ga, a, out=ga, where=a > 0)
                ga[a == 0] = 0
                spec *= ga
                gx += self._stft_adjoint(spec, n_fft)
        if not grad:
            return value, None
        # Through the peak normalisation x = s * PEAK / |s[k]| (k the peak's index, held fixed).
        index = np.arange(len(x))
        peak_value = signals[index, peak_at]
        inner = np.sum(gx * signals, axis=1)
        gs = gx * scale[:, None]
        gs[index, peak_at] -= scale * inner / np.where(peak_value == 0, 1.0, peak_value)
        return value, gs


def synthesis_adjoint(istft: InverseSTFT, magnitude: np.ndarray, phase: np.ndarray, audio_grad: np.ndarray):
    """The gradient with respect to the decoder's magnitude and phase, given that with respect to the audio
    `istft(magnitude, phase)` wrote: the transpose of its overlap-add and irfft, then the polar form."""
    n_fft, hop, frames = istft.n_fft, istft.hop, istft.frames
    rows = len(audio_grad)
    padded = (frames - 1) * hop + n_fft
    signal = np.zeros((rows, padded + n_fft), np.float32)
    start = n_fft // 2
    signal[:, start:start + istft.length] = audio_grad
    signal[:, :padded] *= istft._inverse_norm
    time = np.zeros((rows, n_fft, frames), np.float32)
    for k in range(istft.overlap):
        time[:, k * hop:(k + 1) * hop, :] = signal[:, k * hop:k * hop + frames * hop].reshape(rows, frames, hop).transpose(0, 2, 1)
    time *= istft.window[None, :, None]
    spec = np.fft.rfft(time, axis=1)  # the irfft's transpose (1 / n_fft, inner bins twice)
    spec *= np.float32(1.0 / n_fft)
    spec[:, 1:-1] *= np.float32(2.0)
    cos, sin = np.cos(phase), np.sin(phase)
    magnitude_grad = spec.real * cos + spec.imag * sin  # real = m cos(p), imaginary = m sin(p)
    phase_grad = magnitude * (spec.imag * cos - spec.real * sin)
    return magnitude_grad.astype(np.float32), phase_grad.astype(np.float32)


class Adam:
    """Adam on a batch of latent points (one state per row)."""

    def __init__(self, shape: tuple[int, ...], rate: float) -> None:
        self.rate, self.step = rate, 0
        self.m, self.v = np.zeros(shape), np.zeros(shape)

    def __call__(self, z: np.ndarray, grad: np.ndarray) -> np.ndarray:
        self.step += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad * grad
        m_hat, v_hat = self.m / (1 - 0.9 ** self.step), self.v / (1 - 0.999 ** self.step)
        return z - self.rate * m_hat / (np.sqrt(v_hat) + 1e-8)


def fit_points(decode_stft, decoder_grad, istft: InverseSTFT, targets: np.ndarray, start: np.ndarray,
               steps: int = STEPS, rate: float = LEARNING_RATE, compared: int | None = None,
               tether: float = TETHER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit latent points to `targets` [n, length] from `start` [n, latent_dim] (one batch), comparing the first
    `compared` samples (all by default; a model's liveengine.fit_length: the window its decoder learnt, where a tail
    that follows from it comes after). The objective is the spectral distance plus `tether` x |z - start|^2.

    decode_stft(z) -> (magnitude, phase, audio) is the decoder before any normalisation;
    decoder_grad(z, magnitude_grad, phase_grad) -> z_grad its vector-Jacobian product.
    Returns the point of each row with the lowest objective over the walk (the start included, whose tether is 0,
    so a fit never moves a sound further away) and the spectral distances at the start and at that point.
    """
    compared = targets.shape[1] if compared is None else compared
    distance = SpectralDistance(targets[:, :compared])
    anchor = np.asarray(start, np.float64)
    z = anchor.copy()
    best = z.copy()
    adam = Adam(z.shape, rate)
    first = best_distance = best_objective = None
    for step in range(steps + 1):
        magnitude, phase, audio = decode_stft(z.astype(np.float32))
        value, audio_grad = distance.value_and_grad(audio[:, :compared], grad=step < steps)
        objective = value + tether * np.sum((z - anchor) ** 2, axis=1)
        if first is None:
            first, best_distance, best_objective = value.copy(), value.copy(), objective
        better = objective < best_objective
        best[better], best_distance[better], best_objective[better] = z[better], value[better], objective[better]
        if step == steps:
            break
        if compared < audio.shape[1]:  # the samples after `compared` do not count
            audio_grad = np.pad(audio_grad, ((0, 0), (0, audio.shape[1] - compared)))
        magnitude_grad, phase_grad = synthesis_adjoint(istft, magnitude, phase, audio_grad)
        z = adam(z, decoder_grad(z.astype(np.float32), magnitude_grad, phase_grad).astype(np.float64) + 2.0 * tether * (z - anchor))
    return best.astype(np.float32), first, best_distance
