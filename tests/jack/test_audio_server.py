"""The audio server process under faults: SIGKILLed mid-performance, it is replaced and the show goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("server_kill_child.py")


def test_a_killed_audio_server_is_replaced_with_nothing_re_rendered_and_the_recording_continuing(jack_server, short_patch, tmp_path):
    name = f"liveengine-srvkill-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    done = subprocess.run([sys.executable, str(CHILD), str(short_patch()), name, str(tmp_path / "take.wav")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["restarted"] and result["new_pid"] and result["old_pid_gone"], result
    assert any("audio device lost" in r for r in result["reports"]), result["reports"]
    assert any("audio device back" in r for r in result["reports"]), result["reports"]
    assert result["re_rendered"] == 0 and result["same_buffers"], "the sample pool outlives the server: nothing re-renders"
    assert result["gain"] == 0.5, "the gain set before the kill stays"
    assert result["onsets_after"] == 1 and result["peak_after"] > 0.1, "a hit after the restart must sound"
    # The recording is one file, in time: the frames no server played are there as silence, and said.
    assert result["recorded_frames"] == result["frames_span"]
    assert result["lost_frames"] > 0
    assert any("written as silence" in r for r in result["reports"]), result["reports"]
