"""The engine: the control process's side of the instrument (see docs/architecture.md).

- control inputs (CLI, score feeder, MIDI, OSC, keys) call `Engine.submit`, which runs the
  command's handler from the one command table (commands.py); sound commands land in the
  methods below, are resolved to a sample slot by the Player (hits.py) and written as records
  into the audio server's command FIFO;
- the instrument (instrument.py: decoder, grid, pad cache, render workers) renders pads into
  the shared sample pool; a patch load builds a new one and swaps it in;
- the audio server (a process of its own; in this process on the offline backend) runs
  `RealtimeCore.process`;
- the supervisor (supervisor.py) restarts a dead or hung server, frees pool slots, reports
  what the server counted and autosaves the session (session.py).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.audio.backend import AudioBackend
from liveengine.audio.recorder import Recorder
from liveengine.audio.spec import DeviceSpec
from liveengine.commands import COMMANDS, Command
from liveengine.decoders import trial_load
from liveengine.decoders.base import Decoder
from liveengine.decoders.trial_load import load_in_child
from liveengine.engine import session, supervisor
from liveengine.engine.hits import Player
from liveengine.engine.instrument import GRID_PARAMS, Instrument, build_instrument, loaded_decoder, patch_decoder, server_layout
from liveengine.errors import LiveEngineError
from liveengine.grid.mappings import mix
from liveengine.groove.engine_side import GROOVE_PARAMS, GrooveMethods
from liveengine.handlers import Caller
from liveengine.options import EngineOptions
from liveengine.patch import Patch, load_patch
from liveengine.render.describe import PadDescription
from liveengine.rt.core import ASAP, CHOKE, GAIN, PANIC, STOP_PAD, MidiEvent
from liveengine.server.client import InProcessServer, ServerProcess
from liveengine.server.clock import Clock
from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import Record, SharedState
from liveengine.server.pool import SamplePool
from liveengine.stream.engine_side import StreamMethods


def _player_field(name: str, doc: str) -> property:
    """An engine attribute kept by its Player (hits.py), readable and settable on the engine."""
    return property(lambda self: getattr(self.player, name), lambda self, value: setattr(self.player, name, value), doc=doc)


class Engine(GrooveMethods, StreamMethods):
    def __init__(self, patch: Patch, options: EngineOptions | None = None, on_report: Callable[[str], None] | None = None,
                 prepare_audio: bool = False) -> None:
        """prepare_audio: start the audio server's process at once (see prepare_audio), for an engine about to play."""
        self.options = options or patch.options()
        self.on_report = on_report
        self.reports: deque[str] = deque(maxlen=200)
        self.report_count = 0  # reports ever made (the deque keeps the last 200)
        self.server: ServerProcess | InProcessServer | None = None
        self.core = None  # the real-time core, when it runs in this process (offline backend)
        self.recorder: Recorder | None = None
        self.changed = threading.Event()  # set on every change worth saving (autosave)
        self.captures: list[dict] = []
        self.autosave: str | None = None  # a state name: saved a moment after each change, and at stop
        self.keep_last_session = False  # play's new session: its first autosave keeps the last one's (state.py)
        self.autosave_delay = 2.0  # seconds of quiet before an autosave (knob sweeps write once)
        self.control = threading.RLock()  # control threads only; the audio thread never takes it
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._gain = self.options.master_gain  # the last gain sent to the server
        decoder = patch_decoder(patch)
        self.shared = SharedState.create(server_layout(self.options, patch, decoder))
        self._server_midi = None  # server_midi()
        self.fifo = FifoWriter(self.shared)
        self._events = FifoReader(self.shared, "events")  # what the audio server read (MIDI on JACK), with frames
        self.pool = SamplePool(self.shared)
        self.clock = Clock(self.shared, self.options.samplerate, self.options.blocksize, now=self._host_now)
        self.player = Player(self._send, self._target, self.now_frame, self.pool, self.options.velocity_curve, self.control)
        self._prepared: ServerProcess | None = None  # an audio server started ahead (prepare_audio)
        if prepare_audio:
            self.prepare_audio()
        self._starting_on: int | None = threading.get_ident()  # the thread building the first instrument, until it has
        try:
            self.instrument = self._build_instrument(patch, decoder)
            self._starting_on = None
            self.groove = self._build_groove(patch)  # None without a [groove] model (liveengine/groove/)
            self.stream = self._build_stream(patch)  # None without a [stream] model (liveengine/stream/)
        except BaseException:
            if getattr(self, "instrument", None) is not None:  # its groove was refused: its render workers go too
                self.instrument.retire()
            if self._prepared is not None:
                self._prepared.stop()
            raise

    # What the hits played and missed (hits.py keeps them).
    hits = _player_field("hits", "the last 4096 hits (engine/hits.py Hit)")
    last_heard = _player_field("last_heard", "the last hit")
    last_sound = _player_field("last_sound", "the sound the last hit played (for /capture)")
    last_pad = _player_field("last_pad", "the pad hit last (renders start there)")
    not_ready = _player_field("not_ready", "hits that found no sound to play")
    variation_misses = _player_field("variation_misses", "hits whose next variation was not rendered yet")
    on_demand_misses = _player_field("on_demand_misses", "hits between pads whose exact sound would have been late")

    offline = _player_field("offline", "offline, hits wait for their exact sound instead of a deadline")

    # ---- instrument ----
    def _build_instrument(self, patch: Patch, decoder: Decoder | None = None) -> Instrument:
        on_error = lambda e: self.report(f"render failed: {e}")  # noqa: E731
        decoder = decoder or patch_decoder(patch)
        trial_load.remember(decoder)  # it loaded here: a later switch back to it needs no trial
        trial_load.guard_encoder(decoder, patch.model, patch.path, patch.model_options,  # its encoder loads on first use
                                 skip=lambda: self._starting_on == threading.get_ident())
        return build_instrument(patch, decoder, self.pool, self.options.samplerate,
                                self.player.play_rendered, on_error, self.player.last_pad)

    def load_patch(self, path: Path | str) -> bool:
        """Swap in another patch while playing. On any error the current one keeps playing and False is returned."""
        new = groove = None
        try:
            patch = load_patch(path)
            decoder = loaded_decoder(patch, self.instrument)  # the same model, unchanged: nothing to load
            if decoder is None:
                load_in_child(patch.model, patch.path, patch.model_options)  # a model that aborts the process must not end the show
            new = self._build_instrument(patch, decoder)
            groove = self._build_groove(patch)
            stream = self._build_stream(patch)
        except Exception as exc:  # a broken model must not take the running engine down
            if new is not None:  # its render process and pool leases, its groove: refused with the rest
                new.retire()
            if groove is not None:
                groove.stop()
            reason = exc if isinstance(exc, LiveEngineError) else f"{type(exc).__name__}: {exc}"
            self.report(f"patch not loaded, still playing {self.instrument.patch.name}: {reason}")
            return False
        with self.control:
            old, self.instrument = self.instrument, new
        old.retire()
        self._swap_groove(groove)
        self._swap_stream(stream)
        if patch.options() != self.options:
            self.report(f"patch {patch.name} loaded; its [audio]/[engine] settings take effect at the next start")
        else:
            self.report(f"patch {patch.name} loaded")
        self.changed.set()
        return True

    def wait_rendered(self, timeout: float | None = None, on_progress=None) -> bool:
        """Wait until every pad is rendered and the between-pad renderer is warm; False on timeout."""
        began = time.monotonic()
        if not self.instrument.cache.wait_complete(timeout, on_progress):
            return False
        return self.instrument.on_demand.wait_ready(None if timeout is None else max(0.0, timeout - (time.monotonic() - began)))

    # ---- the clock and the command FIFO ----
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
        count = self.fifo.put(Record(frame, gen, kind, slot, gain, choke, pad, onset, value))
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

    # ---- commands ----
    def submit(self, command: Command, caller: Caller | None = None) -> bool:
        """Run a checked Command (any control thread): its handler in the one command table.

        Returns False when it could not be taken (queue full, pad not rendered yet);
        both are counted. Raises LiveEngineError for commands that do not fit the
        loaded patch (a pad outside the grid, an unknown choke group, a latent point
        of the wrong size). `caller` is how to answer (OSC replies); None: nobody.
        """
        return COMMANDS[command.address].handler(self, command, caller or Caller())

    # What each sound and parameter command does (named in commands.py).
    def pad(self, command: Command) -> bool:
        row, col, velocity = command.args
        instrument = self.instrument
        return self.player.hit_pad(instrument, instrument.pad(row, col), velocity, command)

    def xy(self, command: Command) -> bool:
        x, y, velocity = command.args
        instrument = self.instrument
        setting = instrument.setting
        point = instrument.mapping.to_latent(setting.view(np.array([x, y])))
        nearest = setting.pad_index(int(round(y * (setting.rows - 1))), int(round(x * (setting.cols - 1))))
        return self.player.hit_point(instrument, point, velocity, command, nearest)

    def latent(self, command: Command) -> bool:
        instrument = self.instrument
        dim, velocity = instrument.latent_size(command.args)
        point = np.asarray(command.args[:dim], np.float32)
        return self.player.hit_point(instrument, point, velocity, command, instrument.nearest_pad(point))

    def mix(self, command: Command) -> bool:
        args, instrument = command.args, self.instrument
        velocity = args[-1] if len(args) % 3 == 1 else 1.0
        weights, pads = instrument.mix_pads(args)
        point = mix(instrument.pad_points[pads], weights)
        return self.player.hit_point(instrument, point, velocity, command, pads[int(np.argmax(np.abs(weights)))])

    def pad_off(self, command: Command) -> bool:
        return self._send(STOP_PAD, self._target(command), pad=self.instrument.pad(*command.args))

    def param(self, command: Command) -> bool:
        name, value = command.args
        if name == "gain":
            self._gain = float(value)
            return self._send(GAIN, self._target(command), value=float(value))
        if name in GROOVE_PARAMS or name.startswith("mute_"):
            return self.groove_param(name, value)
        self.set_grid_param(name, value)
        return True

    def mapping(self, command: Command) -> bool:
        self.set_mapping(command.args[0])
        return True

    def choke(self, command: Command) -> bool:
        return self._send(CHOKE, self._target(command), choke=self.instrument.choke_group(command.args[0]))

    def panic(self, command: Command) -> bool:
        self.stream_panic()  # the stream voice fades out with the rest and plays on from the reset producer's next frames
        return self._send(PANIC, ASAP if command.at is None else command.at)

    def check_fits(self, command: Command) -> None:
        """Raise LiveEngineError where a checked command does not fit the loaded patch, as submit would
        (a pad outside the grid, an unknown choke group, a latent point of the wrong size, a mapping the
        patch cannot build); queues nothing."""
        instrument, address, args = self.instrument, command.address, command.args
        if address in ("/pad", "/pad/off"):
            instrument.pad(args[0], args[1])
        elif address == "/latent":
            instrument.latent_size(args)
        elif address == "/mix":
            instrument.mix_pads(args)
        elif address == "/choke":
            instrument.choke_group(args[0])
        elif address == "/mapping":
            with self.control:
                instrument.mapping_named(args[0])  # built now, so the switch itself is instant
        elif address.startswith("/groove"):
            self.check_groove_fits(command)
        elif address.startswith("/stream"):
            self._stream_player()

    def set_grid_param(self, name: str, value: float) -> None:
        """Move the grid (centre, zoom, rotation) or change its variation; every pad re-renders, old sounds play meanwhile."""
        if name not in GRID_PARAMS:
            raise LiveEngineError(f"{name!r} is not a grid parameter; grid parameters: {', '.join(GRID_PARAMS)}.")
        with self.control:
            instrument = self.instrument
            instrument.setting = instrument.setting.with_param(name, value)
            instrument.render(self.player.last_pad)
        self.changed.set()

    def set_mapping(self, name: str) -> None:
        """Switch mapping live. A mapping the patch cannot build (no anchors, no library) is an error; the old one stays."""
        with self.control:
            instrument = self.instrument
            instrument.mapping = instrument.mapping_named(name)
            instrument.setting = instrument.setting.with_mapping(name)
            instrument.render(self.player.last_pad)
        self.changed.set()

    # Notes the audio server starts by itself (MIDI read in its JACK callback: control/midi/server_ports.py).
    def direct_hit(self, pad: int) -> tuple[int, int]:
        return self.player.direct_hit(self.instrument, pad)

    def played_by_server(self, pad: int, variation: bool = False) -> None:
        self.player.played_by_server(self.instrument, pad, variation)

    def server_midi(self):
        """The one producer of the audio server's MIDI-out FIFO (control/midi/out.py ServerMidiFifo), which the
        groove's notes and the controllers' LEDs share; made on first use."""
        with self.control:
            if self._server_midi is None:
                from liveengine.control.midi.out import ServerMidiFifo

                self._server_midi = ServerMidiFifo(self.shared)
            return self._server_midi

    # ---- the session: state, captures (session.py) ----
    def state(self) -> dict:
        return session.state(self)

    def save_state(self, name: str = "autosave", folder: Path | None = None) -> Path:
        return session.save_state(self, name, folder)

    def restore_state(self, path: Path) -> None:
        session.restore_state(self, path)

    def capture(self, folder: Path | None = None) -> Path:
        return session.capture(self, folder)

    # ---- feedback (any control thread) ----
    def param_value(self, name: str) -> float:
        """The current value of a /param parameter (for soft takeover and displays)."""
        if name == "gain":
            return self._gain
        if name in GRID_PARAMS:
            return float(getattr(self.instrument.setting, name))
        if name in GROOVE_PARAMS or name.startswith("mute_"):
            return self.groove_param_value(name)
        raise LiveEngineError(f"{name!r} is not a parameter; parameters: gain, {', '.join(GRID_PARAMS)}.")

    def grid_shape(self) -> tuple[int, int]:
        setting = self.instrument.setting
        return setting.rows, setting.cols

    def pad_descriptions(self) -> list[PadDescription | None]:
        """Per pad (row * cols + col): the description of the sound it plays now, None while not rendered."""
        cache = self.instrument.cache
        return [None if b is None else b.description for b in cache.buffers[: cache.pads]]

    def input_events(self, limit: int = 4096) -> list[MidiEvent]:
        """MIDI messages the audio server read since the last call, each with its frame (oldest first; one reader thread)."""
        records: list = []
        self._events.drain(records, limit)
        return [MidiEvent.of(record) for record in records]

    def voices(self) -> int:
        """Voices sounding or fading out now (the server's count at its last block)."""
        return self.shared.counter("voices_sounding") + self.shared.counter("voices_fading")

    def playing_pads(self) -> frozenset[int]:
        """Pads with a voice sounding now (read from the audio side without locking: a snapshot, maybe a block old)."""
        pads = self.instrument.cache.pads
        return frozenset(int(p) for p in np.flatnonzero(self.shared.pad_voices[:pads] > 0))

    def pad_starts(self) -> np.ndarray:
        """Voices ever started per pad (a copy): a pad whose count grew was played, however short its sound."""
        return self.shared.pad_starts[: self.instrument.cache.pads].copy()

    def render_progress(self) -> tuple[int, int]:
        return self.instrument.cache.progress

    def timings(self) -> tuple[np.ndarray, np.ndarray]:
        return supervisor.timings(self)

    def status(self) -> dict:
        return supervisor.status(self)

    # ---- lifecycle ----
    def prepare_audio(self, device: DeviceSpec | None = None) -> None:
        """Start the audio server's process ahead, while the grid renders: `start` then only opens the
        device (the interpreter's start-up and imports, about 0.4 s, overlap the render). With the
        device it opens that too, silent until `start` (which says if it could not)."""
        if self._prepared is None:
            self._prepared = ServerProcess(self.options, self.shared, self.report)
        self._prepared.prespawn(device)

    def start(self, device: DeviceSpec | AudioBackend) -> None:
        """Start the audio: a DeviceSpec starts the audio server process on that device (LiveEngineError
        with the server's reason if it cannot); an offline backend runs the same core in this process."""
        if isinstance(device, DeviceSpec):
            server, self._prepared = self._prepared or ServerProcess(self.options, self.shared, self.report), None
            try:
                server.start(device)
            except BaseException:  # LiveEngineError with the server's reason, or Ctrl-C while it opened
                server.stop()  # a prespawned standby too
                raise
            self._use_server_midi_out(device)
        else:
            server = InProcessServer(self.options, self.shared)
            self.core = server.core
            self.offline = True
            server.start(device)
        self.server = server
        self._stop.clear()
        self._supervisor = threading.Thread(target=supervisor.supervise, args=(self, self._stop), name="liveengine-supervisor", daemon=True)
        self._supervisor.start()
        self._start_groove()
        self._start_stream()

    def stop(self) -> None:
        if self._prepared is not None:  # prepared, never started
            self._prepared.stop()
            self._prepared = None
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2.0)
        if self.server is not None:
            self.server.stop()
        self._close_outputs()  # MIDI out, a Link session
        self.stop_recording()
        if self.autosave is not None:
            try:
                self.save_state(self.autosave)
            except (OSError, LiveEngineError) as exc:
                self.report(f"state not saved at exit: {exc}")
        self.instrument.retire()
        self._swap_groove(None)
        self._swap_stream(None)
        # Status stays readable; the shared memory is freed when this engine is garbage-collected.
        self.shared.segment.close_fd()

    def record(self, path: Path | str, overwrite: bool = False, **writer_options) -> Recorder:
        """Record the device output to a WAV file from the next block on (refuses to overwrite unless asked).

        One recording at a time: a second one is refused, since replacing the first would leave its
        file unfinished and its writer thread running."""
        with self.control:
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
        with self.control:
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
