"""MIDI messages -> engine Commands: the one place a note, a knob or a program change gets its meaning.

Pure translation, no ports and no threads, so every rule is testable offline:
- note on (velocity > 0) -> `/pad row col velocity/127`; the engine applies its one velocity curve;
- note off -> nothing (drums are one-shots), or `/pad/off row col` when the patch says `choke` or `fade`;
- control change -> `/param name value`, scaled into `commands.PARAMS[name]`, with soft takeover;
- polyphonic aftertouch and channel pressure -> the patch's `[midi] aftertouch` parameter;
- program change N -> patch N of the patch list; the `next_cc` / `previous_cc` buttons step through it;
- the profile's page button (`[page] cc` or `note`) switches the pads between the sound grid and the
  groove page: there a pad's note on is `/groove row col` (the groove page's own rows and columns).
- with a [stream]: notes on its `midi_channel` -> `/stream/note pitch velocity/127` and `/stream/off pitch`
  (before the profile's channel rule), its `x_cc` / `y_cc` on any channel -> `/stream/xy x y` (0..127 -> 0..1).

The parameter table is read from `liveengine.commands.PARAMS` when a binding is made, so
parameters added to the engine are bindable without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import mido

from liveengine import commands
from liveengine.commands import make_command
from liveengine.control.midi.profiles import Profile

TAKEOVER_TOLERANCE = 1.5 / 127  # a knob picks its parameter up within this fraction of the range


@dataclass(frozen=True)
class MidiSettings:
    """The patch's [midi] section, checked (see liveengine/patch/schema.py)."""

    api: str = "auto"
    inputs: tuple[str, ...] = ()
    virtual: bool = True
    profile: str = ""
    note_off: str = "ignore"
    aftertouch: str = ""
    cc: dict[int, str] = field(default_factory=dict)
    programs: tuple[Path, ...] = ()
    next_cc: int = -1
    previous_cc: int = -1
    stream_channel: int = -1  # 0-based MIDI channel whose notes play the stream voice; -1: none
    stream_x_cc: int = -1
    stream_y_cc: int = -1

    @classmethod
    def from_patch(cls, patch) -> "MidiSettings":
        midi = getattr(patch, "midi", None) or {}
        folder = Path(patch.path).parent
        programs = tuple(folder / name for name in midi.get("programs", []))
        if not programs:
            programs = tuple(sorted(folder.glob("*.toml")))
        return cls(api=midi.get("api", "auto"), inputs=tuple(midi.get("inputs", [])), virtual=midi.get("virtual", True),
                   profile=midi.get("profile", ""), note_off=midi.get("note_off", "ignore"), aftertouch=midi.get("aftertouch", ""),
                   cc={int(k): v for k, v in midi.get("cc", {}).items()}, programs=programs,
                   next_cc=midi.get("next_cc", -1), previous_cc=midi.get("previous_cc", -1),
                   **cls._stream_of(getattr(patch, "stream", None) or {}))

    @staticmethod
    def _stream_of(stream: dict) -> dict:
        if not stream.get("model"):
            return {}
        return {"stream_channel": stream.get("midi_channel", 0) - 1, "stream_x_cc": stream.get("x_cc", -1), "stream_y_cc": stream.get("y_cc", -1)}


@dataclass
class MapCounters:
    notes: int = 0
    outside_grid: int = 0  # notes not on the profile's layout, or on a pad past the grid's edge
    other_channel: int = 0
    params: int = 0
    waiting_takeover: int = 0  # knob moves held back until the knob reaches the parameter's value
    unbound: int = 0  # CCs with no binding, and messages liveengine has no use for
    programs: int = 0
    stream: int = 0  # notes and XY moves for the stream voice


def scale(name: str, value7: int) -> float:
    low, high, _ = commands.PARAMS[name]
    return low + (high - low) * value7 / 127.0


@dataclass
class _Knob:
    picked: bool = False
    last_sent: float | None = None
    last_target: float | None = None


class SoftTakeover:
    """A knob moves its parameter only once it has reached the parameter's current value.

    After a reconnect, a patch change, or when something else (OSC, another knob) moved the
    parameter, the knob is "unpicked": its moves are held back (and counted) until it comes
    within TAKEOVER_TOLERANCE of the value or crosses it; from then on it drives the parameter.
    So turning a knob that was left elsewhere never makes the sound jump.
    """

    def __init__(self, current: Callable[[str], float | None]) -> None:
        self.current = current
        self._knobs: dict[tuple, _Knob] = {}

    def release_all(self) -> None:
        self._knobs.clear()

    def accept(self, key: tuple, name: str, target: float) -> bool:
        knob = self._knobs.setdefault(key, _Knob())
        now = self.current(name)
        low, high, _ = commands.PARAMS[name]
        span = (high - low) or 1.0
        if now is None:  # a parameter the engine cannot report: no takeover possible, follow the knob
            knob.picked = True
        elif knob.picked and knob.last_sent is not None and abs(now - knob.last_sent) > 1e-6 * span:
            knob.picked = False  # moved by someone else since
        if not knob.picked and now is not None:
            near = abs(target - now) <= TAKEOVER_TOLERANCE * span
            crossed = knob.last_target is not None and (knob.last_target - now) * (target - now) <= 0
            knob.picked = near or crossed
        knob.last_target = target
        if knob.picked:
            knob.last_sent = target
        return knob.picked


