"""The groove follows MIDI clock from a stand-in sender through a real JACK server (dummy driver): the audio
server reads the clock in its own callback with each tick's frame, the control process fits tempo and
phase, and the groove's bar lines land on the clock's; a tempo change is followed within a beat; stop,
song position and continue are honoured."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from liveengine.audio.spec import DeviceSpec
from liveengine.control.midi.input import MidiInput
from liveengine.control.midi.mapping import MidiSettings
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import PERIOD, RATE
from liveengine.testing.midi_rig import MidiTester

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "groove"))
from test_groove_render import groove_patch  # noqa: E402

MS = RATE // 1000
FAST, SLOW = 288.0, 240.0  # BPM: short bars keep the test short


def tick_frames(bpm: float, first: float, count: int) -> list[int]:
    return [int(round(first + i * RATE * 60 / (bpm * 24))) for i in range(count)]


def test_the_groove_follows_midi_clock_through_jack(jack_server, tmp_path):
    patch = load_patch(groove_patch(tmp_path, extra='tempo_source = "midi-clock"'))
    engine = Engine(patch)
    sender = MidiTester(jack_server.name, client="clock-stand-in", port="clock", activate=False)
    midi = None
    reports: list[str] = []
    try:
        assert engine.wait_rendered(timeout=60)
        midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=reports.append)
        midi.prepare()  # rtmidi's clients before any Python JACK callback runs here (see ports.PortPool)
        sender.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        seen: list[tuple[int, int]] = []  # (status, frame) of every clock message, as the control process got it
        follow = engine.midi_clock
        engine.midi_clock = lambda status, d1, d2, frame: seen.append((status, frame)) or follow(status, d1, d2, frame)
        midi.start()
        assert any("clock-stand-in:clock out connected" in r for r in reports), reports
        groove = engine.groove
        groove.sequencer.set_performance(swing=0.0, humanise=0.0)
        groove.pad(0, 0, None, engine.now_frame())  # plays on the patch's tempo until the clock comes

        first = sender.frame_time() + RATE // 5
        steady = tick_frames(FAST, first, 4 * 96)  # 4 bars at 288 BPM
        changed = tick_frames(SLOW, steady[-1] + RATE * 60 / (FAST * 24), 96)  # 1 bar at 240 BPM
        stop_at = changed[-1] + 300
        resume = stop_at + RATE // 4
        after = tick_frames(SLOW, resume + 200, 48)  # from song position 32 16ths (beat 8)
        sender.send_many([(first - 200, bytes([0xFA]))] + [(f, bytes([0xF8])) for f in steady + changed] +
                         [(stop_at, bytes([0xFC])), (stop_at + 100, bytes([0xF2, 32, 0])), (resume, bytes([0xFB]))] +
                         [(f, bytes([0xF8])) for f in after])
        deadline = time.monotonic() + 40
        while (sender.pending() or len(seen) < 3 + len(steady) + len(changed) + len(after)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert [s for s, _ in seen].count(0xF8) == len(steady) + len(changed) + len(after), seen[:5]
        ticks = [f for s, f in seen if s == 0xF8]  # the server's frames: engine frames
        events = list(groove.sequencer.events)

        def beat_line_errors(tick_index: list[int], lo: int, hi: int, every: int) -> list[int]:
            # (a song position sends the count back, so a step is matched to ticks by its frame's range too)
            """Each groove step on a tick of `tick_index` positions lo..hi that falls on a multiple of `every` ticks."""
            out = []
            for e in events:
                position = e.step * 6
                if lo <= position < hi and position % every == 0 and tick_index[lo] - 6 * MS <= e.frame <= tick_index[hi - 1] + 6 * MS:
                    out.append(e.frame - tick_index[position])
            return out

        # After 2 bars of lock, every bar line (and every beat) of bars 3 and 4 within 1 ms of the clock's.
        bars = beat_line_errors(ticks, 2 * 96, 4 * 96, 96)
        beats = beat_line_errors(ticks, 2 * 96, 4 * 96, 24)
        assert len(bars) >= 2 and len(beats) >= 8, (bars, beats)
        assert max(abs(e) for e in beats) <= MS, beats
        # A tempo change: from one beat after it, every beat on the new clock's within 1 ms.
        beats_after_change = beat_line_errors(ticks, 4 * 96 + 24, 5 * 96, 24)
        assert len(beats_after_change) >= 3 and max(abs(e) for e in beats_after_change) <= MS, beats_after_change
        clock = engine.tempo_sources.midi
        assert abs(clock.bpm - SLOW) < 0.01 and clock.changes >= 1
        # Stop: nothing scheduled past what was queued ahead; song position 32 then continue: step 32 on the first tick.
        stop_frame = ticks[5 * 96 - 1]
        silent = [e for e in events if stop_frame + 0.2 * RATE < e.frame < ticks[5 * 96]]
        assert silent == []
        resumed = [e for e in events if e.frame >= ticks[5 * 96] - MS]
        assert resumed and resumed[0].step == 32 and abs(resumed[0].frame - ticks[5 * 96]) <= MS, resumed[:2]
        # (late writes: the stand-in's callback ran late and wrote overdue ticks together, which liveengine rightly
        # counts as a flood: the test process's loss, not the engine's)
        assert (clock.stops, clock.positions, clock.continues, clock.flood) == (1, 1, 1, 0), f"late writes {sender.late_writes}"
        assert groove.sequencer.dropped == 0
    finally:
        sender.close()  # first: its Python JACK callback would hold up the rtmidi ports' closing (see ports.PortPool)
        if midi is not None:
            midi.stop()
        engine.stop()
        if midi is not None:
            midi.close()
