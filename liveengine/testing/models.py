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
                        output_scale: float = 1.0, add_nan: bool = False, metadata: dict | None = None, fault: str = "",
                        fault_radius: float = 0.5) -> Path:
    """z -> tanh(z W1) W2 * decaying envelope -> audio. Keyword options break it on purpose.

    `fault` breaks it only where the latent norm of some row exceeds `fault_radius` (away
    from the prior's mean, so load-time checks at the mean pass): "short" outputs half the
    frames for the whole batch, "nan" outputs NaN for those rows; "slow" makes every
    decode spend about 30 ms a point in a chain of element-wise operations.
    """
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
    elif fault:
        nodes.append(helper.make_node("Mul", ["y", "env"], ["sound"]))
        nodes += _fault_nodes(fault, z_name, "sound", "audio", output_length)
    else:
        nodes.append(helper.make_node("Mul", ["y", "env"], ["audio"]))
    b1 = rng.standard_normal(hidden).astype(np.float32)  # so the prior's mean (z = 0) makes a sound
    initializers = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2"),
                    numpy_helper.from_array(envelope, "env"),
                    numpy_helper.from_array(np.array([np.nan], np.float32), "nan"), numpy_helper.from_array(np.array([2], np.int64), "squeeze_axes")]
    if fault:
        initializers += [numpy_helper.from_array(np.array([fault_radius], np.float32), "fault_radius"),
                         numpy_helper.from_array(np.array([output_length // 2], np.int64), "half"),
                         numpy_helper.from_array(np.array([output_length], np.int64), "full"),
                         numpy_helper.from_array(np.array([0], np.int64), "zero"),
                         numpy_helper.from_array(np.array([1], np.int64), "one"),
                         numpy_helper.from_array(np.array([1, SLOW_WIDTH], np.int64), "slow_shape"),
                         numpy_helper.from_array(np.array([1e-12], np.float32), "tiny")]
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


SLOW_WIDTH = 1 << 20  # elements a point of the "slow" fault runs through each of SLOW_STEPS operations
SLOW_STEPS = 24


def _fault_nodes(fault: str, z: str, sound: str, audio: str, output_length: int) -> list:
    """Nodes from `sound` to `audio` for build_audio_decoder's `fault` (see there)."""
    from onnx import TensorProto, helper

    norm = [helper.make_node("ReduceL2", [z], ["norm"], axes=[1], keepdims=1),
            helper.make_node("Greater", ["norm", "fault_radius"], ["off"])]  # [batch, 1]: the row is away from the mean
    if fault == "nan":
        return norm + [helper.make_node("Where", ["off", "nan", sound], [audio])]
    if fault == "short":
        return norm + [helper.make_node("Cast", ["off"], ["off_i"], to=TensorProto.INT64),
                       helper.make_node("ReduceMax", ["off_i"], ["any_off"], keepdims=0),  # a scalar: any row off the mean
                       helper.make_node("Mul", ["any_off", "half"], ["cut"]),
                       helper.make_node("Sub", ["full", "cut"], ["end"]),
                       helper.make_node("Slice", [sound, "zero", "end", "one"], [audio])]
    if fault == "slow":
        nodes = [helper.make_node("ReduceMean", [z], ["s0"], axes=[1], keepdims=1),
                 helper.make_node("Tile", ["s0", "slow_shape"], ["busy0"])]  # [batch, SLOW_WIDTH]
        for i in range(SLOW_STEPS):
            nodes.append(helper.make_node("Sin", [f"busy{i}"], [f"busy{i + 1}"]))
        return nodes + [helper.make_node("ReduceMean", [f"busy{SLOW_STEPS}"], ["busy"], axes=[1], keepdims=1),
                        helper.make_node("Mul", ["busy", "tiny"], ["nudge"]),
                        helper.make_node("Add", [sound, "nudge"], [audio])]
    raise ValueError(f"fault {fault!r}: expected 'short', 'nan' or 'slow'")


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


def _onnx_save(graph, folder: Path, filename: str) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if not (folder / "decoder.onnx").is_file():
        raise FileNotFoundError(f"{folder} has no decoder.onnx; build the decoder first, then add {filename} to its folder")
    onnx.save(model, folder / filename)
    return folder / filename


def encoder_features(output_length: int, sample_rate: int, bands: int = 16, segments: int = 4, frame: int = 256) -> dict[str, np.ndarray]:
    """The fixed matrices of `build_encoder`'s feature stage (also what its tests recompute in numpy).

    Frames of `frame` samples (Hann window, no overlap) -> power spectrum -> `bands` log-spaced
    bands from 40 Hz to Nyquist summed over time (spectral shape) and the total energy of
    `segments` equal stretches of time (envelope shape).
    """
    frame = min(frame, 1 << (int(output_length).bit_length() - 1))  # a power of two that fits in one output
    frames = output_length // frame
    bins = frame // 2 + 1
    n = np.arange(frame)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame)
    k = np.arange(bins)
    angle = 2 * np.pi * np.outer(n, k) / frame
    freqs = k * sample_rate / frame
    edges = np.geomspace(40.0, sample_rate / 2, bands + 1)
    band_of = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, bands - 1)
    band_matrix = np.zeros((bins, bands), np.float32)
    band_matrix[k, band_of] = 1.0
    band_matrix[0] = 0.0  # DC says nothing about the sound
    empty = band_matrix.sum(axis=0) == 0
    if empty.any():  # low bands narrower than one bin borrow the nearest bin, so every band measures something
        for b in np.flatnonzero(empty):
            centre = np.sqrt(edges[b] * edges[b + 1])
            band_matrix[max(1, int(round(centre * frame / sample_rate))), b] = 1.0
    segments = max(1, min(segments, frames))
    segment_matrix = np.zeros((frames, segments), np.float32)
    segment_matrix[np.arange(frames), np.arange(frames) * segments // frames] = 1.0
    return {"frame": np.int64(frame), "frames": np.int64(frames),
            "cos": (np.cos(angle) * window[:, None]).astype(np.float32), "sin": (np.sin(angle) * window[:, None]).astype(np.float32),
            "bands": band_matrix, "segments": segment_matrix}


def encoder_projection(features: int, latent_dim: int, seed: int) -> np.ndarray:
    """A fixed [features, latent_dim] projection with orthonormal columns (or rows): distances are kept, never blown up."""
    rng = np.random.default_rng(seed)
    if latent_dim <= features:
        q, _ = np.linalg.qr(rng.standard_normal((features, features)))
        return q[:, :latent_dim].astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((latent_dim, features)))
    return q.T.astype(np.float32)


def build_encoder(folder: Path, latent_dim: int, output_length: int, sample_rate: int = 44100, *, bands: int = 16,
                  segments: int = 4, scale: float = 0.5, logvar: float = -4.0, seed: int = 5) -> Path:
    """Write encoder.onnx into an existing decoder folder: a fixed, untrained feature encoder.

    audio[batch, output_length] -> log band energies (spectral shape) and log energies of
    `segments` stretches of time (envelope), each floored 40 dB under the total energy and
    centred on its own mean so only shape counts
    -> a fixed orthonormal projection * `scale` -> mean[batch, latent_dim]; logvar is the
    constant `logvar`. Similar sounds give near points, a kick and a hi-hat far apart. It does
    not invert the decoder: decode(encode(x)) is not x.
    """
    from onnx import TensorProto, helper, numpy_helper

    f = encoder_features(output_length, sample_rate, bands, segments)
    frame, frames = int(f["frame"]), int(f["frames"])
    n_segments = f["segments"].shape[1]
    projection = encoder_projection(bands + n_segments, latent_dim, seed) * np.float32(scale)
    nodes = [
        helper.make_node("Slice", ["audio", "start", "stop", "axis1"], ["cropped"]),  # whole frames only
        helper.make_node("Reshape", ["cropped", "frame_shape"], ["framed"]),  # [batch, frames, frame]
        helper.make_node("MatMul", ["framed", "cos"], ["re"]),
        helper.make_node("MatMul", ["framed", "sin"], ["im"]),
        helper.make_node("Mul", ["re", "re"], ["re2"]),
        helper.make_node("Mul", ["im", "im"], ["im2"]),
        helper.make_node("Add", ["re2", "im2"], ["power"]),  # [batch, frames, bins]
        helper.make_node("MatMul", ["power", "bands"], ["band_power"]),  # [batch, frames, bands]
        helper.make_node("ReduceSum", ["band_power", "axis1"], ["spectrum"], keepdims=0),  # [batch, bands]
        helper.make_node("ReduceSum", ["band_power", "axis2"], ["frame_energy"], keepdims=0),  # [batch, frames]
        helper.make_node("MatMul", ["frame_energy", "segments"], ["envelope"]),  # [batch, segments]
        # Floors 40 dB under the total energy: bands holding only window leakage must not dominate.
        helper.make_node("ReduceSum", ["spectrum", "axis1"], ["total"], keepdims=1),  # [batch, 1]
        helper.make_node("Mul", ["total", "floor"], ["total_floor"]),
        helper.make_node("Add", ["total_floor", "eps"], ["floor_eps"]),
        helper.make_node("Add", ["spectrum", "floor_eps"], ["spectrum_eps"]),
        helper.make_node("Log", ["spectrum_eps"], ["log_spectrum"]),
        helper.make_node("ReduceMean", ["log_spectrum"], ["spectrum_level"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["log_spectrum", "spectrum_level"], ["spectrum_shape"]),
        helper.make_node("Add", ["envelope", "floor_eps"], ["envelope_eps"]),
        helper.make_node("Log", ["envelope_eps"], ["log_envelope"]),
        helper.make_node("ReduceMean", ["log_envelope"], ["envelope_level"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["log_envelope", "envelope_level"], ["envelope_shape"]),
        helper.make_node("Concat", ["spectrum_shape", "envelope_shape"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "projection"], ["mean"]),
        helper.make_node("Mul", ["mean", "zero"], ["mean_zero"]),
        helper.make_node("Add", ["mean_zero", "logvar_value"], ["logvar"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "start"), numpy_helper.from_array(np.array([frames * frame], np.int64), "stop"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"), numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array([0, frames, frame], np.int64), "frame_shape"),
        numpy_helper.from_array(f["cos"], "cos"), numpy_helper.from_array(f["sin"], "sin"),
        numpy_helper.from_array(f["bands"], "bands"), numpy_helper.from_array(f["segments"], "segments"),
        numpy_helper.from_array(np.array([1e-9], np.float32), "eps"), numpy_helper.from_array(np.array([1e-4], np.float32), "floor"),
        numpy_helper.from_array(projection, "projection"),
        numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
        numpy_helper.from_array(np.array([logvar], np.float32), "logvar_value"),
    ]
    graph = helper.make_graph(nodes, "feature_encoder", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", output_length])],
                              [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", latent_dim]),
                               helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["batch", latent_dim])], initializers)
    return _onnx_save(graph, Path(folder), "encoder.onnx")


def build_classifier(folder: Path, latent_dim: int, classes: int, *, seed: int = 11, sharpness: float = 2.0) -> Path:
    """Write classifier.onnx into an existing decoder folder: softmax(sharpness * z W + b) over `classes`.

    W has unit-length columns, so each class owns a direction of the latent space; the
    decoder's metadata must name the classes (`contract_metadata(..., classes=[...])`).
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((latent_dim, classes))
    w = (w / np.linalg.norm(w, axis=0, keepdims=True) * sharpness).astype(np.float32)
    b = (rng.standard_normal(classes) * 0.1).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["zw"]), helper.make_node("Add", ["zw", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
        "classifier",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    return _onnx_save(graph, Path(folder), "classifier.onnx")


PATTERN_VOICES = ("kick", "snare", "hat_closed", "hat_open", "tom_low", "tom_mid", "tom_high", "crash", "ride")


def pattern_metadata(latent_dim: int = 4, steps: int = 32, voices=PATTERN_VOICES, steps_per_beat: int = 4, **extra) -> dict:
    meta = {"contract": "1", "kind": "pattern", "latent_dim": str(latent_dim), "steps": str(steps), "voices": list(voices),
            "steps_per_beat": str(steps_per_beat), "latent.mean": [0.0] * latent_dim,
            "latent.axes": [[1.0 if i == j else 0.0 for i in range(latent_dim)] for j in range(2)], "latent.spreads": [1.0, 1.0]}
    meta.update(extra)
    return meta


def build_pattern_model(folder: Path, latent_dim: int = 4, steps: int = 32, voices: int = len(PATTERN_VOICES), seed: int = 0, *,
                        metadata: dict | None = None, output_names: tuple[str, ...] = ("hits", "velocities", "offsets"),
                        graph_steps: int | None = None, offset_scale: float = 0.5, encoder: bool = True,
                        encoder_latent: int | None = None, fixed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Path:
    """A tiny pattern model: z -> sigmoid(z A + a) hits, sigmoid(z B + b) velocities, offset_scale * tanh(z C) offsets,
    each reshaped to [batch, steps, voices]; encoder: the three patterns flattened, times D -> z.

    Keyword options break it on purpose: other output names, a graph with `graph_steps` steps
    while the metadata says `steps`, offsets beyond +-0.5 (`offset_scale` > 0.5), an encoder
    giving `encoder_latent` numbers. `fixed` = (hits 0/1, velocities, offsets), each [steps, voices]:
    every latent point decodes to that pattern (hit probabilities 0.999994 or 0.000006).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    gsteps = graph_steps or steps
    cells = gsteps * voices
    names = list(output_names)
    inits = [numpy_helper.from_array(np.array([-1, gsteps, voices], np.int64), "shape"),
             numpy_helper.from_array(np.array([offset_scale], np.float32), "offset_scale")]
    nodes = []
    if fixed is not None:
        hits, velocities, offsets = (np.asarray(a, np.float64).reshape(-1) for a in fixed)
        velocities = np.clip(velocities, 0.01, 0.99)
        biases = [np.where(hits > 0.5, 12.0, -12.0), np.log(velocities / (1 - velocities)), np.arctanh(offsets / offset_scale)]
    for k, (name, act) in enumerate(zip(names, ("Sigmoid", "Sigmoid", "Tanh"))):
        weights = rng.standard_normal((latent_dim, cells))
        bias = rng.standard_normal(cells) - (1.0 if k == 0 else 0.0)
        if fixed is not None:
            weights, bias = np.zeros((latent_dim, cells)), biases[k]
        inits += [numpy_helper.from_array(weights.astype(np.float32), f"w{k}"), numpy_helper.from_array(bias.astype(np.float32), f"b{k}")]
        nodes += [helper.make_node("MatMul", ["z", f"w{k}"], [f"m{k}"]), helper.make_node("Add", [f"m{k}", f"b{k}"], [f"l{k}"]),
                  helper.make_node(act, [f"l{k}"], [f"a{k}"])]
        if k == 2:
            nodes.append(helper.make_node("Mul", [f"a{k}", "offset_scale"], [f"s{k}"]))
        nodes.append(helper.make_node("Reshape", [f"s{k}" if k == 2 else f"a{k}", "shape"], [name]))
    graph = helper.make_graph(nodes, "pattern_decoder", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", gsteps, voices]) for n in names], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    _metadata(model, metadata if metadata is not None else pattern_metadata(latent_dim, steps, PATTERN_VOICES[:voices]))
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "decoder.onnx")
    if encoder:
        out = encoder_latent or latent_dim
        einits = [numpy_helper.from_array(np.array([-1, cells], np.int64), "flat"),
                  numpy_helper.from_array(rng.standard_normal((3 * cells, out)).astype(np.float32) * 0.1, "d")]
        enodes = [helper.make_node("Reshape", [n, "flat"], [f"f_{n}"]) for n in ("hits", "velocities", "offsets")]
        enodes += [helper.make_node("Concat", ["f_hits", "f_velocities", "f_offsets"], ["x"], axis=1),
                   helper.make_node("MatMul", ["x", "d"], ["z"])]
        egraph = helper.make_graph(enodes, "pattern_encoder",
                                   [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", gsteps, voices]) for n in ("hits", "velocities", "offsets")],
                                   [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", out])], einits)
        emodel = helper.make_model(egraph, opset_imports=[helper.make_opsetid("", 17)])
        emodel.ir_version = 8
        onnx.checker.check_model(emodel)
        onnx.save(emodel, folder / "encoder.onnx")
    return folder


def stream_metadata(harmonics: int = 8, noise_bands: int = 4, state_size: int = 8, sample_rate: int = 16000, frame_rate: int = 200,
                    **extra) -> dict:
    top = sample_rate / 2
    meta = {"contract": "1", "kind": "stream", "sample_rate": str(sample_rate), "frame_rate": str(frame_rate),
            "harmonics": str(harmonics), "noise_bands": str(noise_bands),
            "band_edges_hz": [round(top * (i / noise_bands) ** 2, 3) for i in range(noise_bands + 1)],
            "state_size": str(state_size), "f0_range_hz": [50.0, 2000.0], "loudness_range_db": [-80.0, 0.0],
            "points": {"violin": [-0.5, 0.5], "flute": [0.5, 0.5]}, "description": "a tiny generated stream model for tests"}
    meta.update(extra)
    return meta


STREAM_OUTPUTS = ("amplitude", "harmonics", "noise", "state_out")


def build_stream_model(folder: Path, harmonics: int = 8, noise_bands: int = 4, state_size: int = 8, seed: int = 0, *,
                       metadata: dict | None = None, output_names: tuple[str, ...] = STREAM_OUTPUTS, graph_state: int | str | None = None,
                       nan_above_x: float | None = None, forget_state: bool = False) -> Path:
    """A tiny stream model (docs/model-contract.md, kind `stream`): a GRU of `state_size` units over
    (f0 / 1000, loudness / 80 + 1, z) frames, its last hidden vector the state, and three dense heads:
    amplitude (sigmoid), harmonic weights (softplus, falling with the harmonic's number), noise magnitudes (0.01 x sigmoid).

    Keyword options break it on purpose: other output names (one left out), a graph whose state axis
    is `graph_state` (a number that contradicts the metadata, or a name: dynamic), NaN in every output
    and in the state for blocks with a frame whose z x exceeds `nan_above_x` (the square root of a negative number),
    a GRU that starts every call from zeros whatever `state` says (`forget_state`: one block differs from its frames).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    size = state_size
    declared = size if graph_state is None else graph_state
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("milli", np.array(0.001, np.float32)), ("per80", np.array(1 / 80, np.float32)), ("one", np.array(1.0, np.float32)),
        ("tenth", np.array(0.01, np.float32)), ("last", np.array([-1], np.int64)),
        ("h0_shape", np.array([1, 1, size], np.int64)), ("seq_shape", np.array([1, -1, size], np.int64)),
        ("state_shape", np.array([1, -1 if isinstance(graph_state, str) else size], np.int64)),
        ("W", (rng.standard_normal((1, 3 * size, 4)) * 0.8).astype(np.float32)),
        ("R", (rng.standard_normal((1, 3 * size, size)) * 0.5).astype(np.float32)),
        ("B", (rng.standard_normal((1, 6 * size)) * 0.1).astype(np.float32))]]
    nodes = [helper.make_node("Mul", ["f0_hz", "milli"], ["f0n"]), helper.make_node("Unsqueeze", ["f0n", "last"], ["f0c"]),
             helper.make_node("Mul", ["loudness_db", "per80"], ["ld"]), helper.make_node("Add", ["ld", "one"], ["ldn"]),
             helper.make_node("Unsqueeze", ["ldn", "last"], ["ldc"]),
             helper.make_node("Concat", ["f0c", "ldc", "z"], ["x0"], axis=2)]
    x = "x0"
    if forget_state:
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero_f"))
    if nan_above_x is not None:
        inits += [numpy_helper.from_array(np.array([0], np.int64), "zero_i"), numpy_helper.from_array(np.array([1], np.int64), "one_i"),
                  numpy_helper.from_array(np.array([2], np.int64), "axis2"),
                  numpy_helper.from_array(np.array(nan_above_x, np.float32), "limit"), numpy_helper.from_array(np.array(0.0, np.float32), "nil")]
        nodes += [helper.make_node("Slice", ["z", "zero_i", "one_i", "axis2"], ["zx"]), helper.make_node("Sub", ["limit", "zx"], ["room"]),
                  helper.make_node("Sqrt", ["room"], ["root"]), helper.make_node("Mul", ["root", "nil"], ["poison"]),
                  helper.make_node("ReduceSum", ["poison"], ["poison_all"], keepdims=0)]
    nodes += [helper.make_node("Transpose", [x], ["xt"], perm=[1, 0, 2]),
              *([helper.make_node("Mul", ["state", "zero_f"], ["state_used"])] if forget_state else []),
              helper.make_node("Reshape", ["state_used" if forget_state else "state", "h0_shape"], ["h0"]),
              helper.make_node("GRU", ["xt", "W", "R", "B", "", "h0"], ["Y", "Yh"], hidden_size=size, linear_before_reset=1),
              helper.make_node("Reshape", ["Y", "seq_shape"], ["h" if nan_above_x is None else "h_clean"]),
              helper.make_node("Reshape", ["Yh", "state_shape"], ["state_next" if nan_above_x is None else "state_clean"])]
    if nan_above_x is not None:  # the poison after the GRU: its gates would squash NaN
        nodes += [helper.make_node("Add", ["h_clean", "poison"], ["h"]), helper.make_node("Add", ["state_clean", "poison_all"], ["state_next"])]
    heads = {"amplitude": (1, "Sigmoid"), "harmonics": (harmonics, "Softplus"), "noise": (noise_bands, "Sigmoid")}
    finals = {}
    for name, (width, act) in heads.items():
        bias = rng.standard_normal(width) * 0.1
        weights = rng.standard_normal((size, width))
        if name == "harmonics":  # a falling spectrum, the fundamental strongest: pitch trackers read the note, not an octave
            bias, weights = 3.0 - 1.5 * np.arange(width), weights * 0.3
        inits += [numpy_helper.from_array(weights.astype(np.float32), f"w_{name}"),
                  numpy_helper.from_array(bias.astype(np.float32), f"b_{name}")]
        nodes += [helper.make_node("MatMul", ["h", f"w_{name}"], [f"m_{name}"]), helper.make_node("Add", [f"m_{name}", f"b_{name}"], [f"l_{name}"]),
                  helper.make_node(act, [f"l_{name}"], [f"a_{name}"])]
        finals[name] = f"a_{name}"
    nodes.append(helper.make_node("Mul", ["a_noise", "tenth"], ["s_noise"]))
    finals["noise"], finals["state_out"] = "s_noise", "state_next"
    widths = {"amplitude": 1, "harmonics": harmonics, "noise": noise_bands}
    outputs = []
    for produced, name in zip(STREAM_OUTPUTS, output_names):
        nodes.append(helper.make_node("Identity", [finals[produced]], [name]))
        shape = [1, declared] if produced == "state_out" else [1, "frames", widths[produced]]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "stream_decoder", [
        helper.make_tensor_value_info("f0_hz", TensorProto.FLOAT, [1, "frames"]),
        helper.make_tensor_value_info("loudness_db", TensorProto.FLOAT, [1, "frames"]),
        helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, "frames", 2]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, declared])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    _metadata(model, metadata if metadata is not None else stream_metadata(harmonics, noise_bands, state_size))
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "decoder.onnx")
    return folder
