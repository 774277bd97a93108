"""Export a trained drum VAE to the liveengine model contract (docs/model-contract.md).

    python -m liveengine.training.export --checkpoint checkpoints/drums.pt --data training_data --out models_onnx/drums

Writes decoder.onnx (z -> magnitude, phase), encoder.onnx (audio -> mean, logvar; the STFT is a
convolution with a fixed DFT basis inside the graph), classifier.onnx (z -> probabilities),
decoder_grad.onnx (the decoder's gradient, for fitting z to a sound; export_grad.py), and
the dataset manifest (dataset.csv) when --data has one. The decoder's metadata carries the
plane the pad grid shows: the principal axes of the training classes' centroids in latent space
(see latent_statistics), and the training encodings' spread along them.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liveengine.training.model import DrumVAE
from liveengine.training.train import config_from, load

OPSET = 17


class Graph(nn.Module):
    """One exported graph: `module.method(x)`, optionally followed by `post` (the classifier's softmax)."""

    def __init__(self, module: nn.Module, method: str = "forward", post=None) -> None:
        super().__init__()
        self.inner, self.method, self.post = module, method, post

    def forward(self, x):
        out = getattr(self.inner, self.method)(x)
        return out if self.post is None else self.post(out)


def export_graph(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_names: list[str]) -> None:
    """`module` as ONNX at `path`, every input and output with a dynamic batch axis."""
    dynamic = {input_name: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    module.eval()  # the exporter restores the wrapper's mode afterwards, and with it its children's
    torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=output_names,
                      dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def latent_statistics(model: DrumVAE, audio: np.ndarray, classes: np.ndarray | None = None, batch: int = 64) -> dict:
    """The plane the pad grid shows: its origin, two unit axes and the encodings' spread along each.

    With class labels (>= 0), the axes are the two principal axes of the class centroids and the
    origin their mean: the plane then passes near every class, so the default 8x8 grid holds
    kicks, snares, claps, hats, toms and cymbals. The principal axes of all encodings (used when
    there are no labels) follow the largest class (hand percussion here) and showed only toms,
    cymbals and percussion at zoom 1.
    """
    with torch.no_grad():
        means = np.concatenate([model.encoder(torch.from_numpy(audio[i:i + batch]))[0].numpy() for i in range(0, len(audio), batch)])
    labelled = classes is not None and len(np.unique(classes[classes >= 0])) >= 3
    if labelled:
        centroids = np.stack([means[classes == k].mean(axis=0) for k in np.unique(classes[classes >= 0])])
        mean = centroids.mean(axis=0)
        _, _, vt = np.linalg.svd(centroids - mean, full_matrices=False)
    else:
        mean = means.mean(axis=0)
        _, _, vt = np.linalg.svd(means - mean, full_matrices=False)
    spreads = ((means - mean) @ vt.T).std(axis=0, ddof=1)
    return {"mean": mean, "axes": vt, "spreads": spreads, "encodings": means, "plane": "class centroids" if labelled else "encodings"}


def encodings(model: DrumVAE, audio: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's mean and log-variance for each row of `audio`."""
    with torch.no_grad():
        parts = [model.encoder(torch.from_numpy(np.ascontiguousarray(audio[i:i + batch], np.float32))) for i in range(0, len(audio), batch)]
    return torch.cat([p[0] for p in parts]).numpy(), torch.cat([p[1] for p in parts]).numpy()


def refit_classifier(model: DrumVAE, audio: np.ndarray, classes: np.ndarray, steps: int = 3000, batch: int = 128, seed: int = 0) -> dict:
    """Train the class head afresh on the frozen encoder's posteriors of the labelled sounds (`classes` >= 0), every
    class drawn equally often: the jointly trained head saw the classes as the training draws came, 47 % hand
    percussion. Returns its accuracy on those sounds (encoder means) and the counts per class."""
    labelled = classes >= 0
    mean, logvar = encodings(model, audio[labelled])
    y = classes[labelled].astype(np.int64)
    counts = np.bincount(y, minlength=len(model.cfg.classes))
    weights = 1.0 / counts[y]
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    head = type(model.classifier)(model.cfg)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    mean_t, std_t, y_t = torch.from_numpy(mean), torch.from_numpy(np.exp(0.5 * logvar)), torch.from_numpy(y)
    head.train()
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(len(y), batch, p=weights))
        z = mean_t[idx] + torch.randn(batch, mean.shape[1]) * std_t[idx]
        loss = torch.nn.functional.cross_entropy(head(z), y_t[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    head.eval()
    model.classifier.load_state_dict(head.state_dict())
    with torch.no_grad():
        accuracy = float((model.classifier(mean_t).argmax(1) == y_t).float().mean())
    return {"sounds": int(len(y)), "steps": steps, "training_accuracy": round(accuracy, 4), "per_class": counts.tolist()}


def plane_of(folder: Path, latent_dim: int) -> dict:
    """The pad plane a model folder's decoder metadata declares, for a model of `latent_dim` (ValueError otherwise)."""
    import onnx

    path = folder / "decoder.onnx"
    if not path.exists():
        raise ValueError(f"--plane-from {folder}: no decoder.onnx there; give a model folder")
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    try:
        plane = {k: np.asarray(json.loads(meta[f"liveengine.latent.{k}"]), np.float64) for k in ("mean", "axes", "spreads")}
    except KeyError as missing:
        raise ValueError(f"--plane-from {folder}: its decoder metadata has no {missing.args[0]}; give a model folder with a pad plane") from None
    if plane["mean"].shape != (latent_dim,):
        raise ValueError(f"--plane-from {folder}: its plane is {plane['mean'].shape[0]}-d, this model's latent is {latent_dim}-d")
    return {**plane, "plane": f"plane of {folder.name}"}


def metadata(model: DrumVAE, stats: dict | None, description: str, name: str = "drums", classifier: bool = True,
             earlier: tuple[str, ...] = ()) -> dict[str, str]:
    cfg = model.cfg
    meta = {"contract": "1", "kind": "oneshot", "sample_rate": str(cfg.sample_rate), "latent_dim": str(cfg.latent_dim),
            "output_length": str(cfg.length), "output": "stft", "stft.n_fft": str(cfg.n_fft), "stft.hop": str(cfg.hop),
            "stft.window": "hann", "name": name, "description": description}
    if getattr(model, "fit_length", None):  # a decoder with a derived tail fits over the window it learnt (tail.py)
        meta["fit_length"] = str(model.fit_length)
    if classifier:
        meta["classes"] = json.dumps(list(cfg.classes))
    if stats is not None:
        r = lambda a: [round(float(v), 6) for v in a]
        meta["latent.mean"] = json.dumps(r(stats["mean"]))
        meta["latent.axes"] = json.dumps([r(a) for a in stats["axes"]])
        meta["latent.spreads"] = json.dumps(r(stats["spreads"]))
    if earlier:
        meta["earlier_identities"] = json.dumps(list(earlier))
    return meta


def export(model: DrumVAE, out: Path, stats: dict | None = None, description: str = "", name: str = "drums",
           classifier: bool = True, earlier: tuple[str, ...] = ()) -> None:
    """decoder.onnx with its metadata, encoder.onnx, decoder_grad.onnx, and classifier.onnx unless `classifier` is False
    (a model with no classes). `earlier`: hashes of earlier exports whose points this decoder renders alike."""
    import onnx

    from liveengine.training.descent import Descent
    from liveengine.training.export_grad import export_for, export_with_gradients

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    z = torch.zeros(2, cfg.latent_dim)
    export_graph(Graph(model.decoder), z, out / "decoder.onnx", "z", ["magnitude", "phase"])
    model.encoder.features.use_dft()
    descents = [part for part in model.encoder.modules() if isinstance(part, Descent)]
    try:
        for descent in descents:
            descent.dft = True
        if descents:  # autograd in its forward: traced by make_fx
            export_with_gradients(model.encoder, (torch.zeros(2, cfg.length),), out / "encoder.onnx", ["audio"], ["mean", "logvar"])
        else:
            export_graph(Graph(model.encoder), torch.zeros(2, cfg.length), out / "encoder.onnx", "audio", ["mean", "logvar"])
    finally:
        model.encoder.features.dft = False
        for descent in descents:
            descent.dft = False
    if classifier:
        export_graph(Graph(model.classifier, post=lambda logits: torch.softmax(logits, dim=1)), z, out / "classifier.onnx", "z", ["probabilities"])
    path = out / "decoder.onnx"
    graph = onnx.load(str(path))
    for key, value in metadata(model, stats, description, name, classifier, earlier).items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=f"liveengine.{key}", value=value))
    onnx.save(graph, str(path))
    export_for(model, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the drum VAE to ONNX (the liveengine model contract).")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums.pt"))
    parser.add_argument("--data", type=Path, default=Path("training_data"))
    parser.add_argument("--out", type=Path, default=Path("models_onnx/drums"))
    parser.add_argument("--refit-classifier", action="store_true",
                        help="train the class head afresh, class-balanced, on the frozen encoder's posteriors of the augmented training sounds")
    parser.add_argument("--name", default="drums", help="the model's name in its metadata")
    parser.add_argument("--plane-from", type=Path, default=None,
                        help="a model folder whose pad plane (latent.mean, axes, spreads) to keep: a model with the same decoder "
                             "(reencode.py) then lays out the same grid")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = DrumVAE(config_from(args.checkpoint))
    state = load(args.checkpoint, model, None)
    model.eval()
    sounds = np.load(args.data / "sounds.npz")
    train = sounds["split"] == "train"
    if args.refit_classifier:
        aug = np.load(args.data / "train_aug.npz")
        refit = refit_classifier(model, aug["audio"].astype(np.float32) / 32767.0, aug["classes"].astype(np.int64))
        print(f"class head refitted: {refit}")
    stats = latent_statistics(model, sounds["audio"][train].astype(np.float32) / 32767.0, sounds["classes"][train])
    if args.plane_from is not None:
        try:
            stats.update(plane_of(args.plane_from, model.cfg.latent_dim))
        except ValueError as error:
            raise SystemExit(str(error)) from None
    start = state.get("init_from")
    warm = f"warm-started from {start['checkpoint']} ({start['step']} steps, {start['minutes']:.0f} min), then " if start else ""
    if "reencode" in state:
        warm = f"the decoder and class head of {state['reencode']['from']}, with a new 2-D encoder "
    description = (f"Drum VAE (STFT decoder, {model.cfg.latent_dim}-d latent{', noise head' if model.cfg.noise_phase else ''}) {warm}trained {state['step']} steps "
                   f"({state['train_seconds'] / 60:.0f} min, CPU) on sonic-pi-samples, fluid-soundfont-gm and CC0/CC-BY hydrogen kits"
                   f"{'; class head refitted class-balanced' if args.refit_classifier else ''}.")
    export(model, args.out, stats, description, name=args.name)
    if (args.data / "manifest.csv").exists():
        shutil.copyfile(args.data / "manifest.csv", args.out / "dataset.csv")
    np.save(args.data / "train_encodings.npy", stats["encodings"])
    print(f"exported {args.out} from step {state['step']}; pad plane: {stats['plane']}; latent spreads {np.round(stats['spreads'], 3).tolist()}")


if __name__ == "__main__":
    main()
