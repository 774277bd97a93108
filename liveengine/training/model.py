"""The drum VAE: a log-mel encoder, a small STFT decoder (magnitude + phase) and a class head.

The decoder maps z to 22 low-rate frames (one per ~46 ms), upsamples them 8x with three
nearest-neighbour + conv stages to the STFT frame rate, and predicts per frame a log-magnitude
and a phase increment for each bin. The phase is the running sum of the increments over frames
plus each bin's centre-frequency advance, so a zero increment is a steady partial at the bin
centre: coherent low partials (kicks, toms) come for free and noise needs large increments.
With `Config.noise_phase` (the second drum model) a gate per bin and frame also blends in a fixed
random phase, a noise head in the spirit of DDSP's filtered noise: noisy bins (hats, cymbals,
snares) no longer have to be built from learned increments, which left steady tonal lines.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


NOISE_SEED = 19  # the noise head's fixed random phase: regenerated from this seed, never stored


@dataclass
class Config:
    sample_rate: int = 44100
    length: int = 44100
    n_fft: int = 1024
    hop: int = 256
    latent_dim: int = 12
    n_mels: int = 64
    dec_frames0: int = 22
    dec_channels: tuple = (64, 128, 96, 64)
    enc_channels: int = 128
    noise_phase: bool = False  # the decoder may blend a fixed random phase into each bin and frame (a noise head)
    encoder: str = "mel1d"  # "mel1d": Encoder; "mel2d": Encoder2D (a second encoder for a trained decoder, reencode.py); "mean"
    mean_of: tuple = ()  # with encoder "mean": the designs of the encoders whose points MeanEncoder averages
    classes: tuple = ("kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc")

    @property
    def frames(self) -> int:
        return 1 + self.length // self.hop

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), [n_mels, bins], slaney-style area normalisation."""
    fmax = fmax or sample_rate / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)
    points = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = points[i], points[i + 1], points[i + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        bank[i] = np.maximum(0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return bank.astype(np.float32)


class Features(nn.Module):
    """audio [B, length] -> log-mel [B, n_mels, frames]. `dft=True` computes the STFT as a
    convolution with a fixed DFT basis (what the ONNX export uses); else torch.stft (training)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels)), persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.dft = False

    def basis(self) -> torch.Tensor:
        n = torch.arange(self.cfg.n_fft, dtype=torch.float64)
        k = torch.arange(self.cfg.bins, dtype=torch.float64)[:, None]
        angle = 2 * math.pi * k * n / self.cfg.n_fft
        w = self.window.double()
        return torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w]).float()[:, None, :]  # [2*bins, 1, n_fft]

    def power(self, audio: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if self.dft:
            padded = F.pad(audio[:, None, :], (cfg.n_fft // 2, cfg.n_fft // 2), mode="reflect")
            spec = F.conv1d(padded, self.dft_basis, stride=cfg.hop)
            re, im = spec[:, :cfg.bins], spec[:, cfg.bins:]
            return re * re + im * im
        spec = torch.stft(audio, cfg.n_fft, cfg.hop, window=self.window, center=True, return_complex=True)
        return spec.real ** 2 + spec.imag ** 2

    def use_dft(self) -> None:
        self.dft = True
        self.register_buffer("dft_basis", self.basis(), persistent=False)

    def log_mel(self, power: torch.Tensor) -> torch.Tensor:
        """Power spectrogram [B, bins, frames] -> log-mel [B, n_mels, frames] (also for a decoder's magnitude squared)."""
        return torch.log(torch.matmul(self.mel, power) + 1e-6)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.log_mel(self.power(audio))


class Encoder(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        c = cfg.enc_channels
        self.features = Features(cfg)
        self.norm = nn.BatchNorm1d(cfg.n_mels, affine=False, momentum=0.01)
        self.conv = nn.Sequential(
            nn.Conv1d(cfg.n_mels, c, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(c, c, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(c, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2))
        t = cfg.frames
        for _ in range(3):
            t = (t - 1) // 2 + 1
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * t, 128), nn.LeakyReLU(0.2), nn.Linear(128, 2 * cfg.latent_dim))
        self.latent_dim = cfg.latent_dim

    def forward(self, audio: torch.Tensor):
        h = self.conv(self.norm(self.features(audio)))
        out = self.head(h)
        mean, logvar = out[:, :self.latent_dim], out[:, self.latent_dim:]
        return mean, torch.clamp(logvar, -12.0, 4.0)


class Encoder2D(nn.Module):
    """audio -> (mean, logvar) through 2-D convolutions over the log-mel picture, for the same decoder.

    The 1-D encoder's first layer has a weight per mel band and its head one per frame, so it learns the training kits'
    exact spectra and positions: on held-out kits its `z` classes 52 % of the sounds right. Here 3x3 kernels see
    every band and frame alike, the level is taken out (the picture's maximum is 0 dB), and the head sees the
    channels pooled over the whole picture (mean and maximum) beside a coarse time course (each of the last map's
    frames averaged over frequency), which keeps the decay that `z` must carry."""

    CHANNELS = (24, 48, 64, 96)

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.features = Features(cfg)
        self.latent_dim = cfg.latent_dim
        widths = (1, *self.CHANNELS)
        self.convs = nn.ModuleList([nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(len(self.CHANNELS))])
        self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in self.CHANNELS])
        frames = cfg.frames
        for _ in self.CHANNELS:
            frames //= 2
        self.frames = frames
        c = self.CHANNELS[-1]
        self.head = nn.Sequential(nn.Linear(2 * c + c * frames, 256), nn.LeakyReLU(0.2), nn.Linear(256, 2 * cfg.latent_dim))

    def forward(self, audio: torch.Tensor):
        picture = self.features(audio)
        h = (picture - picture.amax(dim=(1, 2), keepdim=True)).unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms):
            h = F.max_pool2d(F.leaky_relu(norm(conv(h)), 0.2), 2)
        course = h.mean(dim=2)[:, :, :self.frames].flatten(1)
        out = self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), course], dim=1))
        mean, logvar = out[:, :self.latent_dim], out[:, self.latent_dim:]
        return mean, torch.clamp(logvar, -12.0, 4.0)


