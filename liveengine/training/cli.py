"""CLI glue for `liveengine train FOLDER`; liveengine/cli.py registers it with add_commands().

Parsing the arguments, checking the output and reading the folder's sounds need no PyTorch; the
training itself (liveengine.training.own) is imported only once those pass and torch is found.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from liveengine.errors import LiveEngineError

TORCH_MISSING = ("liveengine train needs PyTorch, which is not installed in this Python.",
                 "Install the train extra: pip install 'liveengine[train]' (torch 2.13.0, the CPU build, and onnx).")


def add_commands(commands, debug: argparse.ArgumentParser) -> None:
    """Add `train` to `commands` (argparse subparsers); it sets `run` to its handler."""
    train = commands.add_parser("train", parents=[debug],
                                help="train a model on a folder of your sounds (fine-tuning the drum model) and write it with a patch that plays it")
    train.add_argument("folder", help="a folder of audio files; subfolders are classes (kick/, snare/, ...); long files are cut at their hits")
    train.add_argument("--out", metavar="DIR", help="the model folder to write (default: FOLDERNAME-model in the current folder); "
                                                   "the patch DIR.toml and the work folder DIR-training/ go next to it")
    train.add_argument("--minutes", type=_minutes, default=20.0, help="training time budget of this run, wall-clock (default 20)")
    train.add_argument("--from-scratch", action="store_true", help="train a fresh model instead of fine-tuning the shipped drum model")
    train.add_argument("--resume", action="store_true", help="continue the training kept in DIR-training/ (its sounds, weights and optimiser)")
    train.add_argument("--force", action="store_true", help="start over: DIR-training/ is removed, DIR and DIR.toml are replaced when the new model is exported")
    train.add_argument("--seed", type=int, default=0, help="seed of the validation split, the augmentation and the batches (default 0)")
    train.add_argument("--smooth-weight", type=_weight, default=None,
                       help="weight of the line-evenness term, which keeps pads moving evenly between sounds at about twice the time "
                            "a step (default 0.3 fine-tuning, as the drum model was trained; 0 from scratch; 0 turns it off)")
    train.add_argument("--tail", type=_tail, default=None, metavar="SECONDS",
                       help="the decay tail added to the exported model's 1 s sounds, so cymbals and open hats finish instead of "
                            "being cut (default 0.3, as the default drum model's; 0 leaves it off)")
    train.set_defaults(run=cmd_train)


def _tail(text: str) -> float:
    from liveengine.cli_support import _parsed
    from liveengine.training.data import FADE_S

    value = _parsed(text, float)
    if value is None or not (value == 0 or FADE_S < value <= 2):
        raise argparse.ArgumentTypeError(f"{text!r} is not a tail length; allowed: 0 (none) or seconds above {FADE_S:g}, at most 2")
    return value


def _weight(text: str) -> float:
    from liveengine.cli_support import _parsed

    value = _parsed(text, float)
    if value is None or not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a loss weight; allowed: a number from 0 to 10")
    return value


def _minutes(text: str) -> float:
    from liveengine.cli_support import _parsed

    value = _parsed(text, float)
    if value is None or not 0 < value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not a training time; allowed: minutes above 0, at most 1440")
    return value


def output_paths(folder: Path, out: str | None) -> tuple[Path, Path, Path]:
    """(model folder, patch file, work folder) for `train FOLDER [--out DIR]`."""
    model = Path(out) if out else Path(f"{folder.resolve().name}-model")
    return model, model.parent / f"{model.name}.toml", model.parent / f"{model.name}-training"


def check_outputs(folder: Path, model: Path, patch: Path, work: Path, *, resume: bool, force: bool) -> None:
    """Refuse, before any work, outputs that cannot be written, that lie inside FOLDER, or that would be replaced unasked."""
    from liveengine.output_paths import check_output

    if resume and force:
        raise LiveEngineError("--resume and --force contradict each other: --resume continues the training in "
                              f"{work}, --force starts it over.", "Give one of them.")
    inside = folder.resolve()
    for path in (model, work):
        if path.resolve() == inside or inside in path.resolve().parents:
            raise LiveEngineError(f"--out {model} lies inside the sound folder {folder}; liveengine train writes its model next to it, "
                                  "never into it (a second run would read it as sounds).", "Choose an --out outside the folder.")
    fix = "Choose an --out in a folder you can write to."
    for path, what in ((model, "--out"), (work, "the work folder")):
        if path.exists() and not path.is_dir():
            raise LiveEngineError(f"cannot write {what} {path}: it is a file, not a folder.", fix)
        check_output(path, what, fix, folder=True)
    check_output(patch, "the patch", fix)
    if resume:
        if not (work / "checkpoint.pt").is_file() or not (work / "data.npz").is_file():
            raise LiveEngineError(f"there is no training to resume in {work} (it needs checkpoint.pt and data.npz from an earlier run).",
                                  "Run without --resume to start one.")
        return
    taken = [str(p) for p in (model, work) if p.is_dir() and any(p.iterdir())] + ([str(patch)] if patch.exists() else [])
    if taken and not force:
        raise LiveEngineError(f"{' and '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; liveengine train never replaces "
                              "a model silently.", "Add --resume to continue its training, --force to start over, or choose another --out.")


def require_torch() -> None:
    """LiveEngineError in one sentence (and the fix) where PyTorch or onnx cannot be imported."""
    import importlib

    try:
        for module in ("torch", "onnx"):  # imported, not just looked for: a broken install fails here, not mid-training
            importlib.import_module(module)
    except ImportError:
        raise LiveEngineError(*TORCH_MISSING) from None


def cmd_train(args) -> int:
    from liveengine.cli_support import Progress, say
    from liveengine.training.folder_data import check_folder

    folder = Path(args.folder)
    check_folder(folder)  # missing, empty, no audio: said before anything else happens
    model_dir, patch, work_dir = output_paths(folder, args.out)
    check_outputs(folder, model_dir, patch, work_dir, resume=args.resume, force=args.force)

    from liveengine.job_lock import heavy_job
    from liveengine.training.folder_data import build_folder_data

    with heavy_job(f"a training run (liveengine train {folder})"):
        data = None
        if not args.resume:  # read (no torch needed) before torch is looked for: too few or unreadable sounds are said first
            with Progress("reading sounds", unit=" files") as progress:
                data = build_folder_data(folder, seed=args.seed, on_progress=progress)
        require_torch()
        return _train(args, folder, model_dir, patch, work_dir, say, data)


def _train(args, folder: Path, model_dir: Path, patch: Path, work_dir: Path, say, data) -> int:
    import shutil

    from liveengine.cli_support import Progress
    from liveengine.resources import checkpoints_dir
    from liveengine.training import own
    from liveengine.training.folder_data import FolderData

    started = time.monotonic()
    own.Staging(model_dir).recover()  # an export killed mid-swap: its model folder put back before anything else
    work = own.WorkFiles(work_dir)
    if args.resume:
        data = FolderData.load(work.data)
        say(f"resuming the training in {work_dir} on the {len(data.audio)} sounds read from {data.folder} then "
            "(files added or changed since are not read: start over with --force to read them)")
    else:
        if args.force and work_dir.is_dir():  # the model and its patch are replaced whole when the new one is exported
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        data.save(work.data)
    for line in data.summary_lines():
        say(line)
    settings = own.Settings(minutes=args.minutes, from_scratch=args.from_scratch, seed=args.seed, smooth_weight=args.smooth_weight)
    shipped = None if args.from_scratch else checkpoints_dir() / own.SHIPPED
    if shipped is not None and not shipped.is_file():
        raise LiveEngineError(f"the shipped drum model's checkpoint {shipped} is missing, so there is nothing to fine-tune.",
                              "Reinstall liveengine, or add --from-scratch.")
    model, start = own.new_model(data.class_names, shipped)
    say(f"training: {start['start']}, for at most {args.minutes:g} min on one thread, stopping early when the validation figure "
        f"stops improving; Ctrl-C stops it and keeps the best so far. Run no benchmark or JACK test meanwhile (they skew each other's "
        "figures; the benchmarks refuse to start).")
    with Progress("training", unit=" s") as progress:
        state = own.train(model, data, work, settings, resume=args.resume, start_info=start, say=say, on_progress=progress)
    skipped = state.get("skipped_steps", 0)  # a batch whose loss or gradient was not finite: counted, never applied
    say(f"stopped: {state['stopped']}; {state['step']} steps, {state['train_seconds'] / 60:.1f} min of training"
        + (f" ({skipped} skipped: a loss or gradient was not finite)" if skipped else "") + f"; exporting the best check (step {state['best']['step']})")
    figures = own.export_model(model, data, work, model_dir, patch, state, seed=args.seed,
                               tail_seconds=own.TAIL_SECONDS if args.tail is None else args.tail)
    first, best = state["history"][0], state["best"]
    grid = figures["grid"]
    say(f"validation MR-STFT distance: {first['mrstft']:.3f} for the {'shipped drum model' if shipped else 'untrained model'}, "
        f"{best['mrstft']:.3f} for this model (lower is closer to your sounds)")
    say(f"the 8x8 grid's pads sound nearest to {grid['nearest_distinct_sounds']} of your sounds from {grid['nearest_distinct_files']} files"
        + (f"; classifier accuracy {figures['classifier']['accuracy']} on the validation sounds" if figures.get("classifier", {}).get("accuracy") is not None else ""))
    ends = grid["endings"]
    say(f"the pads' endings: {ends['exported']['noise_bed_pads']} on a noise bed, {ends['exported']['cut_pads']} cut"
        + (f" (the 1 s decoder without the {figures['tail']['seconds']:g} s decay tail: {ends['without_tail']['noise_bed_pads']} and "
           f"{ends['without_tail']['cut_pads']})" if "without_tail" in ends else " (no decay tail)"))
    say(f"wrote {model_dir}/ (model, README.md card, grid.png) and {patch} in {(time.monotonic() - started) / 60:.1f} min; "
        f"play it: liveengine play {patch}")
    return 0
