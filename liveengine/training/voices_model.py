"""The streaming voice model: a GRU from (f0, loudness, z) frames to harmonic-plus-noise controls,
and a torch mirror of liveengine/stream/synth.py to train it through the audio it makes.

Per frame: features of (pitch in semitones, loudness, z) -> two dense layers -> GRU (its hidden
state is the stream contract's `state`) -> two dense layers over [GRU output, features] ->
amplitude (1), harmonic weights (H) and noise band magnitudes (B), each through DDSP's scaled
sigmoid. Harmonics at or above the training Nyquist are zeroed inside the model, so a synth
rendering at a higher rate adds nothing the model never learnt.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liveengine.stream.synth import noise_tables
from liveengine.training.voices_config import BAND_EDGES_HZ, HOP, N_HARMONICS, SAMPLE_RATE, band_edges, hop


@dataclass
class VoiceConfig:
    sample_rate: int = SAMPLE_RATE
    hop: int = HOP
    n_harmonics: int = N_HARMONICS
    n_bands: int = len(BAND_EDGES_HZ) - 1
    features: int = 96
    hidden: int = 192
    band_edges_hz: tuple = BAND_EDGES_HZ  # checkpoints from before it was stored are 16 kHz ones

    def __post_init__(self) -> None:
        if self.n_bands != len(self.band_edges_hz) - 1 or self.hop != hop(self.sample_rate):
            raise ValueError(f"voice config: {self.n_bands} noise bands and hop {self.hop} at {self.sample_rate} Hz do not fit "
                             f"{len(self.band_edges_hz) - 1} bands and hop {hop(self.sample_rate)}; use VoiceConfig.for_rate")

    @classmethod
    def for_rate(cls, sample_rate: int) -> "VoiceConfig":
        edges = band_edges(sample_rate)
        return cls(sample_rate=sample_rate, hop=hop(sample_rate), n_bands=len(edges) - 1, band_edges_hz=edges)

    def to_dict(self) -> dict:
        return asdict(self)


def scaled_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's exp_sigmoid: 2 * sigmoid(x) ** ln(10) + 1e-7, positive, gradients at small values."""
    return 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7


