"""A class head that listens: the drum model's classifier learnt from what the decoder renders, not from z alone.

    python -m liveengine.training.class_head --checkpoint checkpoints/drums5.pt --model models_onnx/drums8

The contract's classifier reads a point `z` (pad colours and LEDs, the groove kit, `corners`). A head trained on
the training sounds' encodings alone (1,457 labelled sounds, half of them hand percussion) must guess wherever a
held-out kit's sounds land between and beyond those points, and guesses badly there (53% on the held-out kits).
This builds one that listens, in three steps:

1. A listener: a small 2-D CNN over the log-mel picture (64 bands by the window's frames), trained class-balanced
   on re-recordings of the training sounds (augment.kit_like), both as recorded and as the decoder renders them
   from a draw of their encoding. It judges what a rendering sounds like, wherever in the plane it comes from.
2. Distillation: an MLP on `z` learns the listener's judgement of the decoder's renderings at many points (the
   re-recordings' encodings, draws over the latent prior 1.3x as wide as the encodings, and points on lines
   between encodings).
3. The exported classifier.onnx gives `--listener-share` (0.7) of that MLP's probabilities and the rest of the
   model's own head's, the listener's clap going to the own head too (MixedHead): no decoder run when a pad is
   classed. The share is chosen on the default grid, not on the held-out kits: of 0.5, 0.7, 0.85 and 1, the largest
   at which the demo score's six pads keep their classes, both as their points are classed (the pad colours) and
   as their sounds are re-encoded and classed (tests/patch/test_patch_loader.py).

With `--vary` the listener hears the claps and open hats, each nearly one sound in the training data, at other pitches
and damped (augment.varied), as other kits' claps and open hats sound, and the points they are heard at spread where
those land; the listener then needs no `--defer`. With `--studio` its re-recordings also go through the studio effects
(augment.studio), as `reencode --studio` feeds the encoder: measured on `drums19` and not kept (its card).

Only training sounds are learnt from; the held-out kits are read once at the end, for the figure printed. The
listener is kept beside the checkpoint (`<stem>_listener.pt`, 0.4 MB): a second run goes straight to step 2.
The decoder listened to is the checkpoint's, the window of its training sounds; `--model` must be a model whose
decoder starts as that one does (its own export, or the same decoder with a decay tail, tail.py), checked by
decoding. Re-exporting the model (export.py, tail.py) writes the old head again: run this after.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liveengine.training.augment import class_variants, kit_like, studio

FLOOR = 16.0  # the listener hears down to 16 in natural-log power (69 dB) under the picture's loudest cell


def listening_picture(log_mel: torch.Tensor) -> torch.Tensor:
    """[batch, bands, frames] log-mel power -> the listener's input [batch, 1, bands, frames], loudest cell at 1."""
    x = log_mel - log_mel.amax(dim=(1, 2), keepdim=True)
    return torch.clamp(x, min=-FLOOR)[:, None] / (FLOOR / 2) + 1.0


