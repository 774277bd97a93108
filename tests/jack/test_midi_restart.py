"""The JACK server restarts mid-performance: the audio server's MIDI inputs are made again, the
controller is connected to them again within 2 s of JACK's return, and its next note plays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("midi_restart_child.py")


def test_midi_inputs_come_back_after_a_jack_restart_and_a_note_plays(jack_server, short_patch):
    # jack_server proves JACK runs here; the restart happens in a child with a JACK server of its own.
    name = f"liveengine-midi-loss-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    patch = short_patch(extra_engine='render_in = "thread"')
    done = subprocess.run([sys.executable, str(CHILD), str(patch), name], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    reports = result["reports"]
    assert result["before"]["connected"] and result["handled_before"], (result, done.stderr[-2000:])
    assert result["server_started_before"] == 1  # read and started in the audio server
    assert result["noticed_loss"] and result["audio_back"], reports
    assert any("audio device back" in r and "MIDI inputs" in r for r in reports), reports  # the re-made ports are said
    assert result["after"]["connected"], (result, done.stderr[-2000:])
    assert result["seconds_connected_after_jack_returned"] < 2.0, result
    assert result["handled_after"] and result["server_started_after"] == 2, (result, done.stderr[-2000:])
    assert result["hits"][-2:] == [0, 0]  # note 36 on the generic profile: pad (0, 0), both times
