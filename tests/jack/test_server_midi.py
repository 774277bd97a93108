"""MIDI read inside the audio server's own JACK callback (issue 14's first step): every message reaches the
control process with its exact frame, and an unterminated SysEx deafens nothing (rtmidi's JACK input went
deaf for good after `F0 7D 01 02`)."""

from __future__ import annotations

import time

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.server.layout import MAX_SYSEX_OUT
from liveengine.testing.jack_rig import PERIOD, RATE
from liveengine.testing.midi_rig import MidiTester, drawn_after_setup


def test_midi_in_the_server_keeps_exact_frames_and_survives_an_unterminated_sysex(jack_server, short_patch):
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    controller = MidiTester(jack_server.name, client="stand-in", port="pads")
    try:
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        controller.client.connect(controller.out_name, "liveengine:midi_in_2")
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
        assert all(e.port == 1 for e in events)  # and on the input it came in on
        got = [(e.frame, e.status, e.data1, e.data2) for e in events]
        assert [(s, a, b) for _, s, a, b in got] == [(0x90, 60, 100), (0x90, 62, 90), (0xF8, 0, 0), (0xB0, 7, 64), (0x80, 60, 0)], got
        # Every message at its own frame: the same spacing as sent, to the sample.
        frames = [f for f, *_ in got]
        assert [f - frames[0] for f in frames] == [0, 777, 1000, 2333, 8001]
        c = engine.shared.counter
        assert c("midi_sysex_unterminated") == 1 and c("midi_stray") == 0 and c("events_dropped") == 0
    finally:
        controller.close()
        engine.stop()


def test_notes_read_by_the_server_sound_exactly_one_period_after_their_frame(jack_server, short_patch):
    """Issue 14's first acceptance figure: the same latency for every note wherever it falls in the period
    (rtmidi on JACK: 3 to 195 frames, a 192-sample spread over 40 notes)."""
    import random

    import numpy as np

    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.testing.jack_rig import Capture, onsets, wait_for

    patch = load_patch(short_patch(extra_engine='render_in = "thread"'))
    engine = Engine(patch)
    assert engine.wait_rendered(timeout=60)
    controller = MidiTester(jack_server.name, client="stand-in", port="pads", activate=False)
    capture = midi = None
    reports: list[str] = []
    try:
        midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=reports.append)
        midi.prepare()  # rtmidi's clients (LED outputs) before any Python JACK callback runs here
        controller.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        capture = Capture(jack_server.name, channels=2)
        capture.connect_from("liveengine")
        midi.start()
        assert any("stand-in:pads out connected to the audio server's liveengine:midi_in_1" in r for r in reports), reports
        # The MIDI thread publishes the note table on its next pass (a busy machine delayed that past the first note).
        assert wait_for(lambda: engine.shared.note_slots[0, 36 + 8 * 2 + 3] != 0, 5)
        capture.start()
        time.sleep(0.1)
        rng = random.Random(14)
        first = controller.frame_time() + 8 * PERIOD
        sent = [first + i * 25 * PERIOD + rng.randrange(PERIOD) for i in range(40)]  # anywhere in the period
        controller.send_many([(frame, bytes([0x90, 36 + 8 * 2 + 3, 100])) for frame in sent])
        assert capture.wait_for_frame(sent[-1] + RATE // 2, 30)  # half a second past the last note, in JACK's frames
        audio, start = capture.stop()
    finally:
        if capture is not None:
            capture.close()
        controller.close()  # before midi.close(): rtmidi's clients close at a JACK cycle's end, which a Python callback here would hold up
        if midi is not None:
            midi.close()
        engine.stop()
    found = onsets(audio[:, 0], min_gap=400) + start  # each sound is 2400 frames, the notes 3200 apart
    assert len(found) == len(sent), (len(found), engine.status(), midi.counters, reports)
    latency = found - np.array(sent)
    # One period after the note's frame, plus the graph's fixed delay: the same for every note, to the sample
    # (the acceptance allows 2). The server starts each note itself from the note table the control process
    # keeps (no round trip through it, which missed the period for 1 note of 40 before the table).
    assert latency.max() - latency.min() <= 2, sorted(latency.tolist())
    assert PERIOD <= np.median(latency) <= 3 * PERIOD, sorted(latency.tolist())
    assert midi.counters.handled == midi.counters.server_started == len(sent) and engine.shared.counter("late_commands") == 0
    assert engine.last_pad == engine.instrument.setting.pad_index(2, 3)  # and the control process kept the books


def test_a_launchpad_on_the_server_path_gets_its_profile_its_leds_and_plays(jack_server, short_patch):
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings

    mode_on = bytes([0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x01, 0xF7])  # programmer mode (the profile's setup)
    patch = load_patch(short_patch(extra_engine='render_in = "thread"'))
    engine = Engine(patch)
    assert engine.wait_rendered(timeout=60)
    controller = MidiTester(jack_server.name, activate=False)  # named like a Launchpad Mini MK3
    reports: list[str] = []
    midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=reports.append)
    try:
        midi.prepare()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        # The first scan finds the controller's ports before its client is active, and JACK refuses to connect
        # them: that scan keeps nothing, so a later one gives the controller its input, profile and LEDs.
        midi.start()
        assert not any("LPMiniMK3" in r and "connected" in r for r in reports), reports
        controller.activate()
        deadline = time.monotonic() + 10  # a liveness bound: the next scan is SCAN_SECONDS away
        while time.monotonic() < deadline and not any("launchpad-mini-mk3" in r and "LEDs on" in r for r in reports):
            time.sleep(0.05)
        assert any("launchpad-mini-mk3" in r and "LEDs on" in r for r in reports), reports
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(m == mode_on for _, m in controller.received):
            time.sleep(0.05)
        assert any(m == mode_on for _, m in controller.received)  # its LEDs, through the audio server's leds_1
        # Drawn once more in full a moment later (input.py, SETTLE_SECONDS: a setup written as JACK switched its graph
        # to the new connection reached nobody, uncounted), not said: programmer mode, then every pad again.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [m for _, m in controller.received].count(mode_on) < 2:
            time.sleep(0.05)
        received = [m for _, m in controller.received]
        assert received.count(mode_on) >= 2, [m.hex() for m in received]
        pads = {10 * (r + 1) + c + 1 for r in range(8) for c in range(8)}  # programmer mode's notes 11..88
        assert drawn_after_setup(received, mode_on, pads), [m.hex() for m in received]
        assert not any("drawn again" in r for r in reports), reports
        # SysEx of any length up to the bound goes out whole through the server's LED output; a longer one is
        # refused with one sentence, counted and said, and nothing of it is sent.
        device = next(iter(midi.devices.values()))
        assert device.midi_out.name == "liveengine:leds_1" and "liveengine:leds_1" in {
            p.name for p in controller.client.get_all_connections(controller.in_name)}
        longest = bytes([0xF0, *(i % 128 for i in range(MAX_SYSEX_OUT - 2)), 0xF7])
        midi._send(device, [list(longest), [0xF0, *([1] * MAX_SYSEX_OUT), 0xF7]])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(m == longest for _, m in controller.received):
            time.sleep(0.05)
        assert any(m == longest for _, m in controller.received)
        assert engine.server_midi().refused == 1 and midi.counters.led_errors == 1
        assert any(f"refused: a SysEx of {MAX_SYSEX_OUT + 2} bytes is longer than the {MAX_SYSEX_OUT} bytes" in r for r in reports), reports
        assert all(len(m) <= MAX_SYSEX_OUT for _, m in controller.received)
        controller.send_at(controller.frame_time() + 4 * PERIOD, bytes([0x90, 11 + 10 * 2 + 3, 100]))  # pad (2, 3) on the Launchpad's layout
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and midi.counters.handled < 1:
            time.sleep(0.05)
        assert midi.counters.handled == 1 and engine.last_pad == engine.instrument.setting.pad_index(2, 3)
    finally:
        controller.close()  # first: rtmidi's clients close at a JACK cycle's end, which a Python callback here would hold up
        midi.close()
        engine.stop()


