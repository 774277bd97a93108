"""Train the pattern VAE on the CPU, resumably (the drum model's habits: liveengine/training/train.py).

    python -m liveengine.training.grooves_data --gmd PATH/groove-midi --out training_data
    nohup nice -n 10 python -m liveengine.training.grooves_train --data training_data \
        --checkpoint checkpoints/grooves.pt --minutes 25 > grooves.log 2>&1 &

A run picks up from --checkpoint when it exists and saves it every --save-every seconds, on
SIGTERM and at the end. One torch thread by default. The validation split is only measured
(hit F1 at 0.5, velocity and offset error on true hits), never trained on.
"""

from __future__ import annotations

import argparse
import platform
import signal
import time
from pathlib import Path

import numpy as np
import torch

from liveengine.groove.metrics import errors_on_hits, hit_f1
from liveengine.training.grooves_data import load as load_data
from liveengine.training.grooves_model import GrooveConfig, GrooveVAE, pattern_losses
from liveengine.training.train import Running, load, save


def config_from(path: Path | None) -> GrooveConfig:
    if path and path.exists():
        return GrooveConfig(**torch.load(path, map_location="cpu", weights_only=False)["config"])
    return GrooveConfig()


def tensors(data: dict, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mask = data["split"] == split
    return (torch.from_numpy(data["hits"][mask].astype(np.float32)), torch.from_numpy(data["velocities"][mask].astype(np.float32)),
            torch.from_numpy(data["offsets"][mask].astype(np.float32)))


def reconstruct(model: GrooveVAE, hits, velocities, offsets, batch: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode each pattern's posterior mean: hit probabilities, velocities, offsets (numpy)."""
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(hits), batch):
            mean, _ = model.encoder(hits[i:i + batch], velocities[i:i + batch], offsets[i:i + batch])
            outs.append([t.numpy() for t in model.decoder(mean)])
    return tuple(np.concatenate([o[k] for o in outs]) for k in range(3))


def validate(model: GrooveVAE, val) -> dict[str, float]:
    hits, velocities, offsets = reconstruct(model, *val)
    truth = [t.numpy() for t in val]
    return {"f1": round(hit_f1(truth[0], hits)["f1"], 4), "vel_mae": round(errors_on_hits(truth[0], truth[1], velocities), 4),
            "off_mae": round(errors_on_hits(truth[0], truth[2], offsets), 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the pattern VAE (resumable).")
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/grooves.pt"))
    parser.add_argument("--minutes", type=float, default=25.0, help="stop after this much wall time in this run")
    parser.add_argument("--max-steps", type=int, default=0, help="stop at this total step (0: no limit)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.2, help="KL weight after warm-up")
    parser.add_argument("--free-bits", type=float, default=48.0, help="nats of KL not penalised (GrooVAE's free bits)")
    parser.add_argument("--feel-weight", type=float, default=5.0, help="weight of the velocity and offset errors")
    parser.add_argument("--warmup", type=int, default=5000, help="steps of KL warm-up")
    parser.add_argument("--save-every", type=float, default=180.0, help="seconds")
    parser.add_argument("--log-every", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = GrooveVAE(config_from(args.checkpoint))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = {"step": 0, "train_seconds": 0.0, "history": [], "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
             "threads": args.threads}
    if args.checkpoint.exists():
        state = load(args.checkpoint, model, optimizer)
        for group in optimizer.param_groups:
            group["lr"] = args.lr
        print(f"resumed from {args.checkpoint} at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)", flush=True)
    state.setdefault("runs", []).append({"from_step": state["step"], "lr": args.lr, "beta": args.beta, "free_bits": args.free_bits, "feel_weight": args.feel_weight,
                                         "warmup": args.warmup, "batch": args.batch, "threads": args.threads})
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    data = load_data(args.data)
    train, val = tensors(data, "train"), tensors(data, "validation")
    print(f"patterns: train {len(train[0])}, validation {len(val[0])}", flush=True)
    rng = np.random.default_rng(args.seed + state["step"])

    stop = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    start = time.monotonic()
    last_save = start
    running = Running()
    model.train()
    while not stop and time.monotonic() - start < args.minutes * 60 and not (args.max_steps and state["step"] >= args.max_steps):
        idx = torch.from_numpy(rng.choice(len(train[0]), args.batch))
        beta = args.beta * min(1.0, state["step"] / max(1, args.warmup))
        step_start = time.monotonic()
        total, parts = pattern_losses(model, *(t[idx] for t in train), beta, args.free_bits, feel_weight=args.feel_weight)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        state["train_seconds"] += time.monotonic() - step_start
        state["step"] += 1
        running.add(parts)
        if state["step"] % args.log_every == 0:
            print(f"step {state['step']} ({state['train_seconds'] / 60:.1f} min) beta {beta:.3f} " + running.line(), flush=True)
        if time.monotonic() - last_save > args.save_every:
            figures = validate(model, val)
            model.train()
            state["history"].append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), **figures})
            save(args.checkpoint, model, optimizer, state)
            last_save = time.monotonic()
            print(f"saved {args.checkpoint} at step {state['step']}; validation {figures}", flush=True)
    signal.signal(signal.SIGTERM, previous)
    figures = validate(model, val)
    state["history"].append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2), **figures})
    save(args.checkpoint, model, optimizer, state)
    print(f"done: step {state['step']}, {state['train_seconds'] / 60:.1f} min trained; validation {figures}; saved {args.checkpoint}", flush=True)


if __name__ == "__main__":
    main()
