"""The groove sequencer: every step's frame from the tempo map, each hit scheduled ahead at its sample.

`feed(now_frame)` is called from one thread (the engine's groove thread live, the render loop
offline); it schedules every step that may sound before `now_frame + horizon` through `play`
(which submits a timed /pad through the engine's command path to the audio server's FIFO).
Switches, tempo and parameters come from control threads; one lock guards the state.

A hit's frame is round(step frame + swing + humanise x offset x step length), where
step frame = anchor frame + (step - anchor step) x frames per step: exact to a sample at any
step count (no accumulated rounding, so no drift), and a tempo change moves the anchor to the
first step not yet scheduled. Swing delays the odd 16ths by `swing` of a step.

Following a tempo source (groove/tempo.py), each new `BeatMap` re-anchors the grid the same way:
the first step not yet scheduled becomes the source's first step at least half a step after the
last one scheduled (never two steps within half a step, never a step's gap skipped), numbered as
the source numbers its steps, so bar lines (steps divisible by 16) are the source's bar lines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from liveengine.errors import LiveEngineError
from liveengine.groove.pattern import Pattern
from liveengine.groove.tempo import BeatMap

QUANTISE = ("bar", "beat", "now")
BPM_RANGE = (20.0, 300.0)
STEPS_PER_BAR = 16  # 4/4 in 16ths
FILL_STEPS = STEPS_PER_BAR


@dataclass(frozen=True)
class Performance:
    """The performance controls: density (hits where probability >= 1 - density), swing (0..0.5 of a
    step on the odd 16ths), humanise (scales the model's offsets; 0 = on the grid), dynamics (scales
    velocities about their mean; 0 = all alike, 1 = as decoded), muted voices."""

    density: float = 0.5
    swing: float = 0.0
    humanise: float = 1.0
    dynamics: float = 1.0
    muted: frozenset[int] = field(default_factory=frozenset)

    @property
    def threshold(self) -> float:
        return float(min(0.98, max(0.02, 1.0 - self.density)))


@dataclass
class Decoded:
    """A groove being decoded (by the groove's decode thread) or ready: `pattern` holds probabilities, not 0/1 hits."""

    label: object
    z: np.ndarray | None = None  # its latent point
    pattern: Pattern | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def set(self, pattern: Pattern) -> None:
        self.pattern = pattern
        self.ready.set()


@dataclass(frozen=True)
class Event:
    frame: int
    step: int
    voice: int
    velocity: float
    label: object  # the groove (or fill) it came from


class TempoMap:
    """Step -> frame at a tempo that may change; exact, anchored at the last change."""

    def __init__(self, samplerate: int, bpm: float, steps_per_beat: int, start_frame: int = 0) -> None:
        self.samplerate, self.steps_per_beat = samplerate, steps_per_beat
        self.anchor_step, self.anchor_frame = 0, float(start_frame)
        self.bpm = float(bpm)

    @property
    def frames_per_step(self) -> float:
        return self.samplerate * 60.0 / (self.bpm * self.steps_per_beat)

    def frame_of(self, step: int) -> float:
        return self.anchor_frame + (step - self.anchor_step) * self.frames_per_step

    def set_bpm(self, bpm: float, from_step: int) -> None:
        self.anchor_frame, self.anchor_step = self.frame_of(from_step), from_step
        self.bpm = float(bpm)


def check_bpm(bpm: object, where: str = "tempo") -> float:
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not (BPM_RANGE[0] <= bpm <= BPM_RANGE[1]):
        raise LiveEngineError(f"{where} {bpm!r} BPM is not a tempo; allowed: {BPM_RANGE[0]:g} to {BPM_RANGE[1]:g} BPM.")
    return float(bpm)


class GrooveSequencer:
    def __init__(self, play: Callable[[int, float, int], bool], samplerate: int, bpm: float, *, steps_per_beat: int = 4,
                 quantise: str = "bar", performance: Performance | None = None, horizon_frames: int = 4800,
                 wait_decodes: float = 0.0, log: int = 0) -> None:
        """play(voice, velocity, frame) -> queued?; wait_decodes: seconds to wait for a decode at a switch
        (offline renders wait, so a busy machine renders the same file; live 0: a late bar keeps the groove);
        log: keep the last `log` scheduled events (tests and exports)."""
        if quantise not in QUANTISE:
            raise LiveEngineError(f"[groove] quantise = {quantise!r}; allowed: {', '.join(QUANTISE)}.")
        self.play = play
        self.samplerate = samplerate
        self.steps_per_beat = steps_per_beat
        self.tempo = TempoMap(samplerate, check_bpm(bpm), steps_per_beat)
        self.quantise = quantise
        self.performance = performance or Performance()
        self.horizon = horizon_frames
        self.wait_decodes = wait_decodes
        self._lock = threading.Lock()
        self.running = False
        self.start_frame = 0  # no hit plays before the groove's start (a first step's early offset waits for it)
        self.stop_frame: int | None = None  # a timed stop: no hit at or after it
        self.next_step = 0  # the first step not yet scheduled
        self.current: Decoded | None = None
        self.groove_start = 0  # the step at which the current groove's step 0 fell
        self.pending: Decoded | None = None
        self.pending_at = 0  # a switch applies at the first boundary at or after this step
        self.fill_armed: Decoded | None = None
        self.fill: Decoded | None = None
        self.fill_start = 0
        self.late_bars = 0  # switches that found their groove not decoded at the boundary (the groove played on)
        self.dropped = 0  # hits the engine did not take (queue full, sound not ready): counted there too
        self.scheduled = 0
        self.events: list[Event] = []
        self._log = log
        self.beat_map: BeatMap | None = None  # the tempo source's map being followed; None: free on `free_bpm`
        self.free_bpm = self.tempo.bpm  # the patch's tempo (and /param tempo): what plays without a source
        self.held = False  # the source's transport is stopped: nothing is scheduled until it plays
        self._resume_frame: float | None = None  # after a stop: the first step at or after the source's restart
        self.reanchors = 0

    # ---- control threads ----
    def start(self, groove: Decoded, frame: int) -> None:
        """Play `groove` from step 0 at `frame`."""
        with self._lock:
            self.tempo = TempoMap(self.samplerate, self.tempo.bpm, self.steps_per_beat, start_frame=frame)
            self.next_step, self.groove_start, self.start_frame = 0, 0, frame
            self.current, self.pending, self.fill, self.fill_armed = groove, None, None, None
            self.running = True
            self.stop_frame = None
            if self.beat_map is not None and self.beat_map.playing:  # on the source's grid, at its place in the bar
                self._anchor(self.beat_map, frame)

    def stop(self, frame: int | None = None) -> None:
        """Stop scheduling now, or (a timed command) schedule no hit at or after `frame`; hits already queued still play
        (the feeder queues up to its horizon and a step ahead: a stop is not recalled from the server's schedule)."""
        with self._lock:
            if frame is None:
                self.running = False
            else:
                self.stop_frame = frame

    def switch(self, groove: Decoded, frame: int | None = None) -> None:
        """Switch at the next quantise boundary at or after `frame` (None: the next one not yet scheduled)."""
        with self._lock:
            if not self.running:
                raise LiveEngineError("the groove is not playing; start it first.")
            step = self.next_step
            if frame is not None:
                step = max(step, int(np.ceil((frame - self.tempo.anchor_frame) / self.tempo.frames_per_step - 1e-9)) + self.tempo.anchor_step)
            self.pending, self.pending_at = groove, step

    def arm_fill(self, fill: Decoded) -> None:
        """A one-bar fill at the next bar boundary not yet scheduled; the groove goes on after it, where it would have been."""
        with self._lock:
            self.fill_armed = fill

    def set_bpm(self, bpm: float) -> None:
        """The free tempo (patch, /param tempo): played from the next step not yet scheduled, or kept for
        when the groove runs free again while a tempo source is followed."""
        bpm = check_bpm(bpm)
        with self._lock:
            self.free_bpm = bpm
            if self.beat_map is None:
                self.tempo.set_bpm(bpm, self.next_step)

    def follow(self, beat_map: BeatMap | None) -> None:
        """A tempo source's new map (None: run free on `free_bpm` from the next step not yet scheduled)."""
        with self._lock:
            if beat_map is None:
                if self.beat_map is not None:
                    self.beat_map, self.held = None, False
                    self.tempo.set_bpm(self.free_bpm, self.next_step)
                return
            if not beat_map.playing:
                self.beat_map, self.held = beat_map, True
                return
            if self.held:  # the source plays again (continue, a song position): from its restart, not from where it stopped
                self._resume_frame = beat_map.frame
            self.beat_map, self.held = beat_map, False
            if self.running:
                self._anchor(beat_map, None)

    def _anchor(self, beat_map: BeatMap, start: int | None) -> None:
        """Re-anchor the step grid on `beat_map` from the next step not yet scheduled (lock held)."""
        spb = self.steps_per_beat
        fps = beat_map.frames_per_beat / spb
        if start is not None:
            earliest = float(start)
        else:
            earliest = self.tempo.frame_of(self.next_step - 1) + 0.5 * min(fps, self.tempo.frames_per_step)
            if self.next_step == self.groove_start == 0:  # nothing scheduled yet: from the groove's start
                earliest = float(self.start_frame)
            if self._resume_frame is not None:
                earliest = max(earliest, self._resume_frame - 0.5 * fps)
                self._resume_frame = None
        first = int(np.ceil(beat_map.beat_at(earliest) * spb - 1e-9))
        if first != self.next_step or start is not None:
            bar = (self.next_step - self.groove_start) // STEPS_PER_BAR  # which bar of the pattern plays on
            self.groove_start = first - first % STEPS_PER_BAR - (0 if start is not None else bar * STEPS_PER_BAR)
            if self.fill is not None:
                self.fill_start = first - first % STEPS_PER_BAR
            if self.pending is not None:
                self.pending_at = first
            self.next_step = first
        tempo = TempoMap(self.samplerate, beat_map.bpm, spb)
        tempo.anchor_step, tempo.anchor_frame = first, beat_map.frame_of_beat(first / spb)
        self.tempo = tempo
        self.reanchors += 1

    def set_performance(self, **changes) -> None:
        with self._lock:
            self.performance = replace(self.performance, **changes)

    # ---- the feeding thread ----
    def _boundary(self, step: int) -> bool:
        unit = {"bar": STEPS_PER_BAR, "beat": self.steps_per_beat, "now": 1}[self.quantise]
        return step % unit == 0

    def feed(self, now_frame: int) -> None:
        """Schedule every step whose earliest hit (half a step early) falls before now_frame + horizon."""
        with self._lock:
            if not self.running or self.held:
                return
            while self.tempo.frame_of(self.next_step) - self.tempo.frames_per_step < now_frame + self.horizon:
                if self.stop_frame is not None and self.tempo.frame_of(self.next_step) - self.tempo.frames_per_step >= self.stop_frame:
                    self.running = False
                    return
                self._schedule(self.next_step)
                self.next_step += 1

    def _ready(self, decoded: Decoded) -> bool:
        if not decoded.ready.is_set() and self.wait_decodes > 0:
            decoded.ready.wait(self.wait_decodes)
        return decoded.ready.is_set() and decoded.pattern is not None

    def _schedule(self, step: int) -> None:
        if self.pending is not None and step >= self.pending_at and self._boundary(step):
            if self._ready(self.pending):
                self.current, self.groove_start, self.pending = self.pending, step, None
            else:
                self.late_bars += 1
                if self.pending.ready.is_set():  # its decode failed or was replaced: nothing to wait for
                    self.pending = None
        if self.fill_armed is not None and step % STEPS_PER_BAR == 0:
            if self._ready(self.fill_armed):
                self.fill, self.fill_start = self.fill_armed, step
            else:
                self.late_bars += 1
            self.fill_armed = None
        if self.fill is not None and step - self.fill_start < FILL_STEPS:
            source, index = self.fill, step - self.fill_start
        else:
            self.fill = None
            source = self.current
            if source is None or source.pattern is None:
                return
            index = (step - self.groove_start) % len(source.pattern.hits)
        pattern = source.pattern
        perf = self.performance
        fps = self.tempo.frames_per_step
        base = self.tempo.frame_of(step) + (perf.swing * fps if step % 2 else 0.0)
        hits = pattern.hits[index]
        velocities = pattern.velocities[index]
        played = hits >= perf.threshold
        if not played.any():
            return
        mean = float(pattern.velocities[pattern.hits >= perf.threshold].mean())
        for voice in np.flatnonzero(played):
            voice = int(voice)
            if voice in perf.muted:
                continue
            velocity = float(np.clip(mean + perf.dynamics * (velocities[voice] - mean), 0.02, 1.0))
            frame = max(self.start_frame, int(round(base + perf.humanise * float(pattern.offsets[index, voice]) * fps)))
            if self.stop_frame is not None and frame >= self.stop_frame:
                continue
            self.scheduled += 1
            if self._log:
                self.events.append(Event(frame, step, voice, velocity, source.label))
                if len(self.events) > self._log:
                    del self.events[: len(self.events) - self._log]
            if not self.play(voice, velocity, frame):
                self.dropped += 1
