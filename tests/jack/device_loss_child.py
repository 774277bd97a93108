"""Run by test_device_loss.py in its own process.

libjack keeps per-process state for the server it talks to, so one process must not
use two JACK servers (it crashed here when it did). This child owns a server of its
own, kills it mid-performance, restarts it, and prints what the engine did as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from liveengine.testing.jack_rig import RATE, start_jackd, wait_for
from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.patch import load_patch


def main(patch_path: str, name: str) -> dict:
    result: dict = {}
    server = start_jackd(name, synchronous=False)
    reports: list[str] = []
    def report(message: str) -> None:  # to stderr as well: shown when the test fails
        reports.append(message)
        print(f"{time.monotonic():.3f} report: {message}", file=sys.stderr, flush=True)

    engine = Engine(load_patch(patch_path), on_report=report)
    try:
        engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.jack(RATE, 128, 2, servername=name))
        cache_before = engine.instrument.cache.buffers[:]
        server.stop()
        result["noticed_loss"] = wait_for(lambda: engine.device_lost, 10)
        blocks = engine.shared.blocks.load()
        engine.submit(make_command("/param", ["gain", 0.5]))
        server = start_jackd(name, clear_registry=False, synchronous=False)  # the engine keeps trying to connect meanwhile
        back_at = time.monotonic()
        result["reopened"] = wait_for(lambda: not engine.device_lost and engine.shared.blocks.load() > blocks + 100, 60)
        result["seconds_back_after_jack_returned"] = time.monotonic() - back_at
        result["same_buffers"] = engine.instrument.cache.buffers == cache_before
        # What the server sends to JACK after the restart, read from its own output level: a capture
        # client in this process, which used the JACK server before it restarted, sometimes got no
        # cycles at all from the new one (libjack keeps per-process state of a server).
        levels = []
        engine.submit(make_command("/pad", [2, 3, 1.0]))
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            levels.append(engine.shared.float("level"))
            time.sleep(0.002)
        result["peak_after"] = max(levels)
        result["gain"] = engine.shared.float("gain")
    finally:
        stopping = time.monotonic()
        engine.stop()  # after a JACK restart this used to hang in Pa_Terminate or Pa_CloseStream
        result["seconds_to_stop"] = time.monotonic() - stopping
        result["server_gone"] = engine.server is None or engine.server.process is None
        server.stop()
    result["reports"] = reports
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
