"""Wiring and lifecycle: patch -> instrument (decoder, grid, pad cache, workers) -> real-time core -> backend.

Threads (see docs/architecture.md):
- control threads (CLI, score feeder, later MIDI/OSC) call `Engine.submit`, which
  checks the command, resolves it against the instrument and queues an event;
- render workers decode pads into the pad cache;
- the audio thread runs `RealtimeCore.process`;
- the supervisor reports audio-path errors and reopens a lost device.
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.audio.backend import AudioBackend
from liveengine.audio.recorder import Recorder
from liveengine.commands import Command
from liveengine.decoders.base import Decoder
from liveengine.decoders.registry import load_decoder
from liveengine.errors import LiveEngineError
from liveengine.grid.plane import PlaneGrid
from liveengine.options import EngineOptions
from liveengine.patch import Patch, load_patch
from liveengine.render.pad_cache import PadCache
from liveengine.render.process_workers import ProcessRenderWorkers
from liveengine.render.workers import RenderWorkers
from liveengine.rt.core import ASAP, CHOKE, GAIN, PANIC, START, RealtimeCore

GRID_PARAMS = ("center_x", "center_y", "zoom", "rotation")
SWITCH_INTERVAL = 0.0005  # s: a busy Python thread hands the GIL to the audio callback this often


def plane_basis(decoder: Decoder) -> dict:
    """The model's latent mean and first two principal axes (scaled by their spreads), if it declares them."""
    info = getattr(decoder, "info", None)
    if info is None or not info.latent_axes:
        return {}
    spreads = info.latent_spreads or (1.0, 1.0)
    axes = tuple(tuple(v * spreads[i] for v in info.latent_axes[i]) for i in range(2))
    return {"origin": info.latent_mean or None, "axes": axes}


def velocity_gain(velocity: float, curve: float) -> float:
    """The one velocity curve: MIDI and OSC pass velocities (0..1) through; this shapes them."""
    return float(velocity) ** curve


@dataclass
class Instrument:
    """Everything a patch loads, swapped as a whole so a failed load leaves the old one playing."""

    patch: Patch
    decoder: Decoder
    grid: PlaneGrid
    cache: PadCache
    workers: RenderWorkers | ProcessRenderWorkers
    choke_of_pad: dict[int, int] = field(default_factory=dict)
    choke_groups: dict[str, int] = field(default_factory=dict)


