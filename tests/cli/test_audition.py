"""`liveengine audition PATCH ROW COL` with no audio device: the pad goes to a WAV file, never over an existing one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from test_cli_errors import RENDER, liveengine, one_error_line

# No JACK server under this name, and none may be started: PortAudio then sees no device here.
NO_DEVICE = {**os.environ, "JACK_DEFAULT_SERVER": "liveengine-no-such-server", "JACK_NO_START_SERVER": "1"}


def audition(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", "audition", *args], cwd=cwd, env=NO_DEVICE, capture_output=True,
                          text=True, timeout=RENDER)


def test_with_no_device_the_pad_is_written_to_a_file_and_never_over_one(short_patch, tmp_path):
    patch = str(short_patch())
    first = audition(patch, "3", "4", cwd=tmp_path)
    if "playing pad" in first.stdout:
        pytest.skip("this machine has an audio output device, so audition plays the pad instead of writing it")
    assert first.returncode == 0, first.stderr
    out = tmp_path / "pad_r3_c4.wav"
    assert str(out) in first.stdout  # says where
    # The file is the pad render-grid writes for (3, 4): the same sound, at its own level.
    grid = liveengine("render-grid", patch, "--out", "grid", cwd=tmp_path, timeout=RENDER)
    assert grid.returncode == 0, grid.stderr
    audio, rate = soundfile.read(out, dtype="float32")
    expected, _ = soundfile.read(tmp_path / "grid" / "pad_r3_c4.wav", dtype="float32")
    assert rate == 48000 and np.max(np.abs(audio)) > 0.1
    grid_gain = 10 ** (json.loads((tmp_path / "grid" / "grid.json").read_text())["gain_db"] / 20)  # the whole grid's, not this pad's
    np.testing.assert_allclose(audio * grid_gain, expected, atol=2.0 ** -21)
    other, _ = soundfile.read(tmp_path / "grid" / "pad_r0_c0.wav", dtype="float32")
    assert len(other) != len(audio) or not np.array_equal(other, audio)

    before = out.read_bytes()
    again = audition(patch, "3", "4", cwd=tmp_path)
    assert again.returncode == 1
    line = one_error_line(again)
    assert "pad_r3_c4.wav already exists" in line and "--out" in line and "--force" in line
    assert out.read_bytes() == before


def test_out_writes_the_pad_there(short_patch, tmp_path):
    result = audition(str(short_patch()), "7", "0", "--out", "low-left.wav", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "low-left.wav" in result.stdout and "playing" not in result.stdout
    audio, rate = soundfile.read(tmp_path / "low-left.wav", dtype="float32")
    assert rate == 48000 and np.max(np.abs(audio)) > 0.1
    assert not (tmp_path / "pad_r7_c0.wav").exists()


@pytest.mark.parametrize("args, expected", [(("8", "0"), "row 8 is outside patch short's 8x8 grid; allowed: 0 to 7"),
                                            (("0", "9"), "column 9 is outside patch short's 8x8 grid; allowed: 0 to 7")])
def test_a_pad_outside_the_grid_is_one_clear_error(short_patch, tmp_path, args, expected):
    result = audition(str(short_patch()), *args, cwd=tmp_path)
    assert result.returncode == 1
    assert expected in one_error_line(result)
    assert list(tmp_path.glob("*.wav")) == []


def test_out_creates_missing_folders(short_patch, tmp_path):
    result = audition(str(short_patch()), "7", "7", "--out", "newsub/deeper/a.wav", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(tmp_path / "newsub" / "deeper" / "a.wav", dtype="float32")
    assert rate == 48000 and np.max(np.abs(audio)) > 0.1


def test_out_that_cannot_be_written_is_refused_before_any_work(short_patch, tmp_path):
    (tmp_path / "afile").write_text("not a folder\n")
    result = audition(str(short_patch()), "7", "7", "--out", "afile/sub/a.wav", cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result) == ("liveengine: cannot write --out afile/sub/a.wav: afile is a file, not a folder. "
                                      "Choose a --out file in a folder you can write to.")
    assert (tmp_path / "afile").read_text() == "not a folder\n"
    # Before the model loads: a model that cannot load is not what a bad --out reports.
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "decoder.onnx").write_text("not a model\n")
    (tmp_path / "junk.toml").write_text('[model]\ndecoder = "junk"\n')
    result = audition("junk.toml", "0", "0", "--out", "afile/a.wav", cwd=tmp_path)
    assert result.returncode == 1 and "cannot write --out afile/a.wav: afile is a file" in one_error_line(result)
