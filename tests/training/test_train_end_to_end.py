"""`liveengine train` end to end on a tiny budget: a folder of nine synthesised hits in three classes, a few seconds
of fine-tuning from the shipped checkpoint, the export, `liveengine check` on the patch it writes, and a resumed run.

Needs the `train` extra (PyTorch, onnx), which `make test` installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from liveengine.cli import main  # noqa: E402
from tests.training.test_train_folder import hit, write  # noqa: E402


def test_train_a_tiny_folder_then_check_and_resume(tmp_path, capsys):
    from liveengine.decoders.registry import load_decoder

    folder = tmp_path / "my sounds"
    for cls, kind in (("kick", "kick"), ("hat", "hat"), ("boom", "kick")):
        for i in range(3):
            audio = hit(kind, 100 * len(cls) + i)
            write(folder / cls / f"{cls}{i}.wav", audio * (0.3 if cls == "boom" else 1.0))
    out = tmp_path / "mine"
    assert main(["train", str(folder), "--out", str(out), "--minutes", "0.04"]) == 0
    said = capsys.readouterr().out
    assert "9 audio files in" in said and "3 classes (subfolders): boom 3, hat 3, kick 3" in said
    assert "fine-tuned from the shipped drum model" in said
    for name in ("decoder.onnx", "encoder.onnx", "classifier.onnx", "README.md", "grid.png", "dataset.csv", "training.json"):
        assert (out / name).is_file(), name
    patch = tmp_path / "mine.toml"
    assert 'decoder = "mine"' in patch.read_text()

    figures = json.loads((out / "training.json").read_text())
    history = figures["training"]["history"]
    assert history[0]["step"] == 0 and figures["training"]["step"] >= 1  # the shipped model's check, then at least one step
    assert figures["training"]["best"]["mrstft"] == min(h["mrstft"] for h in history)
    assert figures["training"]["runs"][0]["smooth_weight"] == 0.3  # fine-tuning keeps the shipped model's line-evenness term
    smooth = figures["smoothness"]  # the bench's figure on the user's sounds: the largest step over the mean, at least 1
    assert smooth["start"]["lines"] == smooth["trained"]["lines"] == 30 and 1.0 <= smooth["trained"]["median"] <= smooth["trained"]["worst"]
    assert figures["data"]["validation"] == 3 and figures["plane"] == "class centroids"
    card = (out / "README.md").read_text()
    assert "the shipped drum model" in card and "distinct files" in card and "boom" in card and "Line evenness" in card and "Smoothness between your sounds" in card

    # The export carries the default drum model's decay tail: 1.3 s sounds whose fit compares the first second, and the
    # card gives the grid's endings with it and without it (the same decoder's 1 s output).
    assert figures["tail"] == {"seconds": 0.3, "window_s": 1.3, "seam_s": 0.935, "min_decay_db_s": 80.0}
    ends = figures["grid"]["endings"]
    for key in ("exported", "without_tail"):
        assert 0 <= ends[key]["noise_bed_pads"] <= 64 and 0 <= ends[key]["cut_pads"] <= 64
        assert len(ends[key]["noise_bed_or_cut"]) <= ends[key]["noise_bed_pads"] + ends[key]["cut_pads"]
    assert "decay tail" in card and "without it (1 s)" in card and "the pads' endings:" in said

    decoder = load_decoder(str(out))  # the contract's checks, a sound at the latent mean among them
    info = decoder.info
    assert info.output_length == 57330 and info.fit_length == 44100
    assert info.classes == ("boom", "hat", "kick") and info.name == "mine"
    shipped = load_decoder("drums").info
    assert not np.allclose(info.latent_mean, shipped.latent_mean)  # the user's plane, not the drum model's
    trained = np.load(tmp_path / "mine-training" / "data.npz")
    assert len(trained["audio"]) == 9

    assert main(["check", str(patch)]) == 0  # every pad renders a sound; the map names the user's classes
    checked = capsys.readouterr().out
    assert checked.rstrip().endswith("ok") and "boom" in checked

    # --resume goes on from the checkpoint: the training loop alone here (the export above is what a resumed run ends with too).
    from liveengine.training import own
    from liveengine.training.folder_data import FolderData

    work = own.WorkFiles(tmp_path / "mine-training")
    data = FolderData.load(work.data)
    model, _ = own.new_model(data.class_names, None)
    state = own.train(model, data, work, own.Settings(minutes=0.01), resume=True, say=lambda line: None)
    assert state["step"] > figures["training"]["step"] and len(state["runs"]) == 2
    assert state["history"][: len(history)] == history

    # --tail 0 exports the same weights as a 1 s model: its own grid check then counts what the tailed export's
    # card gave as "without the tail" (there from PyTorch, here from the exported ONNX decoder), where it chose the same zoom.
    plain = own.export_model(model, data, work, tmp_path / "plain", tmp_path / "plain.toml", state, tail_seconds=0)
    assert "tail" not in plain and set(plain["grid"]["endings"]) == {"exported"}
    assert load_decoder(str(tmp_path / "plain")).info.output_length == 44100
    import dataclasses

    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.export.cli import patch_grid
    from liveengine.patch import load_patch

    # The tailed export's pads at its zoom, through the 1 s ONNX decoder: the card's "without the tail" (from PyTorch) again.
    played = load_patch(patch)
    _, cols, points = patch_grid(dataclasses.replace(played, grid={**played.grid, "zoom": figures["grid"]["zoom"]}), load_decoder(str(out)))
    one_second = OnnxDecoder(tmp_path / "plain", threads=1, normalize="none")
    pads = np.zeros((len(points), one_second.info.output_length), np.float32)
    one_second.decode_into(np.asarray(points, np.float32), pads)
    again = own.ending_figures(pads, one_second.info.sample_rate, cols)
    theirs = ends["without_tail"]
    assert (again["noise_bed_pads"], again["cut_pads"], again["noise_bed_or_cut"]) == (theirs["noise_bed_pads"], theirs["cut_pads"], theirs["noise_bed_or_cut"])
    assert again["tail_db_worst"] == pytest.approx(theirs["tail_db_worst"], abs=0.5)
    assert "decay tail" not in (tmp_path / "plain" / "README.md").read_text()

    # A re-export killed halfway (SIGKILL, a real child process) leaves the model that played before, byte for byte:
    # the new folder is written beside it and swapped in only when complete.
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    script = (f"from pathlib import Path\nfrom liveengine.training import own\nfrom liveengine.training.folder_data import FolderData\n"
              f"work = own.WorkFiles(Path({str(work.folder)!r}))\ndata = FolderData.load(work.data)\n"
              f"model, _ = own.new_model(data.class_names, None)\nstate = own.load(work.checkpoint, model, None)\n"
              f"own.export_model(model, data, work, Path({str(out)!r}), Path({str(patch)!r}), state)\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    half = tmp_path / ".mine.export" / "decoder.onnx"
    while not half.exists():
        assert child.poll() is None, "the export ended before it wrote its decoder"
        time.sleep(0.01)
    child.kill()
    child.wait()
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert main(["check", str(patch)]) == 0
    capsys.readouterr()


def test_a_folder_without_classes_gives_a_model_without_a_classifier(tmp_path):
    """No subfolders, no classes: the export writes no classifier.onnx and no class names, and the pad plane runs
    through the encodings (the grid map then shows each pad's brightness)."""
    from liveengine.decoders.registry import load_decoder
    from liveengine.resources import checkpoints_dir
    from liveengine.training import own
    from liveengine.training.export import export, latent_statistics

    model, start = own.new_model((), checkpoints_dir() / own.SHIPPED)
    assert start["fresh_parameters"] == ["classifier.net.0.bias", "classifier.net.0.weight", "classifier.net.2.bias", "classifier.net.2.weight"]
    sounds = np.stack([np.pad(hit("kick" if i % 2 else "hat", i), (0, 44100 - 22050)) for i in range(4)])
    stats = latent_statistics(model.eval(), sounds, np.full(4, -1, np.int16))
    assert stats["plane"] == "encodings"
    export(model, tmp_path / "flat", stats, "no classes", name="flat", classifier=False)
    assert not (tmp_path / "flat" / "classifier.onnx").exists()
    decoder = load_decoder(str(tmp_path / "flat"))
    assert decoder.classifier is None and decoder.info.classes == () and decoder.encoder is not None


def test_a_swap_killed_halfway_is_mended_by_the_next_export(tmp_path):
    """Staging: the next export puts back a model folder left aside by a kill between the swap's two renames, drops one
    left after it, and clears a half-written stage; a swap replaces the folder whole."""
    from liveengine.training.own import Staging

    out = tmp_path / "mine"
    out.mkdir()
    (out / "decoder.onnx").write_text("old")
    staging = Staging(out)
    staging.begin()
    (staging.stage / "decoder.onnx").write_text("half")
    staging.patch.write_text("[model]")
    out.rename(staging.previous)  # killed between the renames: no model folder under its name
    Staging(out).begin()
    assert (out / "decoder.onnx").read_text() == "old" and not staging.previous.exists()
    assert staging.stage.is_dir() and not any(staging.stage.iterdir()) and not staging.patch.exists()

    (staging.stage / "decoder.onnx").write_text("new")
    (staging.stage / "grid.png").write_text("new")
    staging.swap_in()
    assert sorted(f.name for f in out.iterdir()) == ["decoder.onnx", "grid.png"] and (out / "decoder.onnx").read_text() == "new"
    assert not staging.stage.exists() and not staging.previous.exists()

    staging.previous.mkdir()  # killed after the swap, before the old folder was removed
    (staging.previous / "decoder.onnx").write_text("old")
    Staging(out).begin()
    assert not staging.previous.exists() and (out / "decoder.onnx").read_text() == "new"

    # An --out that is a symbolic link: staged and swapped where it points, the link left as it was.
    elsewhere = tmp_path / "disk" / "models"
    elsewhere.mkdir(parents=True)
    link = tmp_path / "linked"
    link.symlink_to(elsewhere)
    linked = Staging(link)
    linked.begin()
    assert linked.stage.parent == linked.patch.parent == elsewhere.parent
    (linked.stage / "decoder.onnx").write_text("new")
    linked.swap_in()
    assert link.is_symlink() and (link / "decoder.onnx").read_text() == "new" and (elsewhere / "decoder.onnx").exists()


def test_ending_figures_name_the_pads_on_a_bed_or_cut():
    """Three pads of white noise: steady (a bed, cut), decaying at 30 dB/s (a bed, cut) and at 250 dB/s (neither)."""
    from liveengine.training.own import ending_figures

    t = np.arange(44100) / 44100
    rng = np.random.default_rng(0)
    pads = np.stack([rng.standard_normal(44100) * 10 ** (-rate * t / 20) for rate in (0.0, 30.0, 250.0)]).astype(np.float32)
    figures = ending_figures(pads, 44100, cols=3)
    assert (figures["noise_bed_pads"], figures["cut_pads"]) == (2, 2)
    assert figures["noise_bed_or_cut"] == ["row 0 col 0", "row 0 col 1"]
    assert -1.0 < figures["tail_db_worst"] < 1.0  # the steady pad's ending is as loud as its peak


def test_the_tail_option_reaches_the_export(tmp_path, monkeypatch, capsys):
    """`--tail 0.5` is what the export is asked for (the training itself stubbed: this is about the command line)."""
    from liveengine.errors import LiveEngineError
    from liveengine.training import own
    from tests.training.test_train_folder import kit

    asked = {}

    def export_model(*args, **kwargs):
        asked.update(kwargs)
        raise LiveEngineError("stopped by the test after the export was asked for", "")

    monkeypatch.setattr(own, "train", lambda *a, **k: {"stopped": "the test", "step": 0, "train_seconds": 0.0, "best": {"step": 0}})
    monkeypatch.setattr(own, "export_model", export_model)
    assert main(["train", str(kit(tmp_path / "sounds")), "--out", str(tmp_path / "m"), "--tail", "0.5"]) != 0
    assert asked["tail_seconds"] == 0.5
    assert "stopped by the test" in capsys.readouterr().err
