"""Train a new encoder for a trained drum model, its class head frozen and, unless `--decoder-rate` says, its decoder (resumable).

    python -m liveengine.training.reencode --from checkpoints/drums.pt --checkpoint checkpoints/drums4.pt --minutes 30

The decoder and the class head are copied from `--from` and (by default) never change, so every pad of a grid
(a point of `z`, decoded) sounds and is classed as with the old model. What changes is where a
sound lands in `z` when it is encoded ("find similar", corners from your own sounds, the held-out
figures): the new encoder (`Encoder2D`, model.Config.encoder "mel2d") is trained on the training
sounds re-recorded on the fly (augment.kit_like), so that another kit's snare lands where the
decoder plays a snare and the head says so.

Two stages, by step:
1. `--distill-steps` steps: the new encoder's mean and log-variance regress the old encoder's on
   the same re-recorded sound, plus the head's cross-entropy (`--class-weight`). Cheap (no decoder).
2. `--tune-steps` steps of the drum model's own loss (train.losses: multi-resolution STFT through the frozen decoder,
   the decoder-magnitude term, `--beta` x KL) plus the same cross-entropy, the learning rate
   falling to 0 by the end (the held-out figures moved by 6 % between checkpoints 1000 steps apart
   at a constant rate). `--envelope-weight W` adds W x the mel-cepstral distance (model.CepstralDistance, the
   spectral envelope bench/model_quality.py's MCD measures), which the STFT terms alone traded away.
   `--decoder-rate R` lets the decoder learn in stage 2 too, at R x the encoder's learning rate (default 0: frozen,
   every pad as before): it then hears the re-recorded kits as well, and every pad's sound moves (export the model
   with tail.py and check the grid again). The class head stays frozen either way.
`--layer-claps P`, `--open-hats P` and `--studio` widen the drawn sounds before and after the re-recording (augment.py):
a clap layered as several hands, an open hat replaced by a closed hat of the data set left ringing (each at chance P),
and a studio's band limit, high-pass, second microphone, bleed and compressor. `--hold-open W` (with `--decoder-rate`)
adds W x the log-magnitude distance of the open hats' renders from the source model's renders of the same sounds: a
decoder that learns varied claps kept from moving its open hats (two cycles that did not hold them lost a quarter);
`--hold-claps W` does the same for the claps, for a cycle that learns other open hats.
`--hear-blends W --listener FILE --blends-around FOLDER` (with `--decoder-rate`) adds W x how far a listener's classes
for the decoder's renders between four of the batch's sounds, laid as the corners grid lays its pads, are from the
same blend of the four sounds' classes (BlendsHeard): the middle of a kit's grid is taught to sound like its corners.
`--encoder own` keeps the source's encoder design and starts from its weights (stage 1 then has
nothing to learn, so it has none unless `--distill-steps` asks). `--encoder mean --encoders-from CKPT...`
does the same for the source's encoder and those of other checkpoints of the same decoder together, a sound
placed at the mean of their points (model.MeanEncoder): the loss is the mean's. `--head-from FOLDER` takes the cross-entropy from the
class head in FOLDER's classifier.onnx (a listening head, liveengine/training/class_head.py, whose
own part is the source's head) instead of the source's head: a sound is pulled to where the decoder
renders its class as a listener hears it. The saved model keeps the source's head either way; the
exported folder takes FOLDER's classifier.onnx (same decoder, same head).
Held-out sounds are monitored only (48 fixed ones, as train.py does), never used to choose anything.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from liveengine.training.augment import class_variants, kit_like, retuned, studio
from liveengine.training.data import CLASSES
from liveengine.training.model import CepstralDistance, DrumVAE, MultiResolutionSTFTLoss
from liveengine.training.train import Running, config_from, load, load_training_set, losses, save

FROZEN = ("decoder", "classifier")
CLAP, CLOSED_HAT, OPEN_HAT, CYMBAL = (CLASSES.index(name) for name in ("clap", "hat_closed", "hat_open", "cymbal"))


ENCODERS = ("mel2d", "own", "mean")


def new_model(source: Path, encoder: str = "mel2d", others: tuple[Path, ...] = ()) -> tuple[DrumVAE, DrumVAE]:
    """(student, teacher): the teacher is the `source` model; the student has its decoder and head and a new encoder, of
    `encoder`'s design ("own": the teacher's design, starting from its weights; "mean": model.MeanEncoder of the
    teacher's encoder and those of the checkpoints `others`, each from its weights, learning together)."""
    if not source.exists():
        raise SystemExit(f"--from {source}: no such checkpoint; give a trained drum model's checkpoint (e.g. checkpoints/drums.pt)")
    teacher = DrumVAE(config_from(source))
    load(source, teacher, None)
    teacher.eval()  # its encoder's batch norm uses the learnt statistics
    if encoder == "mean":
        if not others or teacher.cfg.encoder == "mean":
            raise SystemExit("--encoder mean: give --encoders-from one or more checkpoints of --from's decoder; --from's own "
                             "encoder must be a single one")
        joined = [teacher] + [same_decoder(path, teacher) for path in others]
        student = DrumVAE(replace(teacher.cfg, encoder="mean", mean_of=tuple(m.cfg.encoder for m in joined)))
        for part, trained in zip(student.encoder.parts, joined):
            part.load_state_dict(trained.encoder.state_dict())
    elif others:
        raise SystemExit("--encoders-from goes with --encoder mean (the encoders that learn beside --from's)")
    else:
        student = DrumVAE(replace(teacher.cfg, encoder=teacher.cfg.encoder if encoder == "own" else encoder))
    for part in FROZEN + (("encoder",) if encoder == "own" else ()):
        getattr(student, part).load_state_dict(getattr(teacher, part).state_dict())
    return student, teacher


