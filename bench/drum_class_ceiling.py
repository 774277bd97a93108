"""How well can the held-out kits' sounds be classed at all? The ceiling behind the drum classifier's goal.

    python bench/drum_class_ceiling.py [--model models_onnx/drums] [--also models_onnx/drums2 ...] [--data training_data]

For models with a 1 s window (the data set's): a longer-window model (drums3) would see 1 s sounds padded.

The drum model's classifier (issue: a drum model that sounds like drums on every pad) reads the
class from `z`, the encoder's mean. Its goal on the held-out kits is 70% with no class under
40%. This bench asks where the shortfall lies, with one simple classifier throughout: k nearest
neighbours (k = 5, features standardised, each neighbour's vote weighted by the inverse of its
class's count among the neighbours' set, so a large class does not win by number).

- `head`: the model's own classifier on `z` (what bench/model_quality.py reports).
- `knn_z_from_training`: neighbours among the training sounds' `z` (as is, no augmentation):
  is the shipped head the weak part, or `z`?
- `knn_z_leave_one_kit_out`: neighbours among the *other held-out kits'* `z`. Each kit is classed
  from the remaining 11 held-out kits, as if the training data were drawn from the same kits as
  the evaluation: what `z` allows at best with in-domain labels.
- `knn_logmel_leave_one_kit_out`: the same on the sound itself (its full 128-band log-mel
  spectrogram, 1 s), without any model: how separable the held-out classes are across kits for
  a plain spectral representation.

Only the held-out sounds with a class are used (598 of them in 12 kits when every kit is
present). Nothing here is trained on the held-out kits for the product: the leave-one-kit-out
figures are diagnostics. Writes bench/results_drum_class_ceiling.json. No PyTorch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

K = 5


def knn(train: np.ndarray, labels: np.ndarray, query: np.ndarray, classes: int) -> np.ndarray:
    """Class-balanced k-nearest-neighbour votes on standardised features."""
    mu, sd = train.mean(0), train.std(0) + 1e-6
    a, b = (train - mu) / sd, (query - mu) / sd
    d2 = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None]
    nearest = np.argsort(d2, axis=1)[:, :K]
    weight = 1.0 / np.maximum(np.bincount(labels, minlength=classes), 1)[labels]
    votes = np.zeros((len(query), classes))
    rows = np.arange(len(query))
    for j in range(K):
        np.add.at(votes, (rows, labels[nearest[:, j]]), weight[nearest[:, j]])
    return votes.argmax(1)


def leave_one_kit_out(features: np.ndarray, labels: np.ndarray, kits: np.ndarray, classes: int) -> np.ndarray:
    predicted = np.zeros_like(labels)
    for kit in np.unique(kits):
        own = kits == kit
        predicted[own] = knn(features[~own], labels[~own], features[own], classes)
    return predicted


def scores(predicted: np.ndarray, truth: np.ndarray, names: list[str]) -> dict:
    per_class = {name: round(float(np.mean(predicted[truth == c] == c)), 3) for c, name in enumerate(names) if (truth == c).any()}
    return {"accuracy": round(float(np.mean(predicted == truth)), 3), "worst_class": min(per_class, key=per_class.get),
            "per_class": per_class}


def model_rows(model: Path, audio: np.ndarray, classes: np.ndarray, train: np.ndarray, held: np.ndarray, kits: np.ndarray) -> tuple[dict, list[str]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    encoder = ort.InferenceSession(str(model / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
    head = ort.InferenceSession(str(model / "classifier.onnx"), options, providers=["CPUExecutionProvider"])
    decoder_meta = ort.InferenceSession(str(model / "decoder.onnx"), options, providers=["CPUExecutionProvider"]).get_modelmeta()
    names = json.loads(decoder_meta.custom_metadata_map["liveengine.classes"])  # the contract's class names, in order
    window = encoder.get_inputs()[0].shape[1]

    def encode(rows: np.ndarray) -> np.ndarray:
        x = audio[rows]
        x = x[:, :window] if x.shape[1] >= window else np.pad(x, ((0, 0), (0, window - x.shape[1])))
        return np.concatenate([encoder.run(None, {"audio": x[i:i + 32]})[0] for i in range(0, len(x), 32)])

    z_train, z_held = encode(train), encode(held)
    truth = classes[held]
    k = len(names)
    return {"window_samples": int(window),
            "head": scores(head.run(None, {"z": z_held.astype(np.float32)})[0].argmax(1), truth, names),
            "knn_z_from_training": scores(knn(z_train, classes[train], z_held, k), truth, names),
            "knn_z_leave_one_kit_out": scores(leave_one_kit_out(z_held, truth, kits, k), truth, names)}, names


def main(argv: list[str] | None = None) -> int:
    from model_quality import log_mel

    from liveengine.resources import default_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=default_model(), help="a model folder (default: the default patch's)")
    parser.add_argument("--also", type=Path, action="append", default=[])
    parser.add_argument("--data", type=Path, default=REPO / "training_data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results_drum_class_ceiling.json")
    args = parser.parse_args(argv)
    sounds = np.load(args.data / "sounds.npz")
    split, classes, files = sounds["split"], sounds["classes"].astype(int), sounds["files"]
    audio = sounds["audio"].astype(np.float32) / 32767.0
    train = np.flatnonzero((split == "train") & (classes >= 0))
    held = np.flatnonzero((split == "heldout") & (classes >= 0))
    # the kit is the folder a held-out file came from (hydrogen/drumkits/<kit>/<file>)
    kits = np.array([Path(str(f)).parent.name for f in files[held]])
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "k": K, "held_out_sounds": int(len(held)),
                     "held_out_kits": int(len(np.unique(kits))), "models": {}}
    names: list[str] = []
    for model in (args.model, *args.also):
        results["models"][model.name], names = model_rows(model, audio, classes, train, held, kits)
    features = np.stack([log_mel(a).ravel() for a in audio[held]])
    results["knn_logmel_leave_one_kit_out"] = scores(leave_one_kit_out(features, classes[held], kits, len(names)), classes[held], names)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
