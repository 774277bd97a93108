"""bench/corners_by_ear.py: the corners check heard by several listeners on a checkpoint's renders. A tiny trained
model (test_reencode's), two held-out kits, and listeners rigged by the test to hear one class whatever they are played,
so the rule's verdict is known beforehand; the held-out distance against train.losses' own figure.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import corners_by_ear  # noqa: E402
from test_reencode import _trained  # noqa: E402
from test_train_smoke import _sounds  # noqa: E402


def rigged_listener(path: Path, model, hears: str) -> Path:
    """A listener whose last layer ignores what it is played and names `hears`."""
    from liveengine.training.class_head import Listener

    listener = Listener(len(model.cfg.classes), model.cfg.n_mels)
    last = listener.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[model.cfg.classes.index(hears)] = 10.0
    torch.save({"listener": listener.state_dict(), "settings": {}}, path)
    return path


def held_out_kits(data: Path, names: list[str]) -> None:
    """Rewrite the data set's held-out part as two kits (a, b) of kick, snare, closed hat, a ride and a crash each,
    the crash named so in manifest.csv, and one unlabelled sound."""
    sounds = dict(np.load(data / "sounds.npz"))
    train = sounds["split"] == "train"
    extra, _ = _sounds(11, 7)
    kit = ["kick", "snare", "hat_closed", "cymbal", "cymbal"]
    audio = np.concatenate([sounds["audio"][train], (extra * 32767).astype(np.int16)])
    classes = np.concatenate([sounds["classes"][train], [names.index(c) for c in kit * 2] + [-1]]).astype(np.int16)
    files = np.concatenate([sounds["files"][train], [f"held/{k}/{i}.wav" for k in "ab" for i in range(5)] + ["held/c/0.wav"]])
    split = np.array(["train"] * int(train.sum()) + ["heldout"] * 11)
    np.savez(data / "sounds.npz", audio=audio, classes=classes, split=split, files=files,
             source=np.array(["generated"] * len(audio)), kit=np.array(["generated"] * len(audio)))
    (data / "manifest.csv").write_text("file,source,licence,class,split,kit,instrument\n" + "".join(
        f"held/{k}/{i}.wav,generated,CC0,{kit[i]},heldout,{k},{'Crash 16' if i == 4 else 'Ride' if i == 3 else ''}\n"
        for k in "ab" for i in range(5)))


def test_each_ear_judges_every_grid_by_the_checks_rule_and_the_distance_is_the_training_losss(tmp_path, capsys):
    from liveengine.training import train
    from liveengine.training.model import DrumVAE, MultiResolutionSTFTLoss

    data, checkpoint = _trained(tmp_path)
    model = DrumVAE(train.config_from(checkpoint))
    train.load(checkpoint, model, None)
    model.eval()
    names = list(model.cfg.classes)
    held_out_kits(data, names)
    toms = rigged_listener(tmp_path / "toms_listener.pt", model, "tom")
    kicks = rigged_listener(tmp_path / "kicks_listener.pt", model, "kick")
    out = tmp_path / "ears.json"
    capsys.readouterr()  # the tiny model's training lines
    assert corners_by_ear.main(["--checkpoint", str(checkpoint), "--around", str(tmp_path / "drums"), "--listeners", str(toms), str(kicks),
                                "--data", str(data), "--quads", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out)["corners"] == result["corners"]
    assert result["listeners"] == ["toms", "kicks"] and result["kits"] == 2 and set(result["per_kit"]) == {"a", "b"}
    assert result["corners"]["toms"] == {"passing": 0, "corners_kept": 0, "tom_pads": 128, "pads": 128}
    assert result["corners"]["kicks"] == {"passing": 0, "corners_kept": 2, "tom_pads": 0, "pads": 128}  # the kick corner, one class on all
    assert result["drawn"]["kicks"] == {"passing": 0, "corners_kept": 4, "tom_pads": 0, "pads": 256}
    grid = result["per_kit"]["a"]["corners"]["kicks"]
    assert grid["corners"] == ["kick"] * 4 and grid["largest_class_pads"] == 64 and not grid["passes"]

    assert result["per_kit"]["a"]["files"] == ["0.wav", "1.wav", "2.wav", "4.wav"]  # the crash, not the first cymbal (a ride)
    sounds = np.load(data / "sounds.npz")
    audio = torch.from_numpy(sounds["audio"].astype(np.float32) / 32767.0)
    held = np.flatnonzero(sounds["split"] == "heldout")
    with torch.no_grad():
        _, parts = train.losses(model, MultiResolutionSTFTLoss(), audio[held], None, 0.0, sample=False)
    assert result["heldout_sounds"] == 11 and result["heldout_mrstft"] == pytest.approx(parts["sc"] + parts["logmag"], abs=1e-4)


def test_the_crash_is_the_cymbal_corner_and_drawn_quads_hold_one_of_each_class_of_their_kit():
    names = ["kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc"]
    classes = np.array([names.index(c) for c in ["kick", "snare", "hat_closed", "cymbal", "cymbal", "kick", "snare"]])
    rows = list(range(7))
    quads = corners_by_ear.drawn_quads(rows, classes, names, 20, np.random.default_rng(0))
    assert len(quads) == 20 and all([names[classes[r]] for r in q] == ["kick", "snare", "hat_closed", "cymbal"] for q in quads)
    assert {q[0] for q in quads} == {0, 5} and {q[3] for q in quads} == {3, 4}  # every sound of a class can be drawn


@pytest.mark.parametrize("wrong, message", [(["--quads", "-1"], "--quads -1: allowed: 0 or more"),
                                            (["--listeners", "nowhere_listener.pt"], "nowhere_listener.pt: no such file"),
                                            (["--around", "."], "--around .: no decoder.onnx there"),
                                            ([], "drums_listener.pt: not a listener for this model's 8 classes")])
def test_wrong_arguments_are_refused_in_one_sentence(tmp_path, wrong, message, capsys):
    data, checkpoint = _trained(tmp_path)
    listener = tmp_path / "drums_listener.pt"
    listener.write_bytes(b"")
    args = ["--checkpoint", str(checkpoint), "--around", str(tmp_path / "drums"), "--listeners", str(listener), "--data", str(data)]
    given = dict(zip(args[::2], args[1::2])) | dict(zip(wrong[::2], wrong[1::2]))
    with pytest.raises(SystemExit):
        corners_by_ear.main([x for kv in given.items() for x in kv])
    assert message in capsys.readouterr().err
