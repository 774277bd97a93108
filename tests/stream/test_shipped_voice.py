"""Every shipped stream model meets the stream contract and keeps its state contract:
block-by-block output equals whole-sequence output (onnxruntime on the real file)."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from liveengine.stream.synth import HarmonicNoiseSynth

MODELS = Path(__file__).resolve().parents[2] / "models_onnx"
REQUIRED = ("contract", "kind", "sample_rate", "frame_rate", "harmonics", "noise_bands", "band_edges_hz", "state_size",
            "f0_range_hz", "loudness_range_db", "points", "description")


def stream_models():
    found = []
    for path in sorted(MODELS.glob("*/decoder.onnx")):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        if session.get_modelmeta().custom_metadata_map.get("liveengine.kind") == "stream":
            found.append(path.parent.name)
    return found


def open_model(name):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(MODELS / name / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    meta = {k[len("liveengine."):]: v for k, v in session.get_modelmeta().custom_metadata_map.items()}
    return session, meta


def inputs(meta, frames, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = json.loads(meta["f0_range_hz"])
    points = np.array(list(json.loads(meta["points"]).values()), np.float32)
    return {"f0_hz": np.exp(rng.uniform(np.log(max(lo, 60)), np.log(min(hi, 1500)), (1, frames))).astype(np.float32),
            "loudness_db": rng.uniform(-70, -10, (1, frames)).astype(np.float32),
            "z": (points[rng.integers(0, len(points), (1, frames))] + rng.normal(0, 0.1, (1, frames, 2))).astype(np.float32),
            "state": np.zeros((1, int(meta["state_size"])), np.float32)}


def test_voices_model_is_shipped():
    assert "voices" in stream_models()


@pytest.mark.parametrize("name", stream_models())
def test_stream_model_meets_the_contract(name):
    session, meta = open_model(name)
    assert all(key in meta for key in REQUIRED), [k for k in REQUIRED if k not in meta]
    h, b, s = int(meta["harmonics"]), int(meta["noise_bands"]), int(meta["state_size"])
    edges = json.loads(meta["band_edges_hz"])
    assert len(edges) == b + 1 and edges == sorted(edges) and edges[-1] <= int(meta["sample_rate"]) / 2
    assert int(meta["sample_rate"]) % int(meta["frame_rate"]) == 0
    assert {i.name: i.shape[-1] for i in session.get_inputs()} == {"f0_hz": "frames", "loudness_db": "frames", "z": 2, "state": s}
    x = inputs(meta, 12)
    amp, harm, noise, state = session.run(["amplitude", "harmonics", "noise", "state_out"], x)
    assert amp.shape == (1, 12, 1) and harm.shape == (1, 12, h) and noise.shape == (1, 12, b) and state.shape == (1, s)
    assert np.isfinite(state).all() and min(amp.min(), harm.min(), noise.min()) >= 0
    # the controls render through the runtime synth at the server's rate
    synth = HarmonicNoiseSynth(48000, 48000 // int(meta["frame_rate"]), h, edges)
    audio = synth.render(x["f0_hz"][0], amp[0, :, 0], harm[0], noise[0])
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0


@pytest.mark.parametrize("name", stream_models())
def test_block_by_block_equals_whole_sequence(name):
    session, meta = open_model(name)
    x = inputs(meta, 60, seed=1)
    outputs = ["amplitude", "harmonics", "noise", "state_out"]
    whole = session.run(outputs, x)
    state, parts, start = x["state"], [], 0
    for size in [1, 1, 5, 13, 1, 39]:  # uneven blocks, T = 1 among them
        block = {k: x[k][:, start:start + size] for k in ("f0_hz", "loudness_db", "z")}
        out = session.run(outputs, {**block, "state": state})
        parts.append(out[:3])
        state = out[3]
        start += size
    for k in range(3):
        assert np.abs(whole[k] - np.concatenate([p[k] for p in parts], axis=1)).max() < 1e-5
    assert np.abs(whole[3] - state).max() < 1e-5
