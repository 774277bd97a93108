"""Build small contract-conforming (or deliberately broken) ONNX decoders with onnx.helper.

For tests and benchmarks: no PyTorch, no training. `onnx` comes with the `test` extra.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _metadata(model, meta: dict[str, object]) -> None:
    import onnx

    for key, value in meta.items():
        if value is None:
            continue
        entry = onnx.StringStringEntryProto(key=f"liveengine.{key}", value=value if isinstance(value, str) else json.dumps(value))
        model.metadata_props.append(entry)


def contract_metadata(latent_dim: int, sample_rate: int, output_length: int, output: str = "audio", **extra) -> dict:
    meta = {"contract": "1", "kind": "oneshot", "sample_rate": str(sample_rate), "latent_dim": str(latent_dim),
            "output_length": str(output_length), "output": output,
            "latent.mean": [0.0] * latent_dim,
            "latent.axes": [[1.0 if i == j else 0.0 for i in range(latent_dim)] for j in range(2)],
            "latent.spreads": [1.0, 1.0]}
    meta.update(extra)
    return meta


def build_audio_decoder(folder: Path, latent_dim: int = 8, output_length: int = 8820, sample_rate: int = 44100, hidden: int = 32,
                        seed: int = 0, *, input_name: str = "z", input_type: int | None = None, input_rank: int = 2,
                        output_scale: float = 1.0, add_nan: bool = False, metadata: dict | None = None) -> Path:
    """z -> tanh(z W1) W2 * decaying envelope -> audio. Keyword options break it on purpose."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((latent_dim, hidden)).astype(np.float32) * 0.7
    w2 = rng.standard_normal((hidden, output_length)).astype(np.float32) * 0.3
    t = np.arange(output_length, dtype=np.float32) / sample_rate
    attack = np.minimum(1.0, np.arange(output_length, dtype=np.float32) / 16.0)
    envelope = (np.exp(-t / 0.05) * attack * output_scale).astype(np.float32)
    nodes = []
    z_name = input_name
    if input_rank == 3:
        nodes.append(helper.make_node("Squeeze", [input_name, "squeeze_axes"], ["z2d"]))
        z_name = "z2d"
    if input_type is not None:
        nodes.append(helper.make_node("Cast", [z_name], ["zf"], to=TensorProto.FLOAT))
        z_name = "zf"
    nodes += [helper.make_node("MatMul", [z_name, "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h"]),
              helper.make_node("Tanh", ["h"], ["a"]),
              helper.make_node("MatMul", ["a", "w2"], ["y"])]
    if add_nan:
        nodes.append(helper.make_node("Add", ["y", "nan"], ["y_nan"]))
        nodes.append(helper.make_node("Mul", ["y_nan", "env"], ["audio"]))
    else:
        nodes.append(helper.make_node("Mul", ["y", "env"], ["audio"]))
    b1 = rng.standard_normal(hidden).astype(np.float32)  # so the prior's mean (z = 0) makes a sound
    initializers = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2"),
                    numpy_helper.from_array(envelope, "env"),
                    numpy_helper.from_array(np.array([np.nan], np.float32), "nan"), numpy_helper.from_array(np.array([2], np.int64), "squeeze_axes")]
    shape = ["batch", latent_dim] + ([1] if input_rank == 3 else [])
    graph = helper.make_graph(nodes, "decoder",
                              [helper.make_tensor_value_info(input_name, input_type or TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", output_length])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    _metadata(model, metadata if metadata is not None else contract_metadata(latent_dim, sample_rate, output_length))
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "decoder.onnx")
    return folder


def build_stft_decoder(folder: Path, latent_dim: int = 8, n_fft: int = 256, hop: int = 64, output_length: int = 4096,
                       sample_rate: int = 44100, channels: int = 16, seed: int = 0, metadata: dict | None = None) -> Path:
    """z -> per-frame features -> magnitude (softplus, decaying) and phase (pi * tanh): an STFT decoder.

    The default reference size for the bench is n_fft 2048, hop 512, 1 s at 44.1 kHz.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bins = n_fft // 2 + 1
    frames = 1 + output_length // hop
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((latent_dim, frames * channels)).astype(np.float32) * 0.5
    wm = rng.standard_normal((channels, bins)).astype(np.float32) * 0.3
    wp = rng.standard_normal((channels, bins)).astype(np.float32) * 0.8
    decay = np.exp(-np.arange(frames, dtype=np.float32) * hop / sample_rate / 0.08).astype(np.float32)[None, :]  # [1, frames]
    nodes = [
        helper.make_node("MatMul", ["z", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h"]),
        helper.make_node("Reshape", ["h", "shape"], ["hf"]),  # [batch, frames, channels]
        helper.make_node("Tanh", ["hf"], ["a"]),
        helper.make_node("MatMul", ["a", "wm"], ["m"]),  # [batch, frames, bins]
        helper.make_node("Softplus", ["m"], ["ms"]),
        helper.make_node("Transpose", ["ms"], ["mt"], perm=[0, 2, 1]),
        helper.make_node("Mul", ["mt", "decay"], ["magnitude"]),
        helper.make_node("MatMul", ["a", "wp"], ["p"]),
        helper.make_node("Tanh", ["p"], ["pt"]),
        helper.make_node("Transpose", ["pt"], ["ptt"], perm=[0, 2, 1]),
        helper.make_node("Mul", ["ptt", "pi"], ["phase"]),
    ]
    b1 = rng.standard_normal(frames * channels).astype(np.float32)  # the prior's mean must make a sound
    initializers = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(wm, "wm"),
                    numpy_helper.from_array(wp, "wp"),
                    numpy_helper.from_array(decay, "decay"), numpy_helper.from_array(np.array([np.pi], np.float32), "pi"),
                    numpy_helper.from_array(np.array([-1, frames, channels], np.int64), "shape")]
    graph = helper.make_graph(nodes, "stft_decoder", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
                              [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["batch", bins, frames]),
                               helper.make_tensor_value_info("phase", TensorProto.FLOAT, ["batch", bins, frames])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = metadata if metadata is not None else contract_metadata(
        latent_dim, sample_rate, output_length, "stft", **{"stft.n_fft": str(n_fft), "stft.hop": str(hop), "stft.window": "hann"})
    _metadata(model, meta)
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "decoder.onnx")
    return folder
