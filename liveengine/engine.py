"""Wiring and lifecycle: patch -> instrument (decoder, grid, pad cache, workers) -> audio server.

The engine is the control process's side (see docs/architecture.md):
- control threads (CLI, score feeder, MIDI, OSC) call `Engine.submit`, which
  checks the command, resolves it against the instrument and writes a record
  into the audio server's command FIFO;
- render workers decode pads into the pad cache, which copies each into the
  shared sample pool; the on-demand renderer decodes points hit between pads;
- the audio server (a process of its own; in this process on the offline
  backend) runs `RealtimeCore.process`;
- the supervisor restarts a dead or hung audio server, frees pool slots, reports
  what the server counted, and autosaves.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.audio.backend import AudioBackend
from liveengine.audio.recorder import Recorder
from liveengine.audio.spec import DeviceSpec
from liveengine.commands import COMMANDS, Command
from liveengine.handlers import Caller
from liveengine.decoders.base import Decoder
from liveengine.decoders.registry import load_decoder
from liveengine.decoders.trial_load import load_in_child
from liveengine.errors import LiveEngineError
from liveengine.grid.anchors import build_mapping, pad_points, patch_setting
from liveengine.grid.mappings import GridSetting, mix, variation
from liveengine.memory import instrument_memory_mb
from liveengine.options import EngineOptions
from liveengine.patch import Patch, load_patch
from liveengine.render.buffers import PlayableBuffer
from liveengine.render.describe import PadDescription
from liveengine.render.on_demand import EXACT_CACHE, OnDemandRenderer
from liveengine.render.pad_cache import PadCache
from liveengine.render.probe import Trial, probe, refuse
from liveengine.render.process_workers import ProcessRenderWorkers
from liveengine.render.workers import RenderWorkers
from liveengine.rt.core import ASAP, CHOKE, GAIN, PANIC, START, STOP_PAD
from liveengine.rt.voices import velocity_gain
from liveengine.server.client import InProcessServer, ServerProcess
from liveengine.server.clock import Clock
from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import MAX_PADS, Layout, SharedState
from liveengine.server.pool import SamplePool

GRID_PARAMS = ("center_x", "center_y", "zoom", "rotation", "variance", "seed")
OFFLINE_WAIT_SECONDS = 120.0  # offline, a sound that takes longer than this is a broken model: the hit is dropped and counted


def server_layout(options: EngineOptions, patch: Patch, decoder: Decoder) -> Layout:
    """Shared-memory sizes for this engine: pool slots for two sounds a pad (and as many being
    replaced), the exact-point cache, and headroom; slots as long as this model's sounds can be."""
    pads = min(MAX_PADS, patch.grid["rows"] * patch.grid["cols"])
    seconds = min(patch.engine["max_seconds"], decoder.output_length / decoder.sample_rate)
    slot_frames = int(seconds * options.samplerate * 1.01) + 256
    return Layout(fifo_capacity=options.queue_capacity, slots=4 * pads + EXACT_CACHE + 64, slot_frames=slot_frames,
                  record_frames=int(options.record_seconds_buffered * options.samplerate), channels=options.channels)


@dataclass(frozen=True, slots=True)
class Hit:
    """What one hit played, for feedback and the freshness checks: metadata only, so a long hit
    history holds no audio (the sound itself is kept for the last hit alone: Engine.last_sound)."""

    pad: int  # the pad it sounded on (the nearest pad for a hit between pads)
    point: np.ndarray | None  # the latent point actually heard (after variance and expression)
    description: PadDescription | None
    generation: int  # the grid setting its sound was rendered for; 0 for an on-demand render (exact point)
    complete_generation: int  # the newest setting every pad had been rendered for, at the hit
    latest_generation: int  # the setting being rendered at the hit
    kind: str  # "pad", "variation", "exact", "fallback"


@dataclass
class Instrument:
    """Everything a patch loads, swapped as a whole so a failed load leaves the old one playing."""

    patch: Patch
    decoder: Decoder
    setting: GridSetting
    mapping: object  # a mapping from grid/mappings.py
    cache: PadCache
    workers: RenderWorkers | ProcessRenderWorkers
    on_demand: OnDemandRenderer
    choke_of_pad: dict[int, int] = field(default_factory=dict)
    choke_groups: dict[str, int] = field(default_factory=dict)
    mappings: dict[str, object] = field(default_factory=dict)  # built once per patch, by name
    pad_points: np.ndarray | None = None  # float32[pads, latent_dim] for the current setting
    variation_counts: list[int] = field(default_factory=list)  # per pad: variations played so far

    @property
    def variation_scale(self) -> float:
        spreads = getattr(getattr(self.decoder, "info", None), "latent_spreads", None)
        return float(np.mean(spreads)) if spreads else 1.0


