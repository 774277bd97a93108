"""Train the drum VAE on the CPU, resumably, with progress output.

    nohup nice -n 15 python -m liveengine.training.train --data training_data \
        --checkpoint checkpoints/drums.pt --minutes 90 > train.log 2>&1 &

A run picks up from --checkpoint when it exists (weights, optimizer state, step, elapsed
training time, the log of losses) and saves it every --save-every seconds and at the end.
One torch thread by default: the machine is shared with latency-sensitive audio work.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from liveengine.training.model import Config, DrumVAE, MultiResolutionSTFTLoss, log_l1, mel_filterbank, stft_mag

# The line-evenness term (--smooth-weight): straight lines between pairs of a batch's points, decoded at LINE_POINTS
# points and compared in the bench's smoothness feature (log mel power of the peak-normalised sound, 2048/512, 128 bands).
LINE_POINTS = 9
LINE_FFT, LINE_HOP, LINE_MELS = 2048, 512, 128
LINE_POWER_MEAN = 4.0  # a power mean of the steps: near their largest, with a gradient for every step
MIN_STRAIGHT_STEP = 1e-3  # mean |log-mel| change per step under which a line's ends are the same sound


def load_training_set(data: Path, class_power: float = 0.5):
    aug = np.load(data / "train_aug.npz")
    sounds = np.load(data / "sounds.npz")
    audio = aug["audio"].astype(np.float32) / 32767.0
    classes = aug["classes"].astype(np.int64)
    origin = aug["origin"]
    source = sounds["source"][origin]
    group = np.array([s.split("/")[0] for s in source])
    # Balance the sources (the rendered GM kits outnumber the rest) and soften class imbalance.
    weights = sampling_weights(classes, group, {"fluid-soundfont-gm": 0.5, "sonic-pi-samples": 0.25, "hydrogen-drumkits": 0.25}, class_power)
    held = sounds["split"] == "heldout"
    heldout = sounds["audio"][held].astype(np.float32) / 32767.0
    return audio, classes, weights, heldout


def sampling_weights(classes: np.ndarray, group: np.ndarray | None = None, share: dict | None = None,
                     class_power: float = 0.5) -> np.ndarray:
    """Probabilities of drawing each training sound: each group (a source) gets its `share` of the draws
    (all groups alike where None), and class imbalance is softened: each class's weight is divided by its
    share to the power `class_power` (0.5, the square root, softens; 1 draws every class equally often;
    -1, unlabelled, counts as a class of its own)."""
    weights = np.ones(len(classes))
    if group is not None:
        for g in np.unique(group):
            weights[group == g] /= (group == g).sum()
        for g, s in (share or {}).items():
            weights[group == g] *= s
    for c in np.unique(classes):
        mask = classes == c
        weights[mask] /= weights[mask].sum() ** class_power
    return weights / weights.sum()


class Running:
    """Loss parts summed over the steps since the last log line; `line()` gives their means and starts again."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.steps = 0

    def add(self, parts: dict[str, float]) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.steps += 1

    def line(self) -> str:
        text = " ".join(f"{k} {v / max(self.steps, 1):.4f}" for k, v in self.sums.items())
        self.sums, self.steps = {}, 0
        return text


def save(path: Path, model, optimizer, state: dict) -> None:
    """Weights in float32, Adam's moments in float16: a checkpoint small enough to commit."""
    opt = optimizer.state_dict()
    packed = {}
    for index, entry in opt["state"].items():  # copies: the live state must stay float32
        entry = dict(entry)
        if "exp_avg" in entry:
            entry["exp_avg"] = entry["exp_avg"].to(torch.float16)
        if "exp_avg_sq" in entry:  # its square root, so that float16 keeps the small values
            entry["exp_avg_sq"] = entry["exp_avg_sq"].sqrt().to(torch.float16)
        packed[index] = entry
    opt = {"state": packed, "param_groups": opt["param_groups"]}
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.cfg.to_dict(), "model": model.state_dict(), "optimizer": opt, "state": state}, tmp)
    os.replace(tmp, path)


def load(path: Path, model, optimizer) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        opt = ckpt["optimizer"]
        for entry in opt["state"].values():
            if "exp_avg" in entry:
                entry["exp_avg"] = entry["exp_avg"].float()
            if "exp_avg_sq" in entry:
                entry["exp_avg_sq"] = entry["exp_avg_sq"].float() ** 2  # stored as its square root
        optimizer.load_state_dict(opt)
    return ckpt["state"]


