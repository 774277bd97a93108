"""An encoder that checks its guess: a few gradient steps down the spectral distance, inside encoder.onnx.

    python -m liveengine.training.tail --checkpoint checkpoints/drums16.pt --out models_onnx/drums16 --name drums16 \
        --min-decay 140 --plane-from models_onnx/drums5 --descent 6

The trained encoder guesses a sound's point in one pass; on kits it never heard that guess lands some way from the
point whose decoded sound is nearest (a fit from it, liveengine/decoders/fit.py, comes much nearer). `Descent` follows
the encoder with `steps` steps of analysis by synthesis: decode the point, synthesise it (the contract's inverse STFT),
measure the distance to the sound, and move the point down its gradient. Nothing here is learnt.

The distance is the one the drum model trained on: the multi-resolution STFT distance of the two peak-normalised sounds
(spectral convergence plus log magnitude at 512, 1024 and 2048, as fit.py and the bench measure) plus `envelope` x the
mel-cepstral distance (model.CepstralDistance's). A fit on the STFT distance alone trades the spectral envelope away
(the bench's MCD rises as the fit's MR-STFT falls); with the envelope term both fall. Each step has length `rate`,
halved at every step, along the gradient's direction (normalised per sound, so a loud and a quiet sound move alike); a
silent sound has no nearest point and stays at the encoder's.

For export the STFTs are convolutions with a DFT basis and the inverse STFT a product with one plus an overlap-add,
computed in the graph from `arange`, so the exported graph (export_grad.export_with_gradients: autograd traced into
plain operators) needs no FFT operator and carries no basis as a constant; in torch (class_head.py, the tests) the
same sums run as FFTs, 20 to 40 times faster.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

from liveengine.training.model import CepstralDistance

RESOLUTIONS = (512, 1024, 2048)  # n_fft, hop n_fft / 4: fit.py's and the bench's
PEAK = 0.9  # both sounds peak-normalised before they are compared, as fit.py and the bench: the distance ignores level
EPS = 1e-5


def _basis(n_fft: int, bins: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi k n / n_fft, [bins, n_fft], computed (not stored)."""
    n = torch.arange(n_fft, dtype=dtype)
    k = torch.arange(bins, dtype=dtype)[:, None]
    angle = (2.0 * math.pi / n_fft) * torch.remainder(k * n, n_fft)
    return torch.cos(angle), torch.sin(angle)


def _hann(n_fft: int, dtype) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos((2.0 * math.pi / n_fft) * torch.arange(n_fft, dtype=dtype))


