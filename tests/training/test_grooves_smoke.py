"""Pattern VAE smoke test: a few steps on generated patterns, resumed, exported, loaded by the runtime.

Needs the `train` extra (PyTorch); the normal suite skips it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from liveengine.decoders.pattern_model import PatternModel  # noqa: E402
from liveengine.groove.pattern import VOICES  # noqa: E402
from liveengine.training import grooves_export, grooves_train  # noqa: E402
from liveengine.training.grooves_model import GrooveConfig, GrooveVAE  # noqa: E402


def _data(folder, n=64):
    rng = np.random.default_rng(0)
    hits = (rng.random((n, 32, 9)) < 0.15).astype(np.uint8)
    hits[:, ::4, 0] = 1  # four on the floor
    np.savez_compressed(folder / "grooves.npz", hits=hits, velocities=(rng.random((n, 32, 9)) * hits).astype(np.float16),
                        offsets=((rng.random((n, 32, 9)) - 0.5) * 0.4 * hits).astype(np.float16),
                        split=np.array(["train"] * (n - 16) + ["validation"] * 16), style=np.array(["rock", "funk"] * (n // 2)),
                        beat_type=np.array(["beat", "fill"] * (n // 2)), bpm=np.full(n, 100, np.int16),
                        source=np.array(["x.mid"] * n), start=np.zeros(n, np.int32))


def test_train_resume_export_and_load(tmp_path, monkeypatch):
    _data(tmp_path)
    ckpt = tmp_path / "g.pt"
    monkeypatch.setattr(grooves_train, "config_from", lambda path: GrooveConfig(hidden=16, latent_dim=4) if not path.exists()
                        else GrooveConfig(**torch.load(path, weights_only=False)["config"]))
    grooves_train.main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--max-steps", "5", "--batch", "8", "--log-every", "5"])
    grooves_train.main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--max-steps", "9", "--batch", "8", "--log-every", "5"])
    state = torch.load(ckpt, weights_only=False)["state"]
    assert state["step"] == 9 and len(state["runs"]) == 2 and state["history"][-1]["f1"] >= 0
    monkeypatch.setattr(grooves_export, "config_from", grooves_train.config_from)
    monkeypatch.setattr(grooves_export, "MIN_STYLE", 1)
    grooves_export.main(["--checkpoint", str(ckpt), "--data", str(tmp_path), "--out", str(tmp_path / "model")])
    model = PatternModel(tmp_path / "model")
    assert (model.latent_dim, model.steps, model.voices) == (4, 32, VOICES)
    z = model.encode(np.ones((1, 32, 9), np.float32), np.full((1, 32, 9), 0.5, np.float32), np.zeros((1, 32, 9), np.float32))
    vae = GrooveVAE(GrooveConfig(**torch.load(ckpt, weights_only=False)["config"]))
    grooves_train.load(ckpt, vae, None)
    vae.eval()
    with torch.no_grad():
        expected = vae.encoder(torch.ones(1, 32, 9), torch.full((1, 32, 9), 0.5), torch.zeros(1, 32, 9))[0].numpy()
    np.testing.assert_allclose(z, expected, atol=1e-5)  # the ONNX encoder is the trained one
    index = np.load(tmp_path / "model" / "index.npz")
    assert index["fill"].sum() == 24 and index["z"].shape[1] == 4
