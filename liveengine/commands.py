"""The engine's one command type and the table every control input is checked against.

Commands are named like OSC messages (`/pad 3 4 0.8`), so a score line, an OSC
packet and a MIDI note all become the same `Command`. The table is the single
source of truth for addresses, argument types and ranges; control adapters
translate into it and never invent their own checks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from liveengine import handlers
from liveengine.errors import LiveEngineError
from liveengine.groove.pattern import VOICES as GROOVE_VOICES
from liveengine.groove.tempo import SOURCES as TEMPO_SOURCES


@dataclass(frozen=True, slots=True)
class Command:
    """One instruction for the engine.

    `at`: target time on the engine clock, in frames at the device rate, or None
    for "now" (the engine stamps the arrival time and applies its timing mode).
    """

    address: str
    args: tuple = ()
    at: int | None = None


NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    kind: type  # int, float or str
    low: float | None = None
    high: float | None = None
    optional: bool = False
    default: object = None
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a regular expression a text argument must match in full

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.pattern == NAME_PATTERN:
            return "a name of letters, digits, - and _"
        if self.low is not None and self.high is not None:
            word = "an integer" if self.kind is int else "a number"
            return f"{word} from {self.low:g} to {self.high:g}"
        return "an integer" if self.kind is int else ("a number" if self.kind is float else "a name")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    address: str
    args: tuple[Arg, ...]
    doc: str
    handler: Callable  # handler(engine, command, caller) -> bool: what the command does (handlers.py)
    reply: str = "nothing (errors: /error address reason)"
    writes: bool = False  # writes files or switches patches: loopback clients only unless allowed
    repeat: bool = False  # `args` is a group given one or more times (/latent values, /mix triples)
    tail: Arg | None = None  # with repeat: an optional last argument after the groups (a velocity)
    max_groups: int = 64
    per_second: int = 0  # at most this many a second from all clients together (0 = only the flood limit)

    @property
    def timed(self) -> bool:
        """A sound or parameter command: it takes effect at a time on the engine clock, so scores may use it."""
        return hasattr(self.handler, "engine_method")

    def arg_at(self, index: int, count: int) -> Arg | None:
        """The Arg that the index-th of `count` arguments fills; None when it fills none (one too many)."""
        if not self.repeat:
            return self.args[index] if index < len(self.args) else None
        grouped = count // len(self.args) * len(self.args)
        if index < grouped:
            return self.args[index % len(self.args)]
        return self.tail if index == grouped == count - 1 else None

    def shape(self) -> str:
        """How the arguments read in docs and errors: `row col [velocity]`, `weight row col ... [velocity]`."""
        group = " ".join(f"[{a.name}]" if a.optional else a.name for a in self.args)
        if not self.repeat:
            return group or "no arguments"
        text = f"{group} {group} ..." if len(self.args) > 1 else f"{group}1 ... {group}N"
        return text + (f" [{self.tail.name}]" if self.tail else "")


# Live parameters settable with /param. Ranges are the allowed values.
PARAMS: dict[str, tuple[float, float, str]] = {
    "gain": (0.0, 2.0, "master gain, linear (1 = unity)"),
    "center_x": (-4.0, 4.0, "plane centre along the first latent axis, in prior standard deviations"),
    "center_y": (-4.0, 4.0, "plane centre along the second latent axis, in prior standard deviations"),
    "zoom": (0.05, 8.0, "plane zoom: the grid spans 2/zoom standard deviations each way"),
    "rotation": (-360.0, 360.0, "plane rotation in degrees"),
    "variance": (0.0, 4.0, "each hit varies its pad's point by seeded noise of this standard deviation (0 = off)"),
    "seed": (0.0, 2**31 - 1, "seed of the variations: the same seed replays the same variations (whole numbers)"),
    # The groove (patches with a [groove] model; see liveengine/groove/)
    "tempo": (20.0, 300.0, "groove tempo in BPM, from the next step not yet scheduled"),
    "density": (0.0, 1.0, "groove density: a step's voice plays where the model's hit probability is at least 1 - density"),
    "swing": (0.0, 0.5, "groove swing: the odd 16ths are late by this fraction of a 16th"),
    "humanise": (0.0, 1.0, "groove timing: scales the model's micro-timing offsets (0 = on the grid)"),
    "dynamics": (0.0, 2.0, "groove velocities about their mean: 0 = all alike, 1 = as the model plays them"),
    "fill": (0.0, 1.0, "1: a one-bar fill at the next bar (the training fill nearest the groove), then the groove goes on"),
    **{f"mute_{voice}": (0.0, 1.0, f"1 mutes the groove's {voice.replace('_', ' ')} voice, 0 plays it") for voice in GROOVE_VOICES},
}

MAPPING_NAMES = ("plane", "corners", "library", "direct")
VELOCITY = Arg("velocity", float, 0.0, 1.0, optional=True, default=1.0)

# The grid is at most 16x16, so row and column are 0..15; the engine checks
# them again against the loaded patch's grid.
COMMANDS: dict[str, CommandSpec] = {
    spec.address: spec
    for spec in (
        CommandSpec(
            "/pad",
            (Arg("row", int, 0, 15), Arg("col", int, 0, 15), VELOCITY),
            "hit a pad; row 0 is the bottom row", handler=handlers.pad,
        ),
        CommandSpec("/xy", (Arg("x", float, 0.0, 1.0), Arg("y", float, 0.0, 1.0), VELOCITY),
                    "hit any point of the grid's plane, between pads too (0..1 across the columns and up the rows); renders on demand",
                    handler=handlers.xy),
        CommandSpec("/latent", (Arg("v", float, -64.0, 64.0),),
                    "hit an explicit latent point of the model's size; one value more is the velocity; renders on demand", repeat=True, max_groups=1025,
                    handler=handlers.latent),
        CommandSpec("/mix", (Arg("weight", float, -8.0, 8.0), Arg("row", int, 0, 15), Arg("col", int, 0, 15)),
                    "hit a weighted mix of pads' latent points (weights may be negative); renders on demand", repeat=True, tail=VELOCITY, max_groups=16,
                    handler=handlers.mix),
        CommandSpec("/pad/off", (Arg("row", int, 0, 15), Arg("col", int, 0, 15)), "release a pad: its sounding voices fade out over the patch's fade_ms (MIDI note-offs send it only when [midi] note_off asks)",
                    handler=handlers.pad_off),
        CommandSpec("/param", (Arg("name", str, choices=tuple(PARAMS)), Arg("value", float)), "set a live parameter", handler=handlers.param),
        CommandSpec("/mapping", (Arg("name", str, choices=MAPPING_NAMES),), "switch the grid's mapping live (plane, corners, library, direct)",
                    handler=handlers.mapping),
        CommandSpec("/choke", (Arg("group", str),), "fade out every voice of a choke group", handler=handlers.choke),
        CommandSpec("/panic", (), "silence every voice at once and drop scheduled commands", handler=handlers.panic),
        CommandSpec("/groove", (Arg("row", int, 0, 15), Arg("col", int, 0, 15)),
                    "switch the groove to this groove pad at the next bar (or beat, or step: [groove] quantise); the first one starts it",
                    handler=handlers.groove_pad),
        CommandSpec("/groove/xy", (Arg("x", float, 0.0, 1.0), Arg("y", float, 0.0, 1.0)),
                    "morph the groove to any point of the groove page (0..1 across the columns and up the rows), decoded ahead, at the next bar",
                    handler=handlers.groove_xy),
        CommandSpec("/groove/kit", (Arg("voice", str, choices=GROOVE_VOICES), Arg("row", int, 0, 15), Arg("col", int, 0, 15)),
                    "play a groove voice on this pad of the sound grid", handler=handlers.groove_kit),
        CommandSpec("/groove/stop", (), "stop the groove: no more hits scheduled (those already queued, up to 0.1 s and a step ahead, still play); the next /groove starts it again", handler=handlers.groove_stop),
        CommandSpec("/tempo/source", (Arg("name", str, choices=TEMPO_SOURCES),),
                    "follow this tempo source from the next step not yet scheduled: patch (its bpm and /param tempo), midi-clock, "
                    "transport (Live's, through /transport), link (the optional extra: pip install 'liveengine[link]')",
                    handler=handlers.tempo_source),
        CommandSpec("/transport", (Arg("tempo", float, 20.0, 300.0), Arg("beat", float, -1e6, 1e9), Arg("playing", int, 0, 1)),
                    "Live's transport: at the bundle's timetag Live is at this beat (quarter notes from its song start) at this tempo, "
                    "playing (1) or stopped (0); the groove follows it with /tempo/source transport", handler=handlers.transport),
        CommandSpec("/stream/xy", (Arg("x", float, 0.0, 1.0), Arg("y", float, 0.0, 1.0)),
                    "move the stream voice's timbre point (0..1 each way across the model's z, -1..1); it glides there over 20 ms",
                    handler=handlers.stream_xy),
        CommandSpec("/stream/note", (Arg("pitch", int, 0, 127), VELOCITY),
                    "play a note on the stream voice (MIDI pitch; velocity 0 releases it); a note while another is held glides to it",
                    handler=handlers.stream_note),
        CommandSpec("/stream/off", (Arg("pitch", int, -1, 127, optional=True, default=-1),),
                    "release a note of the stream voice (-1 or none: every note)", handler=handlers.stream_off),
        CommandSpec("/stream/instrument", (Arg("name", str),),
                    "move the stream voice's timbre point to one of its model's instruments (e.g. violin)", handler=handlers.stream_instrument),
        CommandSpec("/stream/mix", (Arg("wet", float, 0.0, 1.0),),
                    "audio input: the re-voiced share of the stream's output (1 = the model only, 0 = the dry input)", handler=handlers.stream_mix),
        CommandSpec("/stream/input", (Arg("name", str, choices=("notes", "audio")),),
                    "what plays the stream voice: notes (the pad voice) or audio (the server's audio input, re-voiced)", handler=handlers.stream_input),
        CommandSpec("/ping", (), "check that the engine is there", reply="/pong", handler=handlers.ping),
        CommandSpec("/status", (), "report the engine's counters",
                    reply="/status voices xruns queue_drops late_commands cpu_load rendered_pads total_pads memory_mb "
                    "(PSS of the engine's processes; -1 where unknown)", handler=handlers.status),
        CommandSpec("/subscribe", (Arg("port", int, 1, 65535, optional=True, default=0),),
                    "send feedback (/status once a second, /report) and this sender's replies and /error to its address, at this port if given",
                    reply="/subscribed port", handler=handlers.subscribe),
        CommandSpec("/unsubscribe", (Arg("port", int, 1, 65535, optional=True, default=0),), "stop the feedback this sender subscribed to (another client's stays)",
                    reply="/unsubscribed port", handler=handlers.unsubscribe),
        CommandSpec("/patch", (Arg("name", str, pattern=NAME_PATTERN),), "load a patch by name from the patch folders (names only, never paths)",
                    reply="/patch name ok|failed", handler=handlers.load_patch, writes=True),
        CommandSpec("/record/start", (Arg("name", str, pattern=NAME_PATTERN),), "record the output to NAME.wav in the folder play was started in (never overwrites; one recording at a time)",
                    reply="/record/start path", handler=handlers.record_start, writes=True),
        CommandSpec("/capture", (), "keep the sound heard last: its WAV and latent point go to the library folder",
                    reply="/capture path", handler=handlers.capture, writes=True, per_second=2),
        CommandSpec("/state/save", (Arg("name", str, pattern=NAME_PATTERN),), "save the live state (mapping, parameters, captures) as NAME",
                    reply="/state/save path", handler=handlers.save_state, writes=True),
        CommandSpec("/record/stop", (), "stop recording; the file is complete", reply="/record/stop path", handler=handlers.record_stop, writes=True),
    )
}


def _coerce(spec: CommandSpec, arg: Arg, value: object) -> object:
    where = f"{spec.address} argument '{arg.name}'"
    if arg.kind is str:
        if not isinstance(value, str):
            raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.")
        if arg.choices and value not in arg.choices:
            raise LiveEngineError(f"{where} is {value!r}; allowed: {arg.allowed()}.")
        if arg.pattern and not re.fullmatch(arg.pattern, value):
            raise LiveEngineError(f"{where} is {value!r}; allowed: {arg.allowed()}.")
        return value
    if isinstance(value, str):
        try:
            value = float(value) if arg.kind is float or "." in value or "e" in value.lower() else int(value)
        except ValueError:
            raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.")
    if arg.kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.")
    if arg.low is not None and not (arg.low <= value <= arg.high):
        raise LiveEngineError(f"{where} is {value!r}; expected {arg.allowed()}.")
    return value


def make_command(address: str, args: tuple | list = (), at: int | None = None) -> Command:
    """Check an address and its arguments against the table; return a Command or raise LiveEngineError."""
    spec = COMMANDS.get(address)
    if spec is None:
        raise LiveEngineError(f"unknown address {address!r}; known addresses: {', '.join(COMMANDS)}.")
    if spec.repeat:
        return Command(address, _repeated(spec, list(args)), at)
    required = sum(1 for a in spec.args if not a.optional)
    if not required <= len(args) <= len(spec.args):
        raise LiveEngineError(f"{address} got {len(args)} argument(s); expected: {address} {spec.shape()}.")
    values = [_coerce(spec, arg, value) for arg, value in zip(spec.args, args)]
    values += [arg.default for arg in spec.args[len(values):]]
    if address == "/param":
        low, high, _ = PARAMS[values[0]]
        if not low <= values[1] <= high:
            raise LiveEngineError(f"/param {values[0]} value {values[1]!r} is out of range; allowed: {low:g} to {high:g}.")
    return Command(address, tuple(values), at)


def _repeated(spec: CommandSpec, args: list) -> tuple:
    width = len(spec.args)
    groups, rest = divmod(len(args), width)
    if groups < 1 or groups > spec.max_groups or rest > (1 if spec.tail else 0):
        raise LiveEngineError(f"{spec.address} got {len(args)} argument(s); expected: {spec.address} {spec.shape()} "
                              f"(1 to {spec.max_groups} groups).")
    return tuple(_coerce(spec, spec.arg_at(i, len(args)), value) for i, value in enumerate(args))


def parse_command_text(text: str, at: int | None = None) -> Command:
    """Parse `/pad 3 4 0.8` (whitespace separated) into a checked Command."""
    parts = text.split()
    if not parts:
        raise LiveEngineError("empty command; expected an address such as /pad 3 4 0.8.")
    return make_command(parts[0], parts[1:], at)
