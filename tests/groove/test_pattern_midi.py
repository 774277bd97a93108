"""MIDI files -> 2-bar patterns (liveengine/groove/pattern.py), on real MIDI files written with mido."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from liveengine.groove.pattern import VOICES, MidiPatternError, pattern_from_midi, read_drum_hits, windows

TPB = 480


def write_midi(path, notes, channel=9, tpb=TPB, tempo=500000):
    """notes: (tick, note, velocity); written as note_on/note_off pairs in one track."""
    midi = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    events = sorted([(t, "note_on", n, v) for t, n, v in notes] + [(t + 30, "note_off", n, 0) for t, n, v in notes])
    now = 0
    for tick, kind, note, velocity in events:
        track.append(mido.Message(kind, note=note, velocity=velocity, channel=channel, time=tick - now))
        now = tick
    midi.save(str(path))
    return path


def test_hits_land_on_their_steps_with_velocity_and_offset(tmp_path):
    step = TPB // 4
    notes = [(0, 36, 127), (4 * step + 30, 38, 100), (2 * step - 40, 42, 64), (31 * step + 50, 51, 10),
             (8 * step, 36, 50), (8 * step + 10, 35, 90)]  # two kicks in one step: the louder stays
    pattern = pattern_from_midi(write_midi(tmp_path / "g.mid", notes))
    assert pattern.count == 5
    kick, snare, hat, ride = (VOICES.index(v) for v in ("kick", "snare", "hat_closed", "ride"))
    assert pattern.hits[0, kick] == 1 and pattern.velocities[0, kick] == 1.0 and pattern.offsets[0, kick] == 0
    assert pattern.offsets[4, snare] == pytest.approx(30 / step) and pattern.velocities[4, snare] == pytest.approx(100 / 127)
    assert pattern.offsets[2, hat] == pytest.approx(-40 / step)  # early: negative
    assert pattern.hits[31, ride] == 1 and pattern.offsets[31, ride] == pytest.approx(50 / step)
    assert pattern.velocities[8, kick] == pytest.approx(90 / 127) and pattern.offsets[8, kick] == pytest.approx(10 / step)
    assert np.all(np.abs(pattern.offsets) <= 0.5)


def test_a_hit_half_a_step_late_belongs_to_the_next_step(tmp_path):
    step = TPB // 4
    pattern = pattern_from_midi(write_midi(tmp_path / "g.mid", [(3 * step + step // 2, 38, 80)]))
    assert pattern.hits[4, 1] == 1 and pattern.offsets[4, 1] == pytest.approx(-0.5)


def test_windows_start_on_every_bar_and_a_short_fill_gives_one(tmp_path):
    step = TPB // 4
    long = write_midi(tmp_path / "beat.mid", [(i * step, 42, 80) for i in range(64)])
    hits, length = read_drum_hits(long)
    assert [start for start, _ in windows(hits, length)] == [0, 16]  # 64 hit steps (plus a note-off): bars 1-2 and 2-3
    fill = write_midi(tmp_path / "fill.mid", [(i * step, 47, 90) for i in range(12)])
    hits, length = read_drum_hits(fill)
    assert [(start, p.count) for start, p in windows(hits, length)] == [(0, 12)]


def test_drums_on_another_channel_are_read_when_channel_10_is_empty(tmp_path):
    pattern = pattern_from_midi(write_midi(tmp_path / "g.mid", [(0, 36, 100)], channel=0))
    assert pattern.hits[0, 0] == 1


def test_a_file_that_is_not_midi_is_one_clear_error(tmp_path):
    path = tmp_path / "loop.mid"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt junk")
    with pytest.raises(MidiPatternError, match=r"groove MIDI file loop.mid is not a Standard MIDI File .*channel 10"):
        pattern_from_midi(path)
    with pytest.raises(MidiPatternError, match="does not exist"):
        pattern_from_midi(tmp_path / "missing.mid")


def test_a_file_without_drums_is_one_clear_error(tmp_path):
    melody = write_midi(tmp_path / "melody.mid", [(0, 60, 100), (480, 64, 100)], channel=0)
    with pytest.raises(MidiPatternError, match=r"melody.mid has 2 notes, none of them drum keys"):
        pattern_from_midi(melody)
    empty = write_midi(tmp_path / "empty.mid", [])
    with pytest.raises(MidiPatternError, match="has no notes"):
        pattern_from_midi(empty)
    late = write_midi(tmp_path / "late.mid", [(TPB * 20, 36, 100)])
    with pytest.raises(MidiPatternError, match="no drum notes in bars 1-2"):
        pattern_from_midi(late)


ALLOWED = "a groove needs a Standard MIDI File of type 0 or 1, timed in ticks per beat, 1 or more"


@pytest.mark.parametrize("tpb, found", [(0, "has 0 ticks per beat"),
                                        (-6360, r"has SMPTE timing \(division -6360\), not ticks per beat")])
def test_a_file_not_timed_in_ticks_per_beat_is_one_clear_error(tmp_path, tpb, found):
    """0 divided by zero; SMPTE (mido's negative division) put every hit after tick 0 before the start, silently."""
    path = write_midi(tmp_path / "g.mid", [(t * 120, 36, 100) for t in range(16)], tpb=tpb)
    with pytest.raises(MidiPatternError, match=f"groove MIDI file g.mid {found}; {ALLOWED}"):
        read_drum_hits(path)


def test_a_type_2_file_of_independent_sequences_is_one_clear_error(tmp_path):
    """Its tracks are separate patterns: read together they would mix into one."""
    one = mido.MidiFile(str(write_midi(tmp_path / "one.mid", [(0, 36, 100), (480, 38, 100)])))
    midi = mido.MidiFile(type=2, ticks_per_beat=TPB)
    midi.tracks.extend([one.tracks[0], one.tracks[0]])
    midi.save(str(tmp_path / "two.mid"))
    with pytest.raises(MidiPatternError, match=rf"groove MIDI file two.mid is type 2 \(2 independent sequences\); {ALLOWED}"):
        pattern_from_midi(tmp_path / "two.mid")
