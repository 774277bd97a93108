"""A small pattern VAE: 2 bars x 9 voices x (hit, velocity, offset) <-> a latent point.

Multilayer perceptrons on the flattened pattern (32 x 9 x 3 = 864 numbers): small enough to train
on one CPU thread in minutes and to decode 64 pads in well under a millisecond each, and nothing in
the graph that ONNX runtimes treat differently (MatMul, Add, Relu, Sigmoid, Tanh).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from liveengine.groove.pattern import STEPS, STEPS_PER_BEAT, VOICES


@dataclass
class GrooveConfig:
    steps: int = STEPS
    voices: int = len(VOICES)
    steps_per_beat: int = STEPS_PER_BEAT
    hidden: int = 256
    latent_dim: int = 32
    dropout: float = 0.1  # between hidden layers, training only: 16k patterns are few for 600k weights

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class GrooveEncoder(nn.Module):
    """hits, velocities, offsets [batch, steps, voices] -> mean, logvar [batch, latent]. Velocity and offset count only where hit."""

    def __init__(self, cfg: GrooveConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = _mlp([3 * cfg.steps * cfg.voices, cfg.hidden, cfg.hidden, 2 * cfg.latent_dim], cfg.dropout)

    def forward(self, hits: torch.Tensor, velocities: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([hits, velocities * hits, offsets * hits], dim=2).flatten(1)
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0)


class GrooveDecoder(nn.Module):
    """z [batch, latent] -> hit logits, velocities 0..1, offsets -0.5..0.5, each [batch, steps, voices]."""

    def __init__(self, cfg: GrooveConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = _mlp([cfg.latent_dim, cfg.hidden, cfg.hidden, 3 * cfg.steps * cfg.voices], cfg.dropout)

    def logits(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net(z).view(-1, self.cfg.steps, 3 * self.cfg.voices)
        logit, velocity, offset = out.split(self.cfg.voices, dim=2)
        return logit, torch.sigmoid(velocity), 0.5 * torch.tanh(offset)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logit, velocity, offset = self.logits(z)
        return torch.sigmoid(logit), velocity, offset


class GrooveVAE(nn.Module):
    def __init__(self, cfg: GrooveConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GrooveConfig()
        self.encoder = GrooveEncoder(self.cfg)
        self.decoder = GrooveDecoder(self.cfg)


def pattern_losses(model: GrooveVAE, hits: torch.Tensor, velocities: torch.Tensor, offsets: torch.Tensor, beta: float,
                   free_bits: float, sample: bool = True, feel_weight: float = 5.0) -> tuple[torch.Tensor, dict]:
    """Per pattern: hit cross-entropy summed over cells, squared velocity and offset errors summed over
    true hits (GrooVAE's losses) times `feel_weight` (summed squared errors of 0..1 values are small
    beside the hits' cross-entropy), plus beta * max(KL - free_bits, 0); averaged over the batch."""
    mean, logvar = model.encoder(hits, velocities, offsets)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
    logit, velocity, offset = model.decoder.logits(z)
    n = hits.shape[0]
    bce = nn.functional.binary_cross_entropy_with_logits(logit, hits, reduction="sum") / n
    vel = (((velocity - velocities) ** 2) * hits).sum() / n
    off = (((offset - offsets) ** 2) * hits).sum() / n
    kl = torch.sum(0.5 * (mean ** 2 + torch.exp(logvar) - 1.0 - logvar), dim=1).mean()
    total = bce + feel_weight * (vel + off) + beta * torch.clamp(kl - free_bits, min=0.0)
    return total, {"bce": bce.item(), "vel": vel.item(), "off": off.item(), "kl": kl.item(), "total": total.item()}
