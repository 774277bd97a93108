"""Where the groove's tempo and bar line come from: one source at a time.

A source answers one question, `beat_map()`: a `BeatMap` (at engine frame F the beat position is B,
at T BPM, playing or not), or None to let the sequencer run free on the patch's tempo. The
sequencer re-anchors its step grid on each new map at the first step not yet scheduled
(`GrooveSequencer.follow`), so every source shares that one path and a switch never plays a step
twice or skips one. Positions are in beats (quarter notes) from the source's song start, so in 4/4
the bar lines are the beats divisible by 4 and the groove's bar lines land on the source's.

Sources (`[groove] tempo_source`, or `/tempo/source name` live):
- `patch`: the patch's BPM (and `/param tempo`), free-running from where the groove started;
- `midi-clock`: MIDI clock in (`MidiClock`), 24 ticks a beat, start/stop/continue, song position;
- `transport`: Live's transport through OSC (`/transport tempo beat playing`, in timetagged bundles);
- `link`: Ableton Link, with the optional extra (`pip install liveengine[link]`).

Every frame here is on the engine's one clock (server/clock.py): MIDI read by the audio server
comes with its frame, OSC bundles with their timetag's frame, Link's host time goes through the
clock's `frame_at`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from liveengine.errors import LiveEngineError

SOURCES = ("patch", "midi-clock", "transport", "link")
BEATS_PER_BAR = 4  # 4/4: the groove model's bars
LINK_INSTALL = "pip install 'liveengine[link]'"


@dataclass(frozen=True)
class BeatMap:
    """At engine frame `frame` the source is at beat `beat` (quarter notes since its song start), at `bpm`."""

    frame: float
    beat: float
    bpm: float
    samplerate: int
    playing: bool = True

    @property
    def frames_per_beat(self) -> float:
        return self.samplerate * 60.0 / self.bpm

    def frame_of_beat(self, beat: float) -> float:
        return self.frame + (beat - self.beat) * self.frames_per_beat

    def beat_at(self, frame: float) -> float:
        return self.beat + (frame - self.frame) / self.frames_per_beat

    def bar_line_after(self, frame: float) -> float:
        """The frame of the first bar line at or after `frame`."""
        beat = np.ceil(self.beat_at(frame) / BEATS_PER_BAR - 1e-9) * BEATS_PER_BAR
        return self.frame_of_beat(float(beat))


class TempoSource:
    """The interface: a name, the current map (None = run free), and what it counts as lost."""

    name = "patch"

    def beat_map(self) -> BeatMap | None:
        return None

    def status(self) -> dict:
        return {}


class PatchTempo(TempoSource):
    """The patch's BPM: the sequencer's own tempo map, free-running (no map to follow)."""

    name = "patch"


class TransportTempo(TempoSource):
    """Live's transport: `/transport tempo beat playing`, each at its bundle's frame. Live's tempo is exact,
    so only the phase is estimated: the mean over the last PHASE_BUNDLES bundles of where beat 0 falls,
    which averages the jitter of turning each timetag into a frame (the last callback's start), or of
    arrival for messages with no timetag (the Max device's: Max's udpsend sends no bundles). A new
    tempo, a stop, or a message further off the line than JUMP_SECONDS starts the mean again (a jump: a
    locate in Live, counted; on a loaded machine a callback's lateness alone moved timetags by 9 ms).

    Control threads call `update`; the groove thread reads `beat_map` (one reference, swapped whole)."""

    name = "transport"
    PHASE_BUNDLES = 16
    JUMP_SECONDS = 0.02

    def __init__(self, samplerate: int) -> None:
        self.samplerate = samplerate
        self._map: BeatMap | None = None
        self._zeros: list[float] = []  # frames of beat 0 from the recent bundles
        self.updates = 0
        self.untimed = 0  # messages with no timetag: placed at their arrival, so the network's jitter shows
        self.jumps = 0

    def update(self, bpm: float, beat: float, playing: bool, frame: int, timed: bool) -> None:
        self.updates += 1
        self.untimed += 0 if timed else 1
        fresh = BeatMap(float(frame), float(beat), float(bpm), self.samplerate, bool(playing))
        old = self._map
        jump = self.JUMP_SECONDS
        if not (playing and old is not None and old.playing and old.bpm == fresh.bpm):
            self._zeros = []
        elif abs(old.frame_of_beat(fresh.beat) - fresh.frame) > jump * self.samplerate:
            self.jumps += 1
            self._zeros = []
        if not playing:
            self._map = fresh
            return
        self._zeros = self._zeros[-(self.PHASE_BUNDLES - 1):] + [fresh.frame_of_beat(0.0)]
        zero = sum(self._zeros) / len(self._zeros)
        self._map = BeatMap(zero + fresh.beat * fresh.frames_per_beat, fresh.beat, fresh.bpm, self.samplerate, True)

    def beat_map(self) -> BeatMap | None:
        return self._map

    def status(self) -> dict:
        return {"updates": self.updates, "untimed": self.untimed, "jumps": self.jumps}


def link_tempo(samplerate: int, frame_at: Callable[[float], int], bpm: float) -> TempoSource:
    """The Link source, or one sentence saying how to install it."""
    try:
        import link  # noqa: F401 - LinkPython-extern's module
    except ImportError:
        raise LiveEngineError("tempo source 'link' needs Ableton Link, which is an optional extra (GPL-2+).",
                              f"Install it with: {LINK_INSTALL}") from None
    from liveengine.groove.link_source import LinkTempo

    return LinkTempo(samplerate, frame_at, bpm)


class TempoSources:
    """The engine's tempo sources: every one listens all the time (so a switch has a lock at once), one is followed."""

    def __init__(self, samplerate: int, midi_clock, frame_at: Callable[[float], int], report: Callable[[str], None],
                 patch_bpm: Callable[[], float]) -> None:
        self.samplerate = samplerate
        self.report = report
        self.frame_at = frame_at
        self.patch_bpm = patch_bpm
        self.patch = PatchTempo()
        self.midi = midi_clock
        self.transport = TransportTempo(samplerate)
        self.link: TempoSource | None = None
        self.current: TempoSource = self.patch
        self.switches = 0
        self._lock = threading.Lock()

    def select(self, name: str) -> TempoSource:
        """Follow `name` from now; LiveEngineError for an unknown one or Link without its extra."""
        if name not in SOURCES:
            raise LiveEngineError(f"tempo source {name!r} is unknown; allowed: {', '.join(SOURCES)}.")
        with self._lock:
            if name == "link" and self.link is None:
                self.link = link_tempo(self.samplerate, self.frame_at, self.patch_bpm())
            source = {"patch": self.patch, "midi-clock": self.midi, "transport": self.transport, "link": self.link}[name]
            old, self.current = self.current, source
        if old is not source:
            self.switches += 1
            self.report(f"groove tempo source: {name} (was {old.name})")
        return source

    def beat_map(self) -> BeatMap | None:
        return self.current.beat_map()

    def status(self) -> dict:
        out = {"tempo_source": self.current.name}
        for source in (self.midi, self.transport, self.link):
            if source is None:
                continue
            out.update({f"{source.name.replace('-', '_')}_{k}": v for k, v in source.status().items()})
        return out

    def close(self) -> None:
        if self.link is not None and hasattr(self.link, "close"):
            self.link.close()
