"""`liveengine midi` where no MIDI system runs: one sentence on what is missing and how to start it, no C-library noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

NOISE = ("Cannot connect", "JackShm", "jack server is not running", "ALSA lib")


@pytest.mark.parametrize("api", [None, "jack", "alsa"])
def test_no_midi_system_is_one_sentence(tmp_path, api):
    env = {**os.environ, "JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": f"liveengine-absent-{os.getpid()}"}
    result = subprocess.run([sys.executable, "-m", "liveengine", "midi", *(["--midi-api", api] if api else [])],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        assert api != "jack", result.stderr  # no JACK server has that name
        pytest.skip(f"an ALSA sequencer runs on this machine, so MIDI through {api or 'the default API'} works here")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("liveengine: ") and not any(noise in line for noise in NOISE), line
    sequencer = os.path.exists("/dev/snd/seq")
    if api == "jack" and sequencer:
        assert f"JACK server 'liveengine-absent-{os.getpid()}' is not running" in line and "Start JACK" in line, line
    else:
        assert line.startswith("liveengine: no MIDI system is running: "), line
        assert "modprobe snd-seq" in line and ("Start JACK" in line or "start JACK" in line), line