def test_play_on_native_jack_reads_midi_in_the_audio_server(jack_server, short_patch, tmp_path):
    """`play` with `[audio] backend = "jack"` and MIDI on JACK: the server reads the controller (a real subprocess)."""
    import soundfile as sf

    from liveengine.testing.jack_rig import onsets
    from liveengine.testing.play import start_play

    patch = short_patch(extra_audio='backend = "jack"', extra_engine='render_in = "thread"')
    controller = MidiTester(jack_server.name, client="stand-in", port="pads")
    process, lines = start_play([str(patch), "--record", "take.wav", "--seconds", "4", "--midi-api", "jack", "--no-osc"], tmp_path,
                                lambda line: "connected to the audio server's liveengine:midi_in_1" in line)
    try:
        now = controller.frame_time() + PERIOD
        controller.send_many([(now + 4800, bytes([0x90, 40, 100])), (now + 24000 + 77, bytes([0x90, 50, 100]))])
        out = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
        controller.close()
    text = "".join(lines) + out
    assert process.returncode == 0, text
    assert "connected to the audio server's liveengine:midi_in_1" in text
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    assert len(onsets(audio[:, 0], min_gap=2400)) == 2, text


def test_a_controller_plugged_in_after_start_plays_within_2_s_and_a_broken_sysex_is_reported(jack_server, short_patch):
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings

    patch = load_patch(short_patch(extra_engine='render_in = "thread"'))
    engine = Engine(patch)
    assert engine.wait_rendered(timeout=60)
    reports: list[str] = []
    midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=reports.append)
    controller = None
    try:
        midi.prepare()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        midi.start()
        time.sleep(0.6)  # a scan or more with nothing to connect
        plugged = time.monotonic()
        controller = MidiTester(jack_server.name, client="late-comer", port="keys")  # hot-plug: no restart
        while time.monotonic() - plugged < 2.0 and not any("late-comer:keys out connected" in r for r in reports):
            time.sleep(0.02)
        assert any("late-comer:keys out connected" in r for r in reports), reports  # within 2 s
        now = controller.frame_time() + 2 * PERIOD
        controller.send_many([(now, bytes([0xF0, 0x7D, 0x01])), (now + 300, bytes([0x90, 40, 100]))])
        deadline = time.monotonic() + 10  # the report and the note's handling come apart: both waited for
        while time.monotonic() < deadline and not (midi.counters.handled and any("SysEx cut short" in r for r in reports)):
            time.sleep(0.05)
        assert midi.counters.handled == 1  # the note after the broken SysEx played
        assert any("1 SysEx cut short by a status byte" in r for r in reports), reports  # and the loss was said
    finally:
        if controller is not None:
            controller.close()
        midi.close()
        engine.stop()