class Engine:
    def __init__(self, patch: Patch, options: EngineOptions | None = None, on_report: Callable[[str], None] | None = None) -> None:
        self.options = options or patch.options()
        self.core = RealtimeCore(self.options)
        self.on_report = on_report
        self.reports: deque[str] = deque(maxlen=200)
        self.backend: AudioBackend | None = None
        self.recorder: Recorder | None = None
        self.not_ready = 0  # hits on pads whose first render had not finished
        self.last_pad: int | None = None
        self._seq = itertools.count()
        self._control = threading.Lock()  # control threads only; the audio thread never takes it
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.device_lost = False
        self.instrument = self._build_instrument(patch)

    # ---- instrument ----
    def _build_instrument(self, patch: Patch) -> Instrument:
        decoder = load_decoder(patch.model, patch.path, **patch.model_options)
        decoder.prepare(8)
        grid = PlaneGrid(patch.grid["rows"], patch.grid["cols"], decoder.latent_dim, patch.grid["center_x"],
                         patch.grid["center_y"], patch.grid["zoom"], patch.grid["rotation"], **plane_basis(decoder))
        cache = PadCache(grid.rows * grid.cols)
        on_error = lambda e: self.report(f"render failed: {e}")  # noqa: E731
        if patch.engine["render_in"] == "process":
            workers = ProcessRenderWorkers(patch.model, patch.path, patch.model_options, getattr(decoder, "preferred_batch", 8),
                                           cache, self.options.samplerate, patch.engine["max_seconds"], on_error)
        else:
            workers = RenderWorkers(decoder, cache, self.options.samplerate, threads=patch.engine["render_threads"],
                                    max_seconds=patch.engine["max_seconds"], on_error=on_error)
        workers.render_all(grid.latent_points())
        groups = {name: i for i, name in enumerate(patch.choke)}
        choke_of_pad = {grid.pad_index(r, c): groups[name] for name, pads in patch.choke.items() for r, c in pads}
        return Instrument(patch, decoder, grid, cache, workers, choke_of_pad, groups)

    def load_patch(self, path: Path | str) -> bool:
        """Swap in another patch while playing. On any error the current one keeps playing and False is returned."""
        try:
            patch = load_patch(path)
            new = self._build_instrument(patch)
        except LiveEngineError as exc:
            self.report(f"patch not loaded, still playing {self.instrument.patch.name}: {exc}")
            return False
        except Exception as exc:  # a broken model must not take the running engine down
            self.report(f"patch not loaded, still playing {self.instrument.patch.name}: {type(exc).__name__}: {exc}")
            return False
        with self._control:
            old, self.instrument = self.instrument, new
        old.workers.stop()
        if patch.options() != self.options:
            self.report(f"patch {patch.name} loaded; its [audio]/[engine] settings take effect at the next start")
        else:
            self.report(f"patch {patch.name} loaded")
        return True

    def wait_rendered(self, timeout: float | None = None, on_progress=None) -> bool:
        return self.instrument.cache.wait_complete(timeout, on_progress)

    # ---- commands ----
    def now_frame(self) -> int:
        """The current time on the engine clock (frames), estimated from the stream clock."""
        backend = self.backend
        anchor_frame, anchor_time = self.core.anchor
        if backend is None:
            return self.core.frame
        # A stream that has not called back for a few blocks is stalled or gone; what
        # arrives meanwhile is for the first block after it resumes, not for wall-clock time.
        elapsed = min(backend.now() - anchor_time, 4 * self.options.blocksize / self.options.samplerate)
        return anchor_frame + int(round(elapsed * self.options.samplerate))

    def _target(self, command: Command) -> int:
        if command.at is not None:
            return command.at
        if self.options.timing == "lowest-latency":
            return ASAP
        # Constant latency: exactly one block after arrival, wherever in the block it arrived.
        return self.now_frame() + self.options.blocksize

    def submit(self, command: Command) -> bool:
        """Queue a checked Command for the audio thread (any control thread).

        Returns False when it could not be queued (queue full, pad not rendered
        yet); both are counted. Raises LiveEngineError for commands that do not
        fit the loaded patch (a pad outside the grid, an unknown choke group).
        """
        address, args = command.address, command.args
        instrument = self.instrument
        if address == "/pad":
            row, col, velocity = args
            pad = self._pad(instrument, row, col)
            buffer = instrument.cache.get(pad)
            self.last_pad = pad
            if buffer is None:
                self.not_ready += 1
                return False
            target = self._target(command)
            start = ASAP if target == ASAP else target - buffer.onset
            gain = velocity_gain(velocity, self.options.velocity_curve)
            event = (start, next(self._seq), START, buffer, gain, instrument.choke_of_pad.get(pad, -1), pad)
        elif address == "/pad/off":
            self._pad(instrument, *args)
            return True  # one-shots ring out; release behaviour comes with the MIDI issue
        elif address == "/param":
            name, value = args
            if name == "gain":
                event = (self._target(command), next(self._seq), GAIN, float(value))
            else:
                self._set_grid_param(name, value)
                return True
        elif address == "/choke":
            group = instrument.choke_groups.get(args[0])
            if group is None:
                raise LiveEngineError(f"/choke group {args[0]!r} is not in the patch; groups: {', '.join(instrument.choke_groups) or 'none'}.")
            event = (self._target(command), next(self._seq), CHOKE, group)
        elif address == "/panic":
            event = (ASAP if command.at is None else command.at, next(self._seq), PANIC)
        else:
            raise LiveEngineError(f"the engine has no handler for {address}.")
        return self.core.queue.put(event)

    @staticmethod
    def _pad(instrument: Instrument, row: int, col: int) -> int:
        grid = instrument.grid
        if not (0 <= row < grid.rows and 0 <= col < grid.cols):
            raise LiveEngineError(f"pad ({row}, {col}) is outside the {grid.rows}x{grid.cols} grid; rows 0..{grid.rows - 1}, columns 0..{grid.cols - 1}.")
        return grid.pad_index(row, col)

    def _set_grid_param(self, name: str, value: float) -> None:
        with self._control:
            instrument = self.instrument
            instrument.grid = instrument.grid.with_param(name, float(value))
            instrument.workers.render_all(instrument.grid.latent_points(), first=self.last_pad)

    # ---- lifecycle ----
    def start(self, backend: AudioBackend) -> None:
        """Prepare the interpreter for real time, then open the stream."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        gc.collect()
        gc.freeze()  # objects made so far are never scanned again: shorter collections
        self.backend = backend
        backend.start(self.core.process)
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="liveengine-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2.0)
        if self.backend is not None:
            self.backend.stop()
        self.stop_recording()
        self.instrument.workers.stop()

    def record(self, path: Path | str, overwrite: bool = False, **writer_options) -> Recorder:
        """Record the device output to a WAV file (refuses to overwrite unless asked)."""
        try:
            recorder = Recorder(Path(path), self.options.samplerate, self.options.channels,
                                self.options.record_seconds_buffered, overwrite=overwrite, **writer_options)
        except FileExistsError:
            raise LiveEngineError(f"{path} already exists; liveengine never overwrites a recording.", "Choose another file name, or pass --force.") from None
        except OSError as exc:
            raise LiveEngineError(f"cannot create recording {path}: {exc.strerror}.") from None
        self.recorder = recorder
        self.core.recorder = recorder.ring
        return recorder

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        self.core.recorder = None
        if recorder is not None:
            recorder.close()
            if recorder.ring.dropped_blocks:
                self.report(f"recording {recorder.path} lost {recorder.ring.dropped_blocks} blocks: the disk was too slow")

    def report(self, message: str) -> None:
        self.reports.append(message)
        if self.on_report is not None:
            self.on_report(message)

    def _supervise(self) -> None:
        """Non-real-time: report what the audio thread counted, and bring a lost device back."""
        counters = self.core.counters
        last_retry = 0.0
        while not self._stop.wait(0.2):
            error = counters.last_error
            if error is not None:
                counters.last_error = None
                self.report(f"audio callback error (block replaced by silence, {counters.callback_errors} so far): {type(error).__name__}: {error}")
            backend = self.backend
            if backend is None or backend.alive:
                continue
            if not self.device_lost:
                self.device_lost = True
                self.report("audio device lost; the engine keeps its state and will reopen it when it comes back")
            if time.monotonic() - last_retry < 1.0:
                continue
            last_retry = time.monotonic()
            try:
                replacement = backend.recover()
                if replacement is not None:
                    replacement.start(self.core.process)
                    self.backend = replacement
                    self.device_lost = False
                    self.report(f"audio device back: {replacement.description}")
            except LiveEngineError as exc:
                self.report(f"audio device still unavailable: {exc.message}")
            except Exception as exc:  # a backend failing to reopen must not end supervision
                self.report(f"audio device still unavailable: {type(exc).__name__}: {exc}")

    # ---- status ----
    def status(self) -> dict:
        counters = self.core.counters
        seconds, lateness = counters.timings()
        recent = seconds[-2048:]
        period = self.options.blocksize / self.options.samplerate
        done, total = self.instrument.cache.progress
        return {
            "voices": self.core.voices.active,
            "xruns": counters.xruns,
            "queue_drops": self.core.queue.dropped,
            "late_commands": counters.late_commands,
            "schedule_full": counters.schedule_full,
            "callback_errors": counters.callback_errors,
            "not_ready": self.not_ready,
            "steals": self.core.voices.steals,
            "cpu_load": float(np.median(recent) / period) if len(recent) else 0.0,
            "callback_p99": float(np.percentile(recent, 99) / period) if len(recent) else 0.0,
            "lateness_p99_ms": float(np.percentile(lateness[-2048:], 99) * 1000) if len(lateness) else 0.0,
            "rendered": f"{done}/{total}",
            "peak": self.core.peak,
            "device_lost": self.device_lost,
        }
