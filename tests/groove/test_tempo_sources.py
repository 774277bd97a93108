"""One tempo source at a time: the sequencer re-anchors its step grid on a source's beat map (no step twice,
none skipped), MIDI clock's tempo and phase from jittered ticks, Live's /transport, and the choice of source
(patch, command; link without its extra says how to install it)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.groove.midi_clock import MidiClock
from liveengine.groove.sequencer import GrooveSequencer, Performance
from liveengine.groove.tempo import BeatMap
from liveengine.patch import load_patch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_groove_render import groove_patch  # noqa: E402
from test_sequencer import groove  # noqa: E402

RATE = 48000
MS = RATE // 1000


def every_step():
    return groove("all", {(s, 0): (1.0, 0.0) for s in range(32)})


def flat_sequencer():
    played = []
    seq = GrooveSequencer(lambda voice, velocity, frame: played.append(frame) or True, RATE, 120.0,
                          horizon_frames=128, log=100000, performance=Performance(swing=0.0, humanise=0.0, density=0.5))
    return seq, played


def test_a_switch_to_a_source_re_anchors_at_the_next_step_with_no_step_twice_or_skipped():
    seq, played = flat_sequencer()
    seq.start(every_step(), 1000)
    frame = 0
    last = None
    for source_bpm, offset in ((133.0, 20_000.0), (97.0, -3_111.0), (None, None), (150.0, 7_777.0)):
        for _ in range(500):  # 500 blocks: about 1.3 s each
            seq.feed(frame)
            frame += 128
        last = None if source_bpm is None else BeatMap(frame + offset, 7.25, source_bpm, RATE)
        seq.follow(last)
    for _ in range(500):
        seq.feed(frame)
        frame += 128
    frames = np.array([e.frame for e in seq.events], float)
    gaps = np.diff(frames)
    fastest = RATE * 60 / (150 * 4)
    slowest = RATE * 60 / (97 * 4)
    # (A source's step numbers may go back, as a song position does: what must not happen is in time.)
    assert gaps.min() >= 0.5 * fastest and gaps.max() <= 1.5 * slowest  # never two steps within half a step, nor a gap skipped
    assert seq.reanchors == 3
    # On a source, a step's number is the source's: 4 a beat, so its bar lines (step % 16 == 0) are the source's.
    bars = [e for e in seq.events if e.frame > last.frame and e.step % 16 == 0]
    assert bars and all(abs(e.frame - last.frame_of_beat(e.step / 4)) <= 0.5 for e in bars)
    assert all(abs(last.beat_at(e.frame) / 4 - round(last.beat_at(e.frame) / 4)) < 1e-6 for e in bars)


def test_a_stopped_source_holds_the_groove_and_continue_plays_from_its_position():
    seq, played = flat_sequencer()
    seq.follow(BeatMap(0.0, 0.0, 120.0, RATE))
    seq.start(every_step(), 0)
    frame = 0
    while frame < RATE:
        seq.feed(frame)
        frame += 128
    seq.follow(BeatMap(frame, 2.0, 120.0, RATE, playing=False))
    count = len(played)
    for _ in range(200):
        seq.feed(frame)
        frame += 128
    assert len(played) == count  # held
    resume = frame + 1000
    seq.follow(BeatMap(resume, 16.0, 120.0, RATE))  # a song position: bar 5
    for _ in range(200):
        seq.feed(frame)
        frame += 128
    after = [e for e in seq.events if e.frame >= resume]
    assert after[0].frame == resume and after[0].step == 64


def ticks(bpm, start_frame, count, jitter_frames, rng, first_position=0):
    per_tick = RATE * 60 / (bpm * 24)
    return [(first_position + i, start_frame + i * per_tick, start_frame + i * per_tick + rng.uniform(0, jitter_frames))
            for i in range(count)]


def test_midi_clock_locks_to_jittered_ticks_and_follows_a_tempo_change_within_a_beat():
    rng = random.Random(21)
    clock = MidiClock(RATE)
    clock.message(0xFA, 0, 0, 0)  # start: the next tick is beat 0
    jitter = 2.7 * MS  # rtmidi's: up to a JACK period of 128 frames, and the poll
    errors = []
    for position, true_frame, frame in ticks(120.0, 5000.0, 4 * 96, jitter, rng):
        clock.message(0xF8, 0, 0, frame)
        if position >= 2 * 96 and position % 96 == 0:  # after 2 bars of lock: the next bar line
            m = clock.beat_map()
            bar = m.frame_of_beat(position / 24 + 4)
            errors.append(bar - (true_frame + 96 * RATE * 60 / (120 * 24) + jitter / 2))
    assert max(abs(e) for e in errors) < MS, errors  # the bar line within 1 ms (the jitter's mean is a constant latency)
    # A tempo change: followed within one beat (24 ticks).
    base = 5000.0 + 4 * 96 * RATE * 60 / (120 * 24)
    for position, true_frame, frame in ticks(140.0, base, 24, jitter, rng, first_position=4 * 96):
        clock.message(0xF8, 0, 0, frame)
    m = clock.beat_map()
    assert abs(m.bpm - 140.0) < 0.7 and clock.changes >= 1
    assert abs(m.frame_of_beat(m.beat + 1) - (true_frame + RATE * 60 / 140 + jitter / 2)) < 2 * MS


def test_midi_clock_start_stop_continue_song_position_and_floods_are_counted():
    clock = MidiClock(RATE)
    per_tick = RATE * 60 / (100 * 24)
    frame = 1000.0
    clock.message(0xFA, 0, 0, frame)
    for _ in range(30):
        clock.message(0xF8, 0, 0, frame)
        frame += per_tick
    m = clock.beat_map()
    assert m.playing and abs(m.bpm - 100) < 1e-6 and m.beat == 29 / 24
    clock.message(0xFC, 0, 0, frame)
    assert not clock.beat_map().playing
    clock.message(0xF2, 0x10, 0x01, frame)  # song position 144 16ths = beat 36
    clock.message(0xFB, 0, 0, frame)
    clock.message(0xF8, 0, 0, frame + 5000)
    m = clock.beat_map()
    assert m.playing and m.beat == 36.0 and m.frame == frame + 5000 and m.bpm == pytest.approx(100)
    for i in range(1000):  # a flood: a thousand ticks in a millisecond
        clock.message(0xF8, 0, 0, frame + 5000 + i * 0.05)
    assert clock.flood >= 999 and clock.beat_map().bpm == pytest.approx(100)
    assert clock.message(0x90, 60, 100, frame) is False  # a note is not clock
    gap = clock.gaps
    clock.message(0xF8, 0, 0, frame + 10 * RATE)  # ten seconds later: a gap, the fit starts again
    assert clock.gaps == gap + 1


@pytest.fixture
def engine(tmp_path):
    engine = Engine(load_patch(groove_patch(tmp_path, extra='tempo_source = "transport"')))
    engine.wait_rendered(30)
    engine.start(OfflineBackend(RATE, 128, 2))
    yield engine
    engine.stop()


def test_transport_bundles_put_the_groove_on_lives_bar_line(engine):
    groove = engine.groove
    groove.sequencer.set_performance(swing=0.0, humanise=0.0)
    assert engine.status()["tempo_source"] == "transport"
    bundle_frame = 12_345
    engine.submit(make_command("/transport", [128.0, 6.5, 1], at=bundle_frame))  # Live at beat 6.5 (bar 2, beat 3)
    groove.pad(0, 0, None, 0)
    engine.backend.render(3 * RATE, groove.feed)
    live = BeatMap(bundle_frame, 6.5, 128.0, RATE)
    bars = [e for e in groove.sequencer.events if e.step % 16 == 0]
    assert len(bars) >= 2
    for e in bars:  # each of the groove's bar lines on Live's, to the sample
        assert e.frame == round(live.frame_of_beat(e.step / 4)) and (e.step / 4) % 4 == 0
    engine.submit(make_command("/transport", [128.0, 20.0, 0]))  # stopped (no timetag: at arrival, counted)
    count = groove.sequencer.scheduled
    engine.backend.render(RATE, groove.feed)
    assert groove.sequencer.scheduled <= count + 8 and engine.status()["transport_untimed"] == 1  # only those queued ahead


def test_the_tempo_source_command_switches_and_link_without_its_extra_says_how_to_install_it(engine, monkeypatch):
    engine.submit(make_command("/tempo/source", ["midi-clock"]))
    assert engine.status()["tempo_source"] == "midi-clock"
    assert any("groove tempo source: midi-clock (was transport)" in r for r in engine.reports)
    with pytest.raises(LiveEngineError, match="tempo source 'bogus'|argument 'name' is 'bogus'"):
        make_command("/tempo/source", ["bogus"])
    monkeypatch.setitem(sys.modules, "link", None)  # as if LinkPython-extern were not installed
    with pytest.raises(LiveEngineError) as error:
        engine.submit(make_command("/tempo/source", ["link"]))
    assert "optional extra" in error.value.message and "pip install 'liveengine[link]'" in error.value.fix
    assert engine.status()["tempo_source"] == "midi-clock"  # still following the clock


def test_transport_averages_the_phase_of_jittered_bundles_and_counts_a_jump():
    from liveengine.groove.tempo import TransportTempo

    rng = random.Random(7)
    transport = TransportTempo(RATE)
    truth = BeatMap(10_000.0, 0.0, 125.0, RATE)
    for i in range(40):  # a bundle every 50 ms, each turned into a frame with up to 2 ms of jitter
        beat = i * 0.05 * 125 / 60
        transport.update(125.0, beat, True, int(truth.frame_of_beat(beat) + rng.uniform(-2, 2) * MS), True)
    m = transport.beat_map()
    assert abs(m.frame_of_beat(8.0) - truth.frame_of_beat(8.0)) < 0.5 * MS  # the bar line: jitter averaged
    transport.update(125.0, 100.0, True, int(truth.frame_of_beat(3.0)), True)  # Live located elsewhere
    assert transport.jumps == 1 and transport.beat_map().beat_at(truth.frame_of_beat(3.0)) == pytest.approx(100.0, abs=1e-3)


def test_a_transport_bundle_over_udp_is_followed_at_its_timetags_frame(tmp_path):
    import socket
    import time

    from liveengine.control.osc.server import OscServer, build_bundle
    from liveengine.testing.server import queued_records

    engine = Engine(load_patch(groove_patch(tmp_path, extra='tempo_source = "transport"')))
    server = OscServer(engine, "127.0.0.1", 0, recordings_dir=tmp_path)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert engine.wait_rendered(timeout=60)
        server.start()
        # A stand-in for the Max device: Live's transport and a hit in one timetagged bundle.
        # Two seconds ahead (the horizon is 10 s): a loaded machine that reads it late still finds it ahead.
        client.sendto(build_bundle(time.time() + 2.0, ("/transport", 128.0, 6.5, 1), ("/pad", 0, 0, 1.0)), server.address)
        hits, deadline = [], time.monotonic() + 10
        while (engine.tempo_sources.transport.updates == 0 or not hits) and time.monotonic() < deadline:
            hits += queued_records(engine)  # taking them off the FIFO
            time.sleep(0.01)
        m = engine.tempo_sources.beat_map()
        hit = hits[0]
        assert (m.beat, m.bpm, m.playing) == (6.5, 128.0, True)
        assert m.frame == hit[0] + hit[7]  # the hit's target frame: one bundle, one frame
        assert engine.status()["transport_untimed"] == 0
    finally:
        client.close()
        server.stop()
        engine.stop()
