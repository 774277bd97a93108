"""Train the streaming voice model on the CPU, resumably.

    nohup nice -n 10 python -m liveengine.training.voices_train --data training_data/voices \
        --checkpoint checkpoints/voices.pt --minutes 60 --resume > voices.log 2>&1 &

Each step draws random 1 s crops of training phrases (never the held-out ones), feeds the tracker's
f0 and loudness and the instrument's z point plus Gaussian noise (so timbre moves smoothly between
the points) through the model from a zero state, synthesises the controls with the torch mirror of
the runtime synth, and minimises the multi-resolution STFT loss (spectral convergence plus log
magnitude) against the render. The checkpoint (weights, Adam's moments in float16, step, elapsed
time, loss log) is saved every --save-every seconds and at the end; `kill PID` finishes the step
and saves. One torch thread: the machine is shared with audio work.
"""

from __future__ import annotations

import argparse
import platform
import signal
import time
from pathlib import Path

import numpy as np
import torch

from liveengine.training.model import MultiResolutionSTFTLoss
from liveengine.training.train import load, save
from liveengine.training.voices_config import instrument_points
from liveengine.training.voices_model import StreamVoice, TorchSynth, VoiceConfig, warm_start

RESOLUTIONS = ((1024, 256), (512, 128), (256, 64), (128, 32))
Z_NOISE = 0.08


class VoiceData:
    """The training (or held-out) phrases of phrases.npz, as float32 audio and per-frame labels."""

    def __init__(self, data: Path, split: str = "train") -> None:
        d = np.load(data / "phrases.npz")
        keep = d["split"] == split
        self.audio = d["audio"][keep].astype(np.float32) / 32767.0
        self.f0 = d["f0_hz"][keep].astype(np.float32)
        self.loudness = d["loudness_db"][keep].astype(np.float32)
        self.instrument = d["instrument"][keep].astype(np.int64)
        self.names = [str(n) for n in d["names"]]
        self.sample_rate, self.hop = int(d["sample_rate"]), int(d["hop"])
        points = instrument_points()
        self.points = np.array([points[n] for n in self.names], np.float32)

    def batch(self, rng: np.random.Generator, size: int, frames: int):
        rows = rng.integers(0, len(self.audio), size)
        starts = rng.integers(0, self.f0.shape[1] - frames + 1, size)
        f0 = np.stack([self.f0[r, s:s + frames] for r, s in zip(rows, starts)])
        loud = np.stack([self.loudness[r, s:s + frames] for r, s in zip(rows, starts)])
        audio = np.stack([self.audio[r, s * self.hop:(s + frames) * self.hop] for r, s in zip(rows, starts)])
        z = self.points[self.instrument[rows]][:, None, :] + rng.normal(0, Z_NOISE, (size, 1, 2)).astype(np.float32)
        z = np.repeat(z, frames, axis=1)
        return (torch.from_numpy(f0), torch.from_numpy(loud), torch.from_numpy(z), torch.from_numpy(audio))


def step_loss(model: StreamVoice, synth: TorchSynth, mrstft: MultiResolutionSTFTLoss, f0, loud, z, audio, offsets=None):
    state = torch.zeros(f0.shape[0], model.state_size)
    amp, harm, noise, _ = model(f0, loud, z, state)
    pred = synth(f0, amp, harm, noise, offsets)
    sc, mag = mrstft(pred, audio)
    return sc + mag, {"sc": float(sc.detach()), "mag": float(mag.detach())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("training_data/voices"))
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/voices.pt"))
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--init-from", type=Path, help="start a new run from another voice checkpoint's weights "
                        "(e.g. the 16 kHz checkpoints/voices.pt for a 32 kHz model; its new noise bands start as its top band)")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time for this run")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps of this run (0: by time)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=200, help="frames per crop (200 = 1 s)")
    parser.add_argument("--lr", type=float, default=None, help="Adam's learning rate (default 1e-3; resuming: the checkpoint's)")
    parser.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.init_from and not args.init_from.is_file():
        parser.error(f"--init-from {args.init_from}: no such checkpoint file")
    if args.init_from and args.resume and args.checkpoint.exists():
        parser.error(f"--init-from and --resume: {args.checkpoint} exists, so --resume would continue it and ignore "
                     f"--init-from; give one of them (or another --checkpoint)")
    torch.set_num_threads(args.threads)

    data = VoiceData(args.data, "train")
    model = StreamVoice(VoiceConfig.for_rate(data.sample_rate))  # the data's rate sets the model's (voices_config.RATES)
    synth = TorchSynth.for_config(model.cfg)
    mrstft = MultiResolutionSTFTLoss(RESOLUTIONS)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr if args.lr is not None else 1e-3)
    state = {"step": 0, "seconds": 0.0, "log": [], "machine": platform.processor() or platform.machine()}
    if args.resume and args.checkpoint.exists():
        state = load(args.checkpoint, model, optimizer)
        if args.lr is not None:  # else the checkpoint's learning rate
            for group in optimizer.param_groups:
                group["lr"] = args.lr
        state.setdefault("lr_from_step", [])
        state["lr_from_step"].append([state["step"], optimizer.param_groups[0]["lr"]])
        print(f"resumed at step {state['step']}, {state['seconds'] / 60:.1f} min trained, lr {optimizer.param_groups[0]['lr']:g}", flush=True)
    elif args.init_from:
        state["init_from"] = warm_start(model, args.init_from)
        print(f"warm start: {state['init_from']}", flush=True)
    rng = np.random.default_rng(args.seed + state["step"])

    stop: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    start = time.monotonic()
    last_save = start
    run_steps = 0
    window: list[float] = []
    try:
        while not stop and time.monotonic() - start < args.minutes * 60 and (not args.steps or run_steps < args.steps):
            t0 = time.monotonic()
            f0, loud, z, audio = data.batch(rng, args.batch, args.frames)
            offsets = torch.from_numpy(rng.integers(0, synth.tables.shape[1], args.batch))
            loss, parts = step_loss(model, synth, mrstft, f0, loud, z, audio, offsets)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            optimizer.step()
            state["step"] += 1
            run_steps += 1
            state["seconds"] += time.monotonic() - t0
            window.append(float(loss.detach()))
            if state["step"] % 25 == 0:
                entry = {"step": state["step"], "minutes": round(state["seconds"] / 60, 2), "loss": round(float(np.mean(window)), 4)}
                state["log"].append(entry)
                window = []
                print(entry, f"{(time.monotonic() - t0):.2f} s/step", flush=True)
            if time.monotonic() - last_save > args.save_every:
                save(args.checkpoint, model, optimizer, state)
                last_save = time.monotonic()
    finally:
        signal.signal(signal.SIGTERM, previous)
        save(args.checkpoint, model, optimizer, state)
        print(f"saved {args.checkpoint}: step {state['step']}, {state['seconds'] / 60:.1f} min trained", flush=True)


if __name__ == "__main__":
    main()