def same_decoder(path: Path, model: DrumVAE) -> DrumVAE:
    """The model in the checkpoint at `path`, which must hold `model`'s decoder to the bit (SystemExit otherwise)."""
    if not path.is_file():
        raise SystemExit(f"--encoders-from {path}: no such checkpoint; give a checkpoint of the same decoder (reencode.py)")
    other = DrumVAE(config_from(path))
    load(path, other, None)
    ours, theirs = model.decoder.state_dict(), other.decoder.state_dict()
    same_design = replace(other.cfg, encoder=model.cfg.encoder, mean_of=model.cfg.mean_of) == model.cfg  # encoders may differ
    if not same_design or ours.keys() != theirs.keys() or not all(torch.equal(ours[k], theirs[k]) for k in ours):
        raise SystemExit(f"--encoders-from {path}: its decoder is not --from's; the encoders of one model must share its decoder")
    return other.eval()


def freeze(model: DrumVAE, tune_decoder: bool = False) -> None:
    for part in (p for p in FROZEN if not (tune_decoder and p == "decoder")):
        module = getattr(model, part)
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


class LogProbabilities(torch.nn.Module):
    """A head that gives probabilities (class_head.MixedHead), as logits for cross-entropy: their logs."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.log(self.head(z).clamp_min(1e-8))


def distill_step(student: DrumVAE, teacher: DrumVAE, x: torch.Tensor, y: torch.Tensor, class_weight: float,
                 head: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict]:
    with torch.no_grad():
        target_mean, target_logvar = teacher.encoder(x)
    mean, logvar = student.encoder(x)
    mse = F.mse_loss(mean, target_mean)
    total = mse + 0.1 * F.mse_loss(logvar, target_logvar)
    parts = {"mse": mse.item()}
    labelled = y >= 0
    if labelled.any():
        logits = (head if head is not None else student.classifier)(mean[labelled])
        ce = F.cross_entropy(logits, y[labelled])
        total = total + class_weight * ce
        parts.update(ce=ce.item(), acc=float((logits.argmax(1) == y[labelled]).float().mean()))
    return total, parts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a new encoder for a trained drum model (decoder and class head frozen; resumable).")
    parser.add_argument("--from", dest="source", type=Path, default=Path("checkpoints/drums.pt"),
                        help="the trained model whose decoder and head are kept (and whose encoder stage 1 learns from)")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums4.pt"))
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--minutes", type=float, default=30.0, help="stop after this much training time in this run")
    parser.add_argument("--max-steps", type=int, default=0, help="stop at this total step (0: no limit)")
    parser.add_argument("--distill-steps", type=int, default=None,
                        help="steps of stage 1 (regress the old encoder; default 4000, and 0 with --encoder own, which starts from it)")
    parser.add_argument("--tune-steps", type=int, default=8000,
                        help="steps of stage 2, its learning rate falling from 0.3 x --lr to 0 along a half cosine; the run ends there")
    parser.add_argument("--class-weight", type=float, default=1.0)
    parser.add_argument("--encoder", choices=ENCODERS, default="mel2d",
                        help="the new encoder's design: mel2d (Encoder2D, the default), own (the source's, from its weights) "
                             "or mean (the source's and --encoders-from's, from their weights, a sound at the mean of their points)")
    parser.add_argument("--encoders-from", type=Path, nargs="+", default=[],
                        help="with --encoder mean: checkpoints of the same decoder whose encoders learn beside --from's, "
                             "a sound placed at the mean of their points")
    parser.add_argument("--head-from", type=Path, default=None,
                        help="a model folder of the same decoder whose classifier.onnx (a listening head) gives the cross-entropy")
    parser.add_argument("--class-power", type=float, default=1.0,
                        help="each class's draws are divided by its share to this power (1: every class equally often, for the goal of no class under 40%%)")
    parser.add_argument("--retune", type=float, default=0.0,
                        help="before the re-recording, play half the sounds up to this many semitones higher or lower "
                             "(augment.retuned; default 0: as recorded)")
    parser.add_argument("--layer-claps", type=float, default=0.0,
                        help="the chance that a clap is first layered as several hands (augment.layered; default 0)")
    parser.add_argument("--open-hats", type=float, default=0.0,
                        help="the chance that an open hat drawn is replaced by a closed hat of the data set, opened "
                             "(augment.opened; default 0)")
    parser.add_argument("--vary", type=float, default=0.0,
                        help="the chance that a clap or open hat drawn is first played at another pitch and damped "
                             "(augment.varied; default 0)")
    parser.add_argument("--vary-open", type=float, default=None,
                        help="the chance for open hats alone (default: --vary's), e.g. 0 to vary the claps only")
    parser.add_argument("--vary-cymbals", type=float, default=0.0,
                        help="the chance that a cymbal drawn is first played at another pitch and damped, as a cymbal choked or "
                             "tapped softly rings (augment.varied; default 0)")
    parser.add_argument("--hold-open", type=float, default=0.0,
                        help="stage 2 adds this x the log-magnitude distance of the open hats' renders from --from's renders "
                             "of the same sounds (default 0), so a decoder learning other classes keeps its open hats")
    parser.add_argument("--hold-claps", type=float, default=0.0, help="the same for the claps (default 0)")
    parser.add_argument("--hear-blends", type=float, default=0.0,
                        help="stage 2 adds this x the cross-entropy between --listener's classes for the decoder's renders at "
                             "points laid between four of the batch's sounds (as the corners grid lays its pads) and the same "
                             "blend of the four sounds' classes (default 0), so that the middle of a kit's grid sounds as its "
                             "corners do rather than as a class none of them is; needs --decoder-rate")
    parser.add_argument("--listener", type=Path, default=None,
                        help="with --hear-blends: the listener class_head.py kept (`<checkpoint stem>_listener.pt`)")
    parser.add_argument("--blends-around", type=Path, default=None, metavar="FOLDER",
                        help="with --hear-blends: the model folder whose pad plane's mean the blends arc around, as the engine's "
                             "corners grid does (the folder the export's --plane-from names)")
    parser.add_argument("--studio", action="store_true",
                        help="after the re-recording, the studio effects too (augment.studio: band limit, high-pass, two "
                             "microphones, bleed, compressor)")
    parser.add_argument("--envelope-weight", type=float, default=0.0,
                        help="stage 2 adds this x the mel-cepstral distance (model.CepstralDistance: the envelope MCD measures)")
    parser.add_argument("--decoder-rate", type=float, default=0.0,
                        help="stage 2 trains the decoder too, at this x the encoder's learning rate (default 0: the decoder frozen)")
    parser.add_argument("--beta", type=float, default=0.005, help="KL weight in stage 2")
    parser.add_argument("--lr", type=float, default=1e-3, help="stage 1's; stage 2 uses 0.3 x this")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=float, default=180.0, help="seconds")
    parser.add_argument("--log-every", type=int, default=200)
    args = parser.parse_args(argv)
    if args.distill_steps is None:
        args.distill_steps = 0 if args.encoder in ("own", "mean") else 4000
    weights = (args.class_weight, args.retune, args.envelope_weight, args.decoder_rate, args.hold_open, args.hold_claps, args.hear_blends)
    if not args.minutes > 0 or args.distill_steps < 0 or args.tune_steps < 0 or args.batch < 2 \
            or not all(math.isfinite(w) and w >= 0 for w in weights) or not 0.0 <= args.layer_claps <= 1.0 \
            or not 0.0 <= args.open_hats <= 1.0 or not 0.0 <= args.vary <= 1.0 or not 0.0 <= (args.vary_open or 0.0) <= 1.0 \
            or not 0.0 <= args.vary_cymbals <= 1.0:
        raise SystemExit("--minutes must be above 0, --distill-steps, --tune-steps, --class-weight, --retune, --envelope-weight, "
                         "--decoder-rate, --hold-open, --hold-claps and --hear-blends finite numbers 0 or more, --layer-claps, --open-hats, --vary, --vary-open and --vary-cymbals from 0 to 1, --batch 2 or more")
    if args.hear_blends > 0 and (args.listener is None or args.blends_around is None or not args.decoder_rate > 0):
        raise SystemExit("--hear-blends trains the decoder: give it --listener (a class_head.py listener), --blends-around (a model "
                         "folder with a pad plane) and --decoder-rate above 0")
    end = args.distill_steps + args.tune_steps
    if args.max_steps:
        end = min(end, args.max_steps)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    settings = {"from": args.source.name, "distill_steps": args.distill_steps, "class_weight": args.class_weight,
                "beta": args.beta, "tune_steps": args.tune_steps, "class_power": args.class_power, "augmentation": "augment.kit_like",
                "retune": args.retune, "layer_claps": args.layer_claps, "open_hats": args.open_hats, "vary": args.vary, "vary_open": args.vary_open, "vary_cymbals": args.vary_cymbals, "studio": args.studio,
                "hold_open": args.hold_open, "hold_claps": args.hold_claps, "hear_blends": args.hear_blends,
                "listener": args.listener.name if args.hear_blends > 0 else None,
                "listener_sha256": file_sha256(args.listener) if args.hear_blends > 0 and args.listener.is_file() else None,
                "envelope_weight": args.envelope_weight, "decoder_rate": args.decoder_rate,
                "encoder": args.encoder, "head_from": args.head_from.name if args.head_from else None,
                "encoders_from": [p.name for p in args.encoders_from]}
    if args.checkpoint.exists():  # refuse a resume with other settings before building a model it may not fit
        check_resume(args.checkpoint, torch.load(args.checkpoint, map_location="cpu", weights_only=False)["state"].get("reencode", {}), settings)
    student, teacher = new_model(args.source, args.encoder, tuple(args.encoders_from))
    freeze(student, tune_decoder=args.decoder_rate > 0)
    head = None
    if args.head_from is not None:
        from liveengine.training.class_head import load_head

        try:
            head = LogProbabilities(load_head(args.head_from, student.classifier)).eval()
        except ValueError as error:
            raise SystemExit(f"--head-from {args.head_from}: {error}") from None
        for p in head.parameters():
            p.requires_grad_(False)
    blends = BlendsHeard.load(args.listener, args.blends_around, student) if args.hear_blends > 0 else None
    groups = [{"params": list(student.encoder.parameters()), "scale": 1.0}]
    if args.decoder_rate > 0:  # stage 1 has no decoder in its loss: the decoder waits for stage 2
        groups.append({"params": list(student.decoder.parameters()), "scale": args.decoder_rate})
    trained = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.Adam(groups, lr=args.lr)
    state = {"step": 0, "train_seconds": 0.0, "history": [], "threads": args.threads, "reencode": settings}
    if args.checkpoint.exists():
        state = load(args.checkpoint, student, optimizer)
        print(f"resumed from {args.checkpoint} at step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)", flush=True)

    audio, classes, weights, heldout = load_training_set(args.data, args.class_power)
    if audio.shape[1] != student.cfg.length:
        raise SystemExit(f"{args.data} holds sounds of {audio.shape[1]} samples; the model's window is {student.cfg.length}")
    rng = np.random.default_rng(args.seed + state["step"])
    closed_hats = np.flatnonzero(classes == CLOSED_HAT)
    if args.open_hats > 0 and not len(closed_hats):
        raise SystemExit(f"--open-hats: {args.data} holds no closed hat to open")
    mrstft = MultiResolutionSTFTLoss()
    cepstral = CepstralDistance(student.cfg.sample_rate)
    envelope = (cepstral, args.envelope_weight) if args.envelope_weight > 0 else None
    val = torch.from_numpy(heldout[np.random.default_rng(1).choice(len(heldout), min(48, len(heldout)), replace=False)])
    stop: list[bool] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))  # `kill PID`: finish the step, save, exit
    start = last_save = time.monotonic()
    running = Running()
    student.encoder.train()
    if args.decoder_rate > 0:
        student.decoder.train()
    while not stop and time.monotonic() - start < args.minutes * 60 and state["step"] < end:
        stage = 1 if state["step"] < args.distill_steps else 2
        rate = args.lr if stage == 1 else tune_rate(args.lr, state["step"] - args.distill_steps, args.tune_steps)
        for group in optimizer.param_groups:  # the decoder's group gets no gradient in stage 1, so Adam leaves it be
            group["lr"] = rate * group["scale"]
        idx = rng.choice(len(audio), args.batch, p=weights)
        x = class_variants(torch.from_numpy(audio[idx]), classes[idx], rng, audio, closed_hats, CLAP, OPEN_HAT,  # a copy of `audio`
                           args.layer_claps, args.open_hats, args.vary, args.vary_open, CYMBAL, args.vary_cymbals)
        x = kit_like(retuned(x, rng, args.retune), rng)
        if args.studio:
            x = studio(x, rng)
        if rng.random() < 0.5:
            x = -x
        y = torch.from_numpy(classes[idx])
        step_start = time.monotonic()
        if stage == 1:
            total, parts = distill_step(student, teacher, x, y, args.class_weight, head)
        else:
            hold = held_renders(teacher, x, y, {OPEN_HAT: args.hold_open, CLAP: args.hold_claps})
            total, parts = losses(student, mrstft, x, y, args.beta, class_weight=args.class_weight, head=head, envelope=envelope, hold=hold)
            if blends is not None:
                heard = blends(student, x, y, rng)
                if heard is not None:
                    total = total + args.hear_blends * heard
                    parts["blends"] = heard.item()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(trained, 5.0)
        optimizer.step()
        state["train_seconds"] += time.monotonic() - step_start
        state["step"] += 1
        running.add(parts)
        if state["step"] % args.log_every == 0:
            print(f"step {state['step']} stage {stage} ({state['train_seconds'] / 60:.1f} min) " + running.line(), flush=True)
        if time.monotonic() - last_save > args.save_every:
            monitor(student, mrstft, cepstral, val, state)
            save(args.checkpoint, student, optimizer, state)
            last_save = time.monotonic()
    signal.signal(signal.SIGTERM, previous)
    monitor(student, mrstft, cepstral, val, state)
    save(args.checkpoint, student, optimizer, state)
    print(f"done: step {state['step']}, {state['train_seconds'] / 60:.1f} min trained; saved {args.checkpoint}", flush=True)


def held_renders(teacher: DrumVAE, x: torch.Tensor, y: torch.Tensor,
                 weights: dict[int, float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """train.losses' `hold`: the rows of `x` whose class has a weight above 0, the magnitudes `teacher` (the source
    model) renders for them at the points it gives them, which the student's renders of the same sounds are pulled
    towards, and each row's weight; None where the batch has no such row."""
    row_weights = torch.zeros(len(y))
    for label, weight in weights.items():
        row_weights[y == label] = weight
    rows = row_weights > 0
    if not rows.any():
        return None
    with torch.no_grad():
        magnitude, _ = teacher.decoder(teacher.encoder(x[rows])[0])
    return rows, magnitude, row_weights[rows]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Rows of `a` to rows of `b` along the arc about the origin, by `t` (one per row): grid/mappings.py's slerp in
    PyTorch (linear where the two are nearly parallel)."""
    t = t[:, None]
    cos = ((a * b).sum(1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True)).clamp_min(1e-12)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    arc = (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-6)
    return torch.where(sin > 1e-4, arc, (1.0 - t) * a + t * b)


class BlendsHeard:
    """--hear-blends: a corners grid's pads between four of the batch's labelled sounds, as mappings.CornersMapping lays
    them (arcs about the pad plane's mean, bottom pair, top pair, then between them, at a drawn position), rendered by
    the decoder and heard by a frozen listener; the loss is the cross-entropy of what it hears against the same blend of
    the four sounds' classes. The encodings are fixed (no gradient): the decoder alone learns what a blend sounds like.
    1,500 steps from drums19 at weight 0.5 halved the toms its listener and two others heard on held-out kits' grids,
    and cost 2.2% of held-out distance (drums21, not kept: models_onnx/drums19/README.md)."""

    COUNT = 8  # blends a step

    def __init__(self, listener, origin: torch.Tensor, classes: int) -> None:
        self.listener, self.origin, self.classes = listener, origin, classes

    @classmethod
    def load(cls, listener_path: Path, plane_folder: Path, model: DrumVAE) -> "BlendsHeard":
        from liveengine.training.class_head import load_listener
        from liveengine.training.export import plane_of

        classes = len(model.cfg.classes)
        try:
            listener, _ = load_listener(listener_path, classes, model.cfg.n_mels)
        except ValueError as error:
            raise SystemExit(f"--listener {error}") from None
        try:
            origin = torch.from_numpy(plane_of(plane_folder, model.cfg.latent_dim)["mean"].astype(np.float32))
        except ValueError as error:
            raise SystemExit(str(error).replace("--plane-from", "--blends-around")) from None
        return cls(listener, origin, classes)

    def lay(self, corners: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The point at (u, v) of each grid whose `corners` [blends, 4, latent] are bottom left, bottom right, top left
        and top right, as CornersMapping.to_latent lays it."""
        c = corners - self.origin
        return slerp(slerp(c[:, 0], c[:, 1], u), slerp(c[:, 2], c[:, 3], u), v) + self.origin

    def __call__(self, model: DrumVAE, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor | None:
        from liveengine.training.class_head import listening_picture

        labelled = torch.nonzero(y >= 0).flatten()
        if len(labelled) < 4:
            return None
        with torch.no_grad():
            centred = model.encoder(x[labelled])[0] - self.origin
        picks = torch.from_numpy(np.stack([rng.permutation(len(labelled))[:4] for _ in range(self.COUNT)]))  # [blends, 4]
        u, v = (torch.from_numpy(rng.random(self.COUNT).astype(np.float32)) for _ in range(2))
        z = self.lay(centred[picks] + self.origin, u, v)
        weights = torch.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], 1)  # [blends, 4]
        target = (weights[:, :, None] * F.one_hot(y[labelled][picks], self.classes).float()).sum(1)
        magnitude, _ = model.decoder(z)
        logits = self.listener(listening_picture(model.encoder.features.log_mel(magnitude ** 2)))
        return -(target * F.log_softmax(logits, 1)).sum(1).mean()


