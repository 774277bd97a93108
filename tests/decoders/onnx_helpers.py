"""Shared helpers for the decoder tests: tiny extra graphs, a reference inverse STFT, patch files.

Everything here builds real files with onnx.helper; nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveengine.decoders.contract import ModelError


def build_classifier(folder: Path, latent_dim: int = 8, classes: int = 3, input_name: str = "z") -> Path:
    """z[batch, latent_dim] -> softmax(z W) -> probabilities[batch, classes]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(1).standard_normal((latent_dim, classes)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "w"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
        "classifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", latent_dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "classifier.onnx")
    return folder / "classifier.onnx"


def build_encoder(folder: Path, output_length: int = 8820, latent_dim: int = 8, input_name: str = "audio") -> Path:
    """audio[batch, output_length] -> (audio W_mean, audio W_logvar) -> mean, logvar[batch, latent_dim]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    wm = rng.standard_normal((output_length, latent_dim)).astype(np.float32) * 0.01
    wl = rng.standard_normal((output_length, latent_dim)).astype(np.float32) * 0.01
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "wm"], ["mean"]), helper.make_node("MatMul", [input_name, "wl"], ["logvar"])],
        "encoder",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", output_length])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", latent_dim]),
         helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["batch", latent_dim])],
        [numpy_helper.from_array(wm, "wm"), numpy_helper.from_array(wl, "wl")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "encoder.onnx")
    return folder / "encoder.onnx"


def periodic_hann(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    return 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)


def forward_stft(signal: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT, zero padding n_fft//2 at each end, 1 + len//hop frames: complex[bins, frames] (float64)."""
    padded = np.concatenate([np.zeros(n_fft // 2), signal, np.zeros(n_fft // 2)])
    frames = 1 + len(signal) // hop
    window = periodic_hann(n_fft)
    stack = np.stack([padded[f * hop : f * hop + n_fft] * window for f in range(frames)], axis=1)  # [n_fft, frames]
    return np.fft.rfft(stack, axis=0)


def reference_istft(magnitude: np.ndarray, phase: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """The contract's inverse STFT written out frame by frame with exp(1j * phase), in float64: [batch, length]."""
    magnitude = np.asarray(magnitude, np.float64)
    phase = np.asarray(phase, np.float64)
    batch, _, frames = magnitude.shape
    window = periodic_hann(n_fft)
    padded = (frames - 1) * hop + n_fft
    out = np.zeros((batch, length))
    norm = np.zeros(padded)
    for f in range(frames):
        norm[f * hop : f * hop + n_fft] += window**2
    for b in range(batch):
        signal = np.zeros(padded)
        spectrum = magnitude[b] * np.exp(1j * phase[b])
        for f in range(frames):
            signal[f * hop : f * hop + n_fft] += np.fft.irfft(spectrum[:, f], n=n_fft) * window
        signal /= np.maximum(norm, 1e-3)
        out[b] = signal[n_fft // 2 : n_fft // 2 + length]
    return out


def raw_reference(folder: Path, z: np.ndarray, info=None) -> np.ndarray:
    """What the graph itself outputs for z, from a plain onnxruntime session (session.run, no io-binding)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, {"z": np.asarray(z, np.float32)})))
    if "audio" in results:
        return results["audio"].astype(np.float64)
    return reference_istft(results["magnitude"], results["phase"], info.n_fft, info.hop, info.output_length)


def check_model_error(exc: BaseException, model: str, found: list[str], expected: list[str]) -> str:
    """One ModelError, one line, naming the model, what was found and what the contract expects."""
    assert isinstance(exc, ModelError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert "\n" not in message, message
    assert message.startswith(f"model {model}:"), message
    for part in found:
        assert part in message, f"found-part {part!r} missing from: {message}"
    for part in expected:
        assert part in message, f"expected-part {part!r} missing from: {message}"
    return message


def write_patch(path: Path, decoder: str, grid: int = 4, normalize: str = "peak", name: str = "", engine_extra: str = "") -> Path:
    path.write_text(
        (f'[patch]\nname = "{name}"\n' if name else "")
        + f'[model]\ndecoder = "{decoder}"\nnormalize = "{normalize}"\n'
        f"[grid]\nrows = {grid}\ncols = {grid}\n"
        "[audio]\nsamplerate = 48000\nblocksize = 128\n"
        f"[engine]\nmax_seconds = 0.1\nmaster_gain = 1.0\nvelocity_curve = 1.0\n{engine_extra}\n"
    )
    return path
