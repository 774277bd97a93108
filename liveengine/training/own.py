"""Train the drum VAE on a user's folder (fine-tuning the shipped model by default) and export it as theirs.

The same model, losses, optimiser step, augmentation and export as the shipped drum model
(model.py, train.py, data.py, export.py); what differs is the data (folder_data.py), the stop
(a time budget, or validation no longer improving) and the export: the latent mean, axes and
spreads come from the user's encodings, the classifier is refitted on their classes (none
without classes), and a model card, a picture of the pads and a patch come with it.

Work files (kept for --resume, in a folder next to the model's): data.npz (the prepared
sounds and the split), checkpoint.pt (weights, Adam, the state below), best.pt (the weights
that did best on the validation set so far: what is exported).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import platform
import signal
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from liveengine.atomic_file import StagedFolder, write_atomic
from liveengine.errors import LiveEngineError
from liveengine.training.data import augmented_set
from liveengine.training.folder_data import FolderData
from liveengine.training.model import Config, DrumVAE, MultiResolutionSTFTLoss
from liveengine.training.train import (LineEvenness, config_from, line_smoothness, load, reconstruction_figures, sampling_weights, save,
                                       train_step)

SHIPPED = "drums5.pt"  # the decoder the default drum model (drums19) grew from: drums19 is it tuned on re-recorded kits, with a decay tail
TAIL_SECONDS = 0.3  # the decay tail every exported model gets, as the default drum model's (tail.py): 1.3 s sounds
TAIL_MIN_DECAY = 80.0  # dB/s, the tail's least decay (tail.py)


@dataclass(frozen=True)
class Settings:
    """How one run trains. Fine-tuning starts from the shipped weights at the learning rate the shipped model
    ended at, with its KL weight already reached; from scratch, the shipped model's own schedule."""

    minutes: float = 20.0  # wall-clock budget of this run's training loop
    from_scratch: bool = False
    batch: int = 16
    lr: float | None = None  # None: 3e-4 fine-tuning, 1e-3 from scratch
    beta: float = 0.005
    warmup: int | None = None  # KL warm-up steps; None: 0 fine-tuning, 3000 from scratch
    check_every_s: float = 30.0  # seconds of training between validation checks
    patience: int = 8  # checks in a row without a better validation figure before training stops (4 minutes at the default)
    variants: int = 3  # augmented copies of each training sound
    threads: int = 1
    seed: int = 0
    smooth_weight: float | None = None  # the line-evenness term (train.LineEvenness); None: 0.3 fine-tuning, 0 from scratch

    @property
    def evenness_weight(self) -> float:
        # Fine-tuning keeps the term the shipped model was trained with, so its pads keep moving evenly between sounds.
        # From scratch it stays off: the shipped model learnt its sounds first and evenness after (models_onnx/drums5/README.md).
        return self.smooth_weight if self.smooth_weight is not None else (0.0 if self.from_scratch else 0.3)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-3 if self.from_scratch else 3e-4)

    @property
    def kl_warmup(self) -> int:
        return self.warmup if self.warmup is not None else (3000 if self.from_scratch else 0)


@dataclass(frozen=True)
class WorkFiles:
    folder: Path

    @property
    def data(self) -> Path:
        return self.folder / "data.npz"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"

    @property
    def best(self) -> Path:
        return self.folder / "best.pt"


def new_model(class_names: tuple[str, ...], shipped: Path | None) -> tuple[DrumVAE, dict]:
    """The model to train: the shipped drum VAE's weights (shipped is its checkpoint) with a class head for the user's
    classes (a new one where the classes differ), or a fresh model (shipped None). Returns (model, start info)."""
    base = config_from(shipped) if shipped is not None else Config()
    cfg = Config(**{**base.to_dict(), "classes": tuple(class_names)})
    model = DrumVAE(cfg)
    if shipped is None:
        return model, {"start": "from scratch"}
    ckpt = torch.load(shipped, map_location="cpu", weights_only=False)
    own = model.state_dict()
    same_classes = tuple(class_names) == tuple(base.classes)  # the same count in another order is another head
    kept = {k: v for k, v in ckpt["model"].items()
            if k in own and own[k].shape == v.shape and (same_classes or not k.startswith("classifier."))}
    model.load_state_dict(kept, strict=False)
    fresh = sorted(k for k in own if k not in kept)
    return model, {"start": f"fine-tuned from the shipped drum model ({shipped.name})", "fresh_parameters": fresh}