class StreamVoice(nn.Module):
    def __init__(self, cfg: VoiceConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or VoiceConfig()
        self.inp = nn.Sequential(nn.Linear(4, cfg.features), nn.LeakyReLU(0.1), nn.Linear(cfg.features, cfg.features), nn.LeakyReLU(0.1))
        self.gru = nn.GRU(cfg.features, cfg.hidden, batch_first=True)
        self.out = nn.Sequential(nn.Linear(cfg.hidden + cfg.features, cfg.hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(cfg.hidden, cfg.hidden), nn.LeakyReLU(0.1),
                                 nn.Linear(cfg.hidden, 1 + cfg.n_harmonics + cfg.n_bands))
        self.register_buffer("orders", torch.arange(1, cfg.n_harmonics + 1, dtype=torch.float32), persistent=False)

    @property
    def state_size(self) -> int:
        return self.cfg.hidden

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z: torch.Tensor, state: torch.Tensor):
        """f0_hz, loudness_db [N, T]; z [N, T, 2]; state [N, S] -> amplitude [N, T, 1], harmonics [N, T, H],
        noise [N, T, B], state_out [N, S]."""
        pitch = (12.0 * torch.log2(torch.clamp(f0_hz, min=1.0) / 440.0) + 5.0) / 24.0  # 0 at MIDI 64, 1 per two octaves
        loud = (loudness_db + 40.0) / 20.0
        x = self.inp(torch.cat([pitch.unsqueeze(-1), loud.unsqueeze(-1), z], dim=-1))
        y, h = self.gru(x, state.unsqueeze(0))
        o = self.out(torch.cat([y, x], dim=-1))
        c = self.cfg
        amplitude = scaled_sigmoid(o[..., :1])
        below = (f0_hz.unsqueeze(-1) * self.orders < c.sample_rate / 2).to(o.dtype)
        harmonics = scaled_sigmoid(o[..., 1:1 + c.n_harmonics]) * below
        noise = scaled_sigmoid(o[..., 1 + c.n_harmonics:] - 5.0)
        return amplitude, harmonics, noise, h.squeeze(0)


class TorchSynth(nn.Module):
    """liveengine.stream.synth.HarmonicNoiseSynth in torch, for a batch of clips each starting from reset
    (the noise read from the same tables at a per-clip offset). Gradients flow to the controls, not f0."""

    @classmethod
    def for_config(cls, cfg: VoiceConfig) -> "TorchSynth":
        return cls(cfg.sample_rate, cfg.hop, cfg.n_harmonics, tuple(cfg.band_edges_hz))

    def __init__(self, sample_rate: int = SAMPLE_RATE, hop: int = HOP, n_harmonics: int = N_HARMONICS,
                 band_edges_hz=BAND_EDGES_HZ, seed: int = 0) -> None:
        super().__init__()
        self.sample_rate, self.hop, self.n_harmonics = sample_rate, hop, n_harmonics
        self.register_buffer("tables", torch.from_numpy(noise_tables(sample_rate, band_edges_hz, seed)), persistent=False)
        self.register_buffer("ramp", torch.arange(1, hop + 1, dtype=torch.float32) / hop, persistent=False)
        self.register_buffer("orders", torch.arange(1, n_harmonics + 1, dtype=torch.float64), persistent=False)

    def forward(self, f0_hz, amplitude, harmonics, noise, noise_offsets=None):
        n, t = f0_hz.shape
        hop, ramp = self.hop, self.ramp
        with torch.no_grad():
            f0 = f0_hz.to(torch.float64)
            f0_prev = torch.cat([f0[:, :1], f0[:, :-1]], dim=1)
            f0_samples = (f0_prev.unsqueeze(-1) + (f0 - f0_prev).unsqueeze(-1) * ramp.double()).reshape(n, t * hop)
            phase = torch.cumsum(f0_samples / self.sample_rate, dim=1) % 1.0
            sines = torch.sin(2 * math.pi * ((phase.unsqueeze(-1) * self.orders) % 1.0)).float().reshape(n, t, hop, -1)
            below = (f0_hz.unsqueeze(-1) * self.orders.float() < self.sample_rate / 2).float()
        w = harmonics.clamp(min=0.0) * below
        w = w / torch.clamp(w.sum(-1, keepdim=True), min=1e-12) * amplitude
        w_prev = torch.cat([torch.zeros_like(w[:, :1]), w[:, :-1]], dim=1)
        out = torch.einsum("ntik,ntk->nti", sines, w_prev) + torch.einsum("ntik,ntk->nti", sines, w - w_prev) * ramp

        length = self.tables.shape[1]
        if noise_offsets is None:
            noise_offsets = torch.zeros(n, dtype=torch.long)
        idx = (noise_offsets.view(n, 1) + torch.arange(t * hop).view(1, -1)) % length
        bands = self.tables[:, idx].permute(1, 0, 2).reshape(n, -1, t, hop)  # [N, B, T, hop]
        nz = noise.clamp(min=0.0)
        n_prev = torch.cat([torch.zeros_like(nz[:, :1]), nz[:, :-1]], dim=1)
        out = out + torch.einsum("nbti,ntb->nti", bands, n_prev) + torch.einsum("nbti,ntb->nti", bands, nz - n_prev) * ramp
        return out.reshape(n, t * hop)


def warm_start(model: StreamVoice, path) -> dict:
    """Copy a trained voice model's weights into `model`, which may have more noise bands (a 16 kHz model into a
    32 kHz one): the shared bands keep their output rows, each new band starts as a copy of the top old band's."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    own = model.state_dict()
    grown = []
    for key, value in ckpt["model"].items():
        if key not in own:
            raise ValueError(f"{path} has weights this model does not: {key}")
        if value.shape != own[key].shape:
            if value.shape[1:] != own[key].shape[1:] or value.shape[0] > own[key].shape[0]:
                raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, this model {tuple(own[key].shape)}")
            extra = own[key].shape[0] - value.shape[0]
            value = torch.cat([value, value[-1:].repeat(extra, *([1] * (value.dim() - 1)))])
            grown.append(key)
        own[key] = value
    model.load_state_dict(own)
    return {"checkpoint": Path(path).name, "step": int(ckpt["state"]["step"]), "grown": grown}


def synth_matches_numpy(seed: int = 0, cfg: VoiceConfig | None = None) -> float:
    """Max |torch mirror - numpy synth| on random controls (a check for tests and the trainer's start)."""
    from liveengine.stream.synth import HarmonicNoiseSynth

    cfg = cfg or VoiceConfig()
    rng = np.random.default_rng(seed)
    t = 30
    f0 = 100 + 400 * rng.random(t)
    amp, harm, noise = rng.random(t), rng.random((t, cfg.n_harmonics)), 0.05 * rng.random((t, cfg.n_bands))
    ref = HarmonicNoiseSynth(cfg.sample_rate, cfg.hop, cfg.n_harmonics, tuple(cfg.band_edges_hz)).render(f0, amp, harm, noise)
    got = TorchSynth.for_config(cfg)(torch.tensor(f0[None], dtype=torch.float32), torch.tensor(amp[None, :, None], dtype=torch.float32),
                       torch.tensor(harm[None], dtype=torch.float32), torch.tensor(noise[None], dtype=torch.float32))
    return float(np.abs(got[0].numpy() - ref).max())
