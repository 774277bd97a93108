"""A non-editable install carries the default patch; with no audio device, play renders the demo to a file."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]


def test_wheel_carries_patches_and_models_and_runs_from_any_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("liveengine-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "liveengine/_bundled/patches/default.toml" in names
    assert "liveengine/_bundled/patches/default.score" in names
    assert "liveengine/_bundled/models_onnx/README.md" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", "import liveengine, sys; print(liveengine.__file__); "
                           "from liveengine.cli import main; sys.exit(main(['check']))"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(str(target)), "the installed copy, not the checkout, must run"
    assert str(target / "liveengine" / "_bundled" / "patches" / "default.toml") in done.stdout
    assert done.stdout.rstrip().endswith("ok")


def test_play_without_an_audio_device_renders_the_demo_to_a_new_file(tmp_path):
    # No JACK server under this name, and no server may be started: PortAudio then sees
    # only the machine's real devices (none on CI and servers).
    env = {**os.environ, "JACK_DEFAULT_SERVER": "liveengine-no-such-server", "JACK_NO_START_SERVER": "1"}
    first = subprocess.run([sys.executable, "-m", "liveengine", "play"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if "No audio output device" not in first.stdout:
        pytest.skip("this machine has an audio output device, so play opens it instead of rendering the demo")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].count(".") <= 2  # one sentence saying so
    demo = tmp_path / "liveengine-demo.wav"
    assert str(demo) in first.stdout
    audio, rate = sf.read(demo, dtype="float32")
    assert rate == 48000 and len(audio) >= 7.9 * rate and np.max(np.abs(audio)) > 0.1
    second = subprocess.run([sys.executable, "-m", "liveengine", "play"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0
    assert (tmp_path / "liveengine-demo-1.wav").exists(), "a second demo must not overwrite the first"
    np.testing.assert_array_equal(sf.read(demo, dtype="float32")[0], audio)
