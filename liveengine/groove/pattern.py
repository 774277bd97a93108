"""Drum patterns as arrays: 2 bars of 16ths x 9 voices x (hit, velocity, offset), read from MIDI.

The representation is GrooVAE's (Gillick et al. 2019): every step holds, per voice, whether it
is hit, the hit's velocity (0..1) and its micro-timing offset from the grid as a fraction of a
step (-0.5..0.5). Where a voice is hit twice within one step, the louder hit is kept.

This module needs numpy and mido only: the engine, the training data build and the bench share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveengine.errors import LiveEngineError

STEPS = 32
STEPS_PER_BEAT = 4
VOICES = ("kick", "snare", "hat_closed", "hat_open", "tom_low", "tom_mid", "tom_high", "crash", "ride")
DRUM_CHANNEL = 9  # MIDI channel 10, counted from 0

# The Groove MIDI Dataset's map onto 9 voices (General MIDI plus the Roland TD-11's extra notes:
# 22/26 hi-hat edge, 58 tom rim, 59 ride edge), with a few more General MIDI keys a user's loop may
# hold (35 acoustic kick, 39 clap, 41 low floor tom, 54 tambourine) sent to the nearest voice.
NOTE_TO_VOICE = {
    36: 0, 35: 0,
    38: 1, 37: 1, 40: 1, 39: 1,
    42: 2, 22: 2, 44: 2, 54: 2,
    46: 3, 26: 3,
    43: 4, 58: 4, 41: 4,
    47: 5, 45: 5,
    50: 6, 48: 6,
    49: 7, 55: 7, 57: 7, 52: 7,
    51: 8, 59: 8, 53: 8,
}
# One General MIDI key per voice, for writing patterns back as MIDI.
VOICE_TO_NOTE = (36, 38, 42, 46, 43, 47, 50, 49, 51)


@dataclass
class Pattern:
    """hits 0/1, velocities 0..1 and offsets -0.5..0.5 (a fraction of a step), each float32 [steps, voices]."""

    hits: np.ndarray
    velocities: np.ndarray
    offsets: np.ndarray

    @classmethod
    def empty(cls, steps: int = STEPS, voices: int = len(VOICES)) -> "Pattern":
        return cls(*(np.zeros((steps, voices), np.float32) for _ in range(3)))

    def stacked(self) -> np.ndarray:
        """[3, steps, voices]: hits, velocities, offsets."""
        return np.stack([self.hits, self.velocities, self.offsets])

    @property
    def count(self) -> int:
        return int((self.hits > 0.5).sum())


class MidiPatternError(LiveEngineError):
    """A MIDI file that cannot give a drum pattern."""


@dataclass(frozen=True)
class DrumHit:
    step: float  # position in 16th-note steps from the file's start (tempo-independent: read from ticks)
    voice: int
    velocity: int  # 1..127


def read_drum_hits(path: Path) -> tuple[list[DrumHit], float]:
    """Every drum note of a MIDI file as steps from its start, and the file's length in steps.

    Drum notes are the channel-10 notes in NOTE_TO_VOICE; a file with no channel-10 notes at all
    (a loop exported on another channel) has its mapped notes on any channel read instead.
    MidiPatternError, in one sentence, for a file that is not MIDI, is not timed in ticks per beat,
    is type 2 (independent sequences), or holds no drum notes.
    """
    import mido

    path = Path(path)
    try:
        midi = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise MidiPatternError(f"groove MIDI file {path} does not exist.") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:  # mido's ways of saying "not a MIDI file"
        raise MidiPatternError(f"groove MIDI file {path.name} is not a Standard MIDI File ({type(exc).__name__}: {str(exc)[:80]}).",
                               "Give a .mid file with drum notes on channel 10.") from None
    timing = "a Standard MIDI File of type 0 or 1, timed in ticks per beat, 1 or more"
    if midi.ticks_per_beat <= 0:  # 0 would divide by zero; mido gives SMPTE timing (frames, not beats) as a negative number
        found = "0 ticks per beat" if midi.ticks_per_beat == 0 else f"SMPTE timing (division {midi.ticks_per_beat}), not ticks per beat"
        raise MidiPatternError(f"groove MIDI file {path.name} has {found}; a groove needs {timing}.",
                               "Export it again from your DAW as a MIDI file timed in beats.")
    if midi.type == 2:  # independent sequences: reading its tracks together would mix patterns
        raise MidiPatternError(f"groove MIDI file {path.name} is type 2 ({len(midi.tracks)} independent sequences); a groove needs {timing}.",
                               "Export each pattern as its own type 0 or 1 file.")
    per_tick = STEPS_PER_BEAT / midi.ticks_per_beat
    notes: list[tuple[int, int, int, int]] = []  # tick, channel, note, velocity
    end = 0
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                notes.append((tick, message.channel, message.note, message.velocity))
        end = max(end, tick)
    channel_10 = [n for n in notes if n[1] == DRUM_CHANNEL]
    chosen = channel_10 if channel_10 else notes
    hits = [DrumHit(t * per_tick, NOTE_TO_VOICE[n], v) for t, _, n, v in chosen if n in NOTE_TO_VOICE]
    if not hits:
        found = f"{len(notes)} notes, none of them drum keys" if notes else "no notes"
        raise MidiPatternError(f"groove MIDI file {path.name} has {found}; a groove needs drum notes "
                               f"(General MIDI keys {min(NOTE_TO_VOICE)}..{max(NOTE_TO_VOICE)}, on channel 10).")
    hits.sort(key=lambda h: h.step)
    return hits, max(end * per_tick, hits[-1].step)


def pattern_at(hits: list[DrumHit], start: int, steps: int = STEPS) -> Pattern:
    """The pattern of `steps` steps from step `start`: each hit on its nearest step, the louder of two kept."""
    pattern = Pattern.empty(steps)
    for hit in hits:
        index = int(np.floor(hit.step + 0.5))  # round half up: an offset is in [-0.5, 0.5)
        cell = index - start
        if not 0 <= cell < steps:
            continue
        velocity = hit.velocity / 127.0
        if pattern.hits[cell, hit.voice] and pattern.velocities[cell, hit.voice] >= velocity:
            continue
        pattern.hits[cell, hit.voice] = 1.0
        pattern.velocities[cell, hit.voice] = velocity
        pattern.offsets[cell, hit.voice] = hit.step - index
    return pattern


def pattern_from_midi(path: Path, bar: int = 0) -> Pattern:
    """Two bars of a MIDI file's drums, from bar `bar` (4/4: 16 steps a bar). MidiPatternError if empty there."""
    hits, _ = read_drum_hits(path)
    pattern = pattern_at(hits, bar * 16)
    if pattern.count == 0:
        raise MidiPatternError(f"groove MIDI file {Path(path).name} has no drum notes in bars {bar + 1}-{bar + 2}.")
    return pattern


def windows(hits: list[DrumHit], length: float, hop: int = 16, steps: int = STEPS, min_hits: int = 4) -> list[tuple[int, Pattern]]:
    """Every `steps`-long pattern starting on a multiple of `hop` that lies within the file
    (a file shorter than `steps`, such as a one-bar fill, gives one pattern from its start);
    patterns with fewer than `min_hits` hits are left out."""
    starts = list(range(0, max(1, int(length) - steps + 1), hop)) if length >= steps else [0]
    found = []
    for start in starts:
        pattern = pattern_at(hits, start, steps)
        if pattern.count >= min_hits:
            found.append((start, pattern))
    return found
