"""The engine's groove commands and lifecycle hooks, kept out of engine.py (Engine mixes this class in).

`/groove row col`, `/groove/xy x y`, `/groove/kit voice row col`, `/groove/stop` and the groove
parameters (`/param tempo|density|swing|humanise|dynamics|fill|mute_<voice>`) land here through the
one command table, and so do the tempo source's (`/tempo/source name`, `/transport tempo beat playing`,
MIDI clock from either MIDI path through `midi_clock`). The groove plays the sound grid's pads: each hit is a timed /pad submitted back
through Engine.submit, so it takes the engine's one path to the audio server's FIFO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveengine.errors import LiveEngineError
from liveengine.groove.kit import PadSound, decay_seconds
from liveengine.groove.midi_clock import MidiClock
from liveengine.groove.player import OFFLINE_DECODE_WAIT, GroovePlayer
from liveengine.groove.tempo import TempoSources
from liveengine.rt.voices import ENVELOPE_HOP

if TYPE_CHECKING:
    from liveengine.commands import Command

GROOVE_PARAMS = ("tempo", "density", "swing", "humanise", "dynamics", "fill")


class GrooveMethods:
    """Mixed into Engine: needs its instrument, options, offline flag, submit, now_frame and report."""

    groove: GroovePlayer | None = None
    _tempo_sources: TempoSources | None = None
    midi_out = None  # where MIDI notes go out (control/midi/out.py): the server's JACK port, or rtmidi's 'liveengine out'

    def open_midi_out(self, api: str | None = None) -> None:
        """Open the rtmidi virtual output 'liveengine out' for the groove's notes (before the audio stream starts:
        see control/midi/ports.py PortPool). A server started with a JACK MIDI output takes its place."""
        from liveengine.control.midi import ports
        from liveengine.control.midi.out import RtMidiOut

        if self.midi_out is None:
            self.midi_out = RtMidiOut.virtual(ports.resolve_api(api), self.clock.time_of, keep_lateness=4096)

    def _use_server_midi_out(self, device) -> None:
        from liveengine.control.midi.out import ServerMidiOut

        if getattr(device, "midi_out", False):
            old, self.midi_out = self.midi_out, ServerMidiOut(self.server_midi())
            if old is not None:
                old.close()

    def _close_outputs(self) -> None:
        old, self.midi_out = self.midi_out, None
        if old is not None:
            old.close()
        if self._tempo_sources is not None:
            self._tempo_sources.close()  # leaves a Link session

    @property
    def tempo_sources(self) -> TempoSources:
        """The tempo sources (made once, kept across patch loads: a clock being followed stays locked)."""
        if self._tempo_sources is None:
            self._tempo_sources = TempoSources(self.options.samplerate, MidiClock(self.options.samplerate), self.clock.frame_at,
                                               self.report, self._free_bpm)
        return self._tempo_sources

    def _free_bpm(self) -> float:
        return self.groove.sequencer.free_bpm if self.groove is not None else 120.0

    def _build_groove(self, patch) -> GroovePlayer | None:
        """The patch's groove (None without a [groove] model); LiveEngineError if its model or page is refused
        (a tempo source it cannot have, such as link without its extra, too)."""
        if not patch.groove.get("model"):
            return None
        grid = patch.grid
        player = GroovePlayer(patch, self.submit, self.options.samplerate, grid["rows"], grid["cols"], self._pad_sounds,
                              offline=self.offline, log=1 << 16, report=self.report, midi_out=lambda: self.midi_out)
        try:
            self.tempo_sources.select(patch.groove.get("tempo_source", "patch"))
        except BaseException:
            player.stop()
            raise
        player.sources = self.tempo_sources
        return player

    def _pad_sounds(self) -> list[PadSound]:
        """What the kit's default rule reads: each rendered pad's class, probability, centroid and decay."""
        cache, rate = self.instrument.cache, self.options.samplerate
        sounds = []
        for pad in range(cache.pads):
            buffer = cache.get(pad)
            if buffer is None or buffer.description is None:
                continue
            d = buffer.description
            sounds.append(PadSound(pad, d.drum_class, d.probability, d.centroid_hz, decay_seconds(buffer.envelope, ENVELOPE_HOP, rate)))
        return sounds

    def _start_groove(self) -> None:
        groove = self.groove
        if groove is None:
            return
        groove.sequencer.wait_decodes = OFFLINE_DECODE_WAIT if self.offline else 0.0
        start = groove.patch.groove["start"]
        if start:
            groove.pad(start[0], start[1], None, self.now_frame() + self.options.blocksize)
        if not self.offline:  # offline, the render loop feeds it block by block
            groove.run(self.now_frame)

    def _swap_groove(self, new: GroovePlayer | None) -> None:
        old, self.groove = self.groove, new
        if old is not None:
            old.stop()
        if new is not None and self.server is not None:
            self._start_groove()

    def _groove_player(self) -> GroovePlayer:
        if self.groove is None:
            raise LiveEngineError(f"patch {self.instrument.patch.name} has no groove page; add [groove] model = \"grooves\" to it.")
        return self.groove

    def check_groove_fits(self, command: Command) -> None:
        """Raise LiveEngineError where a /groove command does not fit the patch (no groove page, a pad off it, a kit pad off the grid)."""
        groove = self._groove_player()
        if command.address == "/groove":
            setting = groove.page.setting
            row, col = command.args
            if not (0 <= row < setting.rows and 0 <= col < setting.cols):
                raise LiveEngineError(f"groove pad ({row}, {col}) is outside the {setting.rows}x{setting.cols} groove page; "
                                      f"rows 0..{setting.rows - 1}, columns 0..{setting.cols - 1}.")
        elif command.address == "/groove/kit":
            from liveengine.groove.kit import check_kit

            voice, row, col = command.args
            check_kit({voice: [row, col]}, groove.sound_rows, groove.sound_cols, groove.voices, where="/groove/kit")

    # ---- commands (named in commands.py) ----
    def groove_pad(self, command: Command) -> bool:
        row, col = command.args
        return self._groove_player().pad(row, col, command.at, self.now_frame() + self.options.blocksize)

    def groove_xy(self, command: Command) -> bool:
        x, y = command.args
        return self._groove_player().xy(x, y, command.at, self.now_frame() + self.options.blocksize)

    def groove_kit(self, command: Command) -> bool:
        self._groove_player().set_kit(*command.args)
        return True

    def groove_stop(self, command: Command) -> bool:
        self._groove_player().sequencer.stop(command.at)
        return True

    def tempo_source(self, command: Command) -> bool:
        """/tempo/source name: follow it from the next step not yet scheduled (reported)."""
        self.tempo_sources.select(command.args[0])
        return True

    def transport(self, command: Command) -> bool:
        """/transport tempo beat playing: Live's transport at the bundle's frame (or at arrival, counted as untimed)."""
        bpm, beat, playing = command.args
        frame = command.at if command.at is not None else self.now_frame()
        self.tempo_sources.transport.update(bpm, beat, playing >= 0.5, frame, command.at is not None)
        return True

    def midi_clock(self, status: int, data1: int, data2: int, frame: int) -> bool:
        """A MIDI clock, start, stop, continue or song position message at `frame` (either MIDI path); False if it is none."""
        return self.tempo_sources.midi.message(status, data1, data2, frame)

    def groove_param(self, name: str, value: float) -> bool:
        self._groove_player().set_param(name, value)
        return True

    def groove_param_value(self, name: str) -> float:
        """The current value of a groove parameter (MIDI soft takeover, displays); 0 without a groove page."""
        if self.groove is None:
            return 0.0
        seq = self.groove.sequencer
        if name == "tempo":
            return seq.free_bpm
        if name == "fill":
            return 0.0
        if name.startswith("mute_"):
            return 1.0 if name[5:] in self.groove.voices and self.groove.voices.index(name[5:]) in seq.performance.muted else 0.0
        return float(getattr(seq.performance, name))

    def groove_page_shape(self) -> tuple[int, int]:
        """(rows, cols) of the groove page; (0, 0) without one."""
        if self.groove is None:
            return 0, 0
        setting = self.groove.page.setting
        return setting.rows, setting.cols

    def groove_leds(self) -> tuple[tuple[int, int], tuple[int, int] | None, int | None]:
        """What a controller's groove page shows: the page's shape, the groove pad playing (None: none, or a
        morph between pads) and the step sounding now (None while stopped)."""
        if self.groove is None:
            return (0, 0), None, None
        return self.groove_page_shape(), *self.groove.now_playing(self.now_frame())

    def groove_status(self) -> dict:
        out = {} if self.groove is None else {f"groove_{k}": v for k, v in self.groove.status().items()}
        if self._tempo_sources is not None:
            out.update(self._tempo_sources.status())
        return out
