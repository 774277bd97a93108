"""What a longer drum window costs: training-step and decode time for candidate windows and STFTs.

    python bench/drum_window.py [--steps 50] [--out bench/results_drum_window.json]

The drum model's window was 1 s; ringing sounds (cymbals, open hats, toms) need more. For each
candidate (window, n_fft, hop, decoder start frames) a freshly initialised drum VAE (the shipped
layer sizes) is timed on one torch thread: `--steps` training steps of batch 16 on synthetic decaying
noise bursts (the time does not depend on the audio), and its ONNX decoder exported and timed the
way bench/model_quality.py does (OnnxDecoder, one onnxruntime thread, numpy inverse STFT included):
one sound and 64 sounds. The goal the window must keep: decode at most 3 ms for one sound and
150 ms for 64. Figures go to bench/results_drum_window.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from model_quality import median_ms  # noqa: E402  (the model bench's timer: one way to time a decode)

SR = 44100
# (name, seconds, n_fft, hop): the decoder's start frames follow (8x upsampling must cover the frames).
CANDIDATES = (
    ("1 s, 1024/256 (drums, drums2)", 1.0, 1024, 256),
    ("1.5 s, 1024/256", 1.5, 1024, 256),
    ("2 s, 1024/256", 2.0, 1024, 256),
    ("2 s, 1024/512", 2.0, 1024, 512),
    ("2 s, 2048/512", 2.0, 2048, 512),
)


def config_for(seconds: float, n_fft: int, hop: int, noise_phase: bool = True):
    from liveengine.training.model import Config

    length = int(round(seconds * SR))
    frames = 1 + length // hop
    return Config(length=length, n_fft=n_fft, hop=hop, dec_frames0=-(-frames // 8), noise_phase=noise_phase)


def bursts(batch: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    tau = rng.uniform(0.05, 1.0, (batch, 1))
    return (0.9 * rng.standard_normal((batch, length)) * np.exp(-t / tau)).astype(np.float32)


def measure(name: str, seconds: float, n_fft: int, hop: int, steps: int) -> dict:
    import torch

    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.training.export import export
    from liveengine.training.model import DrumVAE, MultiResolutionSTFTLoss
    from liveengine.training.train import train_step

    cfg = config_for(seconds, n_fft, hop)
    torch.manual_seed(0)
    model = DrumVAE(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    mrstft = MultiResolutionSTFTLoss()
    x = torch.from_numpy(bursts(16, cfg.length))
    y = torch.zeros(16, dtype=torch.long)
    model.train()
    train_step(model, optimizer, mrstft, x, y, 0.005)  # first step: allocations
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, mrstft, x, y, 0.005)
    step_s = (time.perf_counter() - t0) / steps
    with tempfile.TemporaryDirectory() as tmp:
        export(model, Path(tmp), None, "timing only", name="window")
        decoder = OnnxDecoder(Path(tmp), threads=1, normalize="peak", max_batch=16)
        decoder.prepare(16)
        z = np.random.default_rng(0).standard_normal((64, cfg.latent_dim)).astype(np.float32)
        one, out64 = np.zeros((1, cfg.length), np.float32), np.zeros((64, cfg.length), np.float32)
        one_ms = median_ms(lambda: decoder.decode_into(z[:1], one), 100)
        many_ms = median_ms(lambda: decoder.decode_into(z, out64), 7)
    return {"name": name, "seconds": seconds, "n_fft": n_fft, "hop": hop, "frames": cfg.frames, "bins": cfg.bins,
            "dec_frames0": cfg.dec_frames0, "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
            "train_step_s": round(step_s, 3), "decode_1_ms": round(one_ms, 2), "decode_64_ms": round(many_ms, 1),
            "pad_buffer_mb": round(cfg.length * 4 / 2 ** 20, 3)}


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--only", type=int, action="append", default=[], help="index into the candidates (repeatable)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results_drum_window.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for i, candidate in enumerate(CANDIDATES):
        if args.only and i not in args.only:
            continue
        rows.append(measure(*candidate, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}",
               "threads": 1, "batch": 16, "steps": args.steps, "candidates": rows,
               "note": "freshly initialised models with the noise head; training on synthetic bursts; decode as bench/model_quality.py times it"}
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the drum window benchmark (bench/drum_window.py)", main))
