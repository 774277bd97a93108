"""What a controller, a cable or a DAW can throw at the audio server's MIDI inputs, through JACK: a lost
SysEx chunk, a 32 KB SysEx, MIDI clock at 300 BPM and a flood of 10,000 notes a second. After each, a note
must still sound (started by the audio server from its note table), and every byte that was not a message
is counted."""

from __future__ import annotations

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import PERIOD, RATE, server_lines, wait_for
from liveengine.testing.midi_rig import MidiTester

NOTE = bytes([0x90, 36, 100])  # generic profile: pad (0, 0)


def test_server_midi_plays_on_after_lost_chunks_huge_sysex_fast_clock_and_a_flood(jack_server, short_patch):
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings

    patch = load_patch(short_patch(extra_engine='render_in = "thread"'))
    engine = Engine(patch)
    assert engine.wait_rendered(timeout=60)
    reports: list[str] = []
    midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=reports.append)
    # Its ports now, its Python callback only after rtmidi has made its clients (see control/midi/ports.py
    # PortPool: with a Python JACK callback running in this process each rtmidi client waits out a timeout).
    controller = MidiTester(jack_server.name, client="stand-in", port="pads", activate=False)
    c = engine.shared.counter
    try:
        midi.prepare()
        controller.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        midi.start()
        assert wait_for(lambda: any("stand-in:pads out connected" in r for r in reports), 5), reports
        # The MIDI thread publishes the note table on its next pass after the connection; until then a note is not the
        # server's to start. As its sibling in test_server_midi.py does, wait for it: beside the busy test pass, a
        # first note sent at once after the connection was neither started nor received within 5 s (1 run in 8;
        # not reproduced in 14 runs of this file beside it; the message below now says what the rig and JACK saw).
        assert wait_for(lambda: engine.shared.note_slots[0, NOTE[1]] != 0, 5)

        # Every message the server parses goes to the control process, which counts it received, or is dropped at
        # the event FIFO (counted): settled when the control process has caught up with the server.
        received0, dropped0, messages0 = midi.counters.received, c("events_dropped"), c("midi_messages")

        def settled() -> bool:
            return midi.counters.received - received0 + c("events_dropped") - dropped0 == c("midi_messages") - messages0

        def then_a_note_sounds(events) -> None:
            """Send `events` (offsets in frames from a little ahead), then one note; it must be started by the server."""
            started = midi.counters.server_started
            at = controller.frame_time() + 2 * PERIOD
            last = max((offset for offset, _ in events), default=0)
            controller.send_many([(at + offset, data) for offset, data in events] + [(at + last + PERIOD, NOTE)])
            assert wait_for(lambda: controller.pending() == 0, 20)
            assert wait_for(lambda: midi.counters.server_started > started, 5), (
                midi.counters, reports, controller.written[-3:], at, f"late writes {controller.late_writes}", c("frame"),
                c("midi_messages"), c("midi_stray"), c("xruns"), server_lines(jack_server.name)[-5:])

        # A SysEx whose first chunk was lost: its middle and end arrive as a data bytes and an F7.
        then_a_note_sounds([(0, bytes([0x01, 0x02, 0x03])), (64, bytes([0x04, 0xF7]))])
        assert c("midi_stray") == 5  # four data bytes with no status, and an F7 outside a SysEx

        # A 32 KB SysEx in 256-byte chunks, one cycle apart (as a USB-MIDI bridge hands them on).
        sysex = bytes([0xF0, 0x7D]) + bytes(i % 128 for i in range(32764)) + bytes([0xF7])
        chunks = [sysex[i : i + 256] for i in range(0, len(sysex), 256)]
        then_a_note_sounds([(n * PERIOD, chunk) for n, chunk in enumerate(chunks)])
        assert c("midi_stray") == 5 and c("midi_sysex_unterminated") == 0  # skipped whole, nothing mistaken

        # MIDI clock at 300 BPM (24 a beat: 120 a second) for half a second, with notes on the beat.
        messages = c("midi_messages")
        tick = RATE // 120
        clock = [(i * tick, bytes([0xF8])) for i in range(60)] + [(i * 24 * tick + 7, NOTE) for i in range(3)]
        then_a_note_sounds(sorted(clock, key=lambda e: e[0]))
        assert wait_for(lambda: c("midi_messages") - messages == 60 + 3 + 1, 5), c("midi_messages") - messages

        # 20,000 notes a second for half a second (twice the rate asked of it, four times the control
        # process's rate limit): the server starts what its voices allow; every message is either booked by
        # the control process or counted as dropped (rate limit or event FIFO), the loss is said, and the
        # next note still sounds.
        # The server started the last note before the control process read it: wait for that, or the flood's count
        # would take in the clock's last message (it once read 10,002 for 10,001).
        assert wait_for(settled, 10), (midi.counters.received - received0, c("events_dropped") - dropped0, c("midi_messages") - messages0)
        messages, received, events_dropped = c("midi_messages"), midi.counters.received, c("events_dropped")
        flooded = midi.counters.flood_dropped
        flood = [(i * RATE // 20000, bytes([0x90, 36 + i % 8, 100])) for i in range(10000)]
        then_a_note_sounds(flood)
        assert wait_for(lambda: c("midi_messages") - messages == 10001, 5), c("midi_messages") - messages
        assert wait_for(lambda: midi.counters.received - received + c("events_dropped") - events_dropped == 10001, 10), \
            (f"received {midi.counters.received - received}, dropped in the event FIFO {c('events_dropped') - events_dropped}, "
             f"by the rate limit {midi.counters.flood_dropped - flooded}, server xruns {c('xruns')}")
        assert midi.counters.flood_dropped - flooded + c("events_dropped") - events_dropped > 0
        assert wait_for(lambda: any("dropped" in r for r in reports), 5), reports  # the loss is said
        assert engine.backend.alive and not engine.device_lost
    finally:
        controller.close()
        midi.close()
        engine.stop()