def train(model: DrumVAE, data: FolderData, work: WorkFiles, settings: Settings, *, resume: bool, start_info: dict | None = None,
          say: Callable[[str], None] = print, on_progress: Callable[[float, float], None] | None = None) -> dict:
    """Train until this run's budget is spent or `patience` validation checks in a row bring no improvement;
    checkpoint at every check and at the end. Returns the state (step, times, validation history, why it stopped).

    The validation figure is the MR-STFT distance (spectral convergence + log-magnitude L1, lower is better)
    of the validation sounds encoded and decoded. The first check, before any step, is the starting model's
    (the shipped model's when fine-tuning) on the same sounds. SIGTERM finishes the step, saves and returns.
    """
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    if resume:
        state = load(work.checkpoint, model, optimizer)
        state["since_best"] = 0  # resuming asks for more: the patience starts again
    else:
        state = {"step": 0, "train_seconds": 0.0, "wall_seconds": 0.0, "cpu_seconds": 0.0, "history": [], "best": None,
                 "since_best": 0, **(start_info or {}), "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    for group in optimizer.param_groups:
        group["lr"] = settings.learning_rate
    state.setdefault("runs", []).append({"from_step": state["step"], **asdict(settings), "lr": settings.learning_rate,
                                         "warmup": settings.kl_warmup, "smooth_weight": settings.evenness_weight})

    train_idx = np.flatnonzero(data.train)
    # The same seed gives the same augmented set, so a resumed run trains on what the first one did.
    audio, classes, _ = augmented_set(data.audio, data.classes, train_idx, settings.variants, settings.seed)
    weights = sampling_weights(classes)
    # From scratch the class head trains with the VAE, as the shipped model's did, and sorts the latent by class.
    # Fine-tuning leaves it out: the user's classes are not the drum model's, and a head that starts out wrong
    # pulls the encoder away from what it learned (every fine-tuning run with it got worse on its validation
    # sounds in its first minutes). export_model fits the head on the final encodings either way.
    labels = torch.from_numpy(classes.astype(np.int64)) if data.class_names and settings.from_scratch else None
    validation = data.audio[data.validation]
    mrstft = MultiResolutionSTFTLoss()
    evenness = LineEvenness(model.cfg) if settings.evenness_weight > 0 else None
    rng = np.random.default_rng(settings.seed + state["step"])

    def check() -> None:
        figures = reconstruction_figures(model, mrstft, validation)
        model.train()
        entry = {"step": state["step"], "minutes": round(state["train_seconds"] / 60, 3), **figures}
        state["history"].append(entry)
        better = state["best"] is None or figures["mrstft"] < state["best"]["mrstft"]
        if better:
            state["best"] = entry
            state["since_best"] = 0
            torch.save(model.state_dict(), work.best.with_suffix(".tmp"))
            os.replace(work.best.with_suffix(".tmp"), work.best)  # Ctrl-C mid-save leaves the previous best whole
        else:
            state["since_best"] += 1
        save(work.checkpoint, model, optimizer, state)
        what = "start" if state["step"] == 0 else f"step {state['step']} ({state['train_seconds'] / 60:.1f} min)"
        say(f"{what}: validation MR-STFT distance {figures['mrstft']:.3f}" + (" (best so far)" if better and state["step"] else
            "" if better else f" (best {state['best']['mrstft']:.3f} at step {state['best']['step']}; {state['since_best']} of "
            f"{settings.patience} checks without improvement)"))

    if state["step"] == 0 and "smoothness_start" not in state:
        # The starting model's lines between the user's sounds, for the card; measured before the budget's clock starts.
        state["smoothness_start"] = line_smoothness(model, encode_means(model, data.audio), seed=settings.seed)
    stop: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append("stopped by a signal"))
    started, cpu_started = time.monotonic(), time.process_time()
    wall_before, cpu_before = state["wall_seconds"], state["cpu_seconds"]
    budget = settings.minutes * 60
    first_step = state["step"]
    model.train()
    try:
        if not state["history"]:
            check()
        since_check = 0.0
        while True:
            elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(min(elapsed, budget), budget)
            if stop:
                break
            if elapsed >= budget and state["step"] > first_step:  # every run makes at least one step, however slow the machine
                stop.append(f"the {settings.minutes:g}-minute budget was spent")
                break
            if state["since_best"] >= settings.patience:
                stop.append(f"validation had not improved for {settings.patience} checks")
                break
            idx = rng.choice(len(audio), settings.batch, p=weights)
            x = torch.from_numpy(audio[idx])
            if rng.random() < 0.5:  # polarity, as the shipped model was trained
                x = -x
            beta = settings.beta * min(1.0, state["step"] / max(1, settings.kl_warmup)) if settings.kl_warmup else settings.beta
            step_start = time.monotonic()
            parts = train_step(model, optimizer, mrstft, x, labels[idx] if labels is not None else None, beta,
                               evenness=evenness, smooth_weight=settings.evenness_weight, lines=min(4, settings.batch // 2))
            if parts.get("skipped"):
                state["skipped_steps"] = state.get("skipped_steps", 0) + 1
            took = time.monotonic() - step_start
            state["train_seconds"] += took
            since_check += took
            state["step"] += 1
            state["wall_seconds"] = wall_before + time.monotonic() - started
            state["cpu_seconds"] = cpu_before + time.process_time() - cpu_started
            if since_check >= settings.check_every_s:
                check()
                since_check = 0.0
    except KeyboardInterrupt:
        stop.append("stopped by Ctrl-C")
    finally:
        signal.signal(signal.SIGTERM, previous)
    state["wall_seconds"] = wall_before + time.monotonic() - started
    state["cpu_seconds"] = cpu_before + time.process_time() - cpu_started
    if state["history"][-1]["step"] != state["step"]:
        check()
    state["stopped"] = stop[0] if stop else "done"
    save(work.checkpoint, model, optimizer, state)
    return state


def fit_classifier(model: DrumVAE, means: np.ndarray, classes: np.ndarray, steps: int = 400, seed: int = 0) -> None:
    """Fit the class head on the final encodings (encoder means) of the labelled training sounds: fine-tuning does
    not train it, and from scratch it trained on posterior samples, not on the means the runtime classifies."""
    labelled = classes >= 0
    x = torch.from_numpy(np.ascontiguousarray(means[labelled], np.float32))
    y = torch.from_numpy(classes[labelled].astype(np.int64))
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=3e-3, weight_decay=1e-3)
    model.classifier.train()
    for _ in range(steps):
        loss = F.cross_entropy(model.classifier(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.classifier.eval()


def encode_means(model: DrumVAE, audio: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.encoder(torch.from_numpy(np.ascontiguousarray(audio[i:i + batch])))[0].numpy()
                               for i in range(0, len(audio), batch)]) if len(audio) else np.zeros((0, model.cfg.latent_dim), np.float32)


def patch_text(name: str, data: FolderData, zoom: float = 1.0, folder: str | None = None) -> str:
    """The patch `train` writes next to the model folder `folder` (default: `name`)."""
    return (f"# A patch for the model liveengine train made from {data.folder.name}/ ({len(data.audio)} sounds): "
            f"`liveengine play {name}.toml`.\n"
            "# Every key is optional; `liveengine check` prints what would run.\n\n"
            f"[patch]\nname = {json.dumps(name)}\n"
            f"description = {json.dumps(f'8x8 grid over {name}, trained on the sounds of {data.folder.name}')}\n\n"
            f"[model]\ndecoder = {json.dumps(folder or name)}   # the model folder next to this file\n\n"
            f"[grid]\nrows = 8\ncols = 8\nmapping = \"plane\"\nzoom = {zoom:g}   # of {', '.join(f'{z:g}' for z in ZOOMS)}: the one whose pads "
            "sound nearest to the most of your files (README.md)\n\n"
            "[demo]\nscore = \"default.score\"   # the shipped demo groove, played on this model's pads\nseconds = 8.0\n")


def export_model(model: DrumVAE, data: FolderData, work: WorkFiles, out: Path, patch_path: Path, state: dict,
                 seed: int = 0, tail_seconds: float = TAIL_SECONDS) -> dict:
    """Export the best weights to `out` (the model contract), with dataset.csv, grid.png, training.json and a
    model card (README.md), and write the patch at `patch_path`. Returns the figures (training.json's content).

    The decoder is exported with a decay tail of `tail_seconds` (tail.py; 0: none, 1 s sounds): a 1 s model learns
    the fade where its data set cuts a long sound, so without one a cymbal or open hat ends cut, or ringing on a bed
    of hiss. The card gives the grid's endings with the tail and without it (pad_endings.py)."""
    from liveengine.training.export import export, latent_statistics
    from liveengine.training.tail import TailModel

    model.load_state_dict(torch.load(work.best, map_location="cpu", weights_only=False))
    model.eval()
    train_mask = data.train
    stats = latent_statistics(model, data.audio[train_mask], data.classes[train_mask])
    figures: dict = {"data": data.summary(), "training": {k: state.get(k) for k in ("start", "step", "train_seconds", "wall_seconds",
                                                                                    "cpu_seconds", "history", "best", "stopped", "machine", "runs", "skipped_steps")},
                     "plane": stats["plane"],
                     "smoothness": {"start": state.get("smoothness_start"),
                                    "trained": line_smoothness(model, encode_means(model, data.audio), seed=seed)}}
    with_classes = bool(data.class_names)
    if with_classes:
        fit_classifier(model, stats["encodings"], data.classes[train_mask], seed=seed)
        figures["classifier"] = classifier_figures(model, data)
    name = out.name
    start = state.get("start", "")
    description = (f"{name}: the drum VAE {('fine-tuned' if 'fine-tuned' in start else 'trained from scratch')} on {len(data.audio)} sounds "
                   f"from {data.folder.name} ({state['step']} steps, {state['train_seconds'] / 60:.1f} min of training on the CPU) by liveengine train.")
    exported: torch.nn.Module = model
    if tail_seconds:
        exported = TailModel(model, tail_seconds, TAIL_MIN_DECAY).eval()  # shares the classifier just fitted
        seam_s = exported.decoder.seam * model.cfg.hop / model.cfg.sample_rate  # the centre of the decoder's last frame kept
        figures["tail"] = {"seconds": tail_seconds, "window_s": round(exported.cfg.length / model.cfg.sample_rate, 3),
                           "seam_s": round(seam_s, 3), "min_decay_db_s": TAIL_MIN_DECAY}
        description += (f" With a decay tail: its first {seam_s:.2f} s as decoded, then each bin decays on, at least "
                        f"{TAIL_MIN_DECAY:g} dB/s, to {figures['tail']['window_s']:g} s.")
    # The whole folder is written beside `out` and swapped in when complete: a model that played before the export
    # (a --resume) still plays if the export is killed halfway (a decoder without its gradient graph would not load).
    staging = Staging(out)
    staging.begin()
    stage = staging.stage
    try:
        with _exporter_notes_muted():
            export(exported, stage, stats, description, name=name, classifier=with_classes)
        with open(stage / "dataset.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file", "start_s", "class", "split"])
            writer.writeheader()
            writer.writerows(data.manifest_rows())
        staging.patch.write_text(patch_text(name, data, folder=stage.name))
        figures["grid"] = grid_figures(stage, staging.patch, data, without_tail=_decode_1s(model) if tail_seconds else None)
        (stage / "training.json").write_text(json.dumps(figures, indent=1))
        (stage / "README.md").write_text(model_card(name, figures))
    except BaseException:
        staging.discard()  # a failed export leaves the model folder as it was, and nothing beside it
        raise
    staging.swap_in()
    write_atomic(patch_path, patch_text(name, data, figures["grid"]["zoom"]).encode())
    return figures


class Staging(StagedFolder):
    """A model folder written in full beside `out` (hidden `.NAME.export/`, with a patch `.NAME.export.toml` naming it
    for the grid's figures), then swapped in (atomic_file.StagedFolder); `recover` is run by every `liveengine train`
    before it starts."""

    def __init__(self, out: Path) -> None:
        super().__init__(out, "export")
        self.patch = self.out.parent / f".{self.out.name}.export.toml"  # beside the stage it names

    def discard(self) -> None:
        super().discard()
        self.patch.unlink(missing_ok=True)

    def swap_in(self) -> None:
        self.patch.unlink(missing_ok=True)
        super().swap_in()


@contextlib.contextmanager
def _exporter_notes_muted():
    """Every UserWarning and FutureWarning raised while exporting, and the exporter's log below errors: the ONNX exporter's
    notes (constant folding, torchvision not installed, deprecations inside PyTorch) say nothing a user of `liveengine
    train` can act on. Errors still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def classifier_figures(model: DrumVAE, data: FolderData) -> dict:
    """The refitted head's accuracy on the validation sounds (encoder means), against always answering the largest class."""
    mask = data.validation & (data.classes >= 0)
    if not mask.any():
        return {"validation_sounds": 0}
    with torch.no_grad():
        predicted = model.classifier(torch.from_numpy(encode_means(model, data.audio[mask]))).argmax(1).numpy()
    truth = data.classes[mask]
    largest = np.bincount(data.classes[data.train & (data.classes >= 0)]).argmax()
    return {"validation_sounds": int(mask.sum()), "accuracy": round(float((predicted == truth).mean()), 3),
            "largest_class_accuracy": round(float((truth == largest).mean()), 3), "largest_class": data.class_names[largest]}


ZOOMS = (1.0, 1.5, 2.0)  # the patch's zoom is the one of these whose pads cover the most training files


def _decode_1s(model: DrumVAE) -> Callable[[np.ndarray], np.ndarray]:
    """z [n, latent] -> the trained decoder's own 1 s output [n, samples], without a tail (the card's comparison)."""
    def decode(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.synthesise(*model.decoder(torch.from_numpy(np.ascontiguousarray(z, np.float32)))).numpy()
    return decode


def ending_figures(pads: np.ndarray, sample_rate: int, cols: int) -> dict:
    """The grid check's counts (pad_endings.py) of raw decoded pads [pads, samples]."""
    from liveengine.training.pad_endings import check_audio

    check = check_audio(pads, sample_rate, cols)
    return {"noise_bed_pads": check["noise_bed_pads"], "cut_pads": check["cut_pads"], "tail_db_worst": round(check["tail_db_worst"], 1),
            "slowest_decay_db_s": check["slowest_tail_decay_db_s_where_above_minus_50_db"],
            "noise_bed_or_cut": [f"row {r['row']} col {r['col']}" for r in check["per_pad"] if r["noise_bed"] or r["cut"]]}


def grid_figures(out: Path, patch_path: Path, data: FolderData, without_tail: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """How much of the library the patch's grid covers, at each zoom of ZOOMS; the patch gets the best one (the
    smallest where several tie) and grid.png draws its pads (rendered through the runtime, as render-grid does).

    Coverage: the distinct files among each pad's nearest training sound, the one `liveengine similar` would name
    for the pad's sound (the pad rendered, encoded, compared with the training sounds encoded the same way). A small
    library's encodings lie well off the 2-D plane, so the few sounds nearest its middle can be nearest to many
    pads; which zoom covers most varies from model to model (docs/benchmarks.md: 16 files of 91 at zoom 1 in one
    run, 10 at zoom 1 and 19 at zoom 1.5 in another). For the record, the same count from the pads' latent points
    (no render) is given too.

    How the pads end (`endings`): the grid check of the exported decoder's raw output for the chosen zoom's pads (no fade,
    trim or gain of the engine's), and of `without_tail`'s (the 1 s decoder) where given.
    """
    import dataclasses

    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.decoders.registry import load_decoder
    from liveengine.export.cli import patch_grid
    from liveengine.export.grid_export import render_pads
    from liveengine.export.pictures import save_png, spectrogram_sheet
    from liveengine.library.index import encode_sounds
    from liveengine.patch import load_patch

    patch = load_patch(patch_path)
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rate = decoder.sample_rate  # the model's own rate: what the encoder takes
    train = data.train
    files = data.files[train]
    library = encode_sounds(decoder, list(data.audio[train]))

    def nearest(queries: np.ndarray) -> np.ndarray:
        return np.linalg.norm(queries[:, None, :].astype(np.float64) - library[None, :, :].astype(np.float64), axis=2).argmin(axis=1)

    best = None
    by_zoom = {}
    for zoom in ZOOMS:
        rows, cols, points = patch_grid(dataclasses.replace(patch, grid={**patch.grid, "zoom": zoom}), decoder)
        try:
            pads = render_pads(decoder, points, rate, patch.engine["max_seconds"])
        except LiveEngineError as exc:  # a pad this far out does not sound: not a zoom to play at
            by_zoom[str(zoom)] = {"zoom": zoom, "failed": exc.message}
            if best is None:
                raise
            continue
        by_sound, by_point = nearest(encode_sounds(decoder, [p.samples for p in pads])), nearest(points)
        entry = {"zoom": zoom, "nearest_distinct_files": len(set(files[by_sound].tolist())), "nearest_distinct_sounds": len(set(by_sound.tolist())),
                 "point_nearest_distinct_files": len(set(files[by_point].tolist()))}
        by_zoom[str(zoom)] = entry
        if best is None or entry["nearest_distinct_files"] > best[0]["nearest_distinct_files"]:
            best = entry, pads, points
    entry, pads, points = best
    raw = OnnxDecoder(out, threads=1, normalize="none")
    decoded = np.zeros((len(points), raw.info.output_length), np.float32)
    raw.decode_into(np.asarray(points, np.float32), decoded)
    endings = {"exported": ending_figures(decoded, raw.info.sample_rate, cols)}
    if without_tail is not None:
        endings["without_tail"] = ending_figures(without_tail(points), raw.info.sample_rate, cols)
    classes = [p.description.drum_class for p in pads]
    save_png(spectrogram_sheet([p.samples for p in pads], rate, rows, cols, classes,
                               title=f"{patch.name}: {rows}x{cols} pads at zoom {entry['zoom']:g} (row 0 at the bottom)"), out / "grid.png")
    counts: dict[str, int] = {}
    for label in classes:
        counts[label or "(none)"] = counts.get(label or "(none)", 0) + 1
    return {"rows": rows, "cols": cols, **entry, "training_files": len(set(files.tolist())), "by_zoom": by_zoom,
            "pad_classes": counts, "pad_loudness_dbfs_min": round(min(p.description.loudness_db for p in pads), 1), "endings": endings}


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _table(header: list[str], rows: list[list]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def model_card(name: str, figures: dict) -> str:
    """README.md of an exported model: the data, how it was trained, its figures, how to play it."""
    d, t, g = figures["data"], figures["training"], figures["grid"]
    tail = figures.get("tail")
    history = t["history"]
    first, best = history[0], t["best"]
    fine = "fine-tuned" in (t.get("start") or "")
    lines = [f"# {name}: a model trained on your sounds", "",
             f"Made by `liveengine train` from `{d['folder']}`: the drum VAE {t.get('start')}. It meets the liveengine model "
             "contract (docs/model-contract.md): `decoder.onnx` (latent point -> STFT magnitude and phase, "
             + (f"{tail['window_s']:g}-s sounds at 44.1 kHz: its first {tail['seam_s']:g} s as decoded, then a decay tail" if tail
                else "1-s sounds at 44.1 kHz") + "), "
             "`encoder.onnx`" + (", `classifier.onnx` (over the classes below)" if d["classes"] else " (no classifier: the folder had no "
                                 "class subfolders, so the pad map shows brightness)") + ".", "",
             f"Play it: `liveengine play {name}.toml` (the patch next to this folder), or `liveengine play --model {name}`. "
             "`grid.png` shows every pad's spectrogram as the 8x8 grid lays them out, row 0 at the bottom.", "",
             "## Data", "",
             f"{d['audio_files']} audio files, {d['sounds']} sounds from {d['files_used']} of them (long files cut at their hits); "
             f"{d['train']} trained on, {d['validation']} held back as the validation set (never trained on). Every sound is "
             "mixed to mono, resampled to 44.1 kHz, started at its onset, cut or padded to 1 s and peak-normalised.", "",
             _table(["class", "files", "sounds", "train", "validation"],
                    [[k, v["files"], v["sounds"], v["train"], v["validation"]] for k, v in d["per_class"].items()]), ""]
    if d["skipped"]:
        lines += [f"Skipped {_n(len(d['skipped']), 'file')}: " + "; ".join(f"{k} {v}" for k, v in list(d["skipped"].items())[:20])
                  + (" ..." if len(d["skipped"]) > 20 else "") + ".", ""]
    if d.get("other_files"):
        lines += [f"Left out {_n(d['other_files'], 'file')} that {'is' if d['other_files'] == 1 else 'are'} not audio (by the name's ending).", ""]
    if d["quiet_hits"]:
        lines += [f"Left out {_n(d['quiet_hits'], 'hit')} quieter than -80 dBFS.", ""]
    if d["cut_to_1s"]:
        lines += [f"{_n(d['cut_to_1s'], 'sound')} longer than 1 s {'was' if d['cut_to_1s'] == 1 else 'were'} cut to 1 s with a 50 ms fade.", ""]
    lines += ["`dataset.csv` lists every sound: file, start in the file, class, split.", "",
              "## Training", "",
              f"{t['step']} steps of batch {t['runs'][-1]['batch']} in {t['train_seconds'] / 60:.1f} minutes of training time "
              f"({t['wall_seconds'] / 60:.1f} min wall-clock in the training loop, {t['cpu_seconds'] / 60:.1f} min of CPU time) on "
              f"{t['machine'] or 'this machine'}, {t['runs'][-1]['threads']} thread(s), PyTorch {torch.__version__}. "
              f"Stopped because {t['stopped']}"
              + (f", {t['skipped_steps']} steps skipped (a loss or gradient was not finite)" if t.get("skipped_steps") else "")
              + (f". Line evenness (straight lines between sounds decoded at an even pace) weight {t['runs'][-1]['smooth_weight']:g}"
                 if t['runs'][-1].get("smooth_weight") else "") + ". Augmentation as the drum model's: every training sound plus "
              f"{t['runs'][-1]['variants']} variants (pitch, envelope, filter, layering).", "",
              "Validation (the held-back sounds encoded and decoded; MR-STFT distance = spectral convergence + log-magnitude L1 "
              "over three STFT sizes; lower is closer to the originals):", "",
              _table(["", "step", "training minutes", "spectral convergence", "log-magnitude L1", "MR-STFT distance"],
                     [["the shipped drum model" if fine else "the untrained model", first["step"], first["minutes"], first["sc"],
                       first["logmag"], first["mrstft"]],
                      ["**this model (exported: its best check)**", best["step"], best["minutes"], best["sc"], best["logmag"],
                       f"**{best['mrstft']}**"]]), ""]
    if best["step"] == 0:
        lines += ["No check beat the starting model on the validation sounds: the exported weights are the starting model's "
                  "(with your pad plane" + (" and classifier" if d["classes"] else "") + "). Train longer with --resume.", ""]
    if len(history) > 2:
        lines += ["Every check (step: MR-STFT distance): " + ", ".join(f"{h['step']}: {h['mrstft']}" for h in history) + ".", ""]
    lines += ["## The pads", "",
              f"The pad plane runs through the {figures['plane']} of this model's encodings of the training sounds "
              "(`latent.mean`, `latent.axes`, `latent.spreads` in decoder.onnx's metadata), not the drum model's.",
              f"On the patch's {g['rows']}x{g['cols']} grid (zoom {g['zoom']:g}), the pads' nearest training sounds (each pad's "
              f"sound encoded and compared with the training sounds, as `liveengine similar` would) are "
              f"{g['nearest_distinct_sounds']} distinct sounds from **{g['nearest_distinct_files']} distinct files** (of "
              f"{g['training_files']} trained on): how much of the library the grid covers. The patch's zoom is the one of "
              + ", ".join(f"{z['zoom']:g} ({z['nearest_distinct_files']} files)" if "failed" not in z else f"{z['zoom']:g} (a pad did not render)"
                          for z in g["by_zoom"].values())
              + " that covers the most. From the pads' latent points instead of their sounds: "
              f"{g['point_nearest_distinct_files']} files (the training encodings lie well off the plane, so the few "
              "nearest it are nearest to many pads).", ""]
    ends = g.get("endings") or {}
    if ends.get("exported"):
        mine, plain = ends["exported"], ends.get("without_tail")

        def counted(e: dict) -> str:
            return f"{_n(e['noise_bed_pads'], 'pad')} on a noise bed, {e['cut_pads']} cut"

        lines += ["How the pads end (the grid check of the drum models, on the decoder's raw output for the patch's pads: a pad "
                  "is on a *noise bed* when its 100 ms before the window's last 50 ms are above -50 dB re its peak and decay "
                  "slower than 60 dB/s, *cut* when its last 10 ms there are above -40 dB): "
                  + (f"with the decay tail (each frequency band goes on decaying past {tail['seam_s']:g} s, at least "
                     f"{tail['min_decay_db_s']:g} dB/s, to {tail['window_s']:g} s; `--tail 0` leaves it off) **{counted(mine)}**"
                     + (f"; the same decoder without it (1 s): {counted(plain)}" if plain else "") if tail else f"**{counted(mine)}**")
                  + f". Loudest ending (the 100 ms above, re the pad's peak) {mine['tail_db_worst']:g} dB"
                  + (f" ({plain['tail_db_worst']:g} dB without the tail)" if plain else "")
                  + (f"; flagged: {', '.join(mine['noise_bed_or_cut'][:16])}" if mine["noise_bed_or_cut"] else "") + ".", ""]
    sm = figures.get("smoothness") or {}
    if (sm.get("trained") or {}).get("lines"):
        start, trained = sm.get("start") or {}, sm["trained"]
        lines += [f"Smoothness between your sounds: {trained['lines']} straight lines between random pairs of their encodings, "
                  f"decoded at {trained['points_per_line']} points; per line the largest step over the mean step (log mel; 1 is even, "
                  "the drum model's goal is at most 3). Worst line " + (f"{start['worst']} before training, " if start.get("lines") else "")
                  + f"**{trained['worst']}** for this model (median " + (f"{start['median']} -> " if start.get("lines") else "")
                  + f"{trained['median']}).", ""]
    if d["classes"]:
        c = figures["classifier"]
        counts = ", ".join(f"{k} {v}" for k, v in sorted(g["pad_classes"].items(), key=lambda kv: -kv[1]))
        lines += [f"Pads per class (by the classifier): {counts}."]
        if c.get("validation_sounds"):
            lines += [f"Classifier, refitted on the final encodings: accuracy {c['accuracy']} on the {c['validation_sounds']} validation "
                      f"sounds (always answering the largest class, {c['largest_class']}: {c['largest_class_accuracy']})."]
        lines += [""]
    lines += ["## Again, longer", "",
              f"`liveengine train {d['folder']} --out {name} --resume --minutes 20` continues from the last checkpoint "
              f"(kept in `{name}-training/` next to this folder, with the prepared sounds; delete it when done).", ""]
    return "\n".join(lines)
