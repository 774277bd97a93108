"""The voice model's training side: the torch synth mirrors the runtime synth, phrases stay in range."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liveengine.training.voices_config import INSTRUMENTS, band_edges  # noqa: E402
from liveengine.training.voices_model import StreamVoice, VoiceConfig, synth_matches_numpy, warm_start  # noqa: E402
from liveengine.training.train import save  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_voice_data.py"


def test_torch_synth_mirrors_the_runtime_synth():
    assert synth_matches_numpy() < 1e-4  # f0 in float32 on the torch side
    assert synth_matches_numpy(cfg=VoiceConfig.for_rate(32000)) < 1e-4


def test_a_32_khz_model_learns_up_to_16_khz_and_warm_starts_band_for_band_from_a_16_khz_one(tmp_path):
    cfg = VoiceConfig.for_rate(32000)
    assert cfg.hop == 160 and cfg.n_bands == 20 and cfg.band_edges_hz[:17] == band_edges(16000) and cfg.band_edges_hz[-1] == 16000
    with pytest.raises(ValueError, match="22050 Hz is not one of 16000, 32000"):
        VoiceConfig.for_rate(22050)
    wide = StreamVoice(cfg)
    _, harm, _, _ = wide(torch.tensor([[1000.0]]), torch.full((1, 1), -20.0), torch.zeros(1, 1, 2), torch.zeros(1, wide.state_size))
    orders = torch.arange(1, harm.shape[-1] + 1)
    assert (harm[0, 0, orders * 1000 >= 16000] == 0).all() and (harm[0, 0, (orders * 1000 >= 8000) & (orders * 1000 < 16000)] > 0).all()
    torch.manual_seed(1)
    narrow = StreamVoice()
    save(tmp_path / "narrow.pt", narrow, torch.optim.Adam(narrow.parameters()), {"step": 7, "seconds": 1.0, "log": []})
    started = warm_start(wide, tmp_path / "narrow.pt")
    assert started["step"] == 7 and started["grown"] == ["out.4.weight", "out.4.bias"]
    inputs = (torch.tensor([[220.0, 330.0]]), torch.full((1, 2), -20.0), torch.zeros(1, 2, 2), torch.zeros(1, 192))
    a, b = narrow(*inputs), wide(*inputs)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[2], b[2][..., :16])  # the 16 shared bands as the 16 kHz model made them
    torch.testing.assert_close(b[2][..., 16:], a[2][..., 15:16].expand(-1, -1, 4))  # each new band starts as its top one
    with pytest.raises(ValueError, match="has shape"):
        warm_start(StreamVoice(VoiceConfig(hidden=64)), tmp_path / "narrow.pt")


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


def test_the_trainer_refuses_a_missing_warm_start_and_a_warm_start_it_would_ignore(tmp_path, capsys):
    from liveengine.training.voices_train import main

    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--init-from", str(tmp_path / "nope.pt")])
    assert "no such checkpoint file" in capsys.readouterr().err
    (tmp_path / "old.pt").write_bytes(b"x")
    (tmp_path / "run.pt").write_bytes(b"x")
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--init-from", str(tmp_path / "old.pt"), "--resume", "--checkpoint", str(tmp_path / "run.pt")])
    assert "would continue it and ignore --init-from" in capsys.readouterr().err
    with pytest.raises(ValueError, match="use VoiceConfig.for_rate"):
        VoiceConfig(sample_rate=32000)  # a 32 kHz model with the 16 kHz bands and hop
