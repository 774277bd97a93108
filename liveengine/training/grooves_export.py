"""Export the pattern VAE to the model contract's pattern kind (docs/model-contract.md).

    python -m liveengine.training.grooves_export --checkpoint checkpoints/grooves.pt --data training_data --out models_onnx/grooves

Writes decoder.onnx (z -> hits, velocities, offsets), encoder.onnx (hits, velocities, offsets ->
z, the posterior mean) and index.npz (the training patterns' latent points, styles and fill
labels: every fill and every other beat pattern). The pad plane runs through the mean of the
training styles' centroids along their two principal axes (the drum model's habit: the
principal axes of all encodings follow the largest style, rock).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liveengine.groove.pattern import VOICES
from liveengine.training.grooves_data import load as load_data
from liveengine.training.grooves_model import GrooveVAE
from liveengine.training.grooves_train import config_from, tensors
from liveengine.training.train import load

OPSET = 17
MIN_STYLE = 100  # training patterns a style needs to have a centroid of its own in the plane


class _Encoder(nn.Module):
    def __init__(self, model: GrooveVAE) -> None:
        super().__init__()
        self.encoder = model.encoder

    def forward(self, hits, velocities, offsets):
        return self.encoder(hits, velocities, offsets)[0]


def encodings(model: GrooveVAE, hits, velocities, offsets, batch: int = 1024) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model.encoder(hits[i:i + batch], velocities[i:i + batch], offsets[i:i + batch])[0].numpy()
                               for i in range(0, len(hits), batch)])


def plane(means: np.ndarray, styles: np.ndarray) -> dict:
    kept = [s for s in np.unique(styles) if (styles == s).sum() >= MIN_STYLE]
    centroids = np.stack([means[styles == s].mean(axis=0) for s in kept])
    mean = centroids.mean(axis=0)
    _, _, vt = np.linalg.svd(centroids - mean, full_matrices=False)
    spreads = ((means - mean) @ vt.T).std(axis=0, ddof=1)
    return {"mean": mean, "axes": vt[:2], "spreads": spreads[:2], "styles": kept}


def export(model: GrooveVAE, out: Path, stats: dict, description: str) -> None:
    import onnx

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    z = torch.zeros(2, cfg.latent_dim)
    names = ["hits", "velocities", "offsets"]
    torch.onnx.export(model.decoder, (z,), str(out / "decoder.onnx"), input_names=["z"], output_names=names,
                      dynamic_axes={"z": {0: "batch"}, **{n: {0: "batch"} for n in names}}, opset_version=OPSET, dynamo=False)
    pattern = tuple(torch.zeros(2, cfg.steps, cfg.voices) for _ in names)
    torch.onnx.export(_Encoder(model), pattern, str(out / "encoder.onnx"), input_names=names, output_names=["z"],
                      dynamic_axes={"z": {0: "batch"}, **{n: {0: "batch"} for n in names}}, opset_version=OPSET, dynamo=False)
    r = lambda a: [round(float(v), 6) for v in a]
    meta = {"contract": "1", "kind": "pattern", "latent_dim": str(cfg.latent_dim), "steps": str(cfg.steps),
            "voices": json.dumps(list(VOICES)), "steps_per_beat": str(cfg.steps_per_beat), "name": "grooves",
            "description": description, "latent.mean": json.dumps(r(stats["mean"])),
            "latent.axes": json.dumps([r(a) for a in stats["axes"]]), "latent.spreads": json.dumps(r(stats["spreads"]))}
    graph = onnx.load(str(out / "decoder.onnx"))
    for key, value in meta.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=f"liveengine.{key}", value=value))
    onnx.save(graph, str(out / "decoder.onnx"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the pattern VAE to ONNX (the model contract's pattern kind).")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/grooves.pt"))
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--out", type=Path, default=Path("models_onnx/grooves"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = GrooveVAE(config_from(args.checkpoint))
    state = load(args.checkpoint, model, None)
    model.eval()
    data = load_data(args.data)
    train = data["split"] == "train"
    means = encodings(model, *tensors(data, "train"))
    stats = plane(means, data["style"][train])
    description = (f"Pattern VAE (2 bars x 9 voices, {model.cfg.latent_dim}-d latent) trained {state['step']} steps "
                   f"({state['train_seconds'] / 60:.0f} min, CPU) on the Groove MIDI Dataset's train split (CC BY 4.0).")
    export(model, args.out, stats, description)
    fill = data["beat_type"][train] == "fill"
    keep = fill | (np.arange(len(means)) % 2 == 0)
    np.savez_compressed(args.out / "index.npz", z=means[keep].astype(np.float16), style=data["style"][train][keep],
                        fill=fill[keep])
    print(f"exported {args.out} from step {state['step']}; plane through {len(stats['styles'])} style centroids "
          f"({', '.join(stats['styles'])}); spreads {np.round(stats['spreads'], 3).tolist()}; index {keep.sum()} patterns ({fill.sum()} fills)")


if __name__ == "__main__":
    main()
