"""`liveengine play --model DIR`: the patch's settings with another model folder; a wrong folder is one sentence."""

from __future__ import annotations

from liveengine.cli import main
from liveengine.cli_support import load_patch_arg, patch_with_model
from liveengine.resources import models_dir


def test_the_patch_plays_the_model_folder_without_its_choke_groups(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").symlink_to(models_dir() / "drums", target_is_directory=True)
    default = load_patch_arg(None)
    assert default.choke  # the default patch chokes its open and closed hats
    patch = patch_with_model(default, "mine")
    assert patch.model == str((tmp_path / "mine").resolve()) and patch.choke == {}
    assert patch.grid == default.grid and patch.audio == default.audio and patch.demo_score == default.demo_score
    assert patch_with_model(default, "builtin:testsynth").model == "builtin:testsynth"


def test_a_folder_that_is_not_there_or_not_a_model_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["play", "--model", "nothere", "--no-osc", "--no-midi", "--seconds", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"liveengine: model 'nothere' not found (looked in {tmp_path / 'nothere'}, ")
    assert err.endswith("allowed: builtin:testsynth, drums, drums2, drums3, drums4, drums5, drums6, drums7, drums8, drums9, drums10, drums11, drums12, drums13, drums14, drums15, drums16, drums19, or a model folder's path.")
    (tmp_path / "empty").mkdir()
    assert main(["play", "--model", "empty", "--no-osc", "--no-midi", "--seconds", "1"]) == 1
    assert capsys.readouterr().err.strip() == (f"liveengine: model empty: decoder.onnx is missing from {(tmp_path / 'empty').resolve()}; a model "
                                               "folder holds decoder.onnx (and optionally encoder.onnx, classifier.onnx).")
