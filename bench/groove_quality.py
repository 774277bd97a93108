"""Quality, smoothness and speed figures for the shipped pattern model (models_onnx/grooves).

    python -m liveengine.training.grooves_data --gmd PATH/groove-midi --out training_data   # once
    python bench/groove_quality.py [--model models_onnx/grooves] [--data training_data]

Writes bench/results_grooves.json. Runs the ONNX files through the engine's runtime
(liveengine/decoders/pattern_model.py, one onnxruntime thread); no PyTorch.

Pinned settings (nothing tuned after the fact), all on the Groove MIDI Dataset's validation split
(2-bar patterns starting on every bar, as built by grooves_data; the test split is never read):
- Reconstruction: each pattern is encoded to its posterior mean and decoded. Hit F1 is micro-averaged
  over every step x voice cell, hits where the probability is >= 0.5. Velocity and offset errors
  are mean absolute errors on the cells truly hit (velocity 0..1; offset in fractions of a 16th and
  in ms at the pattern's own tempo).
- Baselines: (a) the nearest training pattern by hits (smallest Hamming distance over the 32 x 9
  hit cells; its hits, velocities and offsets are the prediction); (b) a constant "quantised"
  performance for velocity and offset: the training mean velocity of each voice, offset 0.
- Smoothness: 30 straight lines between two encoded validation patterns (seeded), 17 points each;
  per line, the largest change of hit probabilities between neighbouring points over the mean
  change (1 is perfectly even; a jump shows as a large ratio), and the hits changed per step at 0.5.
- Speed: decode of 64 latent points in one call, median and 95th percentile of 200 runs after 20 warm-ups.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liveengine.decoders.pattern_model import PatternModel  # noqa: E402
from liveengine.groove.metrics import errors_on_hits, hit_f1  # noqa: E402


def load(data: Path) -> dict:
    found = np.load(data / "grooves.npz")
    return {k: found[k] for k in found.files}


def split(data: dict, name: str) -> dict:
    mask = data["split"] == name
    return {"hits": data["hits"][mask].astype(np.float32), "velocities": data["velocities"][mask].astype(np.float32),
            "offsets": data["offsets"][mask].astype(np.float32), "bpm": data["bpm"][mask].astype(np.float64),
            "style": data["style"][mask], "beat_type": data["beat_type"][mask]}


def figures(truth: dict, hits: np.ndarray, velocities: np.ndarray, offsets: np.ndarray) -> dict:
    f1 = hit_f1(truth["hits"], hits)
    step_ms = 60000.0 / truth["bpm"] / 4.0  # one 16th at each pattern's tempo
    mask = truth["hits"] > 0.5
    ms = np.abs(offsets - truth["offsets"]) * step_ms[:, None, None]
    return {"hit_f1": round(f1["f1"], 4), "hit_precision": round(f1["precision"], 4), "hit_recall": round(f1["recall"], 4),
            "velocity_mae": round(errors_on_hits(truth["hits"], truth["velocities"], velocities), 4),
            "offset_mae_steps": round(errors_on_hits(truth["hits"], truth["offsets"], offsets), 4),
            "offset_mae_ms": round(float(ms[mask].mean()), 2)}


def nearest_training(train: dict, val: dict, chunk: int = 256) -> np.ndarray:
    """Index of the training pattern nearest each validation pattern by Hamming distance of hits."""
    a = val["hits"].reshape(len(val["hits"]), -1)
    b = train["hits"].reshape(len(train["hits"]), -1)
    nb = b.sum(axis=1)
    found = np.zeros(len(a), np.int64)
    for i in range(0, len(a), chunk):
        block = a[i:i + chunk]
        distance = block.sum(axis=1)[:, None] + nb[None, :] - 2.0 * block @ b.T
        found[i:i + chunk] = np.argmin(distance, axis=1)
    return found


def run(model_dir: Path, data_dir: Path) -> dict:
    model = PatternModel(model_dir, threads=1)
    data = load(data_dir)
    train, val = split(data, "train"), split(data, "validation")
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
                     "model": model.name, "model_identity": model.identity, "latent_dim": model.latent_dim,
                     "validation_patterns": int(len(val["hits"])), "training_patterns": int(len(train["hits"])),
                     "description": model.info.description}

    z = np.concatenate([model.encode(val["hits"][i:i + 512], val["velocities"][i:i + 512], val["offsets"][i:i + 512])
                        for i in range(0, len(val["hits"]), 512)])
    decoded = [np.concatenate(parts) for parts in zip(*(model.decode(z[i:i + 512]) for i in range(0, len(z), 512)))]
    ours = figures(val, *decoded)
    near = nearest_training(train, val)
    baseline = figures(val, train["hits"][near], train["velocities"][near], train["offsets"][near])
    per_voice_velocity = np.array([train["velocities"][..., v][train["hits"][..., v] > 0.5].mean() for v in range(len(model.voices))])
    quantised = figures(val, np.zeros_like(val["hits"]), np.broadcast_to(per_voice_velocity, val["hits"].shape), np.zeros_like(val["offsets"]))
    quantised = {k: v for k, v in quantised.items() if not k.startswith("hit_")}
    results["reconstruction"] = {"ours": ours, "nearest_training_pattern": baseline, "quantised_constant_velocity": quantised}
    fills = val["beat_type"] == "fill"
    results["reconstruction_fills_only"] = {
        "patterns": int(fills.sum()),
        "ours": figures({k: v[fills] for k, v in val.items()}, *(d[fills] for d in decoded)),
        "nearest_training_pattern": figures({k: v[fills] for k, v in val.items()}, train["hits"][near[fills]],
                                            train["velocities"][near[fills]], train["offsets"][near[fills]])}

    rng = np.random.default_rng(0)
    ratios, changed = [], []
    for _ in range(30):
        a, b = rng.choice(len(z), 2, replace=False)
        t = np.linspace(0, 1, 17, dtype=np.float32)[:, None]
        hits, _, _ = model.decode((1 - t) * z[a] + t * z[b])
        steps = np.abs(np.diff(hits, axis=0)).mean(axis=(1, 2))
        ratios.append(float(steps.max() / max(steps.mean(), 1e-9)))
        changed.append(float(np.abs(np.diff((hits >= 0.5).astype(np.float32), axis=0)).sum(axis=(1, 2)).mean()))
    results["smoothness"] = {"lines": 30, "points_per_line": 17, "max_over_mean_step_mean": round(float(np.mean(ratios)), 3),
                             "max_over_mean_step_worst": round(float(np.max(ratios)), 3),
                             "hits_changed_per_step_mean": round(float(np.mean(changed)), 2)}

    points = (model.latent_mean + rng.standard_normal((64, model.latent_dim))).astype(np.float32)
    for _ in range(20):
        model.decode(points)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        model.decode(points)
        times.append(time.perf_counter() - start)
    results["speed"] = {"decode_64_pads_ms_median": round(1000 * float(np.median(times)), 3),
                        "decode_64_pads_ms_p95": round(1000 * float(np.percentile(times, 95)), 3), "threads": 1, "goal_ms": 10.0}
    results["groovae_published"] = (
        "Not compared number for number: GrooVAE's paper (Gillick et al. 2019) reports its models on the dataset's test split "
        "and on other tasks (humanising a quantised score, Tap2Drum, infilling), with recurrent models and a 256-d latent, not "
        "the reconstruction of full performances measured here; its tables are not reproduced without the paper at hand.")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pattern model quality on the Groove MIDI Dataset's validation split.")
    parser.add_argument("--model", type=Path, default=REPO / "models_onnx" / "grooves")
    parser.add_argument("--data", type=Path, default=REPO / "training_data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results_grooves.json")
    args = parser.parse_args(argv)
    results = run(args.model.resolve(), args.data)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("reconstruction", "smoothness", "speed")}, indent=1))


if __name__ == "__main__":
    main()
