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

For export the STFTs and the inverse STFT are factorised DFTs (Cooley-Tukey in one split: matrix products with bases
computed in the graph from `arange`) with frames cut and overlapped in four hop-long slices, so the exported graph
(export_grad.export_with_gradients: autograd traced into plain operators) needs no FFT operator and carries no basis as
a constant; their bins come in the factorised order, which the distances do not care about (the mel bands are
reordered to match), so no spectrum is transposed. In torch (class_head.py, the tests) the same sums run as FFTs.
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


def _basis(rows: int, cols: int, n: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi r c / n for r < rows, c < cols, [rows, cols], computed (not stored)."""
    r = torch.arange(rows, dtype=dtype)[:, None]
    c = torch.arange(cols, dtype=dtype)[None, :]
    angle = (2.0 * math.pi / n) * torch.remainder(r * c, n)
    return torch.cos(angle), torch.sin(angle)


def _hann(n_fft: int, dtype) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos((2.0 * math.pi / n_fft) * torch.arange(n_fft, dtype=dtype))


def _factors(n: int) -> tuple[int, int]:
    """n = n1 * n2, n1 the largest even divisor at most sqrt(n): the two short DFTs a length-n one is split into."""
    if n % 2:
        raise ValueError(f"the factorised DFT needs an even length; got {n}")
    n1 = max(d for d in range(2, math.isqrt(n) + 1, 2) if n % d == 0)
    return n1, n // n1


def rdft_basis(n_fft: int, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
    """What rdft needs for a length `n_fft` = n1 x n2: the length-n2 DFT, the twiddles, the first half of the length-n1
    DFT (each as cos and sin) and the alternating row of the Nyquist bin. Cooley-Tukey in one split: about
    2 n (n1 + n2) products a frame instead of n^2 (12 times fewer at 2048)."""
    n1, n2 = _factors(n_fft)
    alternating = 1.0 - 2.0 * torch.remainder(torch.arange(n_fft, dtype=dtype), 2.0)
    return (*_basis(n2, n2, n2, dtype), *_basis(n2, n1, n_fft, dtype), *_basis(n1, n1 // 2, n1, dtype), alternating[:, None])


def rdft_order(n_fft: int) -> torch.Tensor:
    """The bin at each place of rdft's output: k2 + n2 k1 at place k2 (n1 / 2) + k1, then the Nyquist bin n / 2."""
    n1, n2 = _factors(n_fft)
    k2, k1 = torch.meshgrid(torch.arange(n2), torch.arange(n1 // 2), indexing="ij")
    return torch.cat([(k2 + n2 * k1).flatten(), torch.tensor([n_fft // 2])])


def rdft(frames: torch.Tensor, basis: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The DFT of real `frames` [..., n] at bins 0..n/2, (real, imaginary) [..., n / 2 + 1], in rdft_order's order (which
    the distances do not care about and spares transposing): matrix products only, so gradients trace into plain
    operators."""
    c2, s2, ct, st, c1, s1, alternating = basis
    n2, n1 = ct.shape
    lead = frames.shape[:-1]
    x = frames.reshape(*lead, n2, n1)  # sample n2 * n1 + j at [n2, j]
    y_re, y_im = torch.matmul(c2, x), -torch.matmul(s2, x)  # over n2: [..., k2, j]
    z_re, z_im = y_re * ct + y_im * st, y_im * ct - y_re * st  # twiddled by e^(-2 pi i k2 j / n)
    x_re = torch.matmul(z_re, c1) + torch.matmul(z_im, s1)  # over j: [..., k2, k1], k1 < n1 / 2
    x_im = torch.matmul(z_im, c1) - torch.matmul(z_re, s1)
    nyquist = torch.matmul(frames, alternating)
    return torch.cat([x_re.reshape(*lead, -1), nyquist], -1), torch.cat([x_im.reshape(*lead, -1), nyquist * 0.0], -1)


def irdft_basis(n_fft: int, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
    """What irdft needs: the rows k2 <= n2 / 2 of the length-n2 inverse DFT, the twiddles [n1, n2] and the length-n1
    inverse DFT, as cos and sin."""
    n1, n2 = _factors(n_fft)
    c2, s2 = _basis(n2 // 2 + 1, n2, n2, dtype)
    return (c2, s2, *_basis(n1, n2, n_fft, dtype), *_basis(n1, n1, n1, dtype))


def irdft(re: torch.Tensor, im: torch.Tensor, basis: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """For `re` and `im` [batch, n / 2 + 1, frames] (bins in order; weights folded in by the caller): each frame's
    sum over bins k of re_k cos(2 pi k t / n) - im_k sin(2 pi k t / n), [batch, frames, n]. The inverse of rdft, in
    matrix products and one transpose of the bins (not of the longer frames)."""
    c2, s2, ct, st, c1, s1 = basis
    n1, n2 = ct.shape
    half = n2 // 2 + 1  # rows of the split that hold bins up to n / 2
    batch, bins, count = re.shape
    pad = half * n1 - bins

    def split(part):  # bin k2 * n1 + k1 at [batch, frames, k1, k2]
        return F.pad(part, (0, 0, 0, pad)).reshape(batch, half, n1, count).permute(0, 3, 2, 1)

    g_re, g_im = split(re), split(im)
    h_re = torch.matmul(g_re, c2) - torch.matmul(g_im, s2)  # over k2: [batch, frames, k1, t2]
    h_im = torch.matmul(g_re, s2) + torch.matmul(g_im, c2)
    p_re, p_im = h_re * ct - h_im * st, h_re * st + h_im * ct  # twiddled by e^(2 pi i k1 t2 / n)
    x = torch.matmul(c1, p_re) - torch.matmul(s1, p_im)  # over k1, the real part: [batch, frames, t1, t2]
    return x.reshape(batch, count, n1 * n2)  # sample t1 * n2 + t2


def stft_magnitude(x: torch.Tensor, kernel: tuple[torch.Tensor, ...] | int) -> torch.Tensor:
    """|STFT| [batch, frames, bins] of `x` [batch, samples]: Hann window, hop n_fft / 4, centred on reflect padding (as
    the bench's and fit.py's). Given an FFT size, by torch.stft, bins in order (fast: training); given rdft_basis's
    matrices, as frames cut in four hop-long slices and a factorised DFT, bins in rdft_order's order, the reflection
    written as flipped slices: all of it traces into plain operators, gradients included (export)."""
    if isinstance(kernel, int):
        spec = torch.stft(x, kernel, kernel // 4, window=_hann(kernel, x.dtype), center=True, pad_mode="reflect", return_complex=True)
        return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-20).transpose(1, 2)
    n_fft = kernel[-1].shape[0]  # the Nyquist bin's alternating column, one row a sample
    hop, pad = n_fft // 4, n_fft // 2
    count = 1 + x.shape[1] // hop
    padded = torch.cat([x[:, 1:pad + 1].flip(1), x, x[:, -pad - 1:-1].flip(1)], dim=1)
    blocks = padded[:, :(count + 3) * hop].reshape(x.shape[0], count + 3, hop)
    frames = torch.cat([blocks[:, j:j + count] for j in range(4)], dim=2) * _hann(n_fft, x.dtype)  # [batch, frames, n_fft]
    re, im = rdft(frames, kernel)
    return torch.sqrt(re * re + im * im + 1e-20)  # the bench's |X| to the last digit of silence; its gradient stays finite


class InverseSTFT(nn.Module):
    """The contract's inverse STFT (torch.istft with a Hann window, centred, hop n_fft / 4), written as a factorised
    inverse DFT and an overlap-add in four slices, so that it traces into plain operators."""

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

    def basis(self, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
        """The inverse DFT's factors (irdft_basis), computed once per call of the caller, not per step."""
        return irdft_basis(self.n_fft, dtype)

    def forward(self, magnitude: torch.Tensor, phase: torch.Tensor, basis: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        """With `basis` (self.basis()), in plain operators (export); without, by torch.istft (fast: training)."""
        if basis is None:
            return torch.istft(torch.polar(magnitude, phase), self.n_fft, self.hop, window=_hann(self.n_fft, magnitude.dtype),
                               center=True, length=self.length)
        hop, bins = self.hop, self.n_fft // 2 + 1
        k = torch.arange(bins)[:, None]
        weight = torch.where((k == 0) | (k == bins - 1), 1.0 / self.n_fft, 2.0 / self.n_fft).to(magnitude.dtype)  # edge bins have no mirror
        magnitude = magnitude * weight
        frames = irdft(magnitude * torch.cos(phase), magnitude * torch.sin(phase), basis) * _hann(self.n_fft, magnitude.dtype)
        batch, count, _ = frames.shape
        out = 0.0
        for j in range(4):  # each quarter of every frame lands j hops after the frame's start
            part = frames[:, :, j * hop:(j + 1) * hop].reshape(batch, count * hop)
            out = out + F.pad(part, (j * hop, (3 - j) * hop))
        start = self.n_fft // 2
        return out[:, start:start + self.length] * self.scale


class SpectralDistance(nn.Module):
    """Per sound: the multi-resolution STFT distance of the two peak-normalised sounds plus `envelope` x the
    mel-cepstral distance (40 mel bands at 2048 / 512, c1..c12, natural units: model.CepstralDistance's).
    `prepare` reads the targets once; `kernels` (SpectralDistance.kernels) are made once per call."""

    def __init__(self, sample_rate: int, envelope: float = 0.1) -> None:
        super().__init__()
        self.envelope = envelope
        cepstral = CepstralDistance(sample_rate)  # its bands and cepstral rows, at its 2048 / 512
        self.register_buffer("mel", cepstral.mel, persistent=False)
        self.register_buffer("dct", cepstral.dct, persistent=False)

    @staticmethod
    def kernels(dtype=torch.float32, dft: bool = False) -> dict[int, tuple[torch.Tensor, ...] | int]:
        """stft_magnitude's second argument for each resolution: the factorised DFT's matrices for export, else the FFT size."""
        return {n_fft: rdft_basis(n_fft, dtype) if dft else n_fft for n_fft in RESOLUTIONS}

    def _mel(self, kernels: dict) -> torch.Tensor:
        """The mel bands' rows [bins, bands], in the order stft_magnitude gives the 2048 bins in."""
        return (self.mel if isinstance(kernels[2048], int) else self.mel[:, rdft_order(2048)]).T

    @staticmethod
    def _peak(x: torch.Tensor) -> torch.Tensor:
        return x * (PEAK / x.abs().amax(dim=1, keepdim=True).clamp_min(1e-8))

    def prepare(self, target: torch.Tensor, kernels: dict) -> dict:
        target = self._peak(target)
        prepared = {}
        for n_fft, kernel in kernels.items():
            t = stft_magnitude(target, kernel)
            prepared[n_fft] = (t, torch.linalg.vector_norm(t.flatten(1), dim=1) + 1e-7, torch.log(t + EPS))
        if self.envelope > 0:
            q = (prepared[2048][0] ** 2) @ self._mel(kernels)  # [batch, frames, bands]
            floor = 1e-8 * q.amax(dim=(1, 2), keepdim=True)
            prepared["mel"] = (torch.log(q + floor), floor)
        return prepared

    def measure(self, pred: torch.Tensor, prepared: dict, kernels: dict) -> torch.Tensor:
        pred = self._peak(pred)
        mel = self._mel(kernels) if self.envelope > 0 else None
        total = 0.0
        for n_fft, kernel in kernels.items():
            t, norm, log_t = prepared[n_fft]
            a = stft_magnitude(pred, kernel)
            sc = torch.linalg.vector_norm((a - t).flatten(1), dim=1) / norm
            total = total + (sc + (torch.log(a + EPS) - log_t).abs().mean(dim=(1, 2))) / len(kernels)
            if n_fft == 2048 and self.envelope > 0:
                log_q, floor = prepared["mel"]
                diff = torch.matmul(0.5 * (torch.log((a * a) @ mel + floor) - log_q), self.dct.T)  # [batch, frames, c]
                total = total + self.envelope * torch.sqrt(2.0 * (diff * diff).sum(dim=2) + 1e-8).mean(dim=1)
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
