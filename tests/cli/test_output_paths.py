"""Every path a command writes to is checked before work starts: one sentence naming the path and the fix,
no traceback, nothing written. Tests run as root in CI, where chmod cannot make a folder read-only, so
they use places no one can write: a file used as a folder, and /proc (which takes no new files)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from tests.cli.test_cli_errors import RENDER, liveengine, one_error_line

SCORE = "0 /pad 0 0\n0.1 /pad 1 1\n"


@pytest.fixture
def place(tmp_path, short_patch):
    short_patch()
    (tmp_path / "song.score").write_text(SCORE)
    (tmp_path / "afile").write_text("not a folder\n")
    sound = (0.5 * np.sin(np.arange(12000) * 0.05)).astype(np.float32)
    (tmp_path / "library").mkdir()
    for name in ("query.wav", "library/a.wav"):
        sf.write(str(tmp_path / name), sound, 48000)
    return tmp_path


def play(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    # No JACK server to start and none running: should a check let play through, it stops at "no device".
    return subprocess.run([sys.executable, "-m", "liveengine", "play", "short.toml", "--no-osc", "--no-midi", *args], cwd=cwd,
                          env={**os.environ, "JACK_DEFAULT_SERVER": "liveengine-no-such-server", "JACK_NO_START_SERVER": "1", **env},
                          capture_output=True, text=True, timeout=RENDER)


@pytest.mark.parametrize(
    "args, shown, fix",
    [
        (["render", "short.toml", "--score", "song.score", "--out", "afile/x.wav"], "--out afile/x.wav", "Choose a --out file in a folder you can write to."),
        (["render-grid", "short.toml", "--out", "afile/sub"], "--out afile/sub", "Choose an --out folder you can write to."),
        (["similar", "query.wav", "--library", "library", "--model", "builtin:testsynth", "--cache", "afile/sub"], "--cache afile/sub",
         "Choose a --cache folder you can write to."),
    ],
)
def test_a_file_used_as_a_folder_is_refused_alike(place, args, shown, fix):
    result = liveengine(*args, cwd=place, timeout=RENDER)
    assert result.returncode == 1
    assert one_error_line(result) == f"liveengine: cannot write {shown}: afile is a file, not a folder. {fix}"
    assert (place / "afile").read_text() == "not a folder\n"


@pytest.mark.parametrize(
    "args, shown",
    [
        (["render", "short.toml", "--score", "song.score", "--out", "/proc/liveengine-test/x.wav"], "--out /proc/liveengine-test/x.wav"),
        (["render-grid", "short.toml", "--out", "/proc/liveengine-test/grid"], "--out /proc/liveengine-test/grid"),  # was an OSError traceback
    ],
)
def test_a_place_that_takes_no_files_is_refused_with_one_sentence(place, args, shown):
    result = liveengine(*args, cwd=place, timeout=RENDER)
    assert result.returncode == 1
    assert one_error_line(result).startswith(f"liveengine: cannot write {shown}: the folder /proc takes no new files (")


def test_render_and_render_grid_both_create_missing_folders(place):
    result = liveengine("render", "short.toml", "--score", "song.score", "--out", "takes/one/x.wav", cwd=place, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert sf.info(str(place / "takes/one/x.wav")).frames > 0
    result = liveengine("render-grid", "short.toml", "--out", "grids/one/sub", cwd=place, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert (place / "grids/one/sub/grid.json").is_file()


def test_play_refuses_a_record_file_that_is_not_wav(place):
    result = play("--record", "out.txt", cwd=place)
    assert result.returncode == 1
    assert one_error_line(result) == "liveengine: --record out.txt must end in .wav (liveengine writes 32-bit float WAV)."
    assert not (place / "out.txt").exists()


@pytest.mark.parametrize(
    "args, env, shown, fix",
    [
        ([], {"LIVEENGINE_STATE": "afile/state"}, "the state folder afile/state",
         "Set LIVEENGINE_STATE to a folder you can write to, or add --no-autosave."),
        (["--no-autosave"], {"LIVEENGINE_LIBRARY": "afile/library"}, "the capture folder afile/library",
         "Set LIVEENGINE_LIBRARY to a folder you can write to."),
        (["--no-autosave", "--record", "afile/x.wav"], {}, "--record afile/x.wav", "Choose a --record file in a folder you can write to."),
    ],
)
def test_play_checks_the_places_it_will_write_before_anything_starts(place, args, env, shown, fix):
    result = play(*args, cwd=place, **env)
    assert result.returncode == 1
    assert one_error_line(result) == f"liveengine: cannot write {shown}: afile is a file, not a folder. {fix}"
    assert result.stdout == ""  # refused before the engine or any device