class Listener(nn.Module):
    """Three 3x3 convolutions with 2x2 pooling over the log-mel picture; each of the 8 remaining bands' mean and peak
    over time feed a small head, so where in frequency a sound sits counts and when it sounds does not."""

    def __init__(self, classes: int, bands: int = 64) -> None:
        super().__init__()
        if bands % 8:
            raise ValueError(f"the listener pools the {bands} mel bands 8x; it needs a multiple of 8")
        widths = [1, 16, 32, 64]
        self.convs = nn.ModuleList([nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(3)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(widths[i + 1]) for i in range(3)])
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * 2 * (bands // 8), 64), nn.LeakyReLU(0.2), nn.Linear(64, classes))

    def forward(self, picture: torch.Tensor) -> torch.Tensor:
        x = picture
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(F.leaky_relu(norm(conv(x)), 0.2), 2)
        return self.head(torch.cat([x.mean(3), x.amax(3)], 1).flatten(1))


def load_listener(path: Path, classes: int, bands: int) -> tuple[Listener, dict]:
    """The listener class_head.py kept in `path` (`<checkpoint stem>_listener.pt`), frozen, and the settings it was
    trained with; ValueError naming the file where it is not a listener of `classes` classes over `bands` mel bands."""
    what = f"{path}: not a listener for this model's {classes} classes"
    allowed = "give the `<checkpoint stem>_listener.pt` class_head.py kept"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError):  # torch's own words run to many lines
        raise ValueError(f"{what} (it does not load as a PyTorch file); {allowed}") from None
    listener = Listener(classes, bands)
    try:
        listener.load_state_dict(saved["listener"])
    except (KeyError, RuntimeError, TypeError, IndexError):
        raise ValueError(f"{what} (its weights are not a listener's of {classes} classes over {bands} mel bands); {allowed}") from None
    listener.eval()
    for p in listener.parameters():
        p.requires_grad_(False)
    return listener, saved.get("settings") if isinstance(saved, dict) else None


