"""The stream kind of the model contract against real ONNX files built in tmp_path (liveengine/testing/models.py).

A conforming stream model loads and runs block by block exactly as over the whole sequence (its
state carries over); every way to break it (state shape, outputs, metadata) is one ModelError naming
the model, what was found and what the contract expects; NaN at run time is a silenced, counted block
and a state reset.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.decoders.contract import ModelError
from liveengine.decoders.registry import load_decoder
from liveengine.decoders.stream_model import StreamModel
from liveengine.testing.models import build_stream_model, stream_metadata


def refused(folder, *fragments):
    with pytest.raises(ModelError) as caught:
        StreamModel(folder)
    text = str(caught.value)
    assert text.startswith(f"model {folder.name}"), text
    for fragment in fragments:
        assert fragment in text, text
    assert text.count(". ") <= 1  # one sentence (and at most a fix)
    return text


def _controls(frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    f0 = (220 * 2 ** (np.cumsum(rng.standard_normal(frames)) * 0.02)).astype(np.float32)
    loudness = np.clip(-30 + np.cumsum(rng.standard_normal(frames)), -80, 0).astype(np.float32)
    z = np.clip(np.cumsum(rng.standard_normal((frames, 2)) * 0.05, axis=0), -1, 1).astype(np.float32)
    return f0, loudness, z


def test_block_by_block_equals_the_whole_sequence(tmp_path):
    model = StreamModel(build_stream_model(tmp_path / "voice", harmonics=6, noise_bands=3, state_size=12))
    info = model.info
    assert (info.harmonics, info.noise_bands, info.state_size, info.frame_rate, info.hop(48000)) == (6, 3, 12, 200, 240)
    assert info.points == {"violin": (-0.5, 0.5), "flute": (0.5, 0.5)}
    f0, loudness, z = _controls(120)
    whole = model.run(f0, loudness, z)
    assert whole[0].shape == (120,) and whole[1].shape == (120, 6) and whole[2].shape == (120, 3)
    model.reset()
    pieces, at = [], 0
    for size in [1, 1, 5, 17, 1, 40, 3] + [1] * 52:  # 120 frames in uneven blocks
        pieces.append(model.run(f0[at:at + size], loudness[at:at + size], z[at:at + size]))
        at += size
    assert at == 120
    for k in range(3):
        np.testing.assert_allclose(np.concatenate([p[k] for p in pieces]), whole[k], atol=1e-5)
    model.reset()
    again = model.run(f0[:10], loudness[:10], z[:10])
    np.testing.assert_allclose(again[0], whole[0][:10], atol=1e-6)  # reset: back to the zero state
    assert not np.allclose(model.run(f0[:10], loudness[:10], z[:10])[0], again[0], atol=1e-4)  # the state matters
    # blocks of up to BOUND_FRAMES frames (the 1s, 5 and 3 above) run on arrays bound once, longer ones (17, 40, the whole)
    # through session.run: the same numbers


def test_nan_outputs_silence_the_block_reset_the_state_and_are_counted(tmp_path):
    model = StreamModel(build_stream_model(tmp_path / "m", nan_above_x=0.8))
    f0, loudness, z = _controls(30)
    z[:, 0] = 0.0
    clean = model.run(f0, loudness, z)[0]
    model.reset()
    first = model.run(f0[:10], loudness[:10], z[:10])[0]
    bad = z[10:12].copy()
    bad[:, 0] = 0.9
    amplitude, harmonics, noise = model.run(f0[10:12], loudness[10:12], bad)
    assert not amplitude.any() and not harmonics.any() and not noise.any()
    assert (model.nan_frames, model.resets) == (2, 1)
    assert np.all(model.state == 0.0)
    after = model.run(f0[12:30], loudness[12:30], z[12:30])[0]
    assert np.all(np.isfinite(after)) and after.max() > 0  # plays again from the zero state
    np.testing.assert_allclose(first, clean[:10], atol=1e-6)
    model.reset()
    np.testing.assert_allclose(after, model.run(f0[12:30], loudness[12:30], z[12:30])[0], atol=1e-5)


def test_the_state_shape_contradicting_the_metadata(tmp_path):
    refused(build_stream_model(tmp_path / "fixed", state_size=8, graph_state=6, metadata=stream_metadata(state_size=8)),
            "decoder input 'state' has shape [1, 6]", "axis 1 must be 8")
    refused(build_stream_model(tmp_path / "dynamic", state_size=6, graph_state="s", metadata=stream_metadata(state_size=8)),
            "decoder output 'state_out' has shape [1, 6]", "axis 1 must be 8")  # a dynamic state input: the output's shape tells


def test_missing_and_misnamed_outputs(tmp_path):
    refused(build_stream_model(tmp_path / "short", output_names=("amplitude", "harmonics", "noise")),
            "outputs ['amplitude', 'harmonics', 'noise'] (lacks state_out)", "'state_out'")
    refused(build_stream_model(tmp_path / "named", output_names=("amplitude", "harmonic", "noise", "state_out")),
            "lacks harmonics", "a stream decoder outputs")


@pytest.mark.parametrize("change, found", [
    ({"state_size": None}, "lacks liveengine.state_size"),
    ({"frame_rate": None, "band_edges_hz": None}, "lacks liveengine.frame_rate, liveengine.band_edges_hz"),
    ({"harmonics": "6"}, "axis 2 must be 6"),
    ({"frame_rate": "0"}, "liveengine.frame_rate = 0; expected an integer from 10 to 2000"),
    ({"band_edges_hz": [0, 100, 50, 400, 8000]}, "expected a JSON list of 5 rising frequencies"),
    ({"band_edges_hz": [0, 100, 8000]}, "expected a JSON list of 5 rising"),
    ({"f0_range_hz": [0, 2000]}, "expected a low end above 0 Hz"),
    ({"loudness_range_db": "-80..0"}, "is not JSON"),
    ({"points": {"violin": [0.1]}}, "expected a JSON object of name: [x, y]"),
    ({"kind": "oneshot"}, "needs a stream model"),
    ({"contract": "2"}, "reads contract 1"),
])
def test_metadata_outside_the_contract(tmp_path, change, found):
    meta = stream_metadata()
    meta.update(change)
    refused(build_stream_model(tmp_path / "m", metadata=meta), found)


def test_the_sound_grid_refuses_a_stream_model(tmp_path):
    folder = build_stream_model(tmp_path / "voice")
    with pytest.raises(ModelError, match=r"model voice is a stream model .*needs a oneshot model"):
        load_decoder(str(folder))


def test_the_shipped_stream_models_load_through_the_contract():
    from liveengine.decoders.registry import model_kind
    from liveengine.resources import models_dir

    shipped = [p for p in sorted(models_dir().iterdir()) if (p / "decoder.onnx").is_file() and model_kind(p) == "stream"]
    for folder in shipped:
        model = StreamModel(folder)
        assert model.info.points  # every shipped voice says where its instruments are
        f0, loudness, z = _controls(12, seed=3)
        whole = model.run(f0, loudness, z)[0]
        model.reset()
        pieces = np.concatenate([model.run(f0[i:i + 1], loudness[i:i + 1], z[i:i + 1])[0] for i in range(12)])
        np.testing.assert_allclose(pieces, whole, atol=1e-5)
