"""A drum model with a window longer than 1 s: the data cut at that window, a new model's window and hop, a warm start
from a 1 s model that keeps every layer, the exported contract, and how bench/model_quality.py compares such a model
with the 1 s ones (its first second, faded where the 1 s data set fades).

Needs the `train` extra (PyTorch); the normal suite skips it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from liveengine.training import data as drum_data  # noqa: E402
from tests.training.test_train_smoke import write_data_set  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
try:
    import model_quality
finally:
    sys.path.pop(0)

SR = drum_data.SAMPLE_RATE
N = drum_data.LENGTH


def _ringing(count: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Decaying sines and noise, some still sounding after 1 s, cut to `length` by the data builder."""
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    audio, classes = [], []
    for i in range(count):
        if i % 2 == 0:
            x = np.sin(2 * np.pi * rng.uniform(60, 200) * t) * np.exp(-t / rng.uniform(0.05, 0.2))
            classes.append(drum_data.CLASSES.index("tom"))
        else:
            x = rng.standard_normal(len(t)) * np.exp(-t / rng.uniform(0.3, 1.0))
            classes.append(drum_data.CLASSES.index("cymbal"))
        audio.append(drum_data.to_oneshot(x.astype(np.float32), length=length))
    return np.stack(audio), np.array(classes, np.int16)


def _write_data(folder: Path, length: int) -> None:
    folder.mkdir()
    write_data_set(folder, *_ringing(6, length, 0), *_ringing(4, length, 1))


def test_the_data_builder_cuts_and_augments_at_the_window_asked_for():
    t = np.arange(3 * SR) / SR
    ringing = (np.random.default_rng(0).standard_normal(len(t)) * np.exp(-t / 0.5)).astype(np.float32)
    shot = drum_data.to_oneshot(ringing, length=2 * SR)
    assert shot.shape == (2 * SR,) and np.isclose(np.max(np.abs(shot)), 0.9)
    assert shot[-1] == 0.0 and np.abs(shot[-int(0.06 * SR):-int(0.05 * SR)]).max() > 0.01  # cut: faded over its last 50 ms
    short = drum_data.to_oneshot(ringing[:int(0.5 * SR)], length=2 * SR)
    assert np.all(short[int(0.5 * SR):] == 0.0)  # shorter than the window: zero-padded, no fade
    assert np.array_equal(drum_data.to_oneshot(ringing[:N]), drum_data.to_oneshot(ringing[:N], length=N))  # 1 s stays the default
    variants, _, origin = drum_data.augmented_set(shot[None], np.array([6], np.int16), np.array([0]), 3, seed=0)
    assert variants.shape == (4, 2 * SR) and list(origin) == [0] * 4


def test_the_data_builder_names_the_packages_it_lacks_before_any_work(tmp_path, monkeypatch):
    # The machine's own packages may all be present; point two sources at folders that do not exist.
    monkeypatch.setattr(drum_data, "SOUNDFONT", tmp_path / "absent.sf2")
    monkeypatch.setattr(drum_data, "HYDROGEN", tmp_path / "absent")
    with pytest.raises(SystemExit) as refused:
        drum_data.main(["--out", str(tmp_path / "out")])
    message = str(refused.value)
    assert "fluid-soundfont-gm" in message and "hydrogen-drumkits" in message and "apt-get install" in message
    assert ("sonic-pi-samples" in message) == (not drum_data.SONIC_PI.is_dir())
    assert not (tmp_path / "out").exists()  # nothing half-built


def test_a_new_model_gets_the_window_and_hop_asked_for_and_bad_ones_are_refused():
    from liveengine.training.model import Config
    from liveengine.training.train import new_model_config

    cfg = new_model_config(Config(), noise_phase=True, seconds=2.0, hop=512)
    assert (cfg.length, cfg.hop, cfg.frames, cfg.dec_frames0, cfg.noise_phase) == (2 * SR, 512, 173, 22, True)
    longer = new_model_config(Config(), seconds=2.0)  # hop 256: twice the frames, so the decoder starts from more
    assert longer.frames == 345 and longer.dec_frames0 * 8 >= longer.frames
    with pytest.raises(ValueError, match="hop 300 does not divide n_fft 1024"):
        new_model_config(Config(), hop=300)
    with pytest.raises(ValueError, match="window 20 s is out of range"):
        new_model_config(Config(), seconds=20.0)


