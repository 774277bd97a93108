"""The pattern kind of the model contract against real ONNX files built in tmp_path (liveengine/testing/models.py).

A conforming pattern model loads, decodes into the declared shapes and ranges and encodes; every
way to break it (outputs, shapes, metadata, ranges, the encoder) is one ModelError naming the
model, what was found and what the contract expects.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.decoders.contract import ModelError
from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.decoders.pattern_model import PatternModel
from liveengine.decoders.registry import load_decoder, load_pattern_model
from liveengine.errors import LiveEngineError
from liveengine.testing.models import PATTERN_VOICES, build_audio_decoder, build_pattern_model, pattern_metadata


def refused(folder, *fragments):
    with pytest.raises(ModelError) as caught:
        PatternModel(folder)
    text = str(caught.value)
    assert text.startswith(f"model {folder.name}"), text
    for fragment in fragments:
        assert fragment in text, text
    assert text.count(". ") <= 1  # one sentence (and at most a fix)
    return text


def test_a_conforming_pattern_model_loads_decodes_and_encodes(tmp_path):
    model = PatternModel(build_pattern_model(tmp_path / "beats", latent_dim=5))
    assert (model.latent_dim, model.steps, model.voices, model.steps_per_beat) == (5, 32, PATTERN_VOICES, 4)
    z = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32) * 3
    hits, velocities, offsets = model.decode(z)
    assert hits.shape == velocities.shape == offsets.shape == (3, 32, 9)
    assert 0 <= hits.min() and hits.max() <= 1 and -0.5 <= offsets.min() and offsets.max() <= 0.5
    assert not np.allclose(hits[0], hits[1])  # different points, different patterns
    assert model.encode((hits > 0.5).astype(np.float32), velocities, offsets).shape == (3, 5)


def test_the_registry_finds_a_pattern_model_and_the_sound_grid_refuses_it(tmp_path):
    folder = build_pattern_model(tmp_path / "beats")
    assert load_pattern_model(str(folder)).steps == 32
    with pytest.raises(ModelError, match=r"model beats is a pattern model .*needs a oneshot model"):
        load_decoder(str(folder))
    with pytest.raises(LiveEngineError, match="needs a pattern model folder"):
        load_pattern_model("builtin:testsynth")
    build_audio_decoder(tmp_path / "kick", latent_dim=4, output_length=512)
    refused(tmp_path / "kick", "liveengine.kind = 'oneshot'", "a groove needs a pattern model")


def test_outputs_named_wrong(tmp_path):
    folder = build_pattern_model(tmp_path / "m", output_names=("hits", "velocity", "offsets"))
    refused(folder, "outputs ['hits', 'offsets', 'velocity']", "'velocities'")


def test_output_shape_contradicts_the_metadata(tmp_path):
    folder = build_pattern_model(tmp_path / "m", steps=32, graph_steps=16)
    refused(folder, "decoder output", "axis 1 must be 32")


def test_offsets_outside_half_a_step(tmp_path):
    refused(build_pattern_model(tmp_path / "m", offset_scale=2.0), "'offsets' runs from", "allows -0.5 to 0.5")


def test_encoder_giving_the_wrong_latent_size(tmp_path):
    refused(build_pattern_model(tmp_path / "m", latent_dim=4, encoder_latent=6), "encoder output", "axis 1 must be 4")


@pytest.mark.parametrize("change, found", [
    ({"steps": None}, "lacks liveengine.steps"),
    ({"voices": None}, "lacks liveengine.voices"),
    ({"steps": "0"}, "liveengine.steps = 0; expected an integer from 1 to 1024"),
    ({"steps_per_beat": "four"}, "liveengine.steps_per_beat = 'four'"),
    ({"voices": ["kick", "kick"] + list(PATTERN_VOICES[2:])}, "distinct voice names"),
    ({"voices": "kick snare"}, "is not JSON"),
    ({"latent.mean": [0.0, 1.0]}, "latent.mean has 2 numbers; expected 4"),
    ({"contract": "2"}, "reads contract 1"),
])
def test_metadata_outside_the_contract(tmp_path, change, found):
    meta = pattern_metadata(4)
    meta.update(change)
    refused(build_pattern_model(tmp_path / "m", metadata=meta), found)


def test_voices_that_contradict_the_graph(tmp_path):
    meta = pattern_metadata(4, voices=PATTERN_VOICES[:8])
    refused(build_pattern_model(tmp_path / "m", metadata=meta), "axis 2 must be 8")
