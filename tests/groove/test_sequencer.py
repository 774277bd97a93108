"""The groove sequencer on its own: each hit's frame from the tempo map, swing and offsets;
switches on the bar; a late bar keeps the groove; fills; tempo changes; performance controls."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.errors import LiveEngineError
from liveengine.groove.pattern import Pattern
from liveengine.groove.sequencer import Decoded, GrooveSequencer, Performance, TempoMap

RATE = 48000


def groove(label, cells, steps=32, voices=9):
    """cells: {(step, voice): (velocity, offset)}; hit probability 1 there, 0 elsewhere."""
    p = Pattern.empty(steps, voices)
    for (s, v), (vel, off) in cells.items():
        p.hits[s, v], p.velocities[s, v], p.offsets[s, v] = 1.0, vel, off
    d = Decoded(label)
    d.set(p)
    return d


def sequencer(**kwargs):
    played = []
    seq = GrooveSequencer(lambda voice, velocity, frame: played.append((frame, voice, round(velocity, 4))) or True, RATE, 120.0,
                          horizon_frames=128, log=10000, **kwargs)
    return seq, played


def run(seq, until):
    for now in range(0, until, 128):
        seq.feed(now)


def test_every_hit_lands_on_its_step_frame_plus_swing_and_offset():
    a = groove("a", {(0, 0): (1.0, 0.0), (1, 2): (0.5, 0.25), (4, 1): (0.8, -0.125), (7, 2): (0.5, -0.5)})
    seq, played = sequencer(performance=Performance(swing=0.2, humanise=1.0, dynamics=1.0))
    seq.start(a, 1000)
    run(seq, 2 * 32 * 6000)
    fps = RATE * 60 / (120 * 4)  # 6000 frames a 16th
    expected = []
    for cycle in range(2):
        for step, voice, offset in ((0, 0, 0.0), (1, 2, 0.25), (4, 1, -0.125), (7, 2, -0.5)):
            n = cycle * 32 + step
            expected.append(int(round(1000 + n * fps + (0.2 * fps if n % 2 else 0) + offset * fps)))
    assert [f for f, _, _ in played[:8]] == expected
    seq_quantised, played_q = sequencer(performance=Performance(humanise=0.0))
    seq_quantised.start(a, 0)
    run(seq_quantised, 32 * 6000)
    assert [f % 6000 for f, _, _ in played_q[:4]] == [0, 0, 0, 0]  # humanise 0: on the grid


def test_ten_minutes_at_120_bpm_do_not_drift_and_a_tempo_change_starts_at_the_next_unscheduled_step():
    tempo = TempoMap(RATE, 120.0, 4)
    assert tempo.frame_of(4800) == 10 * 60 * RATE  # 10 minutes of 16ths at 120 BPM: exactly
    assert TempoMap(44100, 93.0, 4).frame_of(3720) == 10 * 60 * 44100  # and where a 16th is not a whole number of frames
    a = groove("a", {(s, 0): (1.0, 0.0) for s in range(32)})
    seq, played = sequencer(performance=Performance(humanise=0.0))
    seq.start(a, 0)
    run(seq, 10 * 6000)
    first_unscheduled = seq.next_step
    seq.set_bpm(60.0)
    run(seq, 40 * 6000)
    frames = [f for f, _, _ in played]
    assert frames[:first_unscheduled + 1] == [n * 6000 for n in range(first_unscheduled + 1)]  # that step keeps its frame
    assert np.all(np.diff(frames[first_unscheduled:]) == 12000)  # the new tempo from that step on
    with pytest.raises(LiveEngineError, match="is not a tempo; allowed: 20 to 300 BPM"):
        seq.set_bpm(0.0)
    with pytest.raises(LiveEngineError, match="is not a tempo"):
        seq.set_bpm(float("nan"))


def test_a_switch_waits_for_the_next_bar_and_a_late_bar_keeps_the_groove():
    a = groove("a", {(s, 0): (1.0, 0.0) for s in range(32)})
    b = groove("b", {(s, 1): (1.0, 0.0) for s in range(32)})
    seq, played = sequencer()
    seq.start(a, 0)
    run(seq, 5 * 6000)
    seq.switch(b)
    run(seq, 40 * 6000)
    switched = next(e.step for e in seq.events if e.label == "b")
    assert switched == 16 and seq.late_bars == 0
    late = Decoded("late")  # not decoded yet
    seq.switch(late)
    run(seq, 60 * 6000)
    assert seq.late_bars >= 1 and all(e.label == "b" for e in seq.events if e.step >= 32)  # the groove played on
    late.set(groove("x", {(0, 3): (1.0, 0.0)}).pattern)
    run(seq, 100 * 6000)
    assert any(e.label == "late" and e.step % 16 == 0 for e in seq.events)


def test_beat_and_now_quantise():
    a = groove("a", {(s, 0): (1.0, 0.0) for s in range(32)})
    b = groove("b", {(s, 1): (1.0, 0.0) for s in range(32)})
    for quantise in ("beat", "now"):
        seq, _ = sequencer(quantise=quantise)
        seq.start(a, 0)
        run(seq, 5 * 6000)
        unscheduled = seq.next_step  # 7: step 6 is already queued (it may sound half a step early)
        seq.switch(b, frame=5 * 6000 + 1)
        run(seq, 20 * 6000)
        expected = 8 if quantise == "beat" else unscheduled
        assert unscheduled == 7 and next(e.step for e in seq.events if e.label == "b") == expected, quantise


def test_a_fill_plays_one_bar_then_the_groove_returns_where_it_would_have_been():
    a = groove("a", {(s, 0): (1.0, 0.0) for s in range(32)})
    fill = groove("fill", {(s, 5): (1.0, 0.0) for s in range(16)})
    seq, _ = sequencer()
    seq.start(a, 0)
    run(seq, 3 * 6000)
    seq.arm_fill(fill)
    run(seq, 64 * 6000)
    labels = {e.step: e.label for e in seq.events}
    assert [labels[s] for s in (15, 16, 31, 32, 40)] == ["a", "fill", "fill", "a", "a"]
    assert next(e.voice for e in seq.events if e.step == 32) == 0


def test_density_mute_and_dynamics():
    p = Pattern.empty()
    p.hits[0, :3] = [0.9, 0.4, 0.6]
    p.velocities[0, :3] = [1.0, 0.5, 0.2]
    d = Decoded("d")
    d.set(p)
    seq, played = sequencer(performance=Performance(density=0.5, dynamics=0.0))
    seq.start(d, 0)
    run(seq, 6000)
    assert sorted(v for _, v, _ in played) == [0, 2]  # probability >= 0.5
    assert {vel for _, _, vel in played} == {0.6}  # dynamics 0: all at the mean velocity
    seq.set_performance(density=0.7, muted=frozenset({0}), dynamics=1.0)
    played.clear()
    run(seq, 33 * 6000)
    assert sorted(v for _, v, _ in played) == [1, 2]



def test_a_timed_stop_schedules_no_hit_at_or_after_its_frame():
    a = groove("a", {(s, 0): (1.0, 0.0) for s in range(32)})
    seq, played = sequencer()
    seq.start(a, 0)
    seq.stop(frame=10 * 6000 + 1)  # known ahead of time: steps 0..10 play, 11 on do not
    run(seq, 40 * 6000)
    assert [f for f, _, _ in played] == [n * 6000 for n in range(11)] and not seq.running
