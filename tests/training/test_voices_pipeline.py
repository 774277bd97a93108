"""The voice model's training side: the torch synth mirrors the runtime synth, phrases stay in range."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liveengine.training.voices_config import INSTRUMENTS  # noqa: E402
from liveengine.training.voices_model import StreamVoice, synth_matches_numpy  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_voice_data.py"


def test_torch_synth_mirrors_the_runtime_synth():
    assert synth_matches_numpy() < 1e-4  # f0 in float32 on the torch side


def test_model_zeroes_harmonics_above_its_training_nyquist():
    model = StreamVoice()
    f0 = torch.tensor([[1000.0, 2000.0]])
    _, harm, _, _ = model(f0, torch.full((1, 2), -20.0), torch.zeros(1, 2, 2), torch.zeros(1, model.state_size))
    orders = torch.arange(1, harm.shape[-1] + 1)
    assert (harm[0, 0, orders * 1000 >= 8000] == 0).all() and (harm[0, 0, orders * 1000 < 8000] > 0).all()
    assert (harm[0, 1, orders * 2000 >= 8000] == 0).all()


def test_phrases_are_monophonic_and_in_range():
    spec = importlib.util.spec_from_file_location("build_voice_data", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for name, (_, low, high) in INSTRUMENTS.items():
        events = script.phrase_events(np.random.default_rng(7), low, high, 8.0)
        sounding, notes = None, 0
        for _, msg in events:
            if msg.type == "note_on":
                assert sounding is None and low <= msg.note <= high, name
                sounding, notes = msg.note, notes + 1
            elif msg.type == "note_off":
                assert msg.note == sounding
                sounding = None
        assert notes >= 8 and sounding is None
        assert {m.type for _, m in events} >= {"pitchwheel", "control_change"}
