"""The Pure Data abstractions, run headless in Debian's Pd, drive the engine and receive its feedback."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from liveengine.control.osc.server import OscServer
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.rt.core import START

PD_FOLDER = Path(__file__).resolve().parents[2] / "patches" / "pd"

HARNESS = """#N canvas 0 0 400 300 12;
#X obj 10 10 loadbang;
#X obj 10 40 delay 500;
#X msg 10 70 subscribe {feedback} \\, pad 2 3 0.9 \\, ping;
#X obj 10 110 liveengine 127.0.0.1 {port};
#X obj 200 10 liveengine-feedback {feedback};
#X obj 200 50 print fb;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
#X connect 4 0 5 0;
"""


def test_pd_abstraction_sends_pads_and_receives_replies(short_patch, tmp_path):
    pd = shutil.which("pd")
    if pd is None:
        pytest.skip("Pure Data is not installed (Debian package puredata-core)")
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    server = OscServer(engine, "127.0.0.1", 0)
    server.start()
    feedback_port = server.address[1] + 1 if server.address[1] < 65000 else server.address[1] - 1
    harness = tmp_path / "harness.pd"
    harness.write_text(HARNESS.format(port=server.address[1], feedback=feedback_port))
    process = subprocess.Popen([pd, "-nogui", "-nosound", "-nomidi", "-stderr", "-path", str(PD_FOLDER), "-open", str(harness)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while server.counters.handled < 3:
            assert time.monotonic() < deadline, f"Pd sent {server.counters.handled} messages"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
        server.stop()
    events = []
    while (event := engine.core.queue.get()) is not None:
        events.append(event)
    engine.stop()
    assert [e[6] for e in events if e[2] == START] == [engine.instrument.setting.pad_index(2, 3)]
    assert "fb: pong" in output, output
    assert "couldn't create" not in output, output
