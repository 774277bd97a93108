"""A recording whose disk fills up (issue 15: every loss reported): the engine says so at once and frees
the recording slot, rather than keep a dead recording that refuses the next /record/start."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cli.test_cli_errors import QUICK, REPO

RECORD = """
import resource, sys, time
from pathlib import Path
from liveengine.audio.offline import OfflineBackend
from liveengine.engine import Engine
from liveengine.patch import load_patch

engine = Engine(load_patch(sys.argv[1]), on_report=lambda m: print("report:", m, flush=True))
assert engine.wait_rendered(timeout=60)
o = engine.options
backend = OfflineBackend(o.samplerate, o.blocksize, o.channels)
engine.start(backend)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))  # a disk that is full at 100 kB
engine.record(Path(sys.argv[2]) / "take1.wav")
backend.run(o.samplerate)  # 1 s of audio: more than fits
for _ in range(200):  # the supervisor looks every 0.1 s
    if engine.recorder is None:
        break
    time.sleep(0.05)
print("recording:", engine.recorder is not None, flush=True)
engine.record(Path(sys.argv[2]) / "take2.wav")  # the slot is free again
engine.stop()
"""


def test_a_recording_that_fills_the_disk_is_reported_and_stopped(tmp_path, short_patch):
    patch = short_patch(extra_engine='render_in = "thread"')
    result = subprocess.run([sys.executable, "-c", RECORD, str(patch), str(tmp_path)], capture_output=True, text=True,
                            timeout=QUICK, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert f"report: recording {tmp_path / 'take1.wav'} stopped after" in result.stdout, result.stdout
    assert "File too large; the file holds everything up to there" in result.stdout
    assert "recording: False" in result.stdout
    assert "Traceback" not in result.stderr
    assert (tmp_path / "take2.wav").exists()
