"""Hit resolution: where a pad, an XY point or a latent point becomes the sample-pool slot that
plays, and the START record sent to the audio server.

A pad plays its rendered sound (or, with variance, its next variation); a point between pads
plays its exact render if that can be ready by the deadline, else the nearest ready pad at once
(the exact sound follows for the next hit there); velocity can move a pad's hit along the plane.
Notes the audio server starts by itself (MIDI read in its JACK callback) come from the note table
built here (`direct_hit`).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from liveengine.commands import Command
from liveengine.engine.instrument import Instrument
from liveengine.render.buffers import PlayableBuffer
from liveengine.render.describe import PadDescription
from liveengine.rt.core import ASAP, START, VARIATION_ENTRY
from liveengine.rt.voices import velocity_gain
from liveengine.server.pool import SamplePool

OFFLINE_WAIT_SECONDS = 120.0  # offline, a sound that takes longer than this is a broken model: the hit is dropped and counted


@dataclass(frozen=True, slots=True)
class Hit:
    """What one hit played, for feedback and the freshness checks: metadata only, so a long hit
    history holds no audio (the sound itself is kept for the last hit alone: Player.last_sound)."""

    pad: int  # the pad it sounded on (the nearest pad for a hit between pads)
    point: np.ndarray | None  # the latent point actually heard (after variance and expression)
    description: PadDescription | None
    generation: int  # the grid setting its sound was rendered for; 0 for an on-demand render (exact point)
    complete_generation: int  # the newest setting every pad had been rendered for, at the hit
    latest_generation: int  # the setting being rendered at the hit
    kind: str  # "pad", "variation", "exact", "fallback"


class Player:
    """Resolves hits for the engine (any control thread) and counts the ones that could not play as asked."""

    def __init__(self, send: Callable[..., bool], target: Callable[[Command], int], now_frame: Callable[[], int],
                 pool: SamplePool, velocity_curve: str, control: threading.RLock) -> None:
        self._send, self._target, self._now_frame = send, target, now_frame
        self._pool, self._velocity_curve, self._control = pool, velocity_curve, control
        # Offline, the clock waits for sounds: every hit plays exactly what it asked for (the
        # pad's sound for the current setting, its next variation, the exact point), never a
        # fallback chosen by a deadline, so a render is the same on a busy machine as on an idle one.
        self.offline = False
        self.not_ready = 0  # hits on pads whose first render had not finished
        self.variation_misses = 0  # hits whose next variation was not rendered yet (the pad's own sound played)
        self.on_demand_misses = 0  # hits between pads that would have missed the deadline (nearest pad played)
        self.last_pad: int | None = None
        self.hits: deque[Hit] = deque(maxlen=4096)
        self.last_heard: Hit | None = None
        self._last_played: PlayableBuffer | None = None  # the last hit's buffer as played (its pool slot kept)

    @property
    def last_sound(self) -> PlayableBuffer | None:
        """What the last hit played, for /capture: a copy that outlives its pool slot, made when asked
        rather than on every hit (a render process's buffers are views of their slots: copying one per
        hit cost a flood of hits a memcpy of each sound on the control thread)."""
        played = self._last_played
        return None if played is None else played.detached()

    @last_sound.setter
    def last_sound(self, buffer: PlayableBuffer | None) -> None:
        self._last_played = buffer

    def hit_pad(self, instrument: Instrument, pad: int, velocity: float, command: Command) -> bool:
        grid = instrument.patch.grid
        if grid["velocity_moves"] > 0:
            point = self._expressed_point(instrument, pad, velocity)
            if point is not None:
                return self.hit_point(instrument, point, velocity, command, pad)
        cache = instrument.cache
        buffer, kind = None, "pad"
        if instrument.setting.variance > 0:
            slot = cache.pads + pad
            if self.offline:
                cache.wait_fresh(slot, OFFLINE_WAIT_SECONDS)
            with self._control:
                buffer = cache.ready(slot)
                if buffer is not None and self._taken_by_server(buffer):
                    buffer = None  # the server played it from the note table a moment ago; its event is on the way
                if buffer is not None:
                    kind = "variation"
                    self._next_variation(instrument, pad)
                else:
                    self.variation_misses += 1
        if buffer is None and self.offline:
            buffer = cache.wait_fresh(pad, OFFLINE_WAIT_SECONDS)  # after a knob move: the new sound, not the old
        if buffer is None:
            buffer = cache.get(pad)
        self.last_pad = pad
        instrument.workers.focus(pad)  # not rendered for this setting yet: it and its neighbours go first
        if buffer is None:  # not rendered yet (just loaded): render it now, or play the nearest ready pad
            return self.hit_point(instrument, instrument.pad_points[pad], velocity, command, pad)
        return self._start(instrument, buffer, velocity, self._target(command), pad, kind)

    @staticmethod
    def _next_variation(instrument: Instrument, pad: int) -> None:
        """The pad's next variation was played: it must not play again, and another is rendered in its place."""
        instrument.cache.consume(instrument.cache.pads + pad)
        instrument.variation_counts[pad] += 1
        instrument.workers.render_more(instrument.variation_point(pad)[None, :], [instrument.cache.pads + pad])

    def _taken_by_server(self, buffer: PlayableBuffer) -> bool:
        return buffer.slot >= 0 and int(self._pool.state.slot_taken[buffer.slot]) == buffer.slot_gen

    @staticmethod
    def _expressed_point(instrument: Instrument, pad: int, velocity: float) -> np.ndarray | None:
        """Velocity moves the hit along the plane: velocity 0.5 is the pad itself, 1 lands `velocity_moves` further.

        Velocities are quantised to `velocity_layers` steps, like a sampler's velocity
        layers, so repeated hits find their sound in the exact-point cache.
        """
        grid, setting = instrument.patch.grid, instrument.setting
        layers = grid["velocity_layers"] - 1
        step = (round(velocity * layers) / layers - 0.5) * 2.0 * grid["velocity_moves"]
        if abs(step) < 1e-9:
            return None  # the pad's own point: its rendered sound plays
        dx, dy = {"up": (0, 1), "right": (1, 0), "down": (0, -1), "left": (-1, 0)}[grid["velocity_direction"]]
        angle = np.radians(setting.rotation)  # the direction turns with the grid
        xy = setting.view(setting.pad_uv()[pad]) + step * np.array([dx * np.cos(angle) - dy * np.sin(angle), dx * np.sin(angle) + dy * np.cos(angle)])
        return instrument.mapping.to_latent(xy)

    def hit_point(self, instrument: Instrument, point: np.ndarray, velocity: float, command: Command, nearest: int) -> bool:
        """A hit on a latent point that is not a pad: exact if it can be ready by the deadline, else the nearest ready pad now."""
        self.last_pad = nearest
        buffer = instrument.on_demand.cached(point)
        if buffer is None and self.offline:
            buffer = instrument.on_demand.render_wait(point, OFFLINE_WAIT_SECONDS)
            if buffer is None:  # the model failed there (counted by the renderer)
                return self._fallback(instrument, nearest, velocity, self._target(command))
        if buffer is not None:
            return self._start(instrument, buffer, velocity, self._target(command), nearest, "exact")
        target = self._target(command)
        if instrument.on_demand.request(point, (instrument, velocity, target, nearest)):
            return True
        self.on_demand_misses += 1
        instrument.on_demand.prefetch(point)  # the exact sound follows for the next hit here
        return self._fallback(instrument, nearest, velocity, target)

    def _fallback(self, instrument: Instrument, nearest: int, velocity: float, target: int) -> bool:
        """The nearest ready pad plays for a hit whose exact sound cannot (a missed deadline, a failed render)."""
        ready = self._nearest_ready(instrument, nearest)
        if ready is None:
            self.not_ready += 1
            return False
        return self._start(instrument, instrument.cache.get(ready), velocity, target, ready, "fallback")

    @staticmethod
    def _nearest_ready(instrument: Instrument, pad: int) -> int | None:
        """The pad nearest `pad` on the grid (itself first) that has a sound to play."""
        cache, cols = instrument.cache, instrument.setting.cols
        if cache.get(pad) is not None:
            return pad
        row, col = divmod(pad, cols)
        ready = [p for p in range(cache.pads) if cache.get(p) is not None]
        if not ready:
            return None
        return min(ready, key=lambda p: (p // cols - row) ** 2 + (p % cols - col) ** 2)

    def play_rendered(self, buffer: PlayableBuffer | None, payload) -> None:
        """On-demand render thread: the exact sound is ready; play it at its target, or at once if that has passed.
        None: the render failed, and the nearest ready pad plays instead."""
        instrument, velocity, target, nearest = payload
        if buffer is None:
            self._fallback(instrument, nearest, velocity, ASAP if target == ASAP or target <= self._now_frame() else target)
            return
        if target != ASAP and target - buffer.onset <= self._now_frame():
            target = ASAP
        self._start(instrument, buffer, velocity, target, nearest, "exact")

    def _start(self, instrument: Instrument, buffer: PlayableBuffer, velocity: float, target: int, pad: int, kind: str) -> bool:
        if buffer.slot < 0:  # the pool was full when it was rendered: try once more now
            pooled = self._pool.adopt(buffer)
            if pooled is None:
                self.not_ready += 1
                return False
            buffer = pooled
        start = ASAP if target == ASAP else target - buffer.onset
        gain = velocity_gain(velocity, self._velocity_curve)
        queued = self._send(START, start, slot=buffer.slot, gen=buffer.slot_gen, gain=gain,
                            choke=instrument.choke_of_pad.get(pad, -1), pad=pad, onset=buffer.onset)
        if queued:
            self._log(instrument, buffer, pad, kind)
        return queued

    def _log(self, instrument: Instrument, buffer: PlayableBuffer, pad: int, kind: str) -> None:
        cache = instrument.cache
        hit = Hit(pad, buffer.point, buffer.description, 0 if kind == "exact" else buffer.generation,
                  cache.complete_generation, cache.generation, kind)
        self.hits.append(hit)
        self.last_heard, self._last_played = hit, buffer

    # ---- notes the audio server starts by itself (MIDI read in its JACK callback: control/midi/server_ports.py) ----
    def direct_hit(self, instrument: Instrument, pad: int) -> tuple[int, int]:
        """The note-table entry for a pad the audio server may start with no round trip through this process:
        ((slot generation << 16) | slot, pad | (choke group + 1) << 16), or (0, 0) when its hit needs this
        process (a velocity move, a sound not rendered or not in the pool, a next variation not rendered yet
        or already played). With variance the entry names the pad's next variation, flagged VARIATION_ENTRY:
        the server plays it once and marks it taken (`slot_taken`); this process then renders the next."""
        if instrument.patch.grid["velocity_moves"] > 0:
            return 0, 0
        flag = 0
        if instrument.setting.variance > 0:
            buffer, flag = instrument.cache.ready(instrument.cache.pads + pad), VARIATION_ENTRY
            if buffer is not None and self._taken_by_server(buffer):
                return 0, 0
        else:
            buffer = instrument.cache.get(pad)
        if buffer is None or buffer.slot < 0:
            return 0, 0
        return (buffer.slot_gen << 16) | buffer.slot, pad | ((instrument.choke_of_pad.get(pad, -1) + 1) << 16) | flag

    def played_by_server(self, instrument: Instrument, pad: int, variation: bool = False) -> None:
        """The audio server started this pad from the note table: log the hit as if it had come through here
        (and for a variation, render the pad's next one)."""
        self.last_pad = pad
        instrument.workers.focus(pad)
        buffer, kind = instrument.cache.get(pad), "pad"
        if variation:
            with self._control:
                played = instrument.cache.ready(instrument.cache.pads + pad)
                if played is not None and self._taken_by_server(played):
                    buffer, kind = played, "variation"
                    self._next_variation(instrument, pad)
        if buffer is not None:
            self._log(instrument, buffer, pad, kind)
