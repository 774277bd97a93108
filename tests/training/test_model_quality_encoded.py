"""bench/model_quality.py --encoded-only: each model's held-out distances at its encoder's points and its classifier
there, in minutes (what comparing an encoder's descent or a class head needs), on real shipped models and a small
data set built here."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import model_quality as mq  # noqa: E402

SR = 44100


def _data(folder: Path) -> None:
    """Six decaying sounds (two training, four held out, one of them unlabelled), each peaking at full scale (so the
    engine's encode, which peak-normalises, sees what the bench's encoder run sees), at 1 s and at 1.3 s."""
    rng = np.random.default_rng(5)
    t = np.arange(int(1.3 * SR)) / SR
    rows = []
    for i in range(6):
        tone = np.sin(2 * np.pi * (60 + 150 * i) * t) * (0.3 + 0.1 * i)
        sound = (tone + rng.standard_normal(len(t)) * 0.05 * i) * np.exp(-t * (4 + 6 * i))
        rows.append(np.round(sound / np.abs(sound).max() * 32767).astype(np.int16))
    audio = np.stack(rows)
    classes = np.array([0, 1, 0, 1, 5, -1], np.int16)
    split = np.array(["train", "train", "heldout", "heldout", "heldout", "heldout"])
    files = np.array([f"kit/{i}.wav" for i in range(6)])
    folder.mkdir(parents=True)
    np.savez(folder / "sounds.npz", audio=audio[:, :SR], classes=classes, split=split, files=files)
    (folder / "1.3s").mkdir()
    np.savez(folder / "1.3s" / "sounds.npz", audio=audio, classes=classes, split=split, files=files)


def test_encoded_only_gives_each_models_held_out_distances_and_classifier_as_the_engine_encodes(tmp_path):
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    data, out = tmp_path / "data", tmp_path / "encoded.json"
    _data(data)
    models = [REPO / "models_onnx" / "drums5", REPO / "models_onnx" / "drums19"]  # a 1 s window and a 1.3 s one that descends
    mq.main(["--encoded-only", "--model", str(models[0]), "--also", str(models[1]), "--data", str(data), "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["encoded_only"] and results["held_out_sounds"] == 4
    assert list(results["models"]) == ["models_onnx/drums5", "models_onnx/drums19"]

    sounds = np.load(data / "sounds.npz")
    audio = sounds["audio"].astype(np.float32) / 32767.0
    held = np.flatnonzero(sounds["split"] == "heldout")
    truth = sounds["classes"][held][sounds["classes"][held] >= 0]
    mrstft = []
    for model, figures in zip(models, results["models"].values()):
        decoder = OnnxDecoder(model, threads=1, normalize="peak", max_batch=16)
        length = decoder.info.output_length
        x = (audio if length == SR else mq.window_data(data, length, sounds["files"]))[held]
        z = decoder.encode(x)  # the engine's way in: each sound cropped to the window and peak-normalised
        recon = np.zeros_like(x)
        decoder.decode_into(z, recon)
        if length != SR:
            recon = mq.first_second(recon, x)
        want = [mq.distances(audio[idx], recon[i]) for i, idx in enumerate(held)]
        assert figures["model_hash"] == decoder.identity
        assert figures["ours"]["mrstft"] == pytest.approx(np.mean([w["mrstft"] for w in want]), rel=1e-5)
        assert figures["ours"]["mcd"] == pytest.approx(np.mean([w["mcd"] for w in want]), rel=1e-5)
        assert ("ours_at_1.3s" in figures) == (length <= int(1.3 * SR))
        heard = decoder.classify(z)[sounds["classes"][held] >= 0].argmax(1)
        classifier = figures["classifier"]
        assert classifier["labelled_held_out"] == 3 and np.sum(classifier["confusion_rows_truth_cols_predicted"]) == 3
        assert classifier["accuracy"] == pytest.approx(float(np.mean(heard == truth)))
        mrstft.append(figures["ours"]["mrstft"])
    assert mrstft[0] != mrstft[1]  # each model measured by its own encoder and decoder


def test_encoded_only_refuses_a_folder_that_is_not_a_model_in_one_sentence(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mq.main(["--encoded-only", "--also", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"{tmp_path}: not a model folder (no decoder.onnx in it); give a folder as models_onnx/drums19")
    assert not (tmp_path / "x.json").exists()


def test_encoded_only_measures_the_model_alone_when_no_other_is_named(tmp_path):
    """Unlike the full run, which measures every shipped drum model beside --model by default (some need data at other
    windows), --encoded-only compares only what it is given."""
    data, out = tmp_path / "data", tmp_path / "encoded.json"
    _data(data)
    mq.main(["--encoded-only", "--model", str(REPO / "models_onnx" / "drums5"), "--data", str(data), "--out", str(out)])
    assert list(json.loads(out.read_text())["models"]) == ["models_onnx/drums5"]


def test_a_missing_data_set_is_said_in_one_sentence_before_any_work(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        mq.main(["--encoded-only", "--model", str(REPO / "models_onnx" / "drums5"), "--data", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert str(exit_info.value) == f"--data {tmp_path}: no sounds.npz there; build the data set with python -m liveengine.training.data --out {tmp_path}"
    assert not (tmp_path / "x.json").exists()