ENCODERS = {"mel1d": Encoder, "mel2d": Encoder2D}


class MeanEncoder(nn.Module):
    """Several trained encoders of one decoder as one: the mean of their means and of their log-variances.

    Encoders of different designs (the 1-D one, weights per mel band, and the 2-D one over the picture) miss a
    held-out kit's sound in different directions, so their mean lands nearer the point that sounds most like it
    than either does (models_onnx/drums10/README.md)."""

    def __init__(self, encoders: list[nn.Module]) -> None:
        super().__init__()
        if len(encoders) < 2:
            raise ValueError(f"a mean of encoders needs two or more; got {len(encoders)}")
        self.parts = nn.ModuleList(encoders)
        self.features = _AllFeatures([e.features for e in encoders])

    def forward(self, audio: torch.Tensor):
        outs = [encoder(audio) for encoder in self.parts]
        return torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0)


class _AllFeatures:
    """The encoders' front ends switched together (export.py computes the STFT as a convolution for ONNX). They are
    made from one Config, so any of them reads a sound as all do: the first one reads (class_head.py's listener)."""

    def __init__(self, parts: list[Features]) -> None:
        self.parts = parts

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        return self.parts[0](audio)

    def log_mel(self, power: torch.Tensor) -> torch.Tensor:
        return self.parts[0].log_mel(power)

    def use_dft(self) -> None:
        for part in self.parts:
            part.use_dft()

    @property
    def dft(self) -> bool:
        return all(part.dft for part in self.parts)

    @dft.setter
    def dft(self, value: bool) -> None:
        for part in self.parts:
            part.dft = value


class Decoder(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        c0, c1, c2, c3 = cfg.dec_channels
        self.c0 = c0
        self.mlp = nn.Sequential(nn.Linear(cfg.latent_dim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                                 nn.Linear(256, c0 * cfg.dec_frames0))
        self.convs = nn.ModuleList([nn.Conv1d(c0, c1, 5, padding=2), nn.Conv1d(c1, c2, 5, padding=2), nn.Conv1d(c2, c3, 5, padding=2)])
        self.position = nn.Parameter(torch.zeros(1, c3, cfg.frames))
        self.magnitude = nn.Conv1d(c3, cfg.bins, 1)
        self.increment = nn.Conv1d(c3, cfg.bins, 1)
        nn.init.zeros_(self.increment.bias)
        with torch.no_grad():
            self.increment.weight.mul_(0.1)
            self.magnitude.bias.fill_(-4.0)
        k = np.arange(cfg.bins)[:, None].astype(np.float64)
        t = np.arange(cfg.frames)[None, :].astype(np.float64)
        base = np.mod(2 * np.pi * k * cfg.hop / cfg.n_fft * t, 2 * np.pi)
        self.register_buffer("base_phase", torch.from_numpy(base.astype(np.float32))[None], persistent=False)
        self.noise = None
        if cfg.noise_phase:
            # A gate per bin and frame blends a fixed random phase (uniform, the same for every sound) into the
            # coherent one: at 1 the bin is noise, whose frames do not add up to steady partials. Starts near 0, so
            # a decoder trained without it keeps its sound when warm-started.
            self.noise = nn.Conv1d(c3, cfg.bins, 1)
            nn.init.zeros_(self.noise.weight)
            nn.init.constant_(self.noise.bias, -4.0)
            random = np.random.default_rng(NOISE_SEED).uniform(-np.pi, np.pi, (cfg.bins, cfg.frames))
            self.register_buffer("noise_phase", torch.from_numpy(random.astype(np.float32))[None], persistent=False)

    def noise_gate(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.noise(h))

    def hidden(self, z: torch.Tensor) -> torch.Tensor:
        """The last hidden frames [batch, c3, frames], which the output layers (1x1 convolutions) read."""
        h = self.mlp(z).reshape(-1, self.c0, self.cfg.dec_frames0)
        for conv in self.convs:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2.0, mode="nearest")), 0.2)
        return F.leaky_relu(h[:, :, :self.cfg.frames] + self.position, 0.2)

    def forward(self, z: torch.Tensor):
        h = self.hidden(z)
        magnitude = torch.exp(torch.clamp(self.magnitude(h), -16.0, 7.0))
        phase = torch.cumsum(self.increment(h), dim=2) + self.base_phase
        if self.noise is not None:
            phase = phase + self.noise_gate(h) * self.noise_phase
        return magnitude, phase


