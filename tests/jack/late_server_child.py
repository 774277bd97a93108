"""Run by test_device_opened_ahead.py in its own process (one process talks to one JACK server): the
device is opened ahead while its JACK server is not up yet; the server starts before `start`, which
then opens the device on a second try. Prints what it saw as JSON."""

from __future__ import annotations

import json
import sys
import time

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import start_jackd


def main(patch_path: str, name: str) -> dict:
    engine = Engine(load_patch(patch_path), prepare_audio=True)
    server = None
    try:
        o = engine.options
        spec = DeviceSpec.jack(o.samplerate, o.blocksize, o.channels, servername=name)
        engine.prepare_audio(spec)  # no JACK server of that name yet: the standby answers an error and exits
        early = engine._prepared._standby
        early.wait(timeout=30)
        server = start_jackd(name)
        assert engine.wait_rendered(timeout=60)
        engine.start(spec)
        blocks = engine.shared.blocks.load()
        deadline = time.monotonic() + 20
        while engine.shared.blocks.load() < blocks + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"early_exit": early.returncode, "playing": engine.shared.blocks.load() >= blocks + 20,
                "new_process": engine.server.pid != early.pid}
    finally:
        engine.stop()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
