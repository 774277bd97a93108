"""The audio server process: the stream and the real-time core, alone with the interpreter.

Started by the control process as `python -m liveengine.server` with the shared
segment's descriptor passed on. It reads one JSON line (layout, options, device,
start frame) on stdin, maps the segment, opens the device, answers one JSON line
on stdout (ready, or the error), then parks its main thread in a blocking read
of stdin: the audio callback is the only Python code that runs while it plays.
Garbage collection is off. It imports numpy, the real-time core and the one
audio library its device needs; no decoder, no resampler, no control code.

It ends when stdin closes (the control process stopped it, or died), and on
Linux the kernel kills it if the control process dies (parent-death signal).
A lost device stalls its heartbeat; the control process then kills it and
starts another, rather than asking PortAudio or JACK to recover in place.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading


def _answer(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    from liveengine.server.shm import set_parent_death_signal

    set_parent_death_signal()
    line = sys.stdin.readline()
    if not line:
        return
    config = json.loads(line)
    from liveengine.audio.spec import DeviceSpec
    from liveengine.errors import LiveEngineError
    from liveengine.options import EngineOptions
    from liveengine.rt.core import RealtimeCore
    from liveengine.server.layout import Layout, SharedState

    options = EngineOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["options"].items()})
    state = SharedState.attach(config["fd"], Layout(**config["layout"]))
    state.counters[state.counter_index["pid"]] = os.getpid()
    core = RealtimeCore(options, state, start_frame=config["start_frame"])
    spec = DeviceSpec(**config["device"])
    try:
        backend = spec.create()
        backend.start(core.process)
    except LiveEngineError as exc:
        _answer({"error": exc.message, "fix": exc.fix})
        os._exit(3)
    except Exception as exc:  # noqa: BLE001 - whatever the audio library raised, the control process says it
        _answer({"error": f"{type(exc).__name__}: {exc}", "fix": ""})
        os._exit(3)
    gc.collect()
    gc.freeze()
    gc.disable()  # nothing here makes cycles; a collection would stall the callback
    _answer({"ok": True, "pid": os.getpid(), "description": backend.description, "samplerate": backend.samplerate,
             "blocksize": backend.blocksize, "output_latency": backend.output_latency})
    sys.stdin.buffer.read()  # parked until the control process closes the pipe (or dies)
    stopper = threading.Thread(target=backend.stop, daemon=True)
    stopper.start()
    stopper.join(2.0)  # a host API that hangs closing (PortAudio after a JACK restart) is not waited for
    os._exit(0)