def warm_start(model: DrumVAE, path: Path) -> dict:
    """Copy the weights `path` has into `model`: what it started from, and which of the model's tensors it lacked
    (those keep their initial values, e.g. a head the older model did not have)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    if unexpected:
        raise ValueError(f"{path} has weights this model does not: {', '.join(unexpected)}; warm-start only from the same model or a smaller one.")
    return {"checkpoint": path.name, "step": int(ckpt["state"]["step"]), "minutes": round(ckpt["state"]["train_seconds"] / 60, 1),
            "new_tensors": list(missing)}


def config_from(ckpt_path: Path | None) -> Config:
    if ckpt_path and ckpt_path.exists():
        d = torch.load(ckpt_path, map_location="cpu", weights_only=False)["config"]
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return Config(**d)
    return Config()


def new_model_config(cfg: Config, noise_phase: bool = False, seconds: float | None = None, hop: int | None = None) -> Config:
    """`cfg` (the defaults, or the warm start's) with a new model's options: the noise head, another window or hop.

    The decoder upsamples its start frames 8x, so they are set to cover the STFT frames; with the same frame count
    (2 s at hop 512 against 1 s at hop 256) every layer keeps its shape and a warm start copies all of them."""
    from dataclasses import replace

    if seconds is not None and not 0.1 <= seconds <= 10.0:
        raise ValueError(f"window {seconds:g} s is out of range; allowed 0.1 to 10 s")
    if hop is not None and (hop < 1 or cfg.n_fft % hop):
        raise ValueError(f"hop {hop} does not divide n_fft {cfg.n_fft}; allowed: a divisor of {cfg.n_fft}")
    cfg = replace(cfg, noise_phase=cfg.noise_phase or noise_phase,
                  length=cfg.length if seconds is None else int(round(seconds * cfg.sample_rate)),
                  hop=cfg.hop if hop is None else hop)
    return replace(cfg, dec_frames0=max(cfg.dec_frames0, -(-cfg.frames // 8)))


def losses(model: DrumVAE, mrstft: MultiResolutionSTFTLoss, audio: torch.Tensor, classes: torch.Tensor | None, beta: float,
           sample: bool = True, class_weight: float = 0.1, head: torch.nn.Module | None = None,
           envelope: tuple[torch.nn.Module, float] | None = None,
           hold: tuple[torch.Tensor, torch.Tensor, float | torch.Tensor] | None = None) -> tuple[torch.Tensor, dict]:
    """The drum model's loss on a batch; the class term from `head` (logits of z) where given, else the model's own;
    `envelope` (model.CepstralDistance, weight) adds that weight x the mel-cepstral distance; `hold` (rows, magnitudes,
    weights) adds the weight (one, or one per row held) x the log-magnitude distance of the decoder's renders of those
    rows (a boolean mask) from the magnitudes given (reencode.py: another model's renders of the same sounds)."""
    mean, logvar = model.encoder(audio)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
    magnitude, phase = model.decoder(z)
    pred = model.synthesise(magnitude, phase)
    sc, mag = mrstft(pred, audio)
    target_mag = stft_mag(audio, model.cfg.n_fft, model.cfg.hop, model.window)
    direct = log_l1(magnitude, target_mag)
    kl = torch.mean(torch.sum(0.5 * (mean ** 2 + torch.exp(logvar) - 1.0 - logvar), dim=1))
    total = sc + mag + 0.5 * direct + beta * kl
    parts = {"sc": sc.item(), "logmag": mag.item(), "direct": direct.item(), "kl": kl.item()}
    if hold is not None and hold[0].any():
        held = log_l1(magnitude[hold[0]], hold[1], per_row=True)
        total = total + torch.mean(hold[2] * held)
        parts["hold"] = held.mean().item()
    if envelope is not None:
        cepstral = envelope[0](pred, audio)
        total = total + envelope[1] * cepstral
        parts["mcd"] = cepstral.item()
    if classes is not None:
        labelled = classes >= 0
        if labelled.any():
            logits = (head if head is not None else model.classifier)(z[labelled])
            ce = F.cross_entropy(logits, classes[labelled])
            total = total + class_weight * ce
            parts["ce"] = ce.item()
            parts["acc"] = float((logits.argmax(1) == classes[labelled]).float().mean())
    parts["total"] = total.item()
    return total, parts


class LineEvenness(torch.nn.Module):
    """How unevenly the decoder's sound changes along straight lines in z: for each line between two points, the power
    mean of its steps (the feature distance between neighbouring points) over the straight step, the endpoints'
    distance over the number of steps. By the triangle inequality it is at least 1, reached only where the sound moves
    at an even pace along a straight path; a jump in the middle of a line raises it. Its log is the loss (0 at best).

    Both the steps and the endpoints' distance carry gradients: the ratio is blind to scale, so the decoder cannot
    lower it by making all sounds alike (with the distance detached it did: a first run's reconstructions fell apart
    within 300 steps). Pulling the endpoints apart would lower it too, but they are decoded training points, which the
    reconstruction loss keeps where the sounds are. bench/model_quality.py measures the same thing on held-out lines:
    the largest of 16 steps over their mean."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(cfg.sample_rate, LINE_FFT, LINE_MELS, fmin=20.0).astype(np.float32)),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(LINE_FFT), persistent=False)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        audio = audio / (audio.abs().amax(dim=1, keepdim=True) + 1e-6)
        spec = torch.stft(audio, LINE_FFT, LINE_HOP, window=self.window, center=True, return_complex=True)
        return torch.log(torch.matmul(self.mel, spec.real ** 2 + spec.imag ** 2) + 1e-8)

    @staticmethod
    def steps(feats: torch.Tensor) -> torch.Tensor:
        """[..., points, mels, frames] features along lines -> [..., points - 1]: the mean |change| between neighbours."""
        return torch.mean(torch.abs(feats[..., 1:, :, :] - feats[..., :-1, :, :]), dim=(-2, -1))

    def forward(self, model: DrumVAE, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b [lines, latent]: the lines' ends (no gradient to the encoder: the caller detaches them). Returns the mean
        log unevenness."""
        t = torch.linspace(0.0, 1.0, LINE_POINTS, device=a.device)[None, :, None]
        z = ((1 - t) * a[:, None] + t * b[:, None]).reshape(-1, a.shape[1])
        feats = self.features(model.synthesise(*model.decoder(z)))
        feats = feats.reshape(len(a), LINE_POINTS, *feats.shape[1:])
        steps = self.steps(feats)
        straight = (torch.mean(torch.abs(feats[:, -1] - feats[:, 0]), dim=(1, 2)) / (LINE_POINTS - 1))
        power_mean = (torch.mean(steps ** LINE_POWER_MEAN, dim=1) + 1e-12) ** (1.0 / LINE_POWER_MEAN)
        # A line between two draws of the same sound has no length to even out (its log would be noise over nothing).
        real = straight > MIN_STRAIGHT_STEP
        if not bool(real.any()):
            return power_mean.sum() * 0.0
        return torch.mean(torch.log(power_mean[real] / straight[real]))


def line_smoothness(model: DrumVAE, points: np.ndarray, lines: int = 30, steps: int = 16, seed: int = 0) -> dict:
    """The bench's smoothness figure (bench/model_quality.py) on `points` [n, latent] (encodings): `lines` straight lines
    between random pairs, decoded at steps + 1 points; per line the largest step over the mean step in LineEvenness's
    feature (1 is even; the drum model goal is at most 3). Returns the worst and median over the lines."""
    if len(points) < 2:
        return {"lines": 0}
    rng = np.random.default_rng(seed)
    evenness = LineEvenness(model.cfg)
    t = torch.linspace(0.0, 1.0, steps + 1)[:, None]
    ratios = []
    model.eval()
    with torch.no_grad():
        for _ in range(lines):
            a, b = (torch.from_numpy(np.asarray(points[i], np.float32)) for i in rng.choice(len(points), 2, replace=False))
            feats = evenness.features(model.synthesise(*model.decoder((1 - t) * a + t * b)))
            step = evenness.steps(feats)
            ratios.append(float(step.max() / step.mean().clamp_min(1e-9)))
    return {"lines": lines, "points_per_line": steps + 1, "worst": round(max(ratios), 3), "median": round(float(np.median(ratios)), 3)}


def train_step(model: DrumVAE, optimizer, mrstft: MultiResolutionSTFTLoss, x: torch.Tensor, y: torch.Tensor | None, beta: float,
               class_weight: float = 0.1, evenness: LineEvenness | None = None, smooth_weight: float = 0.0,
               lines: int = 4) -> dict:
    """One optimiser step on batch `x` (labels `y`, -1 unlabelled, or None): the loss parts as floats. With
    `smooth_weight`, `lines` straight lines between pairs of the batch's encoder means add the line-evenness term."""
    total, parts = losses(model, mrstft, x, y, beta, class_weight=class_weight)
    if smooth_weight > 0 and evenness is not None:
        with torch.no_grad():  # a second encoder pass (its batch norm's running statistics see this batch twice)
            mean = model.encoder(x)[0]
        uneven = evenness(model, mean[:lines], mean[lines:2 * lines])
        total = total + smooth_weight * uneven
        parts["uneven"] = uneven.item()
        parts["total"] = total.item()
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    if not (torch.isfinite(total) and torch.isfinite(norm)):
        # One bad batch must not turn every weight into NaN: the step is skipped, and counted by the caller.
        optimizer.zero_grad(set_to_none=True)
        parts["skipped"] = 1.0
        return parts
    optimizer.step()
    return parts


def reconstruction_figures(model: DrumVAE, mrstft: MultiResolutionSTFTLoss, audio: np.ndarray, batch: int = 32) -> dict:
    """Encode (the mean) and decode `audio` [n, length]: spectral convergence and log-magnitude L1 (multi-resolution,
    lower is better) averaged over the sounds, and their sum, the MR-STFT distance. The model is left in eval mode."""
    model.eval()
    sc = logmag = 0.0
    with torch.no_grad():
        for start in range(0, len(audio), batch):
            x = torch.from_numpy(np.ascontiguousarray(audio[start:start + batch], np.float32))
            _, parts = losses(model, mrstft, x, None, 0.0, sample=False)
            sc += parts["sc"] * len(x)
            logmag += parts["logmag"] * len(x)
    sc, logmag = sc / len(audio), logmag / len(audio)
    return {"sc": round(sc, 4), "logmag": round(logmag, 4), "mrstft": round(sc + logmag, 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the drum VAE (resumable).")
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums.pt"))
    parser.add_argument("--minutes", type=float, default=60.0, help="stop after this much training time in this run")
    parser.add_argument("--max-steps", type=int, default=0, help="stop at this total step (0: no limit)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.02, help="KL weight after warm-up")
    parser.add_argument("--warmup", type=int, default=3000, help="steps of KL warm-up")
    parser.add_argument("--save-every", type=float, default=180.0, help="seconds")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-power", type=float, default=0.5,
                        help="each class's draws are divided by its share to this power (0.5 softens the imbalance, 1 balances the classes)")
    parser.add_argument("--class-weight", type=float, default=0.1, help="weight of the classifier's cross-entropy in the loss")
    parser.add_argument("--noise-phase", action="store_true", help="a new model gets the decoder's noise head (model.Config.noise_phase)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="a new model's window (default: that of --init-from, or 1 s); the data must be built with the same --seconds")
    parser.add_argument("--hop", type=int, default=None,
                        help="a new model's STFT hop (default: that of --init-from, or 256); it must divide n_fft")
    parser.add_argument("--smooth-weight", type=float, default=0.0,
                        help="weight of the line-evenness term (LineEvenness: lines between the batch's points decoded evenly; 0: off)")
    parser.add_argument("--smooth-lines", type=int, default=4, help="lines per step for --smooth-weight (at most half the batch)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="a new model (no --checkpoint yet) starts from this checkpoint's weights; layers it lacks keep their initial values")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = config_from(args.checkpoint if args.checkpoint.exists() else args.init_from)
    if not args.checkpoint.exists():
        cfg = new_model_config(cfg, args.noise_phase, args.seconds, args.hop)
    model = DrumVAE(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = {"step": 0, "train_seconds": 0.0, "history": [], "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
             "threads": args.threads}
    if args.checkpoint.exists():
        state = load(args.checkpoint, model, optimizer)
        for group in optimizer.param_groups:  # this run's --lr, not the saved one
            group["lr"] = args.lr
        print(f"resumed from {args.checkpoint} at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)", flush=True)
    elif args.init_from is not None:
        state["init_from"] = warm_start(model, args.init_from)
        print(f"warm start from {args.init_from}: {state['init_from']}", flush=True)
    state.setdefault("runs", []).append({"from_step": state["step"], "lr": args.lr, "beta": args.beta, "warmup": args.warmup,
                                         "batch": args.batch, "threads": args.threads, "class_power": args.class_power,
                                         "class_weight": args.class_weight, "smooth_weight": args.smooth_weight,
                                         "smooth_lines": args.smooth_lines})
    params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {params} (decoder {sum(p.numel() for p in model.decoder.parameters())})", flush=True)

    audio, classes, weights, heldout = load_training_set(args.data, args.class_power)
    if audio.shape[1] != cfg.length:
        raise SystemExit(f"{args.data} holds sounds of {audio.shape[1]} samples, the model's window is {cfg.length}; "
                         f"build the data with --seconds {cfg.length / cfg.sample_rate:g} or train a model of that window.")
    print(f"training sounds (with augmentation): {len(audio)}; held-out sounds for monitoring: {len(heldout)}", flush=True)
    rng = np.random.default_rng(args.seed + state["step"])
    mrstft = MultiResolutionSTFTLoss()
    evenness = LineEvenness(cfg) if args.smooth_weight > 0 else None
    if not args.smooth_weight >= 0:
        raise SystemExit(f"--smooth-weight {args.smooth_weight}: allowed 0 (off) or more")
    if args.smooth_weight > 0 and not 0 < args.smooth_lines <= args.batch // 2:
        raise SystemExit(f"--smooth-lines {args.smooth_lines}: allowed 1 to {args.batch // 2} (half of --batch {args.batch})")
    val = torch.from_numpy(heldout[np.random.default_rng(1).choice(len(heldout), min(48, len(heldout)), replace=False)])

    stop = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))  # `kill PID`: finish the step, save, exit
    start = time.monotonic()
    last_save = start
    running = Running()
    model.train()
    while True:
        elapsed = time.monotonic() - start
        if stop or elapsed > args.minutes * 60 or (args.max_steps and state["step"] >= args.max_steps):
            break
        idx = rng.choice(len(audio), args.batch, p=weights)
        x = torch.from_numpy(audio[idx])
        if rng.random() < 0.5:  # cheap on-the-fly augmentation: polarity and gain do not change the target's shape
            x = -x
        y = torch.from_numpy(classes[idx])
        beta = args.beta * min(1.0, state["step"] / max(1, args.warmup))
        step_start = time.monotonic()
        parts = train_step(model, optimizer, mrstft, x, y, beta, args.class_weight, evenness, args.smooth_weight, args.smooth_lines)
        state["train_seconds"] += time.monotonic() - step_start
        state["step"] += 1
        if parts.pop("skipped", 0.0):
            state["skipped_steps"] = state.get("skipped_steps", 0) + 1
            print(f"step {state['step']}: a loss or gradient was not finite; step skipped "
                  f"({state['skipped_steps']} so far)", flush=True)
            continue
        running.add(parts)
        if state["step"] % args.log_every == 0:
            print(f"step {state['step']} ({state['train_seconds'] / 60:.1f} min) beta {beta:.4f} " + running.line(), flush=True)
        if time.monotonic() - last_save > args.save_every:
            model.eval()
            with torch.no_grad():
                _, vparts = losses(model, mrstft, val, None, beta, sample=False)
            model.train()
            state["history"].append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2),
                                     "heldout_sc": round(vparts["sc"], 4), "heldout_logmag": round(vparts["logmag"], 4)})
            save(args.checkpoint, model, optimizer, state)
            last_save = time.monotonic()
            print(f"saved {args.checkpoint} at step {state['step']}; held-out sc {vparts['sc']:.4f} logmag {vparts['logmag']:.4f}", flush=True)
    signal.signal(signal.SIGTERM, previous)
    save(args.checkpoint, model, optimizer, state)
    print(f"done: step {state['step']}, {state['train_seconds'] / 60:.1f} min trained; saved {args.checkpoint}", flush=True)


if __name__ == "__main__":
    main()