class Classifier(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.latent_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, len(cfg.classes)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DrumVAE(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        designs = cfg.mean_of if cfg.encoder == "mean" else (cfg.encoder,)
        for design in designs:
            if design not in ENCODERS:
                raise ValueError(f"encoder {design!r} is not one of {', '.join(ENCODERS)}" + ("" if cfg.encoder == "mean" else ", or mean"))
        parts = [ENCODERS[design](cfg) for design in designs]
        self.encoder = MeanEncoder(parts) if cfg.encoder == "mean" else parts[0]
        self.decoder = Decoder(cfg)
        self.classifier = Classifier(cfg)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def synthesise(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """The contract's inverse STFT (what the host does), differentiable."""
        spec = torch.polar(magnitude, phase)
        return torch.istft(spec, self.cfg.n_fft, self.cfg.hop, window=self.window, center=True, length=self.cfg.length)


def stft_mag(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
    return torch.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-10)


RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def log_l1(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-5, per_row: bool = False) -> torch.Tensor:
    """Mean absolute log-magnitude difference: one figure, or one per row (the first dimension) with `per_row`."""
    difference = torch.abs(torch.log(pred + eps) - torch.log(target + eps))
    return difference.flatten(1).mean(dim=1) if per_row else torch.mean(difference)


def spectral_convergence(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.linalg.norm((target - pred).flatten(1), dim=1) / (torch.linalg.norm(target.flatten(1), dim=1) + 1e-7))


class CepstralDistance(nn.Module):
    """Mel-cepstral distance (natural units; x 10/ln 10 is dB), as bench/model_quality.py's MCD measures it: c1..c12 of
    the log amplitude in 40 mel bands at 2048/512, the mean over frames of sqrt(2 sum (c_d - c'_d)^2). The spectral
    envelope, which the multi-resolution STFT loss holds loosely (an encoder trained on that alone traded MCD for it).
    The bench's 80 dB floor below the target's loudest band is added, not clamped, so a quiet prediction still has a
    gradient; +1e-8 under the root keeps the gradient finite where two frames agree."""

    def __init__(self, sample_rate: int, n_fft: int = 2048, hop: int = 512, bands: int = 40, coefficients: int = 12) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(sample_rate, n_fft, bands)), persistent=False)
        k = np.arange(bands)
        dct = np.cos(np.pi / bands * (k[None, :] + 0.5) * np.arange(1, coefficients + 1)[:, None]) * np.sqrt(2 / bands)
        self.register_buffer("dct", torch.from_numpy(dct.astype(np.float32)), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = stft_mag(pred, self.n_fft, self.hop, self.window).pow(2).transpose(1, 2) @ self.mel.T  # [batch, frames, bands]
        t = stft_mag(target, self.n_fft, self.hop, self.window).pow(2).transpose(1, 2) @ self.mel.T
        floor = 1e-8 * t.amax(dim=(1, 2), keepdim=True)
        diff = (0.5 * (torch.log(p + floor) - torch.log(t + floor))) @ self.dct.T
        return torch.mean(torch.sqrt(2.0 * torch.sum(diff ** 2, dim=-1) + 1e-8))


class MultiResolutionSTFTLoss(nn.Module):
    def __init__(self, resolutions=RESOLUTIONS) -> None:
        super().__init__()
        self.resolutions = resolutions
        for n_fft, _ in resolutions:
            self.register_buffer(f"w{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor):
        sc, mag = 0.0, 0.0
        for n_fft, hop in self.resolutions:
            w = getattr(self, f"w{n_fft}")
            p, t = stft_mag(pred, n_fft, hop, w), stft_mag(target, n_fft, hop, w)
            sc = sc + spectral_convergence(p, t)
            mag = mag + log_l1(p, t)
        n = len(self.resolutions)
        return sc / n, mag / n
