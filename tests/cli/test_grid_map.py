"""The pad map `liveengine check` and `liveengine play` print: the grid's rows top to bottom, each cell a class the model knows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from test_audition import NO_DEVICE
from test_cli_errors import RENDER, liveengine

DRUM_CLASSES = {"kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc"}  # models_onnx/drums/README.md


def pad_map(stdout: str) -> tuple[list[int], list[list[str]], dict[str, str]]:
    """(row numbers in printed order, cell texts per row, legend code -> class) read off a command's plain-text output."""
    rows = [line.split() for line in stdout.splitlines() if re.match(r"row \d+ ", line)]
    legend_line = next(line for line in stdout.splitlines() if line.startswith("classes "))
    legend = dict(item.split("=") for item in legend_line.removeprefix("classes").split(";")[0].replace(",", " ").split())
    return [int(r[1]) for r in rows], [r[2:] for r in rows], legend


def test_check_prints_the_default_grid_as_a_map_of_drum_classes(tmp_path):
    result = liveengine("check", "default", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    order, cells, legend = pad_map(result.stdout)
    assert order == [7, 6, 5, 4, 3, 2, 1, 0]  # row 0 at the bottom, as on a controller
    assert set(legend.values()) == DRUM_CLASSES
    assert all(len(row) == 8 and set(row) <= set(legend) for row in cells)
    seen = {legend[c] for row in cells for c in row}
    assert len(seen) >= 4  # the plane spans several kinds of drum, not one class everywhere
    assert "mapping plane, model drums" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes where the output is not a terminal


def test_check_without_a_classifier_shows_brightness(short_patch, tmp_path):
    result = liveengine("check", str(short_patch()), cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"row \d+ ", line)]
    assert [int(r[1]) for r in rows] == list(reversed(range(8)))
    assert all(re.fullmatch(r"b\d", cell) for row in rows for cell in row[2:])
    assert "model testsynth" in result.stdout and "no classifier" in result.stdout


def test_play_prints_the_map_before_it_plays(tmp_path):
    # With no audio device play prints the map, then renders its demo to a file.
    result = subprocess.run([sys.executable, "-m", "liveengine", "play", "default", "--no-osc", "--no-midi"], cwd=tmp_path, env=NO_DEVICE,
                            capture_output=True, text=True, timeout=RENDER)
    if "playing on" in result.stdout:
        pytest.skip("this machine has an audio output device, so play plays instead of rendering its demo")
    assert result.returncode == 0, result.stderr
    order, cells, legend = pad_map(result.stdout)
    assert order == [7, 6, 5, 4, 3, 2, 1, 0] and all(set(row) <= set(legend) for row in cells)
    assert result.stdout.index("row 0 ") < result.stdout.index("liveengine-demo.wav")


def test_check_says_what_its_wait_was_not_a_per_pad_cost(tmp_path):
    # The time check prints covers loading the model and placing corner files as well as rendering the pads: on a
    # corners grid placing the files takes most of it, so the line names what it holds and gives no "ms a pad".
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    for name, pitch in (("low.wav", 60.0), ("high.wav", 900.0)):
        t = np.arange(22050) / 44100
        sound = np.sin(2 * np.pi * pitch * t) * np.exp(-t * 12) + 0.05 * rng.standard_normal(t.size) * np.exp(-t * 30)
        with wave.open(str(tmp_path / name), "wb") as out:
            out.setnchannels(1), out.setsampwidth(2), out.setframerate(44100)
            out.writeframes((sound / np.abs(sound).max() * 20000).astype("<i2").tobytes())
    (tmp_path / "mine.toml").write_text('[model]\ndecoder = "drums19"\n[grid]\nmapping = "corners"\n'
                                        f'corners = ["low.wav", "high.wav", {[0.0] * 12}, {[0.5] * 12}]\n')  # drums19: 12 numbers a point
    for patch, says in (("mine.toml", ", 2 corner files placed (encoded and fitted), 64 pads rendered"),
                        ("default", ": the model loaded, 64 pads rendered")):
        result = liveengine("check", patch, cwd=tmp_path, timeout=RENDER)
        assert result.returncode == 0, result.stderr
        ready = next(line for line in result.stdout.splitlines() if line.startswith("ready "))
        assert re.fullmatch(r"ready +in \d+\.\d\d s: the model loaded.*", ready) and ready.endswith(says), ready
        assert "ms a pad" not in result.stdout
