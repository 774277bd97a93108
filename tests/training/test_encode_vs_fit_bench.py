"""bench/encode_vs_fit.py's pieces: the spectral centroid it reports, and a data set of the wrong window refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_centroid_of_a_sine_is_its_frequency_and_of_two_equal_sines_their_middle(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from encode_vs_fit import centroid_hz

    t = np.arange(44100) / 44100
    rows = np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t), np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 5000 * t)])
    assert centroid_hz(rows, 44100) == pytest.approx([1000, 6000, 3000], rel=0.01)


def test_a_data_set_of_another_window_is_refused_in_one_sentence(tmp_path, monkeypatch, capsys):
    from liveengine.testing.models import build_stft_decoder

    monkeypatch.syspath_prepend(str(BENCH))
    import encode_vs_fit

    model = build_stft_decoder(tmp_path / "m", output_length=4096)
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "sounds.npz", audio=np.zeros((2, 2048), np.int16), classes=np.zeros(2, np.int16), split=np.array(["heldout"] * 2))
    with pytest.raises(SystemExit) as refused:
        encode_vs_fit.main(["--model", str(model), "--data", str(data), "--out", str(tmp_path / "r.json")])
    assert refused.value.code == 2
    assert f"--data {data}: its sounds are 2048 samples; m reads 4096" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_no_sounds_a_wrong_count_or_no_model_is_refused_in_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    import encode_vs_fit

    cases = ((["--data", str(tmp_path)], f"--data {tmp_path}: no sounds.npz"),
             (["--per-class", "-3"], "--per-class -3: allowed: 1 or more"),
             (["--steps", "0,x"], "--steps 0,x: allowed: whole numbers of 0 or more, comma-separated"),
             (["--steps", "3,-1"], "--steps 3,-1: allowed: whole numbers of 0 or more"),
             (["--rerecorded", "-1"], "--rerecorded -1: allowed: 0 (none) or more"),
             (["--tethers", "0,-0.1"], "--tethers 0,-0.1: allowed: numbers of 0 or more, comma-separated"),
             (["--tethers", "nan"], "--tethers nan: allowed: numbers of 0 or more"))
    for extra, said in cases:
        with pytest.raises(SystemExit) as refused:
            encode_vs_fit.main([*extra, "--out", str(tmp_path / "r.json")])
        assert refused.value.code == 2 and said in capsys.readouterr().err
    np.savez(tmp_path / "sounds.npz", audio=np.zeros((1, 8), np.int16), classes=np.zeros(1, np.int16), split=np.array(["heldout"]))
    with pytest.raises(SystemExit) as refused:
        encode_vs_fit.main(["--model", str(tmp_path / "nothing"), "--data", str(tmp_path), "--out", str(tmp_path / "r.json")])
    assert refused.value.code == 2 and f"--model {tmp_path / 'nothing'}: " in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_fit_steps_after_the_encoder_bring_the_decoded_sounds_nearer(monkeypatch):
    """The shipped model's own sounds (decoded at random points), placed by the encoder alone and then refined by 10
    fit steps, tethered (the fit's own) and free: the refined points decode nearer the sounds, and each figure is
    reported for every sound, and per class."""
    from liveengine.decoders import fit
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.resources import default_model

    monkeypatch.syspath_prepend(str(BENCH))
    import encode_vs_fit

    decoder = OnnxDecoder(default_model(), threads=1, normalize="peak")
    z = np.random.default_rng(3).normal(size=(4, decoder.info.latent_dim)).astype(np.float32)
    made = np.zeros((4, decoder.output_length), np.float32)
    decoder.decode_into(z, made)
    x = np.round(made / np.max(np.abs(made)) * 32767 * 0.5).astype(np.int16).astype(np.float32) / 32767.0
    out = encode_vs_fit.refined(decoder, x, np.array([0, 1, -1, 2]), [0, 10], [fit.TETHER, 0.0])
    assert set(out) == {"0", "10", "10 tether 0"} and all(v["sounds"] == 4 and 0.0 <= v["accuracy"] <= 1.0 for v in out.values())
    assert out["0"]["tether"] is None and out["10"]["tether"] == fit.TETHER and out["10 tether 0"]["tether"] == 0.0
    assert set(out["10"]["per_class"]) == {"kick", "snare", "clap"}  # labels 0, 1, 2; the -1 unlabelled
    assert out["10"]["mrstft"] < out["0"]["mrstft"] and out["10 tether 0"]["mrstft"] < out["0"]["mrstft"]


def test_rerecorded_training_sounds_are_drawn_per_class_and_re_recorded(monkeypatch):
    """--rerecorded: at most N labelled training sounds a class, never a held-out or unlabelled one, each changed by
    the kit-like re-recording and peak-normalised; the same draw for the same seed."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCH))
    import encode_vs_fit

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((12, 4096)) * 3000).astype(np.int16)
    classes = np.array([0, 0, 0, 1, 1, 2, -1, 0, 1, 2, 2, 2])
    split = np.array(["train"] * 7 + ["heldout"] * 5)
    sounds = {"audio": audio, "classes": classes, "split": split}
    x, truth = encode_vs_fit.rerecorded(sounds, 2)
    assert sorted(truth.tolist()) == [0, 0, 1, 1, 2]  # class 2 has one training sound; the held-out ones never come
    assert x.shape == (5, 4096) and np.allclose(np.abs(x).max(axis=1), 1.0, atol=1e-6)
    originals = audio[:7].astype(np.float32) / 32767.0
    assert not any(np.allclose(row / np.abs(row).max(), orig / np.abs(orig).max(), atol=1e-3) for row in x for orig in originals)
    again, truth_again = encode_vs_fit.rerecorded(sounds, 2)
    assert np.array_equal(x, again) and np.array_equal(truth, truth_again)


def test_rerecorded_without_labelled_training_sounds_is_refused_before_any_fit(tmp_path, monkeypatch, capsys):
    from liveengine.testing.models import build_stft_decoder

    monkeypatch.syspath_prepend(str(BENCH))
    import encode_vs_fit

    model = build_stft_decoder(tmp_path / "m", output_length=4096)
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "sounds.npz", audio=np.zeros((2, 4096), np.int16), classes=np.array([0, -1], np.int16),
             split=np.array(["heldout", "train"]))
    with pytest.raises(SystemExit) as refused:
        encode_vs_fit.main(["--model", str(model), "--data", str(data), "--rerecorded", "5", "--out", str(tmp_path / "r.json")])
    assert refused.value.code == 2
    assert f"--rerecorded 5: {data} has no labelled training sounds to re-record" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