class LatentHead(nn.Module):
    """z -> class logits: the listening part of classifier.onnx (MixedHead)."""

    def __init__(self, latent_dim: int, classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, classes))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def rendered_log_mel(model, z: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """The decoder's magnitude at `z` as log-mel power, as the encoder's features would read its audio."""
    features = model.encoder.features
    with torch.no_grad():
        return torch.cat([features.log_mel(model.decoder(z[i:i + batch])[0] ** 2) for i in range(0, len(z), batch)])


def augmented_pool(model, audio: np.ndarray, classes: np.ndarray, variants: int, rng: np.random.Generator, batch: int = 64,
                   layer: float = 0.0, open_hats: float = 0.0, vary: float = 0.0, studio_effects: bool = False, vary_cymbals: float = 0.0):
    """`variants` re-recordings of each sound: (log-mel as recorded, log-mel as rendered from a draw of its encoding,
    that draw z, class), each [variants * sounds, ...]. With `layer` > 0 each clap is first, at that chance, layered
    (augment.layered: several hands) before it is re-recorded; with `open_hats` > 0 each open hat is, at that chance,
    replaced by a closed hat of `audio` opened (augment.opened), still labelled open hat; with `vary` > 0 each clap and open
    hat is first, at that chance, `augment.varied` (another pitch, damped), and each cymbal at the chance `vary_cymbals`
    (every one damped); with `studio_effects` each re-recording then goes through `augment.studio` (band limit,
    high-pass, two microphones, bleed, compressor), as `reencode --studio` does."""
    clap = model.cfg.classes.index("clap") if "clap" in model.cfg.classes else -1
    cymbal = model.cfg.classes.index("cymbal") if "cymbal" in model.cfg.classes else -1
    open_hat = model.cfg.classes.index("hat_open") if "hat_open" in model.cfg.classes else -1
    closed_hats = np.flatnonzero(classes == model.cfg.classes.index("hat_closed")) if "hat_closed" in model.cfg.classes else []
    recorded, rendered, points, labels = [], [], [], []
    features = model.encoder.features
    with torch.no_grad():
        for _ in range(variants):
            for i in range(0, len(audio), batch):
                x = torch.from_numpy(np.array(audio[i:i + batch], np.float32))  # a copy: layering must not reach `audio`
                x = kit_like(class_variants(x, classes[i:i + batch], rng, audio, closed_hats, clap, open_hat, layer, open_hats,
                                            vary, cymbal=cymbal, vary_cymbals=vary_cymbals), rng)
                if studio_effects:
                    x = studio(x, rng)
                mean, logvar = model.encoder(x)
                z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
                recorded.append(features(x))
                rendered.append(rendered_log_mel(model, z))
                points.append(z)
                labels.append(torch.from_numpy(classes[i:i + batch].astype(np.int64)))
    return torch.cat(recorded), torch.cat(rendered), torch.cat(points), torch.cat(labels)


def train_listener(pictures: list[torch.Tensor], labels: torch.Tensor, classes: int, steps: int, seed: int, batch: int = 64,
                   log=print, class_power: float = 1.0) -> Listener:
    """A Listener trained on the pictures of every array in `pictures` (each row labelled by `labels`), each class drawn
    by its count to the power 1 - `class_power` (train.sampling_weights: 1 every class equally often)."""
    from liveengine.training.train import sampling_weights

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    listener = Listener(classes, pictures[0].shape[1])
    optimizer = torch.optim.AdamW(listener.parameters(), 2e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=max(steps, 1))
    rows = np.tile(labels.numpy(), len(pictures))
    listener.train()
    draws = rng.choice(len(rows), (steps, batch), p=sampling_weights(rows, class_power=class_power))
    for step, draw in enumerate(draws):
        which, row = draw // len(labels), draw % len(labels)
        x = torch.stack([pictures[w][r] for w, r in zip(which, row)])
        loss = F.cross_entropy(listener(listening_picture(x)), labels[row], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 500 == 0:
            log(f"listener step {step + 1}/{steps}: loss {loss.item():.3f}")
    return listener.eval()


def latent_cover(encodings: torch.Tensor, prior: int, lines: int, seed: int) -> torch.Tensor:
    """The points the head learns at: the encodings, draws over their spread 1.3x as wide, and points on lines between
    encodings (where a held-out sound may land between two training sounds)."""
    generator = torch.Generator().manual_seed(seed)
    mean, spread = encodings.mean(0), encodings.std(0)
    wide = mean + 1.3 * spread * torch.randn(prior, encodings.shape[1], generator=generator)
    a = encodings[torch.randint(len(encodings), (lines,), generator=generator)]
    b = encodings[torch.randint(len(encodings), (lines,), generator=generator)]
    between = a + (b - a) * torch.rand(lines, 1, generator=generator)
    return torch.cat([encodings, wide, between])


def listen(model, listener: Listener, z: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """The listener's logits for the decoder's rendering at each point."""
    with torch.no_grad():
        return torch.cat([listener(listening_picture(rendered_log_mel(model, z[i:i + batch]))) for i in range(0, len(z), batch)])


def distil(points: torch.Tensor, teacher_logits: torch.Tensor, latent_dim: int, steps: int, seed: int, hidden: int = 256,
           temperature: float = 2.0, batch: int = 256) -> LatentHead:
    """A LatentHead that matches the listener's softened class probabilities at `points`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = LatentHead(latent_dim, teacher_logits.shape[1], hidden)
    optimizer = torch.optim.Adam(head.parameters(), 1e-3)
    target = F.softmax(teacher_logits / temperature, 1)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(points), batch))
        loss = F.kl_div(F.log_softmax(head(points[idx]) / temperature, 1), target[idx], reduction="batchmean") * temperature ** 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return head.eval()


class MixedHead(nn.Module):
    """z -> class probabilities: `share` of the listening head's and the rest of the model's own head's (trained on the
    training sounds' labels at their encodings). Each knows what the other does not: the listener what a rendering
    sounds like away from the training sounds, the own head which training sound a point is near.

    The listener has no vote on the `deferred` classes: what it gives them goes to the own head's distribution. A class
    learnt from what is nearly one sound cannot be judged by ear beyond it: the 36 training claps are one GM clap at 4
    velocities in 8 kits (spectral centroids 2.3 to 2.6 kHz, quartiles), drawn as often as 710 hand percussion sounds,
    and the listener alone calls clap the default grid's hats, which the decoder renders at 4.9 to 7.6 kHz, darker than
    any training hat (9.6 kHz). A listener that heard the claps `varied` (`--vary`) needs no deferral."""

    def __init__(self, listening: LatentHead, own: nn.Module, share: float, deferred: list[int]) -> None:
        super().__init__()
        self.listening, self.own, self.share = listening, own, share
        mask = torch.zeros(listening.net[-1].out_features)
        mask[deferred] = 1.0
        self.register_buffer("deferred", mask)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        heard, own = torch.softmax(self.listening(z), 1), torch.softmax(self.own(z), 1)
        heard = heard * (1.0 - self.deferred) + (heard * self.deferred).sum(1, keepdim=True) * own
        return self.share * heard + (1.0 - self.share) * own


def check_same_decoder(model, folder: Path, frames: int = 100) -> None:
    """ValueError unless `folder`'s decoder.onnx renders the checkpoint's first `frames` frames at a few points."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[1]
    if width != model.cfg.latent_dim:
        raise ValueError(f"{folder}: its decoder reads a {width}-d point; the checkpoint's a {model.cfg.latent_dim}-d one")
    if "magnitude" not in [o.name for o in session.get_outputs()]:
        raise ValueError(f"{folder}: its decoder gives no magnitude; a class head that listens is for STFT drum models")
    z = torch.randn(4, model.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model.decoder(z)[0][:, :, :frames].numpy()
    theirs = session.run(["magnitude"], {"z": z.numpy()})[0][:, :, :frames]
    if theirs.shape != ours.shape:
        raise ValueError(f"{folder}: its decoder's first frames have shape {theirs.shape[1:]}; the checkpoint's {ours.shape[1:]}")
    gap = float(np.max(np.abs(np.log(theirs + 1e-7) - np.log(ours + 1e-7))))
    if not gap < 1e-2:
        raise ValueError(f"{folder}: its decoder does not render as the checkpoint's does (log-magnitude apart by up to {gap:.3g} over "
                         f"the first {frames} frames); give the checkpoint the model was exported from")


def export_head(head: MixedHead, folder: Path) -> None:
    from liveengine.training.export import Graph, export_graph

    example = torch.zeros(2, head.listening.net[0].in_features)
    export_graph(Graph(head), example, folder / "classifier.onnx", "z", ["probabilities"])


def keep_earlier_identity(folder: Path, before: str, earlier: tuple[str, ...]) -> None:
    """A new classifier.onnx changes the model's hash (contract.model_identity) but not what its points sound like: name
    the hash it had (`before`, and the `earlier` ones it named) in decoder.onnx's earlier_identities, so state files saved
    with it keep loading, and point decoder_grad.onnx at the decoder's new bytes (its graph is as it was)."""
    import hashlib
    import json

    import onnx

    from liveengine.decoders.contract import PREFIX

    decoder, grad = folder / "decoder.onnx", folder / "decoder_grad.onnx"
    old_sha = hashlib.sha256(decoder.read_bytes()).hexdigest()
    graph = onnx.load(str(decoder))
    names = list(dict.fromkeys([before, *earlier]))
    kept = [entry for entry in graph.metadata_props if entry.key != f"{PREFIX}earlier_identities"]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    graph.metadata_props.append(onnx.StringStringEntryProto(key=f"{PREFIX}earlier_identities", value=json.dumps(names)))
    onnx.save(graph, str(decoder))
    if grad.is_file():
        gradient = onnx.load(str(grad))
        for entry in gradient.metadata_props:
            if entry.key == f"{PREFIX}decoder_sha256" and entry.value == old_sha:
                entry.value = hashlib.sha256(decoder.read_bytes()).hexdigest()
        onnx.save(gradient, str(grad))


def load_head(folder: Path, own: nn.Module) -> MixedHead:
    """The MixedHead in `folder`'s classifier.onnx (as export_head wrote it), as a torch module whose own head is `own` (the
    model's head, which the file holds a copy of). Its share is read back from what the file computes, and the module is
    checked against onnxruntime at random points: ValueError, in one sentence, for any other classifier."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    path = folder / "classifier.onnx"
    if not path.is_file():
        raise ValueError(f"{folder}: no classifier.onnx; give a model folder whose class head listens (models_onnx/drums8)")
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(str(path)).graph.initializer}
    if "inner.listening.net.0.weight" not in weights or "inner.deferred" not in weights:
        raise ValueError(f"{path}: not a listening class head (no listening part); give a folder that "
                         "python -m liveengine.training.class_head wrote")
    first = weights["inner.listening.net.0.weight"]
    listening = LatentHead(first.shape[1], weights["inner.deferred"].shape[0], hidden=first.shape[0])
    head = MixedHead(listening, own, 0.5, [])
    try:
        listening.load_state_dict({k[len("inner.listening."):]: v for k, v in weights.items() if k.startswith("inner.listening.")})
        head.deferred.copy_(weights["inner.deferred"])
        for name, value in own.state_dict().items():
            if not torch.equal(value, weights.get(f"inner.own.{name}", torch.empty(0))):
                raise ValueError(f"{path}: its own head is not this model's (weight {name} differs)")
    except RuntimeError as error:
        raise ValueError(f"{path}: its listening head does not fit a {first.shape[1]}-d point ({error})") from None
    z = torch.randn(256, first.shape[1], generator=torch.Generator().manual_seed(0)) * 1.5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: z.numpy()})[0])
    with torch.no_grad():
        head.share = 1.0
        heard = head(z)
        head.share = 0.0
        own_p = head(z)
        gap = heard - own_p
        head.share = float((gap * (expected - own_p)).sum() / (gap * gap).sum().clamp_min(1e-12))  # least squares
        worst = float((head(z) - expected).abs().max())
    if not worst < 1e-4:
        raise ValueError(f"{path}: it does not compute a share of a listening head and the model's own (apart by {worst:.3g})")
    return head.eval()


def accuracy(probabilities: np.ndarray, truth: np.ndarray, names) -> tuple[float, dict]:
    best = probabilities.argmax(1)
    return float(np.mean(best == truth)), {name: round(float(np.mean(best[truth == c] == c)), 3) for c, name in enumerate(names) if (truth == c).any()}


def main(argv: list[str] | None = None) -> int:
    from liveengine.decoders import contract
    from liveengine.decoders.contract import ModelError
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.training import descent
    from liveengine.training.model import DrumVAE
    from liveengine.training.train import config_from, load

    parser = argparse.ArgumentParser(description="Train a drum model's class head on what its decoder renders (a listener, distilled to z).")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums5.pt"), help="the model's trained checkpoint")
    parser.add_argument("--model", type=Path, required=True, help="the model folder whose classifier.onnx is replaced")
    parser.add_argument("--data", type=Path, default=Path("training_data"), help="the data set (python -m liveengine.training.data)")
    parser.add_argument("--variants", type=int, default=6, help="re-recordings per training sound (default 6)")
    parser.add_argument("--listener-steps", type=int, default=2500)
    parser.add_argument("--head-steps", type=int, default=6000)
    parser.add_argument("--cover", type=int, default=50000, help="latent points beyond the encodings the head learns at (default 50000)")
    parser.add_argument("--layer-claps", type=float, default=0.0,
                        help="the chance that a clap's re-recording is first layered as several hands (augment.layered; default 0)")
    parser.add_argument("--open-hats", type=float, default=0.0,
                        help="the chance that an open hat's re-recording is a closed hat of the data set, opened instead "
                             "(augment.opened; default 0)")
    parser.add_argument("--class-power", type=float, default=1.0,
                        help="the listener draws each class by its count to the power 1 - this: 1 balanced (the default), 0 as they come")
    parser.add_argument("--listener-share", type=float, default=0.7,
                        help="the exported head's probabilities: this share the listening head's, the rest the model's own head's "
                             "(default 0.7; 1 the listener alone)")
    parser.add_argument("--defer", nargs="*", default=None, metavar="CLASS",
                        help="classes the listener has no vote on: its probability for them follows the model's own head "
                             "(default: clap, where the model has it; --defer alone: none)")
    parser.add_argument("--vary", type=float, default=0.0,
                        help="the chance that a clap's or open hat's re-recording is first played at another pitch and damped "
                             "(augment.varied; default 0)")
    parser.add_argument("--vary-cymbals", type=float, default=0.0,
                        help="the chance that a cymbal's re-recording is first played at another pitch and damped "
                             "(augment.varied; default 0), as `reencode --vary-cymbals`")
    parser.add_argument("--studio", action="store_true",
                        help="the listener's re-recordings go through the studio effects too (augment.studio: band limit, "
                             "high-pass, two microphones, bleed, compressor), so it hears more ways a kit is recorded")
    descent.add_options(parser)  # as the model was exported with (tail.py): the head learns where that encoder puts sounds
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    descent.check_options(args)
    for name in ("variants", "listener_steps", "head_steps", "cover", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} {getattr(args, name)}: give a whole number of 1 or more")
    if not 0.0 <= args.layer_claps <= 1.0:
        raise SystemExit(f"--layer-claps {args.layer_claps}: give a chance from 0 (never) to 1 (every clap's re-recording)")
    if not 0.0 <= args.vary <= 1.0:
        raise SystemExit(f"--vary {args.vary}: give a chance from 0 (never) to 1 (every clap's and open hat's re-recording)")
    if not 0.0 <= args.vary_cymbals <= 1.0:
        raise SystemExit(f"--vary-cymbals {args.vary_cymbals}: give a chance from 0 (never) to 1 (every cymbal's re-recording)")
    if not 0.0 <= args.open_hats <= 1.0:
        raise SystemExit(f"--open-hats {args.open_hats}: give a chance from 0 (never) to 1 (every open hat's re-recording)")
    if not 0.0 <= args.class_power <= 1.0:
        raise SystemExit(f"--class-power {args.class_power}: give a number from 0 (draws as they come) to 1 (every class equally often)")
    if not 0.0 < args.listener_share <= 1.0:
        raise SystemExit(f"--listener-share {args.listener_share}: give a share above 0 and at most 1 (the listening head alone)")
    if not args.checkpoint.is_file():
        raise SystemExit(f"--checkpoint {args.checkpoint}: no such checkpoint")
    if not (args.model / "decoder.onnx").is_file():
        raise SystemExit(f"--model {args.model}: no decoder.onnx there; give a model folder (models_onnx/drums8)")
    if not (args.data / "sounds.npz").is_file():
        raise SystemExit(f"--data {args.data}: no sounds.npz; build it with python -m liveengine.training.data --out {args.data}")
    torch.set_num_threads(args.threads)
    model = DrumVAE(config_from(args.checkpoint))
    if args.defer is None:
        args.defer = [name for name in ("clap",) if name in model.cfg.classes]
    unknown = [name for name in args.defer if name not in model.cfg.classes]
    if unknown:
        raise SystemExit(f"--defer {' '.join(unknown)}: not a class of this model; its classes are {', '.join(model.cfg.classes)}")
    state = load(args.checkpoint, model, None)
    model.eval()
    descent.descend_after(model, args)  # the listener hears renderings as before (a kept one is reused); the points move
    try:
        check_same_decoder(model, args.model)
    except ValueError as error:
        raise SystemExit(str(error))
    try:  # before any training: its hash is named as earlier once the head is replaced
        was = OnnxDecoder(args.model).info
    except ModelError as error:
        raise SystemExit(f"--model {args.model}: it does not load ({error})")
    sounds = np.load(args.data / "sounds.npz")
    audio, labels, split = sounds["audio"], sounds["classes"].astype(np.int64), sounds["split"]
    window = model.cfg.length
    if audio.shape[1] != window:
        raise SystemExit(f"--data {args.data}: its sounds are {audio.shape[1]} samples; the checkpoint's window is {window}")
    train = np.flatnonzero((split == "train") & (labels >= 0))
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    started = time.time()
    train_audio = audio[train].astype(np.float32) / 32767.0
    recorded, rendered, points, y = augmented_pool(model, train_audio, labels[train], args.variants, rng, layer=args.layer_claps,
                                                 open_hats=args.open_hats, vary=args.vary, studio_effects=args.studio,
                                                 vary_cymbals=args.vary_cymbals)
    print(f"{len(y)} re-recordings of {len(train)} training sounds ({time.time() - started:.0f} s)", flush=True)
    kept = args.checkpoint.with_name(f"{args.checkpoint.stem}_listener.pt")
    classes = len(model.cfg.classes)
    settings = {"checkpoint": args.checkpoint.name, "checkpoint_step": int(state["step"]), "variants": args.variants,
                "listener_steps": args.listener_steps, "class_power": args.class_power, "seed": args.seed}
    if args.layer_claps:  # only where used, so a listener kept before the option still matches its settings
        settings["layer_claps"] = args.layer_claps
    if args.open_hats:
        settings["open_hats"] = args.open_hats
    if args.vary:
        settings["vary"] = args.vary
    if args.studio:
        settings["studio"] = True
    if args.vary_cymbals:
        settings["vary_cymbals"] = args.vary_cymbals
    try:
        listener, kept_settings = load_listener(kept, classes, model.cfg.n_mels) if kept.is_file() else (None, None)
    except ValueError as error:
        raise SystemExit(f"{error}, or remove it to train one again") from None
    if listener is not None and kept_settings == settings:
        print(f"listener from {kept}")
    else:
        if listener is not None:
            print(f"{kept} was trained with {kept_settings}; training one for {settings}")
        listener = train_listener([recorded, rendered], y, classes, args.listener_steps, args.seed, log=lambda line: print(line, flush=True),
                                  class_power=args.class_power)
        torch.save({"listener": listener.state_dict(), "settings": settings}, kept)
        print(f"listener trained ({time.time() - started:.0f} s), kept in {kept}", flush=True)
    del recorded, rendered
    cover = latent_cover(points, args.cover * 3 // 5, args.cover - args.cover * 3 // 5, args.seed)
    listening = distil(cover, listen(model, listener, cover), model.cfg.latent_dim, args.head_steps, args.seed)
    head = MixedHead(listening, model.classifier, args.listener_share, [model.cfg.classes.index(name) for name in args.defer]).eval()
    old = args.model / "classifier.onnx"
    kept_files = {path: path.read_bytes() for path in (old, args.model / "decoder.onnx", args.model / "decoder_grad.onnx") if path.is_file()}
    export_head(head, args.model)
    try:
        if contract.model_identity(args.model) != was.identity:
            keep_earlier_identity(args.model, was.identity, was.earlier_identities)
        decoder = OnnxDecoder(args.model)
    except ModelError as error:  # the model must still load: put the old files back
        if old not in kept_files:
            old.unlink()
        for path, data in kept_files.items():
            path.write_bytes(data)
        print(f"the new head does not load ({error}); the old one is kept", file=sys.stderr)
        return 1
    print(f"wrote {old} ({time.time() - started:.0f} s)")
    held = np.flatnonzero((split == "heldout") & (labels >= 0))
    if len(held):
        z = decoder.encode(audio[held].astype(np.float32) / 32767.0)  # padded to the model's window by the contract
        share, per_class = accuracy(decoder.classify(z), labels[held], decoder.classes)
        print(f"held-out kits ({len(held)} labelled sounds): {share:.1%}; per class {per_class}")
        with torch.no_grad():  # each part alone, for the record
            for name, part in (("listening head alone", head.listening), ("the model's own head alone", head.own)):
                print(f"  {name}: {accuracy(part(torch.from_numpy(z)).numpy(), labels[held], decoder.classes)[0]:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
