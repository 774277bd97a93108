"""The SampleVAE-style baseline: a VAE over log-mel spectrograms, inverted with Griffin-Lim.

Same data, same latent size as the drum VAE; the benchmark gives it the same training time.
Analysis settings are the benchmark's pinned ones: n_fft 2048, hop 512, 128 mel bands.

    nohup nice -n 15 python -m liveengine.training.baseline --minutes 98 > baseline.log 2>&1 &
    python -m liveengine.training.baseline --export bench/baselines/samplevae     # mel_encoder.onnx, mel_decoder.onnx

mel_encoder.onnx: `logmel` [batch, 128, 87] -> `mean`, `logvar`; mel_decoder.onnx: `z` -> `logmel`.
The log-mel is log(mel power + 1e-6) of the peak-normalised sound (the benchmark computes it).
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from liveengine.training.model import mel_filterbank
from liveengine.training.train import load, load_training_set, save

N_FFT, HOP, MELS, LENGTH, SR = 2048, 512, 128, 44100, 44100
FRAMES = 1 + LENGTH // HOP  # 87


class MelConfig:
    def __init__(self, latent_dim: int = 12) -> None:
        self.latent_dim = latent_dim

    def to_dict(self) -> dict:
        return {"latent_dim": self.latent_dim}


class MelVAE(nn.Module):
    def __init__(self, cfg: MelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(SR, N_FFT, MELS)), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.norm = nn.BatchNorm1d(MELS, affine=False, momentum=0.01)
        self.enc = nn.Sequential(nn.Conv1d(MELS, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
                                 nn.Conv1d(128, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
                                 nn.Conv1d(128, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Flatten(),
                                 nn.Linear(64 * 11, 128), nn.LeakyReLU(0.2), nn.Linear(128, 2 * cfg.latent_dim))
        self.dec_in = nn.Sequential(nn.Linear(cfg.latent_dim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 64 * 11), nn.LeakyReLU(0.2))
        self.dec = nn.ModuleList([nn.Conv1d(64, 128, 5, padding=2), nn.Conv1d(128, 128, 5, padding=2), nn.Conv1d(128, 128, 5, padding=2)])
        self.out = nn.Conv1d(128, MELS, 1)

    def logmel(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, N_FFT, HOP, window=self.window, center=True, return_complex=True)
        return torch.log(torch.matmul(self.mel, spec.real ** 2 + spec.imag ** 2) + 1e-6)

    def encode(self, logmel: torch.Tensor):
        out = self.enc(self.norm(logmel))
        return out[:, :self.cfg.latent_dim], torch.clamp(out[:, self.cfg.latent_dim:], -12.0, 4.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dec_in(z).reshape(-1, 64, 11)
        for conv in self.dec:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2.0, mode="nearest")), 0.2)
        return self.out(h[:, :, :FRAMES])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train or export the SampleVAE-style mel-VAE baseline.")
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--checkpoint", type=Path, default=Path("training_data/melvae.pt"))
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="train until the checkpoint holds this much training time in all (the drum VAE's, to compare them fairly)")
    parser.add_argument("--max-steps", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--beta", type=float, default=0.02)
    parser.add_argument("--warmup", type=int, default=3000)
    parser.add_argument("--latent-dim", type=int, default=12)
    parser.add_argument("--export", type=Path, default=None, help="write the ONNX files here instead of training")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = MelVAE(MelConfig(args.latent_dim))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = {"step": 0, "train_seconds": 0.0, "history": []}
    if args.checkpoint.exists():
        state = load(args.checkpoint, model, optimizer)
        print(f"resumed at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)", flush=True)
    if args.export is not None:
        model.eval()
        args.export.mkdir(parents=True, exist_ok=True)

        from liveengine.training.export import Graph, export_graph

        export_graph(Graph(model, "encode"), torch.zeros(2, MELS, FRAMES), args.export / "mel_encoder.onnx", "logmel", ["mean", "logvar"])
        export_graph(Graph(model, "decode"), torch.zeros(2, args.latent_dim), args.export / "mel_decoder.onnx", "z", ["logmel"])
        print(f"exported {args.export} (step {state['step']}, {state['train_seconds'] / 60:.1f} min trained)")
        return

    audio, _, weights, _ = load_training_set(args.data)
    rng = np.random.default_rng(state["step"])
    stop = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    last_save = time.monotonic()
    # Counted like the drum VAE's train.py: time inside steps, summed over runs, so a resumed run
    # and a loaded machine do not change the budget the two models are compared at.
    while not stop and state["train_seconds"] < args.minutes * 60 and not (args.max_steps and state["step"] >= args.max_steps):
        x = torch.from_numpy(audio[rng.choice(len(audio), args.batch, p=weights)])
        t0 = time.monotonic()
        target = model.logmel(x)
        mean, logvar = model.encode(target)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        recon = F.l1_loss(model.decode(z), target)
        kl = torch.mean(torch.sum(0.5 * (mean ** 2 + torch.exp(logvar) - 1.0 - logvar), dim=1))
        loss = recon + args.beta * min(1.0, state["step"] / args.warmup) * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state["train_seconds"] += time.monotonic() - t0
        state["step"] += 1
        if state["step"] % 100 == 0:
            print(f"step {state['step']} ({state['train_seconds'] / 60:.1f} min) logmel L1 {recon.item():.4f} kl {kl.item():.3f}", flush=True)
        if time.monotonic() - last_save > 180:
            save(args.checkpoint, model, optimizer, state)
            last_save = time.monotonic()
    signal.signal(signal.SIGTERM, previous)
    save(args.checkpoint, model, optimizer, state)
    print(f"done: step {state['step']}, {state['train_seconds'] / 60:.1f} min trained", flush=True)


if __name__ == "__main__":
    main()
