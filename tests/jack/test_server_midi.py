"""MIDI read inside the audio server's own JACK callback (issue 14's first step): every message reaches the
control process with its exact frame, and an unterminated SysEx deafens nothing (rtmidi's JACK input went
deaf for good after `F0 7D 01 02`)."""

from __future__ import annotations

import time

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.rt.core import MIDI_IN
from liveengine.testing.jack_rig import PERIOD, RATE
from liveengine.testing.midi_rig import MidiTester


def test_midi_in_the_server_keeps_exact_frames_and_survives_an_unterminated_sysex(jack_server, short_patch):
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    controller = MidiTester(jack_server.name, client="stand-in", port="pads")
    try:
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        controller.client.connect(controller.out_name, "liveengine:midi_in")
        start = controller.frame_time() + 4 * PERIOD
        # Offsets inside periods, not on their edges; running status for the second note; clock between.
        sent = [(start, bytes([0xF0, 0x7D, 0x01, 0x02])),  # never terminated
                (start + 1000, bytes([0x90, 60, 100])),
                (start + 1777, bytes([62, 90])),  # running status: a note with no status byte of its own
                (start + 2000, bytes([0xF8])),
                (start + 3333, bytes([0xB0, 7, 64])),
                (start + 9001, bytes([0x80, 60, 0]))]
        controller.send_many(sent)
        events: list = []
        deadline = time.monotonic() + 10
        while len(events) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            events += engine.input_events()
        assert all(e[2] == MIDI_IN for e in events)
        got = [(e[0], e[5], e[6], e[7]) for e in events]
        assert [(s, a, b) for _, s, a, b in got] == [(0x90, 60, 100), (0x90, 62, 90), (0xF8, 0, 0), (0xB0, 7, 64), (0x80, 60, 0)], got
        # Every message at its own frame: the same spacing as sent, to the sample.
        frames = [f for f, *_ in got]
        assert [f - frames[0] for f in frames] == [0, 777, 1000, 2333, 8001]
        c = engine.shared.counter
        assert c("midi_sysex_unterminated") == 1 and c("midi_stray") == 0 and c("events_dropped") == 0
    finally:
        controller.close()
        engine.stop()
