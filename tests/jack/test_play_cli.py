"""`liveengine play` as a performer runs it, on the JACK server: stopping cleanly, and recordings that survive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from liveengine.testing.play import free_port


def start_play(tmp_path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # an OSC port of its own: the default, 9000, may be another test's play beside this one
    process = subprocess.Popen([sys.executable, "-m", "liveengine", "play", "--demo", "--osc-port", str(free_port()), *extra], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("playing on"):
            return process
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("play never reached a running stream:\n" + "".join(lines))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_play_stops_on_signal_with_a_complete_recording(jack_server, tmp_path, sig):
    process = start_play(tmp_path, "--record", "take.wav")
    time.sleep(1.5)
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert "recording saved to take.wav" in out
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    assert rate == 48000 and audio.shape[1] == 2
    assert len(audio) >= 1.0 * rate  # everything played is there (1.5 s minus start-up)
    assert np.max(np.abs(audio)) > 0.1  # the demo groove, not silence
    assert np.max(np.abs(audio)) <= 1.0


def test_ctrl_c_while_the_grid_renders_keeps_and_names_the_recording(jack_server, tmp_path):
    """The recording opens with the device, while the grid renders (pads hit then sound, so they are
    recorded): a Ctrl-C then still leaves a whole WAV, and says where it is."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "liveengine", "play", "--demo", "--record", "take.wav", "--no-osc"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        take = tmp_path / "take.wav"
        # Its first frames are on disk (the device is open, the recorder long made): mostly while the grid renders.
        while not (take.exists() and take.stat().st_size > 4096) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (0, 130), out  # 130: stopped before it played
    assert "recording saved to take.wav" in out, out
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    assert rate == 48000 and audio.shape[1] == 2


def test_recording_survives_sigkill(jack_server, tmp_path):
    # In a child process with a JACK server of its own (see sigkill_child.py): a killed
    # client would stall the shared server for the tests after this one.
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    child = Path(__file__).with_name("sigkill_child.py")
    done = subprocess.run([sys.executable, str(child), str(tmp_path), f"liveengine-kill-{os.getpid()}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["render_children"] >= 2, "play runs its audio server and its renderer in child processes"
    assert not result["render_outlived_engine"], "the audio server or the render process outlived a killed engine"
    assert result["shm_left"] == [], "nothing of ours may stay in the shared-memory folder"
    assert result["jack_clients_left"] == [] and result["tracebacks"] == 0, result["output"]
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    # Killed 1.5 s in, all but about the last second: the header is rewritten every half second of audio.
    assert len(audio) >= 0.5 * rate
    assert np.max(np.abs(audio)) > 0.1


def test_a_kill_while_the_grid_renders_and_the_device_opens_leaves_nothing_behind(jack_server, tmp_path):
    """`play` opens the device while the grid renders: killed then, its audio server (maybe still
    opening, maybe playing silence), its render process and its JACK client all go, quietly."""
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    child = Path(__file__).with_name("sigkill_child.py")
    done = subprocess.run([sys.executable, str(child), str(tmp_path), f"liveengine-kill-early-{os.getpid()}", "rendering"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["render_children"] >= 2 and not result["render_outlived_engine"], result
    assert result["jack_clients_left"] == [] and result["shm_left"] == [], result
    assert result["tracebacks"] == 0, result["output"]


def test_play_refuses_to_overwrite_a_recording(jack_server, tmp_path):
    (tmp_path / "take.wav").write_bytes(b"precious")
    done = subprocess.run([sys.executable, "-m", "liveengine", "play", "--record", "take.wav", "--seconds", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "take.wav already exists" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "take.wav").read_bytes() == b"precious"


def test_play_for_seconds_exits_cleanly_and_reports(jack_server, tmp_path):
    # If play ever hangs, faulthandler prints every thread's stack after 45 s and exits: where it hung.
    run_play = ("import faulthandler, runpy, sys; faulthandler.dump_traceback_later(45, exit=True); "
                f"sys.argv = ['liveengine', 'play', '--demo', '--seconds', '1.5', '--osc-port', '{free_port()}']; runpy.run_module('liveengine', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", run_play], cwd=tmp_path, capture_output=True, text=True, timeout=90,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "playing on" in done.stdout and "JACK" in done.stdout
    assert "stopped:" in done.stdout and "0 callback errors" in done.stdout


def test_auto_backend_is_the_native_jack_client_while_a_jack_server_runs(jack_server, short_patch, monkeypatch):
    from liveengine.cli_support import patch_device
    from liveengine.patch import load_patch

    patch = load_patch(short_patch())
    options = patch.options()
    assert patch.audio["backend"] == "auto"
    assert patch_device(patch, options).kind == "jack"  # the session's server runs
    assert patch_device(patch, options, device="pulse").kind == "sounddevice"  # a named PortAudio device wins
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"no-such-server-{os.getpid()}")
    assert patch_device(patch, options).kind == "sounddevice"  # no JACK server: PortAudio
