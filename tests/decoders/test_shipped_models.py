"""Every model folder shipped in models_onnx/ meets the contract and has a model card.

Collected from the repository at collection time; with no model shipped yet the
parametrisation is empty (reported as one skip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveengine.decoders.onnx_decoder import SILENCE, OnnxDecoder
from liveengine.decoders.registry import load_decoder

MODELS = Path(__file__).resolve().parents[2] / "models_onnx"


def _kind(folder: Path) -> str:
    import onnxruntime as ort

    return ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map.get("liveengine.kind", "")


ALL = sorted(p.parent for p in MODELS.glob("*/decoder.onnx"))
SHIPPED = [p for p in ALL if _kind(p) not in ("pattern", "stream")]  # stream models: tests/stream/test_shipped_voice.py
PATTERNS = [p for p in ALL if _kind(p) == "pattern"]


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_model_meets_the_contract(folder):
    decoder = OnnxDecoder(folder, normalize="none")
    mean = np.asarray(decoder.info.latent_mean or [0.0] * decoder.latent_dim, np.float32)[None, :]
    out = np.full((1, decoder.output_length), np.nan, np.float32)
    decoder.decode_into(mean, out)
    assert np.all(np.isfinite(out))
    assert np.max(np.abs(out)) > SILENCE
    card = folder / "README.md"
    assert card.is_file(), f"{folder.name} has no README.md model card"
    assert card.read_text(encoding="utf-8").strip()
    # A patch names it by folder name alone.
    assert load_decoder(folder.name).identity == decoder.identity


@pytest.mark.parametrize("folder", PATTERNS, ids=[p.name for p in PATTERNS])
def test_shipped_pattern_model_meets_the_contract(folder):
    from liveengine.decoders.pattern_model import PatternModel
    from liveengine.decoders.registry import load_pattern_model

    model = PatternModel(folder)  # checks metadata, graphs and a decode of the latent mean
    hits, velocities, offsets = model.decode(model.latent_mean[None, :])
    assert hits.shape == (1, model.steps, len(model.voices)) and (hits >= 0.5).sum() > 0  # the mean groove plays something
    assert model.encode((hits >= 0.5).astype(np.float32), velocities, offsets).shape == (1, model.latent_dim)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "Groove MIDI Dataset" in card and "CC BY 4.0" in card  # the dataset's licence asks for the credit
    assert load_pattern_model(folder.name).identity == model.identity
