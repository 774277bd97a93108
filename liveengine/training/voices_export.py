"""Export the streaming voice model to ONNX (liveengine.kind = "stream", docs/model-contract.md).

    python -m liveengine.training.voices_export --checkpoint checkpoints/voices.pt --out models_onnx/voices

One `decoder.onnx`: inputs f0_hz [1, T], loudness_db [1, T], z [1, T, 2], state [1, S]; outputs
amplitude [1, T, 1], harmonics [1, T, H], noise [1, T, B], state_out [1, S]; T is dynamic (1 for
frame by frame). The export is checked in onnxruntime before it is kept: 40 frames in one call equal
the same frames one call at a time (state passed along) within 1e-5, and equal torch's output.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from liveengine.training.export import OPSET
from liveengine.training.voices_config import F0_RANGE_HZ, FRAME_RATE, LOUDNESS_RANGE_DB, instrument_points
from liveengine.training.voices_model import StreamVoice, VoiceConfig

INPUTS = ("f0_hz", "loudness_db", "z", "state")
OUTPUTS = ("amplitude", "harmonics", "noise", "state_out")


def load_model(checkpoint: Path) -> tuple[StreamVoice, dict]:
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = StreamVoice(VoiceConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt["state"]


def metadata(model: StreamVoice, description: str, name: str = "voices") -> dict[str, str]:
    cfg = model.cfg
    return {"contract": "1", "kind": "stream", "name": name, "sample_rate": str(cfg.sample_rate),
            "frame_rate": str(FRAME_RATE), "harmonics": str(cfg.n_harmonics), "noise_bands": str(cfg.n_bands),
            "band_edges_hz": json.dumps(list(cfg.band_edges_hz)), "state_size": str(model.state_size),
            "f0_range_hz": json.dumps(list(F0_RANGE_HZ)), "loudness_range_db": json.dumps(list(LOUDNESS_RANGE_DB)),
            "points": json.dumps({k: list(v) for k, v in instrument_points().items()}), "description": description}


def example_inputs(model: StreamVoice, frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"f0_hz": (110 + 800 * rng.random((1, frames))).astype(np.float32),
            "loudness_db": (-60 + 50 * rng.random((1, frames))).astype(np.float32),
            "z": rng.uniform(-1, 1, (1, frames, 2)).astype(np.float32),
            "state": np.zeros((1, model.state_size), np.float32)}


def block_vs_frames(session, inputs: dict[str, np.ndarray]) -> float:
    """Max difference between one call over all frames and one call per frame (state carried)."""
    whole = session.run(list(OUTPUTS), inputs)
    state = inputs["state"]
    parts = []
    for t in range(inputs["f0_hz"].shape[1]):
        out = session.run(list(OUTPUTS), {"f0_hz": inputs["f0_hz"][:, t:t + 1], "loudness_db": inputs["loudness_db"][:, t:t + 1],
                                          "z": inputs["z"][:, t:t + 1], "state": state})
        parts.append(out[:3])
        state = out[3]
    worst = max(float(np.abs(whole[k] - np.concatenate([p[k] for p in parts], axis=1)).max()) for k in range(3))
    return max(worst, float(np.abs(whole[3] - state).max()))


def export(model: StreamVoice, out: Path, description: str, name: str = "voices") -> dict:
    import onnx
    import onnxruntime as ort

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "decoder.onnx"
    ex = {k: torch.from_numpy(v) for k, v in example_inputs(model, 8).items()}
    dynamic = {"f0_hz": {1: "frames"}, "loudness_db": {1: "frames"}, "z": {1: "frames"},
               "amplitude": {1: "frames"}, "harmonics": {1: "frames"}, "noise": {1: "frames"}}
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(model, tuple(ex[k] for k in INPUTS), str(tmp), input_names=list(INPUTS), output_names=list(OUTPUTS),
                      dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    graph = onnx.load(str(tmp))
    for key, value in metadata(model, description, name).items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=f"liveengine.{key}", value=value))
    onnx.save(graph, str(tmp))

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(tmp), options, providers=["CPUExecutionProvider"])
    inputs = example_inputs(model, 40, seed=1)
    blocks = block_vs_frames(session, inputs)
    with torch.no_grad():
        ref = model(*(torch.from_numpy(inputs[k]) for k in INPUTS))
    got = session.run(list(OUTPUTS), inputs)
    vs_torch = max(float(np.abs(r.numpy() - g).max()) for r, g in zip(ref, got))
    if blocks > 1e-5 or vs_torch > 1e-4:
        raise RuntimeError(f"export check failed: block vs frames {blocks:.2e} (allowed 1e-5), onnx vs torch {vs_torch:.2e} (allowed 1e-4)")
    tmp.replace(path)
    return {"block_vs_frames": blocks, "onnx_vs_torch": vs_torch, "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the streaming voice model to ONNX (kind stream).")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/voices.pt"))
    parser.add_argument("--out", type=Path, default=Path("models_onnx/voices"))
    parser.add_argument("--name", default=None, help="the model's name in its metadata (default: the --out folder's name)")
    args = parser.parse_args(argv)
    model, state = load_model(args.checkpoint)
    description = (f"A continuous voice: violin, cello, trumpet, clarinet, flute and choir (FluidR3 GM, MIT) at points of z, "
                   f"learnt at {model.cfg.sample_rate} Hz (up to {model.cfg.sample_rate // 2} Hz); "
                   f"GRU, {sum(p.numel() for p in model.parameters())} parameters, {state['step']} steps "
                   f"({state['seconds'] / 60:.0f} min on one CPU core).")
    print(export(model, args.out, description, args.name or args.out.name))


if __name__ == "__main__":
    main()
