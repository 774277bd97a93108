"""`liveengine train FOLDER`: the data set a folder gives, and bad input refused in one sentence before any training.

Needs no PyTorch (the missing-torch test hides it from a child process); the sounds are synthesised
(decaying sines and noise bursts) and written as real WAV and FLAC files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from liveengine.cli import main
from liveengine.errors import LiveEngineError
from liveengine.training.folder_data import MIN_SOUNDS, build_folder_data, validation_split

RATE = 44100


def hit(kind: str, seed: int, seconds: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "kick":
        x = np.sin(2 * np.pi * rng.uniform(50, 90) * t * (1 + np.exp(-t / 0.02))) * np.exp(-t / 0.15)
    else:
        x = rng.standard_normal(len(t)) * np.exp(-t / rng.uniform(0.02, 0.08))
    return (0.8 * x).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate)
    return path


def kit(folder: Path, kicks: int = 3, hats: int = 3) -> Path:
    for i in range(kicks):
        write(folder / "kick" / f"k{i}.wav", hit("kick", i))
    for i in range(hats):
        write(folder / "hat" / f"h{i}.flac", hit("hat", 10 + i))
    return folder


def train(*args: str) -> int:
    return main(["train", *map(str, args)])


def error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liveengine: "), lines
    return lines[0]


def test_subfolders_are_classes_long_files_are_cut_and_every_loss_is_counted(tmp_path):
    folder = kit(tmp_path / "sounds")
    loop = np.zeros(4 * 48000, np.float32)  # three hits in a 4-s recording at 48 kHz at the top level: unlabelled
    for k, start in enumerate((0.2, 1.4, 2.6)):
        loop[int(start * 48000):int(start * 48000) + RATE // 2] += hit("kick" if k % 2 else "hat", 20 + k)
    write(folder / "loop.wav", loop, 48000)  # resampled to 44.1 kHz
    write(folder / "hat" / "silent.wav", np.zeros(RATE // 2, np.float32))
    (folder / "kick" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not audio")
    (folder / "notes.txt").write_text("not audio\n")
    write(folder / "kick" / "long.wav", np.concatenate([hit("kick", 30, 1.5)]))  # 1.5 s: one sound, cut to 1 s

    data = build_folder_data(folder)
    assert data.class_names == ("hat", "kick")
    assert data.audio.shape == (3 + 4 + 3, RATE)
    assert sorted(data.starts[data.files == "loop.wav"].round(1).tolist()) == [0.2, 1.4, 2.6]
    assert (data.classes[data.files == "loop.wav"] == -1).all()
    assert (data.classes[np.char.startswith(data.files.astype(str), "kick/")] == 1).all()
    assert np.allclose(np.abs(data.audio).max(axis=1), 0.9, atol=1e-3)  # peak-normalised one-shots
    assert set(data.skipped) == {"hat/silent.wav", "kick/broken.wav"}
    assert data.skipped["hat/silent.wav"] == "is silent"
    assert "could not be read as audio" in data.skipped["kick/broken.wav"]
    assert data.other_files == 1 and data.cut_long == 1
    # Every class, the unlabelled sounds too, is both trained on and validated with.
    for index in (-1, 0, 1):
        assert (data.train & (data.classes == index)).any() and (data.validation & (data.classes == index)).any()
    summary = "\n".join(data.summary_lines())
    assert "10 audio files in" in summary and "10 sounds from 8 files" in summary and "2 classes (subfolders): hat 3, kick 4, (unlabelled) 3" in summary
    assert "skipped 2 files: hat/silent.wav is silent; kick/broken.wav could not be read as audio" in summary
    assert "left out 1 file that is not audio" in summary and "1 sound longer than 1 s cut to 1 s" in summary

    again = build_folder_data(folder)
    assert (again.split == data.split).all()  # the same folder and seed give the same validation set
    saved = tmp_path / "data.npz"
    data.save(saved)
    loaded = type(data).load(saved)
    assert loaded.summary() == data.summary() and np.abs(loaded.audio - data.audio).max() < 1e-4


def test_a_folder_without_subfolders_has_no_classes_and_one_subfolder_is_no_classification(tmp_path):
    flat = tmp_path / "flat"
    for i in range(5):
        write(flat / f"s{i}.wav", hit("kick" if i % 2 else "hat", i))
    data = build_folder_data(flat)
    assert data.class_names == () and (data.classes == -1).all()
    assert "no classes (no subfolders)" in "\n".join(data.summary_lines())
    single = kit(tmp_path / "single", kicks=4, hats=0)
    assert build_folder_data(single).class_names == ()


def test_validation_split_takes_a_share_of_every_class_with_two_sounds_or_more():
    classes = np.array([0] * 30 + [1] * 2 + [2] + [-1] * 10, np.int16)
    split = validation_split(classes, seed=3)
    assert (split[:30] == "validation").sum() == 3 and (split[30:32] == "validation").sum() == 1
    assert split[32] == "train"  # one sound of a class (here possible only for unlabelled ones) trains
    assert (split[33:] == "validation").sum() == 1
    assert not (validation_split(classes, seed=4) == split).all()


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert train(tmp_path / "empty", "--out", tmp_path / "m") == 1
    assert error(capsys) == (f"liveengine: {tmp_path / 'empty'} is empty; put audio files in it (WAV, FLAC, OGG (Vorbis, Opus), AIFF or "
                             "MP3), one subfolder per class if they have classes.")
    assert not (tmp_path / "m").exists()


def test_missing_folder(tmp_path, capsys):
    assert train(tmp_path / "nothere", "--out", tmp_path / "m") == 1
    assert error(capsys) == (f"liveengine: {tmp_path / 'nothere'} does not exist; liveengine train needs a folder of audio files "
                             "(one subfolder per class if they have classes).")


def test_no_audio(tmp_path, capsys):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("x")
    (folder / "sub" / "b.mid").write_bytes(b"MThd")
    assert train(folder, "--out", tmp_path / "m") == 1
    line = error(capsys)
    assert line.startswith(f"liveengine: {folder} holds no audio files (found 2 other files: ")
    assert "1 .txt" in line and "1 .mid" in line and "liveengine train reads WAV, FLAC" in line


def test_only_unreadable_files(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.wav", "b.flac"):
        (folder / name).write_bytes(b"garbage, not audio")
    with pytest.raises(LiveEngineError) as caught:
        build_folder_data(folder)
    assert caught.value.message.startswith(f"none of the 2 audio files in {folder} gave a sound (a.wav could not be read as audio")
    assert "b.flac could not be read as audio" in caught.value.message
    assert caught.value.fix == "Convert them to WAV or FLAC, or point liveengine train at another folder."


def test_one_class_with_one_sound(tmp_path, capsys):
    folder = kit(tmp_path / "sounds", kicks=3, hats=1)
    with pytest.raises(LiveEngineError) as caught:
        build_folder_data(folder)
    assert caught.value.message == ("class 'hat' (subfolder hat/) has 1 sound; every class needs at least 2, one to train on and one "
                                    "to check the model with.")


def test_one_sound_in_all(tmp_path):
    folder = kit(tmp_path / "sounds", kicks=1, hats=0)
    with pytest.raises(LiveEngineError) as caught:
        build_folder_data(folder)
    assert caught.value.message == (f"{folder} gives 1 sound in all; training needs at least {MIN_SOUNDS} (some to train on, at least "
                                    "one to check it with).")


def test_output_that_cannot_be_written(tmp_path, capsys):
    """Tests run as root, where permission bits do not stop a write: a file used as a folder, and /proc, do."""
    folder = kit(tmp_path / "sounds")
    (tmp_path / "afile").write_text("x")
    assert train(folder, "--out", tmp_path / "afile" / "model") == 1
    assert error(capsys) == (f"liveengine: cannot write --out {tmp_path / 'afile' / 'model'}: afile is a file, not a folder. "
                             "Choose an --out in a folder you can write to.".replace("afile is", f"{tmp_path / 'afile'} is"))
    assert train(folder, "--out", "/proc/liveengine-test/model") == 1
    assert error(capsys).startswith("liveengine: cannot write --out /proc/liveengine-test/model: the folder /proc takes no new files")


def test_output_inside_the_folder_or_taken(tmp_path, capsys):
    folder = kit(tmp_path / "sounds")
    assert train(folder, "--out", folder / "model") == 1
    assert "lies inside the sound folder" in error(capsys)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "decoder.onnx").write_bytes(b"x")
    assert train(folder, "--out", tmp_path / "m") == 1
    assert error(capsys) == (f"liveengine: {tmp_path / 'm'} already exists; liveengine train never replaces a model silently. "
                             "Add --resume to continue its training, --force to start over, or choose another --out.")
    assert train(folder, "--out", tmp_path / "n", "--resume") == 1
    assert error(capsys).startswith(f"liveengine: there is no training to resume in {tmp_path / 'n-training'}")


def test_missing_torch_is_one_sentence(tmp_path):
    """PyTorch hidden from a child process (None in sys.modules makes `import torch` fail, as where it is not installed)."""
    folder = kit(tmp_path / "sounds")
    code = ("import sys; sys.modules['torch'] = None; from liveengine.cli import main; "
            f"sys.exit(main(['train', {str(folder)!r}, '--out', {str(tmp_path / 'm')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.returncode == 1
    *read, said = result.stderr.strip().splitlines()  # the folder is read (its progress) before torch is looked for
    assert all(line.startswith("reading sounds: ") for line in read), read
    assert said == ("liveengine: liveengine train needs PyTorch, which is not installed in this Python. Install the train "
                    "extra: pip install 'liveengine[train]' (torch 2.13.0, the CPU build, and onnx).")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m-training").exists()


def test_the_held_in_folder_has_its_count_and_never_a_held_out_kit(tmp_path):
    """The folder bench/train_own.py trains on, built smaller: Debian's Sonic Pi samples and hydrogen kits where installed."""
    from liveengine.training import data as drum_data

    if not drum_data.SONIC_PI.is_dir() or not drum_data.HYDROGEN.is_dir():
        pytest.skip("needs the Debian packages sonic-pi-samples and hydrogen-drumkits")
    built = drum_data.held_in_folder(tmp_path / "kit", sounds=14, new=5)
    folder = build_folder_data(tmp_path / "kit")
    assert built["sounds"] == len(folder.audio) == 14
    from_loops = np.isin(folder.files, built["new_files"])
    assert from_loops.sum() == 5 and (folder.classes[from_loops] == -1).all()
    held_out = [kit for kit, (licence, _) in drum_data.HYDROGEN_LICENCES.items() if licence not in drum_data.TRAINABLE_LICENCES]
    assert not any(kit in name for name in folder.files.tolist() for kit in held_out)
    assert set(folder.class_names) <= set(drum_data.CLASSES) and folder.class_names


