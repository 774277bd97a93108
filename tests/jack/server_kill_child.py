"""Run by test_audio_server.py in its own process, on a JACK server of its own.

A SIGKILLed JACK client stalls its server for a moment, which would disturb the
tests sharing the session's server. This child plays a patch through the audio
server process while recording, kills the audio server with SIGKILL, and prints
what followed as JSON: the restart, what was re-rendered, a hit afterwards, and
the recording.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
import soundfile as sf

from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import RATE, hit_and_capture, onsets, start_jackd, wait_for


def main(patch_path: str, name: str, take: str) -> dict:
    result: dict = {}
    server = start_jackd(name, synchronous=False)
    reports: list[str] = []
    engine = Engine(load_patch(patch_path), on_report=reports.append)
    try:
        engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.jack(RATE, 128, 2, servername=name))
        recorder = engine.record(take)
        start_frame = recorder.next
        first_pid = engine.server.pid
        rendered_before = engine.instrument.workers.rendered
        buffers_before = list(engine.instrument.cache.buffers)
        engine.submit(make_command("/param", ["gain", 0.5]))
        engine.submit(make_command("/pad", [1, 1, 1.0]))
        time.sleep(0.5)
        blocks = engine.shared.blocks.load()
        killed_at = time.monotonic()
        os.kill(first_pid, signal.SIGKILL)
        result["restarted"] = wait_for(lambda: engine.server.restarts == 1 and engine.shared.blocks.load() > blocks + 4, 20)
        result["seconds_to_play_again"] = time.monotonic() - killed_at
        result["new_pid"] = engine.server.pid != first_pid
        result["old_pid_gone"] = not os.path.exists(f"/proc/{first_pid}") or open(f"/proc/{first_pid}/stat").read().split()[2] == "Z"
        result["re_rendered"] = engine.instrument.workers.rendered - rendered_before
        result["same_buffers"] = engine.instrument.cache.buffers == buffers_before
        result["gain"] = engine.shared.float("gain")  # the new server starts at the patch's gain
        audio = hit_and_capture(engine, name, 2, 3)
        result["onsets_after"] = len(onsets(audio[:, 0]))
        result["peak_after"] = float(np.max(np.abs(audio)))
        time.sleep(0.2)
        engine.stop_recording()
        result["lost_frames"] = recorder.lost_frames
        result["recorded_frames"] = sf.info(take).frames
        result["frames_span"] = recorder.next - start_frame
    finally:
        engine.stop()
        server.stop()
    result["reports"] = reports
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