def stft_kernel(n_fft: int, dtype=torch.float32) -> torch.Tensor:
    """The windowed DFT basis [2 * bins, 1, n_fft] (real parts, then imaginary) that stft_magnitude convolves with."""
    cos, sin = _basis(n_fft, n_fft // 2 + 1, dtype)
    window = _hann(n_fft, dtype)
    return torch.cat([cos * window, -sin * window])[:, None, :]


def stft_magnitude(x: torch.Tensor, kernel: torch.Tensor | int) -> torch.Tensor:
    """|STFT| [batch, bins, frames] of `x` [batch, samples]: Hann window, hop n_fft / 4, centred on reflect padding (as
    the bench's and fit.py's). Given an FFT size, by torch.stft (fast: training); given stft_kernel's basis, as a
    convolution with it, the reflection written as flipped slices, whose gradients trace into plain operators (export)."""
    if isinstance(kernel, int):
        spec = torch.stft(x, kernel, kernel // 4, window=_hann(kernel, x.dtype), center=True, pad_mode="reflect", return_complex=True)
        return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-20)
    n_fft = kernel.shape[2]
    bins, pad = n_fft // 2 + 1, n_fft // 2
    padded = torch.cat([x[:, 1:pad + 1].flip(1), x, x[:, -pad - 1:-1].flip(1)], dim=1)
    spec = F.conv1d(padded[:, None, :], kernel, stride=n_fft // 4)
    re, im = spec[:, :bins], spec[:, bins:]
    return torch.sqrt(re * re + im * im + 1e-20)  # the bench's |X| to the last digit of silence; its gradient stays finite


class InverseSTFT(nn.Module):
    """The contract's inverse STFT (torch.istft with a Hann window, centred, hop n_fft / 4), written as a product with
    the inverse DFT and an overlap-add in four slices, so that it traces into plain operators."""

    def __init__(self, n_fft: int, hop: int, frames: int, length: int) -> None:
        super().__init__()
        if n_fft != 4 * hop:
            raise ValueError(f"the in-graph inverse STFT overlaps four frames: hop must be n_fft / 4; got {n_fft} and {hop}")
        self.n_fft, self.hop, self.frames, self.length = n_fft, hop, frames, length
        window = torch.hann_window(n_fft, dtype=torch.float64)
        total = (frames + 3) * hop
        envelope = torch.zeros(total, dtype=torch.float64)
        for t in range(frames):
            envelope[t * hop:t * hop + n_fft] += window * window
        start = n_fft // 2
        self.register_buffer("scale", (1.0 / envelope[start:start + length].clamp_min(1e-11)).float(), persistent=False)

    def basis(self, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse DFT's windowed rows [n_fft, bins] for the real and the imaginary parts (computed once per call
        of the caller, not per step)."""
        bins = self.n_fft // 2 + 1
        cos, sin = _basis(self.n_fft, bins, dtype)
        k = torch.arange(bins)[:, None]
        weight = torch.where((k == 0) | (k == bins - 1), 1.0 / self.n_fft, 2.0 / self.n_fft).to(dtype)  # edge bins have no mirror
        window = _hann(self.n_fft, dtype)[None, :]
        return ((cos * weight) * window).T, ((sin * weight) * window).T

    def forward(self, magnitude: torch.Tensor, phase: torch.Tensor, basis: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """With `basis` (self.basis()), in plain operators (export); without, by torch.istft (fast: training)."""
        if basis is None:
            return torch.istft(torch.polar(magnitude, phase), self.n_fft, self.hop, window=_hann(self.n_fft, magnitude.dtype),
                               center=True, length=self.length)
        hop = self.hop
        cos, sin = basis
        re, im = magnitude * torch.cos(phase), magnitude * torch.sin(phase)  # [batch, bins, frames]
        frames = torch.matmul(cos, re) - torch.matmul(sin, im)  # [batch, n_fft, frames]
        batch, _, count = frames.shape
        out = 0.0
        for j in range(4):  # each quarter of every frame lands j hops after the frame's start
            part = frames[:, j * hop:(j + 1) * hop, :].transpose(1, 2).reshape(batch, count * hop)
            out = out + F.pad(part, (j * hop, (3 - j) * hop))
        start = self.n_fft // 2
        return out[:, start:start + self.length] * self.scale


class SpectralDistance(nn.Module):
    """Per sound: the multi-resolution STFT distance of the two peak-normalised sounds plus `envelope` x the
    mel-cepstral distance (40 mel bands at 2048 / 512, c1..c12, natural units: model.CepstralDistance's).
    `prepare` reads the targets once; `kernels` are stft_kernel's for RESOLUTIONS, made once per call."""

    def __init__(self, sample_rate: int, envelope: float = 0.1) -> None:
        super().__init__()
        self.envelope = envelope
        cepstral = CepstralDistance(sample_rate)  # its bands and cepstral rows, at its 2048 / 512
        self.register_buffer("mel", cepstral.mel, persistent=False)
        self.register_buffer("dct", cepstral.dct, persistent=False)

    @staticmethod
    def kernels(dtype=torch.float32, dft: bool = False) -> dict[int, torch.Tensor | int]:
        """stft_magnitude's second argument for each resolution: the DFT basis for export, else the FFT size."""
        return {n_fft: stft_kernel(n_fft, dtype) if dft else n_fft for n_fft in RESOLUTIONS}

    @staticmethod
    def _peak(x: torch.Tensor) -> torch.Tensor:
        return x * (PEAK / x.abs().amax(dim=1, keepdim=True).clamp_min(1e-8))

    def prepare(self, target: torch.Tensor, kernels: dict[int, torch.Tensor]) -> dict:
        target = self._peak(target)
        prepared = {}
        for n_fft, kernel in kernels.items():
            t = stft_magnitude(target, kernel)
            prepared[n_fft] = (t, torch.linalg.vector_norm(t.flatten(1), dim=1) + 1e-7, torch.log(t + EPS))
        if self.envelope > 0:
            q = self.mel @ (prepared[2048][0] ** 2)  # [batch, bands, frames]
            floor = 1e-8 * q.amax(dim=(1, 2), keepdim=True)
            prepared["mel"] = (torch.log(q + floor), floor)
        return prepared

    def measure(self, pred: torch.Tensor, prepared: dict, kernels: dict[int, torch.Tensor]) -> torch.Tensor:
        pred = self._peak(pred)
        total = 0.0
        for n_fft, kernel in kernels.items():
            t, norm, log_t = prepared[n_fft]
            a = stft_magnitude(pred, kernel)
            sc = torch.linalg.vector_norm((a - t).flatten(1), dim=1) / norm
            total = total + (sc + (torch.log(a + EPS) - log_t).abs().mean(dim=(1, 2))) / len(kernels)
            if n_fft == 2048 and self.envelope > 0:
                log_q, floor = prepared["mel"]
                diff = torch.einsum("cm,bmf->bcf", self.dct, 0.5 * (torch.log(self.mel @ (a * a) + floor) - log_q))
                total = total + self.envelope * torch.sqrt(2.0 * (diff * diff).sum(dim=1) + 1e-8).mean(dim=1)
        return total

    def forward(self, pred: torch.Tensor, target: torch.Tensor, dft: bool = False) -> torch.Tensor:
        kernels = self.kernels(pred.dtype, dft)
        return self.measure(pred, self.prepare(target, kernels), kernels)


class Descent(nn.Module):
    """A trained encoder followed by `steps` steps down SpectralDistance through `decoder` (referenced, not registered:
    its weights are the model's). The mean moves; the log-variance stays the encoder's."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, cfg, steps: int, rate: float = 0.5, envelope: float = 0.1) -> None:
        super().__init__()
        if steps < 1 or rate <= 0:
            raise ValueError(f"descent needs 1 or more steps of a rate above 0; got {steps} steps of {rate}")
        self.inner = encoder
        object.__setattr__(self, "decoder", decoder)
        self.steps, self.rate, self.length = steps, rate, cfg.length
        self.synthesis = InverseSTFT(cfg.n_fft, cfg.hop, cfg.frames, cfg.length)
        self.distance = SpectralDistance(cfg.sample_rate, envelope)
        self.dft = False  # export.py sets it: the STFTs as DFT products, which trace into plain operators (FFTs do not)

    @property
    def features(self):
        return self.inner.features

    def descend(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        audible = (target.abs().amax(dim=1, keepdim=True) > 1e-6).to(z.dtype)  # silence has no nearest point: it stays
        kernels = self.distance.kernels(z.dtype, self.dft)  # once, not per step
        basis = self.synthesis.basis(z.dtype) if self.dft else None
        prepared = self.distance.prepare(target, kernels)
        for k in range(self.steps):
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                magnitude, phase = self.decoder(z)
                distance = self.distance.measure(self.synthesis(magnitude, phase, basis), prepared, kernels)
                (grad,) = torch.autograd.grad(distance.sum(), z)
            step = self.rate * 0.5 ** k * audible
            z = z.detach() - step * grad / (torch.linalg.vector_norm(grad, dim=1, keepdim=True) + 1e-8)
        return z

    def forward(self, audio: torch.Tensor):
        mean, logvar = self.inner(audio)
        return self.descend(mean.detach(), audio[:, :self.length].detach()), logvar


def add_options(parser: argparse.ArgumentParser) -> None:
    """`--descent` and `--descent-rate`, as tail.py (which exports the descent) and class_head.py (which learns a head
    at its points) both take them."""
    parser.add_argument("--descent", type=int, default=0,
                        help="steps down the spectral distance after the encoder, inside encoder.onnx (descent.py; default 0: none)")
    parser.add_argument("--descent-rate", type=float, default=0.5, help="the first descent step's length in z, halved at each step")


def check_options(args: argparse.Namespace) -> None:
    """SystemExit, in one sentence, for a step count or rate outside what is allowed."""
    if not 0 <= args.descent <= 16 or args.descent_rate <= 0:
        raise SystemExit(f"--descent must be 0 to 16 steps and --descent-rate above 0; got {args.descent} and {args.descent_rate:g}")


def descend_after(model: nn.Module, args: argparse.Namespace) -> None:
    """With `--descent N`, the model's encoder followed by N steps down the spectral distance through its decoder."""
    if args.descent:
        model.encoder = Descent(model.encoder, model.decoder, model.cfg, args.descent, args.descent_rate)