def test_a_two_second_model_warm_starts_every_layer_from_a_one_second_one_and_exports_its_window(tmp_path):
    from liveengine.decoders.registry import load_decoder
    from liveengine.training import export, train
    from liveengine.training.model import DrumVAE

    short_data, long_data = tmp_path / "1s", tmp_path / "2s"
    _write_data(short_data, N)
    _write_data(long_data, 2 * N)
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    common = ["--batch", "4", "--log-every", "1", "--save-every", "0"]
    train.main(common + ["--data", str(short_data), "--checkpoint", str(old), "--noise-phase", "--max-steps", "1"])
    with pytest.raises(SystemExit, match="build the data with --seconds 2"):  # 1 s sounds for a 2 s model
        train.main(common + ["--data", str(short_data), "--checkpoint", str(tmp_path / "wrong.pt"), "--init-from", str(old),
                             "--seconds", "2", "--hop", "512", "--max-steps", "1"])
    train.main(common + ["--data", str(long_data), "--checkpoint", str(new), "--init-from", str(old), "--seconds", "2", "--hop", "512",
                         "--lr", "0", "--max-steps", "1"])
    state = torch.load(new, map_location="cpu", weights_only=False)["state"]
    assert state["init_from"]["new_tensors"] == []  # 173 frames either way: every layer came over

    models = []
    for path in (old, new):
        model = DrumVAE(train.config_from(path))
        train.load(path, model, None)
        models.append(model.eval())
    assert (models[1].cfg.length, models[1].cfg.hop) == (2 * N, 512)
    z = torch.randn(2, models[0].cfg.latent_dim)
    with torch.no_grad():
        (m0, _), (m1, _) = models[0].decoder(z), models[1].decoder(z)
    assert torch.allclose(m0, m1)  # lr 0: the same frames, each now 512 samples apart

    out = tmp_path / "drums3"
    export.main(["--checkpoint", str(new), "--data", str(long_data), "--out", str(out), "--name", "drums3"])
    decoder = load_decoder(str(out))  # the contract's checks, a sound at the latent mean included
    assert (decoder.info.output_length, decoder.info.hop, decoder.info.n_fft, decoder.info.frames) == (2 * N, 512, 1024, 173)
    audio = np.zeros((2, 2 * N), np.float32)
    decoder.decode_into(z.numpy(), audio)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) > 0.1
    mean, _ = decoder.encoder.run(None, {"audio": _ringing(2, 2 * N, 5)[0]})
    assert mean.shape == (2, decoder.info.latent_dim)


def test_the_bench_compares_a_longer_window_on_its_first_second_faded_where_the_data_set_fades(tmp_path):
    long_refs, _ = _ringing(4, 2 * N, 1)
    long_refs[0, N:] = 0.0  # a sound over before 1 s: the 1 s data set did not cut it
    recon = np.ones((4, 2 * N), np.float32)
    first = model_quality.first_second(recon, long_refs)
    fade = int(0.05 * SR)
    assert first.shape == (4, N)
    assert np.all(first[0] == 1.0)  # not cut: no fade
    assert np.all(first[1:, :N - fade] == 1.0) and np.all(first[1:, -1] == 0.0) and np.all(np.diff(first[1:, N - fade:]) < 0)

    short_data = tmp_path / "data"
    _write_data(short_data, N)
    files = np.load(short_data / "sounds.npz")["files"]
    with pytest.raises(SystemExit, match="needs its held-out sounds at that length"):
        model_quality.window_data(short_data, 2 * N, files)
    _write_data(short_data / "2s", 2 * N)
    assert model_quality.window_data(short_data, 2 * N, files).shape == (10, 2 * N)
    with pytest.raises(SystemExit, match="does not hold the same sounds"):
        model_quality.window_data(short_data, 2 * N, files[::-1])
