"""Run by test_device_loss.py in its own process.

libjack keeps per-process state for the server it talks to, so one process must not
use two JACK servers (it crashed here when it did). This child owns a server of its
own, kills it mid-performance, restarts it, and prints what the engine did as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from liveengine.testing.jack_rig import RATE, Capture, onsets, start_jackd
from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.patch import load_patch


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main(patch_path: str, name: str) -> dict:
    result: dict = {}
    server = start_jackd(name)
    reports: list[str] = []
    engine = Engine(load_patch(patch_path), on_report=reports.append)
    try:
        engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.jack(RATE, 128, 2, servername=name))
        cache_before = engine.instrument.cache.buffers[:]
        server.stop()
        result["noticed_loss"] = wait_for(lambda: engine.device_lost, 10)
        engine.submit(make_command("/param", ["gain", 0.5]))
        server = start_jackd(name)
        result["reopened"] = wait_for(lambda: not engine.device_lost, 20)
        result["same_buffers"] = engine.instrument.cache.buffers == cache_before
        capture = Capture(name)
        try:
            capture.connect_from("liveengine")
            capture.start()
            time.sleep(0.1)
            engine.submit(make_command("/pad", [2, 3, 1.0]))
            time.sleep(0.4)
            audio, _ = capture.stop()
        finally:
            capture.close()
        result["onsets_after"] = len(onsets(audio[:, 0]))
        result["peak_after"] = float(np.max(np.abs(audio)))
        result["gain"] = engine.shared.float("gain")
    finally:
        engine.stop()
        server.stop()
    result["reports"] = reports
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