class Engine:
    def __init__(self, patch: Patch, options: EngineOptions | None = None, on_report: Callable[[str], None] | None = None) -> None:
        self.options = options or patch.options()
        self.on_report = on_report
        self.reports: deque[str] = deque(maxlen=200)
        self.report_count = 0  # reports ever made (the deque keeps the last 200)
        self.server: ServerProcess | InProcessServer | None = None
        self.core = None  # the real-time core, when it runs in this process (offline backend)
        # Offline, the clock waits for sounds: every hit plays exactly what it asked for (the
        # pad's sound for the current setting, its next variation, the exact point), never a
        # fallback chosen by a deadline, so a render is the same on a busy machine as on an idle one.
        self.offline = False
        self.recorder: Recorder | None = None
        self.not_ready = 0  # hits on pads whose first render had not finished
        self.variation_misses = 0  # hits whose next variation was not rendered yet (the pad's own sound played)
        self.on_demand_misses = 0  # hits between pads that would have missed the deadline (nearest pad played)
        self.last_pad: int | None = None
        self.hits: deque[Hit] = deque(maxlen=4096)
        self.last_heard: Hit | None = None
        self.last_sound: PlayableBuffer | None = None  # what the last hit played, for /capture
        self.changed = threading.Event()  # set on every change worth saving (autosave)
        self.captures: list[dict] = []
        self.autosave: str | None = None  # a state name: saved a moment after each change, and at stop
        self.autosave_delay = 2.0  # seconds of quiet before an autosave (knob sweeps write once)
        self._control = threading.RLock()  # control threads only; the audio thread never takes it
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._gain = self.options.master_gain  # the last gain sent to the server
        decoder = self._load_decoder(patch)
        self.shared = SharedState.create(server_layout(self.options, patch, decoder))
        self.fifo = FifoWriter(self.shared)
        self._events = FifoReader(self.shared, "events")  # what the audio server read (MIDI on JACK), with frames
        self.pool = SamplePool(self.shared)
        self.clock = Clock(self.shared, self.options.samplerate, self.options.blocksize, now=self._host_now)
        self.instrument = self._build_instrument(patch, decoder)

    # ---- instrument ----
    @staticmethod
    def _load_decoder(patch: Patch) -> Decoder:
        return load_decoder(patch.model, patch.path, **patch.model_options)

    def _build_instrument(self, patch: Patch, decoder: Decoder | None = None) -> Instrument:
        """Build (and start rendering) a patch's instrument; LiveEngineError if its model is refused:
        it must render a sound across the grid, in time for max_grid_render_s (render/probe.py)."""
        decoder = decoder or self._load_decoder(patch)
        setting = patch_setting(patch)
        mappings = {setting.mapping: build_mapping(setting.mapping, decoder, patch, setting)}
        cache = PadCache(setting.pads, self.pool)
        on_error = lambda e: self.report(f"render failed: {e}")  # noqa: E731
        trial = Trial.of_grid(pad_points(setting, mappings[setting.mapping]), setting.cols, patch.engine["max_grid_render_s"])
        if patch.engine["render_in"] == "process":
            workers = ProcessRenderWorkers(patch.model, patch.path, patch.model_options, getattr(decoder, "preferred_batch", 8),
                                           cache, self.options.samplerate, patch.engine["max_seconds"], on_error, trial)
        else:
            refuse(patch.model, probe(decoder, trial, self.options.samplerate, patch.engine["max_seconds"]))
            workers = RenderWorkers(decoder, cache, self.options.samplerate, threads=patch.engine["render_threads"],
                                    max_seconds=patch.engine["max_seconds"], on_error=on_error)
        decoder.prepare(8)  # after the probe: a model too slow for the grid is refused before its warm-up
        on_demand = OnDemandRenderer(decoder, self.options.samplerate, patch.engine["max_seconds"],
                                     patch.engine["on_demand_deadline_ms"] / 1000.0, self._play_rendered, on_error, adopt=self.pool.adopt)
        groups = {name: i for i, name in enumerate(patch.choke)}
        choke_of_pad = {setting.pad_index(r, c): groups[name] for name, pads in patch.choke.items() for r, c in pads}
        instrument = Instrument(patch, decoder, setting, mappings[setting.mapping], cache, workers, on_demand, choke_of_pad, groups,
                                mappings, variation_counts=[0] * setting.pads)
        self._render(instrument)
        return instrument

    def _render(self, instrument: Instrument) -> None:
        """Start rendering the instrument's current setting: every pad, then (with variance) each pad's next variation."""
        setting = instrument.setting
        points = pad_points(setting, instrument.mapping)
        instrument.pad_points = points
        if setting.variance > 0:
            variations = np.stack([self._variation_point(instrument, pad) for pad in range(setting.pads)])
            points = np.concatenate([points, variations])
        instrument.workers.render_all(points, first=self.last_pad if self.last_pad is not None and self.last_pad < setting.pads else None,
                                      cols=setting.cols, pads=setting.pads)

    @staticmethod
    def _variation_point(instrument: Instrument, pad: int) -> np.ndarray:
        setting = instrument.setting
        return variation(instrument.pad_points[pad], setting.variance, setting.seed, pad, instrument.variation_counts[pad],
                         instrument.variation_scale)

    def load_patch(self, path: Path | str) -> bool:
        """Swap in another patch while playing. On any error the current one keeps playing and False is returned."""
        try:
            patch = load_patch(path)
            load_in_child(patch.model, patch.path, patch.model_options)  # a model that aborts the process must not end the show
            new = self._build_instrument(patch)
        except LiveEngineError as exc:
            self.report(f"patch not loaded, still playing {self.instrument.patch.name}: {exc}")
            return False
        except Exception as exc:  # a broken model must not take the running engine down
            self.report(f"patch not loaded, still playing {self.instrument.patch.name}: {type(exc).__name__}: {exc}")
            return False
        with self._control:
            old, self.instrument = self.instrument, new
        self._retire(old)
        if patch.options() != self.options:
            self.report(f"patch {patch.name} loaded; its [audio]/[engine] settings take effect at the next start")
        else:
            self.report(f"patch {patch.name} loaded")
        self.changed.set()
        return True

    @staticmethod
    def _retire(instrument: Instrument) -> None:
        instrument.workers.stop()
        instrument.on_demand.stop()

    def wait_rendered(self, timeout: float | None = None, on_progress=None) -> bool:
        return self.instrument.cache.wait_complete(timeout, on_progress)

    # ---- commands ----
    def _host_now(self) -> float:
        server = self.server
        return server.now() if server is not None else 0.0

    @property
    def backend(self):
        """What plays (None before start): the offline backend in this process, else the audio server
        process; either has `description` and `now()`."""
        return getattr(self.server, "backend", self.server)

    @property
    def device_lost(self) -> bool:
        return self.server is not None and self.server.device_lost

    def now_frame(self) -> int:
        """The current time on the engine clock (frames): see server/clock.py."""
        if self.server is None:
            return self.shared.counter("frame")
        return self.clock.now_frame()

    def _send(self, kind: int, frame: int, *, slot: int = -1, gen: int = 0, gain: float = 0.0, choke: int = -1, pad: int = -1,
              onset: int = 0, value: float = 0.0) -> bool:
        """Write one record into the server's command FIFO; False (counted) when it is full."""
        count = self.fifo.put((frame, gen, kind, slot, gain, choke, pad, onset, value, 0, 0))
        if count < 0:
            return False
        if slot >= 0:
            self.pool.named(slot, count, frame)
        return True

    def _target(self, command: Command) -> int:
        if command.at is not None:
            return command.at
        if self.options.timing == "lowest-latency":
            return ASAP
        # Constant latency: exactly one block after arrival, wherever in the block it arrived.
        return self.now_frame() + self.options.blocksize

    def submit(self, command: Command, caller: Caller | None = None) -> bool:
        """Run a checked Command (any control thread): its handler in the one command table.

        Returns False when it could not be taken (queue full, pad not rendered yet);
        both are counted. Raises LiveEngineError for commands that do not fit the
        loaded patch (a pad outside the grid, an unknown choke group, a latent point
        of the wrong size). `caller` is how to answer (OSC replies); None: nobody.
        """
        return COMMANDS[command.address].handler(self, command, caller or Caller())

    # ---- what each sound and parameter command does (named in commands.py) ----
    def pad(self, command: Command) -> bool:
        row, col, velocity = command.args
        instrument = self.instrument
        return self._hit_pad(instrument, self._pad(instrument, row, col), velocity, command)

    def xy(self, command: Command) -> bool:
        x, y, velocity = command.args
        instrument = self.instrument
        setting = instrument.setting
        point = instrument.mapping.to_latent(setting.view(np.array([x, y])))
        nearest = setting.pad_index(int(round(y * (setting.rows - 1))), int(round(x * (setting.cols - 1))))
        return self._hit_point(instrument, point, velocity, command, nearest)

    def latent(self, command: Command) -> bool:
        args, instrument = command.args, self.instrument
        dim, velocity = self._latent_size(instrument, args)
        point = np.asarray(args[:dim], np.float32)
        return self._hit_point(instrument, point, velocity, command, self._nearest_pad(instrument, point))

    def mix(self, command: Command) -> bool:
        args, instrument = command.args, self.instrument
        velocity = args[-1] if len(args) % 3 == 1 else 1.0
        weights, pads = self._mix_pads(instrument, args)
        point = mix(instrument.pad_points[pads], weights)
        return self._hit_point(instrument, point, velocity, command, pads[int(np.argmax(np.abs(weights)))])

    def pad_off(self, command: Command) -> bool:
        return self._send(STOP_PAD, self._target(command), pad=self._pad(self.instrument, *command.args))

    def param(self, command: Command) -> bool:
        name, value = command.args
        if name == "gain":
            self._gain = float(value)
            return self._send(GAIN, self._target(command), value=float(value))
        self.set_grid_param(name, value)
        return True

    def mapping(self, command: Command) -> bool:
        self.set_mapping(command.args[0])
        return True

    def choke(self, command: Command) -> bool:
        return self._send(CHOKE, self._target(command), choke=self._choke_group(self.instrument, command.args[0]))

    def panic(self, command: Command) -> bool:
        return self._send(PANIC, ASAP if command.at is None else command.at)

    def check_fits(self, command: Command) -> None:
        """Raise LiveEngineError where a checked command does not fit the loaded patch, as submit would
        (a pad outside the grid, an unknown choke group, a latent point of the wrong size, a mapping the
        patch cannot build); queues nothing."""
        instrument, address, args = self.instrument, command.address, command.args
        if address in ("/pad", "/pad/off"):
            self._pad(instrument, args[0], args[1])
        elif address == "/latent":
            self._latent_size(instrument, args)
        elif address == "/mix":
            self._mix_pads(instrument, args)
        elif address == "/choke":
            self._choke_group(instrument, args[0])
        elif address == "/mapping":
            with self._control:
                self._mapping(instrument, args[0])  # built now, so the switch itself is instant

    @staticmethod
    def _latent_size(instrument: Instrument, args: tuple) -> tuple[int, float]:
        """(latent size, velocity) of /latent arguments, checked against the model."""
        dim = instrument.decoder.latent_dim
        if len(args) not in (dim, dim + 1):
            raise LiveEngineError(f"/latent got {len(args)} values; this model's latent points have {dim}: /latent v1 .. v{dim} [velocity].")
        velocity = args[dim] if len(args) > dim else 1.0
        if not 0.0 <= velocity <= 1.0:
            raise LiveEngineError(f"/latent velocity is {velocity!r}; expected a number from 0 to 1.")
        return dim, velocity

    def _mix_pads(self, instrument: Instrument, args: tuple) -> tuple[np.ndarray, list[int]]:
        """(weights, pad indices) of /mix arguments' (weight, row, col) triples, pads checked against the grid."""
        triples = [args[i : i + 3] for i in range(0, len(args) - len(args) % 3, 3)]
        pads = [self._pad(instrument, int(row), int(col)) for _, row, col in triples]
        return np.array([w for w, _, _ in triples], np.float64), pads

    @staticmethod
    def _choke_group(instrument: Instrument, name: str):
        group = instrument.choke_groups.get(name)
        if group is None:
            raise LiveEngineError(f"/choke group {name!r} is not in the patch; groups: {', '.join(instrument.choke_groups) or 'none'}.")
        return group

    def _hit_pad(self, instrument: Instrument, pad: int, velocity: float, command: Command) -> bool:
        grid = instrument.patch.grid
        if grid["velocity_moves"] > 0:
            point = self._expressed_point(instrument, pad, velocity)
            if point is not None:
                return self._hit_point(instrument, point, velocity, command, pad)
        cache = instrument.cache
        buffer, kind = None, "pad"
        if instrument.setting.variance > 0:
            slot = cache.pads + pad
            if self.offline:
                cache.wait_fresh(slot, OFFLINE_WAIT_SECONDS)
            with self._control:
                buffer = cache.ready(slot)
                if buffer is not None:
                    kind = "variation"
                    cache.consume(slot)
                    instrument.variation_counts[pad] += 1
                    instrument.workers.render_more(self._variation_point(instrument, pad)[None, :], [slot])
                else:
                    self.variation_misses += 1
        if buffer is None and self.offline:
            buffer = cache.wait_fresh(pad, OFFLINE_WAIT_SECONDS)  # after a knob move: the new sound, not the old
        if buffer is None:
            buffer = cache.get(pad)
        self.last_pad = pad
        if buffer is None:  # not rendered yet (just loaded): render it now, or play the nearest ready pad
            return self._hit_point(instrument, instrument.pad_points[pad], velocity, command, pad)
        return self._start(instrument, buffer, velocity, self._target(command), pad, kind)

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

    def _hit_point(self, instrument: Instrument, point: np.ndarray, velocity: float, command: Command, nearest: int) -> bool:
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

    def _play_rendered(self, buffer: PlayableBuffer | None, payload) -> None:
        """On-demand render thread: the exact sound is ready; play it at its target, or at once if that has passed.
        None: the render failed, and the nearest ready pad plays instead."""
        instrument, velocity, target, nearest = payload
        if buffer is None:
            self._fallback(instrument, nearest, velocity, ASAP if target == ASAP or target <= self.now_frame() else target)
            return
        if target != ASAP and target - buffer.onset <= self.now_frame():
            target = ASAP
        self._start(instrument, buffer, velocity, target, nearest, "exact")

    def _start(self, instrument: Instrument, buffer: PlayableBuffer, velocity: float, target: int, pad: int, kind: str) -> bool:
        if buffer.slot < 0:  # the pool was full when it was rendered: try once more now
            pooled = self.pool.adopt(buffer)
            if pooled is None:
                self.not_ready += 1
                return False
            buffer = pooled
        start = ASAP if target == ASAP else target - buffer.onset
        gain = velocity_gain(velocity, self.options.velocity_curve)
        queued = self._send(START, start, slot=buffer.slot, gen=buffer.slot_gen, gain=gain,
                            choke=instrument.choke_of_pad.get(pad, -1), pad=pad, onset=buffer.onset)
        if queued:
            self._log_hit(instrument, buffer, pad, kind)
        return queued

    def _log_hit(self, instrument: Instrument, buffer: PlayableBuffer, pad: int, kind: str) -> None:
        cache = instrument.cache
        hit = Hit(pad, buffer.point, buffer.description, 0 if kind == "exact" else buffer.generation,
                  cache.complete_generation, cache.generation, kind)
        self.hits.append(hit)
        self.last_heard, self.last_sound = hit, buffer.detached()

    # ---- notes the audio server starts by itself (MIDI read in its JACK callback: control/midi/server_ports.py) ----
    def direct_hit(self, pad: int) -> tuple[int, int]:
        """The note-table entry for a pad the audio server may start with no round trip through this process:
        ((slot generation << 16) | slot, pad | (choke group + 1) << 16), or (0, 0) when its hit needs this
        process (a variation, a velocity move, a sound not rendered or not in the pool)."""
        instrument = self.instrument
        if instrument.setting.variance > 0 or instrument.patch.grid["velocity_moves"] > 0:
            return 0, 0
        buffer = instrument.cache.get(pad)
        if buffer is None or buffer.slot < 0:
            return 0, 0
        return (buffer.slot_gen << 16) | buffer.slot, pad | ((instrument.choke_of_pad.get(pad, -1) + 1) << 16)

    def played_by_server(self, pad: int) -> None:
        """The audio server started this pad from the note table: log the hit as if it had come through here."""
        instrument = self.instrument
        self.last_pad = pad
        buffer = instrument.cache.get(pad)
        if buffer is not None:
            self._log_hit(instrument, buffer, pad, "pad")

    @staticmethod
    def _pad(instrument: Instrument, row: int, col: int) -> int:
        setting = instrument.setting
        if not (0 <= row < setting.rows and 0 <= col < setting.cols):
            raise LiveEngineError(f"pad ({row}, {col}) is outside the {setting.rows}x{setting.cols} grid; rows 0..{setting.rows - 1}, columns 0..{setting.cols - 1}.")
        return setting.pad_index(row, col)

    @staticmethod
    def _nearest_pad(instrument: Instrument, point: np.ndarray) -> int:
        return int(np.argmin(np.sum((instrument.pad_points - point) ** 2, axis=1)))

    def set_grid_param(self, name: str, value: float) -> None:
        """Move the grid (centre, zoom, rotation) or change its variation; every pad re-renders, old sounds play meanwhile."""
        if name not in GRID_PARAMS:
            raise LiveEngineError(f"{name!r} is not a grid parameter; grid parameters: {', '.join(GRID_PARAMS)}.")
        with self._control:
            instrument = self.instrument
            instrument.setting = instrument.setting.with_param(name, value)
            self._render(instrument)
        self.changed.set()

    def set_mapping(self, name: str) -> None:
        """Switch mapping live. A mapping the patch cannot build (no anchors, no library) is an error; the old one stays."""
        with self._control:
            instrument = self.instrument
            mapping = self._mapping(instrument, name)
            instrument.mapping = mapping
            instrument.setting = instrument.setting.with_mapping(name)
            self._render(instrument)
        self.changed.set()

    @staticmethod
    def _mapping(instrument: Instrument, name: str):
        """The named mapping, built once (under the control lock) and kept: switching back is instant."""
        mapping = instrument.mappings.get(name)
        if mapping is None:
            mapping = build_mapping(name, instrument.decoder, instrument.patch, instrument.setting)
            instrument.mappings[name] = mapping
        return mapping

    # ---- state and capture (control threads) ----
    def state(self) -> dict:
        instrument = self.instrument
        with self._control:
            setting = instrument.setting
            return {
                "model_hash": instrument.decoder.identity,
                "patch": str(instrument.patch.path) if instrument.patch.path else None,
                "patch_name": instrument.patch.name,
                "setting": {k: getattr(setting, k) for k in ("mapping", "center_x", "center_y", "zoom", "rotation", "variance", "seed")},
                "variation_counts": list(instrument.variation_counts),
                "captures": list(self.captures),
            }

    def save_state(self, name: str = "autosave", folder: Path | None = None) -> Path:
        """Save the live state atomically as NAME.json in the state folder; returns the path."""
        from liveengine.resources import state_dir
        from liveengine.state import save_state

        folder = folder or state_dir()
        try:
            return save_state(folder / f"{name}.json", self.state())
        except OSError as exc:
            raise LiveEngineError(f"cannot save the state into {folder}: {exc.strerror or exc}; the previous state file is kept.",
                                  "Set LIVEENGINE_STATE to a folder you can write to.") from None

    def restore_state(self, path: Path) -> None:
        """Apply a saved state (mapping, parameters, variation counts, captures). Errors leave everything as it was."""
        from liveengine.state import load_state

        instrument = self.instrument
        state = load_state(path, instrument.decoder.identity)
        try:
            saved = state["setting"]
            setting = instrument.setting
            for key in ("center_x", "center_y", "zoom", "rotation", "variance", "seed"):
                setting = setting.with_param(key, saved[key])
            counts = [int(c) for c in state["variation_counts"]]
            captures = list(state.get("captures", []))
            mapping_name = str(saved["mapping"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LiveEngineError(f"state file {path} is missing or has a bad value for {exc}; it cannot be restored.") from None
        if len(counts) != setting.pads:
            raise LiveEngineError(f"state file {path} is for a grid of {len(counts)} pads; this patch has {setting.pads}.")
        with self._control:
            mapping = instrument.mappings.get(mapping_name) or build_mapping(mapping_name, instrument.decoder, instrument.patch, setting)
            instrument.mappings[mapping_name] = mapping
            instrument.mapping = mapping
            instrument.setting = setting.with_mapping(mapping_name)
            instrument.variation_counts = counts
            self.captures = captures
            self._render(instrument)
        self.report(f"state restored from {path}")

    def capture(self, folder: Path | None = None) -> Path:
        """Keep the sound heard last (after variance and expression): WAV + JSON (latent point, model, state) in the library folder."""
        import json

        import soundfile

        from liveengine.resources import library_dir

        hit, sound = self.last_heard, self.last_sound
        if hit is None or sound is None:
            raise LiveEngineError("nothing has been played yet: capture keeps the sound heard last.")
        folder = folder or library_dir()
        state = self.state()
        entry = {"point": None if hit.point is None else [float(v) for v in hit.point], "pad": hit.pad,
                 "kind": hit.kind, "description": hit.description.as_dict() if hit.description else None}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for n in itertools.count(1):
                wav = folder / f"capture-{stamp}-{n}.wav"
                if not wav.exists():
                    break
            entry["file"] = wav.name
            soundfile.write(wav, sound.samples, self.options.samplerate, subtype="FLOAT")
            sidecar = {**entry, "model_hash": state["model_hash"], "patch": state["patch"], "setting": state["setting"],
                       "samplerate": self.options.samplerate}
            wav.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
        except OSError as exc:
            raise LiveEngineError(f"cannot write the capture into {folder}: {exc.strerror or exc}.",
                                  "Set LIVEENGINE_LIBRARY to a folder you can write to.") from None
        with self._control:
            self.captures.append({**entry, "path": str(wav)})
        self.changed.set()
        self.report(f"captured {wav}")
        return wav

    # ---- feedback (any control thread) ----
    def param_value(self, name: str) -> float:
        """The current value of a /param parameter (for soft takeover and displays)."""
        if name == "gain":
            return self._gain
        if name in GRID_PARAMS:
            return float(getattr(self.instrument.setting, name))
        raise LiveEngineError(f"{name!r} is not a parameter; parameters: gain, {', '.join(GRID_PARAMS)}.")

    def grid_shape(self) -> tuple[int, int]:
        setting = self.instrument.setting
        return setting.rows, setting.cols

    def pad_descriptions(self) -> list[PadDescription | None]:
        """Per pad (row * cols + col): the description of the sound it plays now, None while not rendered."""
        cache = self.instrument.cache
        return [None if b is None else b.description for b in cache.buffers[: cache.pads]]

    def input_events(self, limit: int = 4096) -> list[tuple]:
        """Events the audio server read since the last call (RECORD tuples, oldest first; one reader thread)."""
        events: list = []
        self._events.drain(events, limit)
        return events

    def voices(self) -> int:
        """Voices sounding or fading out now (the server's count at its last block)."""
        return self.shared.counter("voices_sounding") + self.shared.counter("voices_fading")

    def playing_pads(self) -> frozenset[int]:
        """Pads with a voice sounding now (read from the audio side without locking: a snapshot, maybe a block old)."""
        pads = self.instrument.cache.pads
        return frozenset(int(p) for p in np.flatnonzero(self.shared.pad_voices[:pads] > 0))

    def render_progress(self) -> tuple[int, int]:
        return self.instrument.cache.progress

    # ---- lifecycle ----
    def start(self, device: DeviceSpec | AudioBackend) -> None:
        """Start the audio: a DeviceSpec starts the audio server process on that device (LiveEngineError
        with the server's reason if it cannot); an offline backend runs the same core in this process."""
        if isinstance(device, DeviceSpec):
            server = ServerProcess(self.options, self.shared, self.report)
            server.start(device)
        else:
            server = InProcessServer(self.options, self.shared)
            self.core = server.core
            self.offline = True
            server.start(device)
        self.server = server
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="liveengine-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2.0)
        if self.server is not None:
            self.server.stop()
        self.stop_recording()
        if self.autosave is not None:
            try:
                self.save_state(self.autosave)
            except (OSError, LiveEngineError) as exc:
                self.report(f"state not saved at exit: {exc}")
        self._retire(self.instrument)
        # Status stays readable; the shared memory is freed when this engine is garbage-collected.
        self.shared.segment.close_fd()

    def record(self, path: Path | str, overwrite: bool = False, **writer_options) -> Recorder:
        """Record the device output to a WAV file from the next block on (refuses to overwrite unless asked).

        One recording at a time: a second one is refused, since replacing the first would leave its
        file unfinished and its writer thread running."""
        with self._control:
            if self.recorder is not None:
                raise LiveEngineError(f"cannot record to {path}: a recording to {self.recorder.path} is running; one at a time.",
                                      "Stop it first (/record/stop).")
            try:
                recorder = Recorder(Path(path), self.options.samplerate, self.options.channels, self.shared,
                                    self.shared.rec_written.load(), overwrite=overwrite, **writer_options)
            except FileExistsError:
                raise LiveEngineError(f"{path} already exists; liveengine never overwrites a recording.", "Choose another file name, or pass --force.") from None
            except OSError as exc:
                raise LiveEngineError(f"cannot create recording {path}: {exc.strerror}.") from None
            self.recorder = recorder
        return recorder

    def stop_recording(self) -> None:
        with self._control:
            recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()
            if recorder.error is not None:
                self.report(f"recording {recorder.path} stopped after {recorder.frames_written / self.options.samplerate:.3f} s: "
                            f"{recorder.error}; the file holds everything up to there")
            if recorder.lost_frames:
                self.report(f"recording {recorder.path}: {recorder.lost_frames} frames "
                            f"({recorder.lost_frames / self.options.samplerate:.3f} s) written as silence (not played, or the disk was too slow)")

    def report(self, message: str) -> None:
        self.reports.append(message)
        self.report_count += 1
        if self.on_report is not None:
            self.on_report(message)

    def _maybe_autosave(self, changed_at: float | None) -> float | None:
        """Debounced autosave: the first quiet `autosave_delay` seconds after a change write the state once."""
        if self.autosave is None:
            return None
        now = time.monotonic()
        if self.changed.is_set():
            self.changed.clear()
            return now
        if changed_at is not None and now - changed_at >= self.autosave_delay:
            try:
                self.save_state(self.autosave)
            except (OSError, LiveEngineError) as exc:
                self.report(f"autosave failed (the previous state file is kept): {exc}")
            return None
        return changed_at

    def _supervise(self) -> None:
        """Non-real-time: keep an audio server running, free pool slots, report what the server counted."""
        changed_at = None
        error_seq = self.shared.counter("error_seq")
        while not self._stop.wait(0.1):
            changed_at = self._maybe_autosave(changed_at)
            recorder = self.recorder
            if recorder is not None and recorder.error is not None:  # its writer failed (disk full): say so now, free the slot
                self.stop_recording()
            try:
                self.server.check()
            except Exception as exc:  # noqa: BLE001 - supervision must go on
                self.report(f"audio server check failed: {type(exc).__name__}: {exc}")
            self.pool.collect()
            seq = self.shared.counter("error_seq")
            if seq != error_seq:
                error_seq = seq
                self.report(f"audio callback error (block replaced by silence, {self.shared.counter('callback_errors')} so far): "
                            f"{self.shared.error_message()}")

    # ---- status ----
    def timings(self) -> tuple[np.ndarray, np.ndarray]:
        """The audio callback's recent durations and lateness (seconds), oldest first, from the server."""
        shared = self.shared
        blocks = shared.blocks.load()
        size = len(shared.callback_seconds)
        index = np.arange(max(0, blocks - size), blocks) % size
        return shared.callback_seconds[index].copy(), shared.lateness_seconds[index].copy()

    def status(self) -> dict:
        shared = self.shared
        seconds, lateness = self.timings()
        recent = seconds[-2048:]
        period = self.options.blocksize / self.options.samplerate
        done, total = self.instrument.cache.progress
        c = shared.counter
        return {
            "voices": self.voices(),
            "xruns": c("xruns"),
            "queue_drops": self.fifo.dropped,
            "late_commands": c("late_commands"),
            "schedule_full": c("schedule_full"),
            "stale_commands": c("stale_commands"),
            "callback_errors": c("callback_errors"),
            "blocks": shared.blocks.load(),
            "not_ready": self.not_ready,
            "variation_misses": self.variation_misses,
            "on_demand_misses": self.on_demand_misses,
            # Renders refused (a decode error, silence, NaN): a pad keeps its old sound, a hit between pads its nearest pad.
            "render_failures": self.instrument.cache.failures + self.instrument.on_demand.errors,
            "mapping": self.instrument.setting.mapping,
            "steals": c("steals"),
            "cpu_load": float(np.median(recent) / period) if len(recent) else 0.0,
            "callback_p99": float(np.percentile(recent, 99) / period) if len(recent) else 0.0,
            "lateness_p99_ms": float(np.percentile(lateness[-2048:], 99) * 1000) if len(lateness) else 0.0,
            "rendered": f"{done}/{total}",
            "peak": shared.float("peak"),
            "device_lost": self.device_lost,
            "server_pid": None if self.server is None else self.server.pid,
            "server_restarts": 0 if self.server is None else self.server.restarts,
            "pool_slots_used": self.pool.in_use,
            "pool_full": self.pool.full,
            "memory_mb": instrument_memory_mb(self._pids()),
        }

    def _pids(self) -> list[int]:
        """This process, its audio server and its render process: the instrument's memory."""
        others = (getattr(self.server, "pid", None), getattr(self.instrument.workers, "pid", None))
        return [os.getpid(), *(pid for pid in others if pid)]
