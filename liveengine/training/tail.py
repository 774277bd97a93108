"""A decay tail for a trained 1 s drum model: the window grows, and every bin rings on past the first second.

    python -m liveengine.training.tail --checkpoint checkpoints/drums5.pt --out models_onnx/drums8 --name drums8 \
        --plane-from models_onnx/drums5

A 1 s drum decoder has learnt the data set's 50 ms fade where a sound was cut at 1 s, so a cymbal
or open hat still ringing at -20 dB ends in that fade (cut), or, slowed down by it, on a bed of
hiss. This wraps the decoder, unchanged, in a longer window (1.3 s by default). Its frames up to
the last one untouched by the learnt fade (0.93 s) are the decoder's own; past it, each bin
continues its own last 22 frames (0.81 to 0.93 s): the level and the slope of a least-squares line
through their log magnitude (before the decoder's clamp), and the phase advance of its last frame,
so the tail has the decoder's own spectrum and texture. The slope is at least `min_decay` (80 dB/s
by default: from a cymbal's -18 dB at 0.93 s, under -40 dB, not audibly cut, before the window's
last 50 ms, which fade as the data set's do). Nothing is learnt: the first 0.93 s are the
decoder's, and the bench prices the tail against the held-out sounds over the longer window
(bench/model_quality.py, "ours_at_1.3s").

The encoder reads the first second of its longer input, faded as the 1 s data set fades a cut
sound, so a sound encodes to the point the 1 s model gives it, and a fit compares the first second
(metadata liveengine.fit_length): the tail follows from the decoder's last frames. With `--descent N` the exported
encoder then checks its guess, N steps down the spectral distance through the decoder's first second (descent.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liveengine.training.data import FADE_S

FIT_FRAMES = 22  # frames the tail's line is fitted through (22 x 256 samples: 0.13 s at 44.1 kHz)


def seam_frame(cfg) -> int:
    """The last STFT frame of a `cfg` decoder whose window ends before the data set's fade: later ones carry the learnt fade."""
    return int((cfg.length - round(FADE_S * cfg.sample_rate) - cfg.n_fft // 2) // cfg.hop)


class DecayTail(nn.Module):
    """z -> magnitude, phase over a longer window: `decoder`'s frames up to the seam, then each bin's own decay.

    The decoder's output layers are 1x1 convolutions of its last hidden frames `h` (64 channels), so the tail is built
    there, 8x smaller than in its 513 bins, and the output layers run once on each frame: a line through
    the fitted frames of `h` is a line through their log magnitude, and the phase's running sum of increments is
    the increment layer applied to the running sum of `h`. That also replaces the decoder's running sum over 513
    bins (a quarter of its run time) by one over 64 channels."""

    def __init__(self, decoder: nn.Module, cfg, seconds: float = 0.3, min_decay: float = 80.0) -> None:
        super().__init__()
        if seconds <= FADE_S:
            raise ValueError(f"a tail of {seconds} s is too short; it must be longer than the {FADE_S} s fade")
        if not min_decay >= 0:
            raise ValueError(f"a least decay of {min_decay} dB/s would let the tail grow louder; it must be 0 dB/s or more")
        if getattr(decoder, "noise", None) is not None:
            raise ValueError("the tail continues coherent phases; a decoder with a noise head (noise_phase) is not supported")
        self.decoder = decoder
        self.seam = seam_frame(cfg)
        if self.seam < FIT_FRAMES:
            raise ValueError(f"a {cfg.length}-sample window has only {self.seam + 1} frames before its fade; the tail needs {FIT_FRAMES}")
        self.cfg = dataclasses.replace(cfg, length=cfg.length + int(round(seconds * cfg.sample_rate)))
        self.min_decay = float(min_decay)
        head, frames = self.seam + 1, self.cfg.frames
        x = torch.arange(-FIT_FRAMES + 1, 1, dtype=torch.float64)
        centred = x - x.mean()
        # a least-squares line's value at the seam and its slope per frame are weighted sums of the fitted frames
        self.register_buffer("slope_weights", (centred / (centred ** 2).sum()).float(), persistent=False)
        self.register_buffer("level_weights", (1.0 / FIT_FRAMES - x.mean() * centred / (centred ** 2).sum()).float(), persistent=False)
        self.max_slope = -min_decay * cfg.hop / cfg.sample_rate * math.log(10) / 20  # the least decay, in nepers per frame
        steps = torch.arange(1, frames - head + 1, dtype=torch.float32)
        self.register_buffer("tail_steps", steps, persistent=False)  # the tail's frames: 1, 2, ... after the seam
        # The window's last 50 ms fade, frame by frame, to the decoder's floor at its last frame. A frame sounds half a
        # window either side of its centre, so the first one turned down is centred half a window into those 50 ms:
        # nothing before them is faded (the grid check, pad_endings.py, reads the sound there).
        centres = torch.arange(frames, dtype=torch.float64) * cfg.hop
        start, end = self.cfg.length - round(FADE_S * cfg.sample_rate) + cfg.n_fft // 2, centres[-1]
        gain = ((end - centres[head:]) / (end - start)).clamp(1e-12, 1.0)
        self.register_buffer("log_fade", torch.log(gain).float(), persistent=False)  # over the tail's frames
        # The phase's part that does not depend on z, over the longer window: the decoder's base phase (each bin's
        # centre-frequency advance) and its increment layer's bias summed over frames, modulo 2 pi.
        k = np.arange(cfg.bins)[:, None].astype(np.float64)
        t = np.arange(frames)[None, :].astype(np.float64)
        bias = decoder.increment.bias.detach().double().numpy()[:, None]
        offset = np.mod(2 * np.pi * k * cfg.hop / cfg.n_fft * t + bias * (t + 1), 2 * np.pi)
        self.register_buffer("phase_offset", torch.from_numpy(offset.astype(np.float32))[None], persistent=False)

    def forward(self, z: torch.Tensor):
        dec = self.decoder
        head = self.seam + 1
        h = dec.hidden(z)[:, :, :head]
        fitted = h[:, :, head - FIT_FRAMES:]
        h_level, h_slope = fitted @ self.level_weights, fitted @ self.slope_weights
        steps = self.tail_steps
        # the slope in bins (the layer's bias drops out of a slope), held to the least decay where it is slower
        slope = F.conv1d(h_slope[:, :, None], dec.magnitude.weight)
        held = torch.clamp(self.max_slope - slope, max=0.0)
        # The hold and the fade touch the tail's frames only: added there, not over the whole window (two passes
        # over 513 bins x every frame fewer, for one copy of the whole window when the two parts are joined).
        tail = dec.magnitude(h_level[:, :, None] + h_slope[:, :, None] * steps) + held * steps + self.log_fade
        log_magnitude = torch.cat([dec.magnitude(h), tail], dim=2)
        magnitude = torch.exp(torch.clamp(log_magnitude, -16.0, 7.0))
        running = torch.cumsum(h, dim=2)
        running_all = torch.cat([running, running[:, :, -1:] + h[:, :, -1:] * steps], dim=2)
        phase = F.conv1d(running_all, dec.increment.weight) + self.phase_offset
        return magnitude, phase


class FirstSecond(nn.Module):
    """An encoder of a 1 s model reading the first second of a longer window, faded as the 1 s data set fades a cut sound."""

    def __init__(self, encoder: nn.Module, length: int, sample_rate: int) -> None:
        super().__init__()
        self.inner = encoder
        self.length = length
        fade = int(round(FADE_S * sample_rate))
        ramp = torch.ones(length)
        ramp[-fade:] = torch.linspace(1.0, 0.0, fade)
        self.register_buffer("ramp", ramp, persistent=False)

    @property
    def features(self):
        return self.inner.features

    def forward(self, audio: torch.Tensor):
        return self.inner(audio[:, :self.length] * self.ramp)


class TailModel(nn.Module):
    """What export() needs of a drum VAE (decoder, encoder, classifier, cfg), with the tail's longer window."""

    def __init__(self, model: nn.Module, seconds: float, min_decay: float) -> None:
        super().__init__()
        self.decoder = DecayTail(model.decoder, model.cfg, seconds, min_decay)
        self.cfg = self.decoder.cfg
        self.fit_length = model.cfg.length  # a fit compares the first second, the decoder's own; the tail follows from it
        self.encoder = FirstSecond(model.encoder, model.cfg.length, model.cfg.sample_rate)
        self.classifier = model.classifier


def earlier_identities(folder: Path, decoder: nn.Module, latent_dim: int, points: int = 16) -> tuple[str, ...]:
    """`folder`'s hash and the earlier ones it names, once its decoder.onnx is checked to render what `decoder` renders at
    random points (the decoder unchanged: a state file's points sound the same): SystemExit, in one sentence, if not."""
    from liveengine.decoders.contract import ModelError
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    try:
        loaded = OnnxDecoder(folder)
    except (ModelError, OSError) as error:
        raise SystemExit(f"--same-points-as {folder}: not a model folder that loads ({error})") from None
    z = np.random.default_rng(0).standard_normal((points, loaded.latent_dim)).astype(np.float32) * 1.5
    same = loaded.info.output == "stft" and loaded.latent_dim == latent_dim
    if same:
        magnitude, phase = loaded.session.run(["magnitude", "phase"], {"z": z})
        with torch.no_grad():
            ours = [part.numpy() for part in decoder(torch.from_numpy(z))]
        same = ours[0].shape == magnitude.shape and float(np.max(np.abs(ours[0] * np.exp(1j * ours[1]) - magnitude * np.exp(1j * phase)))) \
            <= 1e-3 * float(np.max(magnitude))  # the spectra as complex numbers: magnitude and phase both
    if not same:
        raise SystemExit(f"--same-points-as {folder}: its decoder renders other sounds than this one; a state file saved with it would "
                         "not sound the same, so its hash is not carried over (export to a new folder, under a new name)")
    return (loaded.info.identity, *loaded.info.earlier_identities)


def main(argv: list[str] | None = None) -> None:
    from liveengine.training import descent
    from liveengine.training.export import export, latent_statistics, plane_of
    from liveengine.training.model import DrumVAE
    from liveengine.training.train import config_from, load

    parser = argparse.ArgumentParser(description="Export a 1 s drum model with a decay tail: a longer window, the first second unchanged.")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums5.pt"))
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", required=True, help="the model's name in its metadata")
    parser.add_argument("--seconds", type=float, default=0.3, help="how much longer the window gets (default 0.3 s)")
    parser.add_argument("--min-decay", type=float, default=80.0, help="the tail's least decay in dB/s (default 80)")
    parser.add_argument("--plane-from", type=Path, default=None, help="a model folder whose pad plane to keep (the 1 s model's)")
    parser.add_argument("--same-points-as", type=Path, default=None, metavar="FOLDER",
                        help="an earlier export of this model (its encoder or head changed, not its decoder): its hashes go into "
                             "the new one's earlier_identities, so state files saved with it keep loading; checked by decoding")
    descent.add_options(parser)
    args = parser.parse_args(argv)
    descent.check_options(args)
    if not args.checkpoint.is_file():
        raise SystemExit(f"--checkpoint {args.checkpoint}: no such checkpoint; give a 1 s drum model's (checkpoints/drums5.pt)")
    torch.set_num_threads(1)
    model = DrumVAE(config_from(args.checkpoint))
    state = load(args.checkpoint, model, None)
    model.eval()
    if args.plane_from is not None:
        try:
            stats = plane_of(args.plane_from, model.cfg.latent_dim)
        except ValueError as error:
            raise SystemExit(str(error)) from None
    else:
        sounds = np.load(args.data / "sounds.npz")
        train = sounds["split"] == "train"
        stats = latent_statistics(model, sounds["audio"][train].astype(np.float32) / 32767.0, sounds["classes"][train])
    descent.descend_after(model, args)
    try:
        tailed = TailModel(model, args.seconds, args.min_decay)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    seam = tailed.decoder.seam + 1
    trained = f" ({state['step']} steps)" if state["step"] else ""  # reencode --tune-steps 0 joins trained encoders as they are
    joined = f", its encoder the mean of {len(model.cfg.mean_of)} encoders ({', '.join(model.cfg.mean_of)})," if model.cfg.encoder == "mean" else ""
    if args.descent:
        joined += f"{'' if joined else ','} its point then {args.descent} step{'s' if args.descent != 1 else ''} down the spectral distance (the first {args.descent_rate:g}, halving),"
    description = (f"{args.checkpoint.stem}{trained}{joined} with a decay tail: its first {seam * model.cfg.hop / model.cfg.sample_rate:.2f} s "
                   f"unchanged, then each bin continues its own decay, at least {args.min_decay:g} dB/s, to {tailed.cfg.length / model.cfg.sample_rate:g} s.")
    earlier = () if args.same_points_as is None else earlier_identities(args.same_points_as, tailed.decoder, model.cfg.latent_dim)
    export(tailed, args.out, stats, description, name=args.name, earlier=earlier)
    if (args.data / "manifest.csv").exists():
        shutil.copyfile(args.data / "manifest.csv", args.out / "dataset.csv")
    print(f"exported {args.out}: {tailed.cfg.length} samples ({tailed.cfg.frames} frames, {tailed.decoder.seam + 1} from the decoder)")


if __name__ == "__main__":
    main()