def check_resume(checkpoint: Path, saved: dict, settings: dict) -> None:
    """SystemExit, in one sentence, unless the checkpoint was begun with these settings (the schedule is by step)."""
    if saved.get("from") != settings["from"]:
        raise SystemExit(f"{checkpoint} was not trained by reencode from {settings['from']}; give its --from or a new --checkpoint")
    if (saved["distill_steps"], saved["tune_steps"]) != (settings["distill_steps"], settings["tune_steps"]):
        raise SystemExit(f"{checkpoint} was begun with --distill-steps {saved['distill_steps']} --tune-steps {saved['tune_steps']}; "
                         "resume it with the same, or give a new --checkpoint")
    for key, default in (("encoder", "mel2d"), ("head_from", None), ("retune", 0.0), ("encoders_from", []),
                         ("envelope_weight", 0.0), ("decoder_rate", 0.0), ("layer_claps", 0.0), ("open_hats", 0.0), ("vary", 0.0),
                         ("vary_open", None), ("vary_cymbals", 0.0), ("studio", False), ("hold_open", 0.0), ("hold_claps", 0.0),
                         ("hear_blends", 0.0), ("listener", None)):  # checkpoints from before these options: their defaults
        if saved.get(key, default) != settings[key]:
            raise SystemExit(f"{checkpoint} was begun with {key} {saved.get(key, default)}; resume it with the same, or give a new --checkpoint")
    if saved.get("listener_sha256", settings["listener_sha256"]) != settings["listener_sha256"]:  # kept since 2026-12-07
        raise SystemExit(f"{checkpoint} was begun with another listener of the name {settings['listener']} (its SHA-256 "
                         f"{saved['listener_sha256'][:12]}..., this one's {str(settings['listener_sha256'])[:12]}...); resume it with that "
                         "listener, or give a new --checkpoint")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tune_rate(lr: float, step: int, steps: int) -> float:
    """Stage 2's learning rate at its `step` of `steps`: 0.3 x lr falling to 0 along a half cosine, so the last weights
    (the model) are not one noisy step of many."""
    return 0.3 * lr * 0.5 * (1.0 + np.cos(np.pi * min(1.0, step / max(steps, 1))))


def monitor(model: DrumVAE, mrstft: MultiResolutionSTFTLoss, cepstral: CepstralDistance, val: torch.Tensor, state: dict) -> None:
    """Held-out reconstruction of the fixed monitoring sounds, into the history (reported, never used to choose)."""
    model.encoder.eval()
    with torch.no_grad():
        _, parts = losses(model, mrstft, val, None, 0.0, sample=False, envelope=(cepstral, 0.0))
    model.encoder.train()
    mcd = parts["mcd"] * 10.0 / np.log(10.0)
    state["history"].append({"step": state["step"], "minutes": round(state["train_seconds"] / 60, 2),
                             "heldout_sc": round(parts["sc"], 4), "heldout_logmag": round(parts["logmag"], 4),
                             "heldout_mcd_db": round(mcd, 2)})
    print(f"step {state['step']}: held-out sc {parts['sc']:.4f} logmag {parts['logmag']:.4f} mcd {mcd:.2f} dB", flush=True)


if __name__ == "__main__":
    main()
