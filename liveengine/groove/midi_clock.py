"""MIDI clock in: 24 ticks a beat, start / stop / continue and song position, turned into a `BeatMap`.

Ticks come with engine frames: exact when the audio server reads MIDI in its JACK callback, the
arrival cycle's frame through rtmidi (jitter up to a period plus the poll). Tempo and phase are a
least-squares line through the last WINDOW ticks (frame against tick number), so jitter averages
out and the bar line is the line's, not the last tick's. A tempo change shows as CHANGE_TICKS ticks
in a row off the line, past the jitter the line has seen, on the same side: the fit then starts
again from those ticks, so a change is followed within a few ticks.

What is not used is counted, never an error: ticks closer than a flood allows (`flood`), a line
whose tempo is off the groove's range (`out_of_range`), a tick after a long silence (`gaps`: the fit
starts again). Song position (in 16ths) moves the count; Start sets it to 0 and the next tick is
beat 0; Stop holds the groove; Continue plays on from the position.

Thread: `message` from one MIDI thread (a lock guards it against a second path); `beat_map` from any.
"""

from __future__ import annotations

import threading

import numpy as np

from liveengine.groove.sequencer import BPM_RANGE
from liveengine.groove.tempo import BeatMap, TempoSource

TICKS_PER_BEAT = 24
WINDOW = 192  # ticks in the fit: two bars (a tempo change restarts it, see CHANGE_TICKS)
CHANGE_TICKS = 3  # ticks in a row off the line, on one side: a tempo change
JITTER_FLOOR_S = 0.003  # residuals under this never mean a change (rtmidi's jitter is about a JACK period)
GAP_BEATS = 2.0  # no tick for this many beats: the clock paused; the fit starts again
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2


class MidiClock(TempoSource):
    name = "midi-clock"

    def __init__(self, samplerate: int) -> None:
        self.samplerate = samplerate
        self.min_interval = samplerate * 60.0 / (BPM_RANGE[1] * TICKS_PER_BEAT) / 2  # half a tick at the fastest tempo
        self._positions = np.zeros(WINDOW)
        self._frames = np.zeros(WINDOW)
        self._count = 0  # ticks in the window
        self._next = 0  # ring index
        self.position = 0  # the song position, in ticks, of the next tick to come
        self.playing = False
        self.bpm: float | None = None  # the last estimate (kept across stops as a start's first guess)
        self._last_frame: float | None = None
        self._off = 0  # ticks in a row off the line
        self._off_sign = 0
        self._map: BeatMap | None = None
        self._lock = threading.Lock()
        self.ticks = self.flood = self.out_of_range = self.gaps = self.changes = 0
        self.starts = self.stops = self.continues = self.positions = 0

    # ---- messages ----
    def message(self, status: int, data1: int, data2: int, frame: float) -> bool:
        """One message at engine frame `frame`; True if it was clock (so not a note or a knob)."""
        with self._lock:
            if status == CLOCK:
                self._tick(float(frame))
            elif status == START:
                self.starts += 1
                self.position, self.playing = 0, True
                self._restart()
            elif status == CONTINUE:
                self.continues += 1
                self.playing = True
                self._restart()
            elif status == STOP:
                self.stops += 1
                self.playing = False
                self._publish_stopped(frame)
            elif status == SONG_POSITION:
                self.positions += 1
                self.position = ((data2 << 7) | data1) * (TICKS_PER_BEAT // 4)
                self._restart()
                self._publish_stopped(frame)
            else:
                return False
            return True

    def _restart(self) -> None:
        self._count, self._next, self._off, self._last_frame = 0, 0, 0, None

    def _publish_stopped(self, frame: float) -> None:
        if self.bpm is not None:
            self._map = BeatMap(float(frame), self.position / TICKS_PER_BEAT, self.bpm, self.samplerate, playing=False)

    def _tick(self, frame: float) -> None:
        self.ticks += 1
        position = self.position
        self.position += 1
        if self._last_frame is not None:
            interval = frame - self._last_frame
            if interval < self.min_interval:
                self.flood += 1  # counted in the song position (the sender counts it), not in the fit
                return
            if self.bpm is not None and interval > GAP_BEATS * self.samplerate * 60.0 / self.bpm:
                self.gaps += 1
                self._restart()
        self._last_frame = frame
        if self._count >= 2:
            self._check_change(position, frame)
        self._positions[self._next], self._frames[self._next] = position, frame
        self._next = (self._next + 1) % WINDOW
        self._count = min(WINDOW, self._count + 1)
        if not self.playing:
            return
        self._publish(position)

    def _fit(self) -> tuple[float, float, float]:
        """(frames per tick, frame at the newest tick's position, residual RMS) of the window's line."""
        n = self._count
        if n == WINDOW:
            positions, frames = self._positions, self._frames
        else:
            positions, frames = self._positions[:n], self._frames[:n]
        newest = self._positions[(self._next - 1) % WINDOW]
        x = positions - newest
        mx, my = x.mean(), frames.mean()
        dx = x - mx
        slope = float(np.dot(dx, frames - my) / np.dot(dx, dx))
        at_newest = float(my - slope * mx)
        residual = frames - (at_newest + slope * x)
        return slope, at_newest, float(np.sqrt(np.mean(residual ** 2)))

    def _check_change(self, position: int, frame: float) -> None:
        slope, at_newest, rms = self._fit()
        newest = self._positions[(self._next - 1) % WINDOW]
        error = frame - (at_newest + slope * (position - newest))
        threshold = max(JITTER_FLOOR_S * self.samplerate, 4.0 * rms)
        sign = 1 if error > 0 else -1
        if abs(error) > threshold:
            self._off = self._off + 1 if sign == self._off_sign else 1
            self._off_sign = sign
        else:
            self._off = 0
        if self._off >= CHANGE_TICKS:  # keep only the ticks off the line: the new tempo's
            keep = CHANGE_TICKS - 1  # (the tick in hand joins them next)
            idx = [(self._next - keep + i) % WINDOW for i in range(keep)]
            positions, frames = self._positions[idx].copy(), self._frames[idx].copy()
            self._count, self._next = keep, keep
            self._positions[:keep], self._frames[:keep] = positions, frames
            self._off = 0
            self.changes += 1

    def _publish(self, position: int) -> None:
        if self._count >= 2:
            slope, at_newest, _ = self._fit()
            bpm = self.samplerate * 60.0 / (slope * TICKS_PER_BEAT)
            if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
                self.out_of_range += 1
                return
            self.bpm = bpm
            frame = at_newest
        elif self.bpm is not None:  # the first tick after a start: the last tempo until the second
            frame = self._frames[(self._next - 1) % WINDOW]
        else:
            return
        self._map = BeatMap(frame, position / TICKS_PER_BEAT, self.bpm, self.samplerate, playing=True)

    # ---- the source ----
    def beat_map(self) -> BeatMap | None:
        return self._map

    def status(self) -> dict:
        return {"ticks": self.ticks, "bpm": round(self.bpm, 3) if self.bpm else 0.0, "playing": self.playing,
                "flood": self.flood, "out_of_range": self.out_of_range, "gaps": self.gaps, "changes": self.changes}
