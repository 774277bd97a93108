"""A non-editable install carries the default patch; with no audio device, play renders the demo to a file."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]


def _models_named(table: dict) -> list[str]:
    """The model folders a patch names: its decoder and each section's model (groove, stream)."""
    found = []
    for key, value in table.items():
        if isinstance(value, dict):
            found += _models_named(value)
        elif key in ("decoder", "model") and isinstance(value, str) and value and ":" not in value:  # not builtin:testsynth
            found.append(value)
    return found


def test_wheel_carries_patches_and_models_and_runs_from_any_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("liveengine-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "liveengine/_bundled/patches/default.toml" in names
    assert "liveengine/_bundled/patches/default.score" in names
    assert "liveengine/_bundled/models_onnx/README.md" in names
    for name in ("index.html", "app.js", "app.css"):  # the web panel's page ships in the package
        assert f"liveengine/control/web/static/{name}" in names
    assert "liveengine/_bundled/checkpoints/drums5.pt" in names  # what `liveengine train` fine-tunes
    assert "liveengine/_bundled/models_onnx/drums19/decoder.onnx" in names  # the default patch's model
    for patch in (name for name in names if name.startswith("liveengine/_bundled/patches/") and name.endswith(".toml")):
        for model in _models_named(tomllib.loads(zipfile.ZipFile(wheel).read(patch).decode())):  # every model a shipped patch plays
            assert f"liveengine/_bundled/models_onnx/{model}/decoder.onnx" in names, f"{patch} names {model!r}, not in the wheel"
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
        assert "playing on" in first.stdout, (first.returncode, first.stdout[-2000:], first.stderr[-2000:])  # else play failed: say how
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


def test_play_without_an_audio_device_renders_what_was_asked_into_the_recording(tmp_path):
    """`play --score S --seconds 2 --record R` with no device: S for 2 s into R (was: flags ignored, an 8 s demo elsewhere)."""
    env = {**os.environ, "JACK_DEFAULT_SERVER": "liveengine-no-such-server", "JACK_NO_START_SERVER": "1"}
    score = tmp_path / "two.score"
    score.write_text("0.0 /pad 7 7 0.9\n0.5 /pad 2 7 0.9\n")
    take = tmp_path / "takes" / "take.wav"
    take.parent.mkdir()
    done = subprocess.run([sys.executable, "-m", "liveengine", "play", "--score", str(score), "--seconds", "2", "--record", str(take),
                           "--no-osc", "--no-midi"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if "No audio output device" not in done.stdout:
        assert "playing on" in done.stdout, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])  # else play failed: say how
        pytest.skip("this machine has an audio output device, so play opens it instead of rendering")
    assert done.returncode == 0, done.stderr
    assert f"score {score}" in done.stdout and "(2 s)" in done.stdout and str(take) in done.stdout
    audio, rate = sf.read(take, dtype="float32")
    assert 2 * rate <= len(audio) <= 2.2 * rate  # 2 s, then the last sounds' decay (this patch's sounds are 1 s at most)
    loud = np.flatnonzero(np.abs(audio[:, 0]) > 1e-3)
    assert loud[0] < 0.01 * rate and np.any((loud > 0.49 * rate) & (loud < 0.52 * rate))  # both hits, at their times
    assert not (tmp_path / "liveengine-demo.wav").exists()

    # With no score: the demo, looped for --seconds, into a new file beside the first.
    demo = subprocess.run([sys.executable, "-m", "liveengine", "play", "--seconds", "10", "--no-osc", "--no-midi"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    audio, rate = sf.read(tmp_path / "liveengine-demo.wav", dtype="float32")
    assert len(audio) >= 10 * rate and np.max(np.abs(audio[8 * rate : 10 * rate])) > 0.1  # the demo's 8 s loop plays on
    assert np.max(np.abs(audio[-128:])) < 1e-3  # ...and the file ends when its last hit has decayed, not mid-hit


def test_the_voice_patch_demo_plays_its_melody_on_the_shipped_voice(tmp_path):
    """patches/voice.toml's [demo] (what play renders with no audio device): its stream notes, rendered alone through
    the shipped voice model, come out at their pitches: violin A4, cello A2, flute C6."""
    from liveengine.patch import load_patch
    from liveengine.stream.tracker import CausalTracker

    patch = load_patch(REPO / "patches" / "voice.toml")
    score = patch.demo_score
    voice_only = tmp_path / "voice.score"
    voice_only.write_text("".join(line for line in score.read_text().splitlines(keepends=True) if "/pad" not in line))
    out = tmp_path / "voice.wav"
    done = subprocess.run([sys.executable, "-m", "liveengine", "render", str(REPO / "patches" / "voice.toml"), "--score", str(voice_only),
                           "--out", str(out)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out, dtype="float32")
    f0 = CausalTracker(rate, rate // 200).push(audio.mean(axis=1))[0]
    for seconds, hz in ((0.2, 440.0), (4.2, 110.0), (6.6, 1046.5)):
        at = int(seconds * 200)
        assert abs(1200 * np.log2(np.median(f0[at:at + 20]) / hz)) < 30, (seconds, hz, np.median(f0[at:at + 20]))
