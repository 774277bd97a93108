"""`liveengine play` as a performer runs it, on the JACK server: stopping cleanly, and recordings that survive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def start_play(tmp_path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "liveengine", "play", "--demo", *extra], cwd=tmp_path, env=env,
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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_recording_survives_sigkill(jack_server, tmp_path):
    # --no-midi: a killed process's rtmidi JACK clients stall the shared test server for seconds
    # (docs/controllers.md), which would fail the next test; this one is about the recording.
    process = start_play(tmp_path, "--record", "take.wav", "--no-midi")
    time.sleep(2.5)
    children = _children(process.pid)  # the render process (and multiprocessing's resource tracker)
    assert children, "play runs its renderer in a child process"
    process.kill()
    process.wait(timeout=10)
    process.stdout.close()
    deadline = time.time() + 10
    while any(Path(f"/proc/{c}").exists() and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z" for c in children):
        assert time.time() < deadline, "the render process outlived a killed engine"
        time.sleep(0.1)
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    # All but the last second: the header is rewritten every half second of audio.
    assert len(audio) >= 1.0 * rate
    assert np.max(np.abs(audio)) > 0.1


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
                "sys.argv = ['liveengine', 'play', '--demo', '--seconds', '1.5']; runpy.run_module('liveengine', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", run_play], cwd=tmp_path, capture_output=True, text=True, timeout=90,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "playing on" in done.stdout and "JACK" in done.stdout
    assert "stopped:" in done.stdout and "0 callback errors" in done.stdout
