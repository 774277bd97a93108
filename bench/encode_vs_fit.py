"""Where the encoder puts held-out sounds against where a fit puts them: brightness and class, per drum class.

    python bench/encode_vs_fit.py [--model models_onnx/drums8] [--data training_data/1.3s] [--per-class 24] [--steps 0,3,10,30]
                                  [--tethers 0,0.01] [--rerecorded 40]

For the first `--per-class` held-out sounds of each class (the GPL and CC-BY-SA hydrogen kits, never trained
on), each sound is placed twice, by the model's encoder (its mean) and by its fit (liveengine/decoders/fit.py,
as corners are placed), and both points are decoded. Reported per class: the median spectral centroid of the
first 0.5 s (recorded, encoded, fitted: does the decoder make the sound's brightness when the point is right?)
and how many of the points the model's classifier names right. Then, over every held-out sound, the encoder's mean
refined by `--steps` fit steps each (0: the encoder alone; the fit's default is 30): the MR-STFT distance and MCD of
the decoded sounds' first second to the recorded ones (as bench/model_quality.py measures them), the classifier's
accuracy (overall and per class), and the seconds a sound takes (two threads, as model_quality's fit): what a few
steps of analysis by synthesis buy on top of the encoder. With `--tethers`, each fit of 1 step or more once for each
tether (fit.TETHER's weight on the squared distance from the encoder's mean; 0 a free walk): how far the walk may
leave what the encoder heard. With `--rerecorded N`, the same for N training sounds of each class (fewer where a
class has fewer), each re-recorded once as another kit might (augment.kit_like, seed 7; needs the `train` extra): is
the encoder's distance from the fit a matter of unseen kits, or there on the sounds it trained on as well? The fit's
tether was chosen on these re-recorded training sounds, never on the held-out kits.
Writes bench/results_encode_vs_fit.json.
Refuses to start while a training run or another benchmark holds the heavy-job lock (liveengine/job_lock.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def centroid_hz(audio: np.ndarray, sample_rate: int, seconds: float = 0.5) -> np.ndarray:
    """[n] spectral centroid of each row's first `seconds`, Hann-windowed power spectrum."""
    n = int(seconds * sample_rate)
    power = np.abs(np.fft.rfft(audio[:, :n] * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    return (power * freqs).sum(axis=1) / (power.sum(axis=1) + 1e-20)


def main(argv: list[str] | None = None) -> int:
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.errors import LiveEngineError
    from liveengine.resources import default_model
    from liveengine.training.data import CLASSES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--data", type=Path, default=HERE.parent / "training_data" / "1.3s",
                        help="a data set at the model's window (python -m liveengine.training.data --seconds 1.3 --out training_data/1.3s)")
    parser.add_argument("--per-class", type=int, default=24)
    parser.add_argument("--steps", default="0,3,10,30", help="fit steps after the encoder, comma-separated (0: the encoder alone)")
    parser.add_argument("--tethers", default=None,
                        help="the fit's tethers to compare, comma-separated (default: the fit's own, fit.TETHER; 0: a free walk)")
    parser.add_argument("--rerecorded", type=int, default=0,
                        help="also this many re-recorded training sounds a class (0: none; needs the train extra)")
    parser.add_argument("--out", type=Path, default=HERE / "results_encode_vs_fit.json")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class {args.per_class}: allowed: 1 or more")
    if args.rerecorded < 0:
        parser.error(f"--rerecorded {args.rerecorded}: allowed: 0 (none) or more")
    try:
        steps = [int(v) for v in args.steps.split(",")]
    except ValueError:
        steps = [-1]
    if min(steps) < 0:
        parser.error(f"--steps {args.steps}: allowed: whole numbers of 0 or more, comma-separated (such as 0,3,10,30)")
    from liveengine.decoders import fit

    try:
        tethers = [fit.TETHER] if args.tethers is None else [float(v) for v in args.tethers.split(",")]
    except ValueError:
        tethers = [-1.0]
    if not all(0.0 <= v < float("inf") for v in tethers):
        parser.error(f"--tethers {args.tethers}: allowed: numbers of 0 or more, comma-separated (such as 0,0.01)")
    if not (args.data / "sounds.npz").is_file():
        parser.error(f"--data {args.data}: no sounds.npz; build it with python -m liveengine.training.data --seconds 1.3 --out {args.data}")
    try:
        decoder = OnnxDecoder(args.model, threads=1, normalize="peak")
    except LiveEngineError as exc:
        parser.error(f"--model {args.model}: {exc.message}")
    sounds = np.load(args.data / "sounds.npz")
    if sounds["audio"].shape[1] != decoder.output_length:
        parser.error(f"--data {args.data}: its sounds are {sounds['audio'].shape[1]} samples; {args.model.name} reads {decoder.output_length}")
    if args.rerecorded:  # checked before the long runs
        if importlib.util.find_spec("torch") is None:  # augment.kit_like needs it
            parser.error(f"--rerecorded {args.rerecorded}: needs the train extra (PyTorch): pip install 'liveengine[train]'")
        if not np.any((sounds["split"] == "train") & (sounds["classes"] >= 0)):
            parser.error(f"--rerecorded {args.rerecorded}: {args.data} has no labelled training sounds to re-record")
    rate = decoder.sample_rate
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": args.model.name, "per_class": {}}
    for k, name in enumerate(CLASSES):
        rows = np.flatnonzero((sounds["split"] == "heldout") & (sounds["classes"] == k))[:args.per_class]
        if not len(rows):
            continue
        x = sounds["audio"][rows].astype(np.float32) / 32767.0
        placed = {"encoded": decoder.encode(x), "fitted": decoder.fit(x)[0]}
        entry = {"sounds": len(rows), "centroid_hz_recorded": round(float(np.median(centroid_hz(x, rate))))}
        for how, z in placed.items():
            out = np.zeros((len(rows), decoder.output_length), np.float32)
            decoder.decode_into(z.astype(np.float32), out)
            entry[f"centroid_hz_{how}"] = round(float(np.median(centroid_hz(out, rate))))
            entry[f"classed_right_{how}"] = int((decoder.classify(z.astype(np.float32)).argmax(axis=1) == k).sum())
        results["per_class"][name] = entry
        print(f"{name}: {entry['sounds']} sounds; centroid recorded {entry['centroid_hz_recorded'] / 1000:.1f} kHz, encoded "
              f"{entry['centroid_hz_encoded'] / 1000:.1f}, fitted {entry['centroid_hz_fitted'] / 1000:.1f}; classed right "
              f"{entry['classed_right_encoded']} encoded, {entry['classed_right_fitted']} fitted", flush=True)
    held = np.flatnonzero(sounds["split"] == "heldout")
    results["tether"] = fit.TETHER
    results["steps"] = refined(decoder, sounds["audio"][held].astype(np.float32) / 32767.0, sounds["classes"][held].astype(int), steps,
                               tethers)
    if args.rerecorded:
        x, truth = rerecorded(sounds, args.rerecorded)
        print(f"{len(x)} training sounds, re-recorded:", flush=True)
        results["steps_rerecorded"] = refined(decoder, x, truth, steps, tethers)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def rerecorded(sounds, per_class: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Up to `per_class` labelled training sounds of each class (a seeded draw), each re-recorded once by kit_like."""
    import torch

    from liveengine.training.augment import kit_like

    rng = np.random.default_rng(seed)
    train = np.flatnonzero((sounds["split"] == "train") & (sounds["classes"] >= 0))
    classes = sounds["classes"][train].astype(int)
    rows = np.concatenate([rng.permutation(train[classes == k])[:per_class] for k in np.unique(classes)])
    x = kit_like(torch.from_numpy(sounds["audio"][rows].astype(np.float32) / 32767.0), rng).numpy()
    return np.ascontiguousarray(x), sounds["classes"][rows].astype(int)


def refined(decoder, x: np.ndarray, truth: np.ndarray, steps: list[int], tethers: list[float]) -> dict:
    """Sounds `x` (labels `truth`, -1 unlabelled) placed by the encoder and `k` fit steps (each tether for k >= 1), for
    each: distances, accuracy overall and per class, seconds a sound. Keys "k" (k = 0, or the fit's own tether) and
    "k tether t"."""
    from model_quality import distances, first_second, fit_all

    from liveengine.decoders import fit
    from liveengine.training.data import CLASSES

    recorded = first_second(x, x)  # the held-out sounds as the 1 s data set has them, as model_quality compares
    labelled = truth >= 0
    out = {}
    for k, tether in [(k, t) for k in steps for t in (tethers if k else [None])]:  # 0 steps: no walk, no tether
        z, seconds = fit_all(decoder, x, k, tether)
        seconds /= len(x)
        decoded = np.zeros_like(x)
        decoder.decode_into(z.astype(np.float32), decoded)
        rows = [distances(recorded[i], sound) for i, sound in enumerate(first_second(decoded, x))]
        named = decoder.classify(z.astype(np.float32))[labelled].argmax(axis=1)
        right = named == truth[labelled]
        key = str(k) if tether is None or tether == fit.TETHER else f"{k} tether {tether:g}"
        out[key] = {"sounds": len(x), "tether": tether, "mrstft": round(float(np.mean([r["mrstft"] for r in rows])), 4),
                    "mcd": round(float(np.mean([r["mcd"] for r in rows])), 3), "accuracy": round(float(np.mean(right)), 4),
                    "per_class": {name: round(float(np.mean(right[truth[labelled] == c])), 3) for c, name in enumerate(CLASSES)
                                  if np.any(truth[labelled] == c)},
                    "seconds_per_sound": round(seconds, 4)}
        print(f"{k} fit steps{f', tether {tether:g}' if k else ''}: MR-STFT {out[key]['mrstft']:.3f}, MCD {out[key]['mcd']:.2f} dB, "
              f"classifier {out[key]['accuracy']:.1%}, {1000 * seconds:.0f} ms a sound", flush=True)
    return out


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively

    sys.exit(run_exclusively("the encode-vs-fit benchmark (bench/encode_vs_fit.py)", main))