@pytest.mark.parametrize("weight", ["-0.1", "nan", "11", "lots"])
def test_a_smooth_weight_out_of_range_is_refused_in_one_sentence(tmp_path, capsys, weight):
    folder = kit(tmp_path / "sounds")
    with pytest.raises(SystemExit) as refused:
        train(folder, "--out", tmp_path / "m", "--smooth-weight", weight)
    assert refused.value.code == 2  # argparse's usage error, before any work
    said = capsys.readouterr().err
    assert f"{weight!r} is not a loss weight; allowed: a number from 0 to 10" in said
    assert not (tmp_path / "m").exists() and not (tmp_path / "m-training").exists()


@pytest.mark.parametrize("tail", ["-0.3", "0.05", "2.5", "nan", "long"])
def test_a_tail_out_of_range_is_refused_in_one_sentence(tmp_path, capsys, tail):
    folder = kit(tmp_path / "sounds")
    with pytest.raises(SystemExit) as refused:
        train(folder, "--out", tmp_path / "m", "--tail", tail)
    assert refused.value.code == 2  # argparse's usage error, before any work
    assert f"{tail!r} is not a tail length; allowed: 0 (none) or seconds above 0.05, at most 2" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "m-training").exists()


@pytest.mark.parametrize("contents", ["one_wav", "truncated_wav"])
def test_an_unusable_folder_is_said_before_missing_torch(tmp_path, contents):
    """A user learns the folder cannot train before being told to install PyTorch (hidden here as above)."""
    folder = tmp_path / "sounds"
    wav = write(folder / "k.wav", hit("kick", 0))
    if contents == "truncated_wav":
        wav.write_bytes(wav.read_bytes()[:30])  # cut inside the header
    code = ("import sys; sys.modules['torch'] = None; from liveengine.cli import main; "
            f"sys.exit(main(['train', {str(folder)!r}, '--out', {str(tmp_path / 'm')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.returncode == 1
    said = [line for line in result.stderr.splitlines() if line.startswith("liveengine: ")]
    expected = (f"{folder} gives 1 sound in all; training needs at least {MIN_SOUNDS}" if contents == "one_wav"
                else f"none of the 1 audio file in {folder} gave a sound (k.wav ")
    assert len(said) == 1 and expected in said[0] and "PyTorch" not in result.stderr, result.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "m-training").exists()
