"""The groove's notes out as MIDI through a real JACK server (dummy driver): the audio server writes each note
at its exact frame on its own JACK MIDI output; through rtmidi's virtual port `liveengine out` every note
arrives, in order, with its note-off after the gate (how late each leaves is measured in bench/groove_sync.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.groove.pattern import VOICE_TO_NOTE
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import PERIOD, RATE
from liveengine.testing.midi_rig import MidiTester

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "groove"))
from test_groove_render import groove_patch  # noqa: E402

GATE_MS = 20


def notes_patch(tmp_path, output: str):
    return load_patch(groove_patch(tmp_path, extra=f'output = "{output}"\ngate_ms = {GATE_MS}\nmidi_channel = 10',
                                   kit="[groove.notes]\nkick = 35"))


def expected_notes(groove):
    """(engine frame, bytes) of every note-on and note-off the groove scheduled, in the order a port carries them."""
    gate = GATE_MS * RATE // 1000
    out = []
    for e in groove.sequencer.events:
        note = 35 if e.voice == 0 else VOICE_TO_NOTE[e.voice]
        out.append((e.frame, bytes([0x99, note, max(1, min(127, round(e.velocity * 127)))])))
        out.append((e.frame + gate, bytes([0x89, note, 0])))
    return sorted(out)


def play_for(engine, groove, seconds: float) -> None:
    groove.set_param("tempo", 240.0)
    groove.pad(1, 1, engine.now_frame() + RATE // 10, engine.now_frame())
    deadline = time.monotonic() + 20
    began = engine.now_frame()
    while engine.now_frame() - began < seconds * RATE and time.monotonic() < deadline:
        time.sleep(0.05)
    groove.sequencer.stop()
    time.sleep(0.4)


def test_the_server_writes_every_groove_note_at_its_frame_on_its_jack_midi_output(jack_server, tmp_path):
    engine = Engine(notes_patch(tmp_path, "midi"))
    capture = MidiTester(jack_server.name, client="drum-rack-stand-in", port="notes", activate=False)
    try:
        assert engine.wait_rendered(timeout=60)
        capture.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_out=True))
        capture.client.connect("liveengine:midi_out_1", capture.in_name)
        groove = engine.groove
        play_for(engine, groove, 1.2)
        expected = expected_notes(groove)
        got = list(capture.received)
        assert len(expected) >= 16 and len(got) == len(expected), (len(got), len(expected))
        assert [data for _, data in got] == [data for _, data in expected]  # every note and note-off, in order
        shift = got[0][0] - expected[0][0]  # the engine's frame counter against JACK's: one constant
        assert [f - shift for f, _ in got] == [f for f, _ in expected]  # each at its frame, to the sample
        c = engine.shared.counter
        assert (c("midi_out_late"), c("midi_out_full")) == (0, 0) and c("midi_out_written") == len(expected)
        assert engine.status()["groove_midi_dropped"] == 0 and engine.status()["late_commands"] == 0
    finally:
        engine.stop()
        capture.close()


def test_rtmidi_out_sends_every_groove_note_in_order_with_its_note_off(jack_server, tmp_path):
    engine = Engine(notes_patch(tmp_path, "both"))
    capture = MidiTester(jack_server.name, client="drum-rack-stand-in", port="notes", activate=False)
    try:
        assert engine.wait_rendered(timeout=60)
        engine.open_midi_out("jack")  # rtmidi's client before any Python JACK callback runs here (see ports.PortPool)
        capture.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2))
        out_port = [p.name for p in capture.client.get_ports(is_midi=True, is_output=True) if p.name.endswith("liveengine out")]
        assert out_port, "the virtual port 'liveengine out' is there"
        capture.client.connect(out_port[0], capture.in_name)
        groove = engine.groove
        play_for(engine, groove, 1.2)
        expected = expected_notes(groove)
        got = list(capture.received)
        assert len(expected) >= 16 and [data for _, data in got] == [data for _, data in expected]
        assert all(b >= a for (a, _), (b, _) in zip(got, got[1:]))
        assert engine.midi_out.dropped == 0 and len(engine.midi_out.lateness) == len(expected)
        assert groove.status()["dropped"] == 0  # the internal sounds played too ("both")
    finally:
        # The stand-in's Python JACK callback first: closing rtmidi's JACK client waits for a cycle, which
        # cannot end while that callback waits for the interpreter lock rtmidi holds (5 s, then JACK gives up).
        capture.close()
        engine.stop()
