"""A patch's groove: the pattern model, the groove page, the kit, the sequencer and its decode thread.

The engine owns one (`Engine.groove`, None without a [groove] model) and routes /groove,
/groove/xy, /groove/kit and the groove parameters here. Hits go back through `submit` as timed
/pad commands: the engine's one command path to the audio server's FIFO, so a groove's hit is
any other hit, at its sample.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.commands import Command
from liveengine.decoders.registry import find_model, load_pattern_model
from liveengine.errors import LiveEngineError
from liveengine.groove.kit import PadSound, check_kit, default_kit
from liveengine.groove.page import build_page, skipped_line
from liveengine.groove.pattern import DRUM_CHANNEL, VOICE_TO_NOTE, VOICES, Pattern
from liveengine.groove.section import PERFORMANCE_RANGES
from liveengine.groove.sequencer import Decoded, GrooveSequencer, Performance, check_bpm

FEED_SECONDS = 0.005  # the live groove thread's period
HORIZON_SECONDS = 0.1  # live: hits are queued this far ahead (the schedule holds them; at 120 BPM under two steps)
OFFLINE_DECODE_WAIT = 30.0  # offline, a switch waits this long for its decode (a render is the same on a busy machine)


class GroovePlayer:
    def __init__(self, patch, submit: Callable[[Command], bool], samplerate: int, sound_rows: int, sound_cols: int,
                 pad_sounds: Callable[[], list[PadSound]], *, offline: bool = False, log: int = 0,
                 report: Callable[[str], None] = lambda text: None, midi_out: Callable[[], object] = lambda: None) -> None:
        """midi_out() -> the engine's MIDI-out sink (control/midi/out.py) or None, for `[groove] output` midi or both."""
        groove = patch.groove
        self.patch = patch
        self.submit = submit
        self.report = report
        self.sound_rows, self.sound_cols = sound_rows, sound_cols
        self.pad_sounds = pad_sounds
        self.model = load_pattern_model(groove["model"], patch.path)
        self.voices = self.model.voices
        self.page = build_page(self.model, patch)
        if self.page.skipped:  # said once, as render-grooves and train say theirs
            report(skipped_line(self.page.skipped))
        self.index = self._load_index(find_model(groove["model"], patch.path, kind="pattern"))
        hits, velocities, offsets = self.model.decode(self.page.points)
        self.pads = [Decoded(("pad",) + divmod(i, self.page.setting.cols), z=self.page.points[i]) for i in range(len(self.page.points))]
        for i, decoded in enumerate(self.pads):
            decoded.set(Pattern(hits[i], velocities[i], offsets[i]))
        self.explicit_kit = check_kit(groove["kit"], sound_rows, sound_cols, self.voices)
        self.kit: dict[str, tuple[int, int]] | None = None  # the default rule fills the rest at the first hit (pads rendered by then)
        muted = frozenset(self.voices.index(v) for v in groove["mute"] if v in self.voices)
        performance = Performance(groove["density"], groove["swing"], groove["humanise"], groove["dynamics"], muted)
        horizon = int(HORIZON_SECONDS * samplerate)
        self.sequencer = GrooveSequencer(self._play, samplerate, groove["bpm"], steps_per_beat=self.model.steps_per_beat,
                                         quantise=groove["quantise"], performance=performance, horizon_frames=horizon,
                                         wait_decodes=OFFLINE_DECODE_WAIT if offline else 0.0, log=log)
        self.rejected = 0  # hits the engine refused (counted here and by the engine)
        self.output = groove.get("output", "internal")
        self.midi_out = midi_out
        self.gate_frames = int(round(groove.get("gate_ms", 50.0) * samplerate / 1000))
        channel = groove.get("midi_channel", DRUM_CHANNEL + 1) - 1
        self.note_on, self.note_off = 0x90 | channel, 0x80 | channel
        notes = dict(zip(VOICES, VOICE_TO_NOTE), **groove.get("notes", {}))
        self.notes = [notes.get(v, 36) for v in self.voices]
        self.midi_notes = 0  # notes sent out (note-on and its note-off queued)
        self.midi_dropped = 0  # notes with no MIDI output, or that its queue refused
        self.current_z: np.ndarray | None = None
        self._requests: queue.Queue = queue.Queue(maxsize=1)
        self._request_lock = threading.Lock()
        self._stop = threading.Event()
        self._decoder = threading.Thread(target=self._decode_loop, name="groove-decode", daemon=True)
        self._decoder.start()
        self._feeder: threading.Thread | None = None
        self.sources = None  # the engine's TempoSources (groove/tempo.py): the map the sequencer follows
        self._followed = None

    @staticmethod
    def _load_index(folder: Path | None) -> dict | None:
        if folder is None or not (folder / "index.npz").is_file():
            return None
        found = np.load(folder / "index.npz")
        return {"z": found["z"].astype(np.float32), "style": found["style"], "fill": found["fill"].astype(bool)}

    # ---- the kit ----
    def _kit(self) -> dict[str, tuple[int, int]]:
        if self.kit is None:
            self.kit = {**default_kit(self.pad_sounds(), self.sound_rows, self.sound_cols, self.voices), **self.explicit_kit}
        return self.kit

    def set_kit(self, voice: str, row: int, col: int) -> None:
        checked = check_kit({voice: [row, col]}, self.sound_rows, self.sound_cols, self.voices, where="/groove/kit")
        self.explicit_kit = {**self.explicit_kit, **checked}
        self.kit = {**self._kit(), **checked}

    def _play(self, voice: int, velocity: float, frame: int) -> bool:
        played = True
        if self.output != "internal":
            played = self._send_note(voice, velocity, frame)
        if self.output == "midi":
            return played
        row, col = self._kit()[self.voices[voice]]
        try:
            return self.submit(Command("/pad", (row, col, velocity), frame)) and played
        except LiveEngineError:
            self.rejected += 1
            return False

    def _send_note(self, voice: int, velocity: float, frame: int) -> bool:
        """The voice's note at `frame` and its note-off a gate later, on the engine's MIDI output."""
        sink = self.midi_out()
        note = self.notes[voice]
        if sink is None or not sink.send(frame, self.note_on, note, max(1, min(127, int(round(velocity * 127))))):
            if self.midi_dropped == 0:
                self.report("groove MIDI out: no MIDI output to send to (liveengine play opens one with [groove] output = "
                            "\"midi\" or \"both\")" if sink is None else "groove MIDI out: queue full, notes dropped (counted)")
            self.midi_dropped += 1
            return False
        if not sink.send(frame + self.gate_frames, self.note_off, note, 0):
            self.midi_dropped += 1
            return False
        self.midi_notes += 1
        return True

    # ---- switching ----
    def pad(self, row: int, col: int, at: int | None, now: int) -> bool:
        setting = self.page.setting
        if not (0 <= row < setting.rows and 0 <= col < setting.cols):
            raise LiveEngineError(f"groove pad ({row}, {col}) is outside the {setting.rows}x{setting.cols} groove page; "
                                  f"rows 0..{setting.rows - 1}, columns 0..{setting.cols - 1}.")
        return self._go(self.pads[setting.pad_index(row, col)], at, now)

    def xy(self, x: float, y: float, at: int | None, now: int) -> bool:
        """Morph: the point (x, y) of the page, decoded on the groove's decode thread, switched in at the next boundary."""
        z = self.page.point_at(x, y)
        decoded = Decoded(("xy", round(x, 4), round(y, 4)), z=z)
        if self.sequencer.running:
            self._request(decoded)
        else:  # nothing plays yet: decode here, so the first steps have their pattern (a decode is well under a millisecond)
            self._decode(decoded)
        return self._go(decoded, at, now)

    def _go(self, decoded: Decoded, at: int | None, now: int) -> bool:
        self.current_z = decoded.z
        if not self.sequencer.running:
            self._follow()  # a start lands on the source's grid
            self.sequencer.start(decoded, now if at is None else at)
            self.sequencer.feed(now)  # the first steps at once, not at the feeder's next period
        else:
            self.sequencer.switch(decoded, at)
        return True

    def fill(self) -> bool:
        """A one-bar fill at the next bar: the index's fill nearest the current groove, decoded; the groove returns after it."""
        if self.index is None or not self.index["fill"].any():
            raise LiveEngineError(f"groove model {self.model.name} has no index of fills (index.npz), so fill cannot find one.")
        if not self.sequencer.running or self.current_z is None:
            raise LiveEngineError("fill needs a playing groove; start one with /groove row col.")
        fills = self.index["z"][self.index["fill"]]
        nearest = fills[int(np.argmin(np.sum((fills - self.current_z) ** 2, axis=1)))]
        decoded = Decoded(("fill",), z=nearest)
        self._request(decoded)
        self.sequencer.arm_fill(decoded)
        return True

    def nearest_style(self, z: np.ndarray) -> str | None:
        if self.index is None:
            return None
        return str(self.index["style"][int(np.argmin(np.sum((self.index["z"] - z) ** 2, axis=1)))])

    def _request(self, decoded: Decoded) -> None:
        """To the decode thread; a newer request replaces one not yet started (a morph sweep decodes only where it ends)."""
        with self._request_lock:  # control threads may race here; the queue holds one
            try:
                self._requests.get_nowait().ready.set()  # dropped: its waiters see no pattern and count a late bar
            except queue.Empty:
                pass
            self._requests.put_nowait(decoded)

    def _decode_loop(self) -> None:
        while not self._stop.is_set():
            try:
                decoded = self._requests.get(timeout=0.2)
            except queue.Empty:
                continue
            self._decode(decoded)

    def _decode(self, decoded: Decoded) -> None:
        try:
            hits, velocities, offsets = self.model.decode(decoded.z[None, :])
            decoded.set(Pattern(hits[0], velocities[0], offsets[0]))
        except Exception as exc:  # noqa: BLE001 - a failed decode keeps the groove playing; reported
            self.report(f"groove decode failed, the current groove plays on: {exc}")
            decoded.ready.set()

    # ---- parameters ----
    def set_param(self, name: str, value: float) -> None:
        if name == "tempo":
            self.sequencer.set_bpm(check_bpm(value))
        elif name in PERFORMANCE_RANGES:
            self.sequencer.set_performance(**{name: float(value)})
        elif name == "fill":
            if value >= 0.5:
                self.fill()
        elif name.startswith("mute_") and name[5:] in self.voices:
            voice = self.voices.index(name[5:])
            muted = set(self.sequencer.performance.muted)
            (muted.add if value >= 0.5 else muted.discard)(voice)
            self.sequencer.set_performance(muted=frozenset(muted))
        else:
            raise LiveEngineError(f"{name!r} is not a groove parameter.")

    # ---- running ----
    def _follow(self) -> None:
        """Hand the tempo source's newest map to the sequencer, if it changed."""
        if self.sources is not None:
            beat_map = self.sources.beat_map()
            if beat_map is not self._followed:
                self._followed = beat_map
                self.sequencer.follow(beat_map)

    def feed(self, now_frame: int) -> None:
        """Follow the tempo source's newest map, then schedule up to the horizon."""
        self._follow()
        self.sequencer.feed(now_frame)

    def run(self, now_frame: Callable[[], int]) -> None:
        """Live: a thread feeds the sequencer every FEED_SECONDS from the engine clock."""
        def loop() -> None:
            while not self._stop.wait(FEED_SECONDS):
                try:
                    self.feed(now_frame())
                except Exception as exc:  # noqa: BLE001 - reported; the next period tries again
                    self.report(f"groove sequencer: {type(exc).__name__}: {exc}")
        self._feeder = threading.Thread(target=loop, name="groove-feed", daemon=True)
        self._feeder.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._feeder, self._decoder):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=1.0)

    def now_playing(self, now_frame: int) -> tuple[tuple[int, int] | None, int | None]:
        """(the groove pad playing, or None for a morph or nothing; the step sounding at `now_frame`, None while stopped)."""
        seq = self.sequencer
        if not seq.running or seq.held or seq.current is None:
            return None, None
        label = seq.current.label
        pad = (label[1], label[2]) if isinstance(label, tuple) and label[0] == "pad" else None
        tempo = seq.tempo
        step = int((now_frame - tempo.anchor_frame) // tempo.frames_per_step) + tempo.anchor_step
        return pad, step

    def describe(self) -> str:
        """One line for `liveengine check`: the model, the page, the tempo and the kit."""
        page, seq = self.page.setting, self.sequencer
        kit = ", ".join(f"{voice} {list(pad)}" for voice, pad in self._kit().items())
        return (f"{self.model.name} (hash {self.model.identity}, latent {self.model.latent_dim}), {page.rows}x{page.cols} "
                f"{page.mapping} page, {seq.tempo.bpm:g} BPM, quantise {seq.quantise}; kit {kit}")

    def status(self) -> dict:
        seq = self.sequencer
        return {"playing": seq.running and not seq.held, "bpm": seq.tempo.bpm, "scheduled": seq.scheduled, "late_bars": seq.late_bars,
                "dropped": seq.dropped + self.rejected, "midi_notes": self.midi_notes, "midi_dropped": self.midi_dropped}