class MidiMapper:
    """Translate mido messages from one port into actions: ("command", Command) or ("patch", index)."""

    PAGES = ("sounds", "grooves")

    def __init__(self, profile: Profile, settings: MidiSettings, grid_shape: Callable[[], tuple[int, int]],
                 takeover: SoftTakeover, port: str = "", groove_shape: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> None:
        """groove_shape(): the groove page's (rows, cols), (0, 0) without one (the page button then stays on sounds)."""
        self.profile = profile
        self.settings = settings
        self.grid_shape = grid_shape
        self.takeover = takeover
        self.port = port
        self.counters = MapCounters()
        self.note_to_pad = profile.note_to_pad
        self.bindings = {**profile.cc, **settings.cc}
        self.program = 0
        self.groove_shape = groove_shape
        self.page = "sounds"
        self.stream_xy = [0.5, 0.5]  # the XY the stream CCs moved last (one CC moves one axis)

    def _switch_page(self) -> list[tuple]:
        if self.page == "sounds" and self.groove_shape() == (0, 0):
            self.counters.unbound += 1  # no groove page in this patch
            return []
        self.page = "grooves" if self.page == "sounds" else "sounds"
        return [("page", self.page)]

    def pad_of(self, note: int) -> tuple[int, int] | None:
        pad = self.note_to_pad.get(note)
        if pad is None:
            return None
        rows, cols = self.grid_shape()
        return pad if pad[0] < rows and pad[1] < cols else None

    def translate(self, msg: mido.Message, at: int | None = None) -> list[tuple]:
        kind = msg.type
        settings = self.settings
        if settings.stream_channel >= 0 and kind in ("note_on", "note_off") and msg.channel == settings.stream_channel:
            self.counters.stream += 1
            if kind == "note_on" and msg.velocity > 0:
                return [("command", make_command("/stream/note", (msg.note, msg.velocity / 127.0), at))]
            return [("command", make_command("/stream/off", (msg.note,), at))]
        if kind == "control_change" and msg.control in (settings.stream_x_cc, settings.stream_y_cc) and msg.control >= 0:
            self.stream_xy[0 if msg.control == settings.stream_x_cc else 1] = msg.value / 127.0
            self.counters.stream += 1
            return [("command", make_command("/stream/xy", tuple(self.stream_xy), at))]
        if self.profile.channel >= 0 and getattr(msg, "channel", self.profile.channel) != self.profile.channel:
            self.counters.other_channel += 1
            return []
        if kind == "note_on" and msg.velocity > 0 and msg.note == self.profile.page_note:
            return self._switch_page()
        if kind == "control_change" and msg.control == self.profile.page_cc:
            return self._switch_page() if msg.value >= 64 else []
        if kind == "note_on" and msg.velocity > 0 and self.page == "grooves":
            pad = self.note_to_pad.get(msg.note)
            rows, cols = self.groove_shape()
            if pad is None or pad[0] >= rows or pad[1] >= cols:
                self.counters.outside_grid += 1
                return []
            self.counters.notes += 1
            return [("command", make_command("/groove", pad, at))]
        if kind == "note_on" and msg.velocity > 0:
            pad = self.pad_of(msg.note)
            if pad is None:
                self.counters.outside_grid += 1
                return []
            self.counters.notes += 1
            return [("command", make_command("/pad", (pad[0], pad[1], msg.velocity / 127.0), at))]
        if kind in ("note_off", "note_on"):
            if self.settings.note_off == "ignore" or self.page == "grooves" or msg.note == self.profile.page_note:
                return []
            pad = self.pad_of(msg.note)
            return [] if pad is None else [("command", make_command("/pad/off", pad, at))]
        if kind == "control_change":
            return self._control(msg)
        if kind in ("polytouch", "aftertouch"):
            name = self.settings.aftertouch
            if not name or name not in commands.PARAMS:
                self.counters.unbound += 1
                return []
            self.counters.params += 1
            value = msg.value
            return [("command", make_command("/param", (name, scale(name, value))))]
        if kind == "program_change":
            return self._program(msg.program)
        self.counters.unbound += 1
        return []

    def _control(self, msg: mido.Message) -> list[tuple]:
        number, value = msg.control, msg.value
        if number == self.settings.next_cc or number == self.settings.previous_cc:
            if value < 64:
                return []  # act on the press, not the release
            step = 1 if number == self.settings.next_cc else -1
            return self._program(self.program + step)
        name = self.bindings.get(number)
        if name is None or name not in commands.PARAMS:
            self.counters.unbound += 1
            return []
        target = scale(name, value)
        if not self.takeover.accept((self.port, msg.channel, number), name, target):
            self.counters.waiting_takeover += 1
            return []
        self.counters.params += 1
        return [("command", make_command("/param", (name, target)))]

    def _program(self, index: int) -> list[tuple]:
        programs = self.settings.programs
        if not programs:
            self.counters.unbound += 1
            return []
        index %= len(programs)
        self.program = index
        self.counters.programs += 1
        return [("patch", index)]
