"""The patch schema: every section and key a patch may have, with its check and default.

A patch is validated once at load against this table. Unknown sections or keys
are errors (a typo must not be silently ignored on stage), and every message
names the file, the key, the bad value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from liveengine.grid.mappings import MAPPINGS
from liveengine.groove.section import KEYS as GROOVE_KEYS
from liveengine.stream.section import KEYS as STREAM_KEYS
from liveengine.options import SAMPLE_RATES, STEAL_MODES, TIMING_MODES


@dataclass(frozen=True)
class Field:
    default: Any
    allowed: str
    check: Callable[[Any], bool]


def _number(low: float, high: float) -> Field:
    return Field(None, f"a number from {low:g} to {high:g}", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high)


def _integer(low: int, high: int) -> Field:
    return Field(None, f"an integer from {low} to {high}", lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high)


def _choice(*choices: Any) -> Field:
    # Same type as well as equal: 48000.0 is not the sample rate 48000.
    return Field(None, "one of " + ", ".join(map(repr, choices)), lambda v: any(v == c and type(v) is type(c) for c in choices))


def _with_default(field: Field, default: Any) -> Field:
    return Field(default, field.allowed, field.check)


def _text(allowed: str = "a text string") -> Field:
    return Field("", allowed, lambda v: isinstance(v, str))


def _pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 64 for c in v)


def _names(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= 2 and all(isinstance(p, str) and p for p in v)


def _corners(v: Any) -> bool:
    def anchor(a: Any) -> bool:
        if isinstance(a, str):
            return bool(a)
        return isinstance(a, list) and 1 <= len(a) <= 1024 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in a)
    return isinstance(v, list) and (len(v) == 0 or len(v) == 4) and all(anchor(a) for a in v)


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(p, str) and p for p in v)


def _param_or_empty(v: Any) -> bool:
    from liveengine.commands import PARAMS  # read when checked: parameters added later are accepted

    return isinstance(v, str) and (v == "" or v in PARAMS)


def _cc_table(v: Any) -> bool:
    from liveengine.commands import PARAMS

    return isinstance(v, dict) and all(k.isdigit() and 0 <= int(k) <= 127 and isinstance(p, str) and p in PARAMS for k, p in v.items())


def _cc_or_none(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -1 <= v <= 127


def _device(v: Any) -> bool:
    return (isinstance(v, str)) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


SCHEMA: dict[str, dict[str, Field]] = {
    "patch": {
        "name": _text("a short display name"),
        "description": _text(),
    },
    "model": {
        "decoder": Field("builtin:testsynth", "'builtin:testsynth' or a model folder name in models_onnx/", lambda v: isinstance(v, str) and bool(v)),
        "normalize": _with_default(_choice("peak", "loudness", "none"), "peak"),
        "threads": _with_default(_integer(1, 16), 1),
    },
    "grid": {
        "rows": _with_default(_integer(4, 16), 8),
        "cols": _with_default(_integer(4, 16), 8),
        "mapping": _with_default(_choice(*MAPPINGS), "plane"),
        "center_x": _with_default(_number(-4, 4), 0.0),
        "center_y": _with_default(_number(-4, 4), 0.0),
        "zoom": _with_default(_number(0.05, 8), 1.0),
        "rotation": _with_default(_number(-360, 360), 0.0),
        "variance": _with_default(_number(0, 4), 0.0),
        "seed": _with_default(_integer(0, 2**31 - 1), 0),
        "corners": Field([], "four anchors (bottom left, bottom right, top left, top right), each an audio file path "
                         "relative to the patch or a list of numbers (a latent point)", _corners),
        "library": _text("a folder of audio files (relative to the patch, or absolute)"),
        # Expression: a harder hit lands further along the plane (in view-plane units, 2 = half the grid at zoom 1).
        "velocity_moves": _with_default(_number(0, 4), 0.0),
        "velocity_direction": _with_default(_choice("up", "right", "down", "left"), "up"),
        "velocity_layers": _with_default(_integer(2, 32), 8),
    },
    "audio": {
        "backend": _with_default(_choice("auto", "sounddevice", "jack"), "auto"),
        "device": Field("", "a device name (or part of one), an index, or '' for the system default", _device),
        "fallback_device": Field("", "a device name or index to use when the main one is gone, or ''", _device),
        "samplerate": _with_default(_choice(*SAMPLE_RATES), 48000),
        "blocksize": _with_default(_integer(32, 1024), 128),
        "channels": _with_default(_integer(1, 64), 2),
        "output": Field([1, 2], "two 1-based channel numbers, e.g. [1, 2] (the same twice for mono)", _pair),
        "jack_ports": Field([], "up to two JACK port names, e.g. ['system:playback_3', 'system:playback_4']", _names),
        "timing": _with_default(_choice(*TIMING_MODES), "constant"),
    },
    "engine": {
        "voices": _with_default(_integer(32, 256), 32),
        "release_voices": _with_default(_integer(1, 256), 32),
        "steal": _with_default(_choice(*STEAL_MODES), "oldest"),
        "velocity_curve": _with_default(_number(0.2, 5), 1.6),
        "master_gain": _with_default(_number(0, 2), 0.7),
        "limiter_ceiling": _with_default(_number(0.1, 1.0), 0.98),
        "fade_ms": _with_default(_number(0.5, 50), 3.0),
        "max_seconds": _with_default(_number(0.05, 10), 4.0),
        "render_threads": _with_default(_integer(1, 8), 1),
        # "process": a child process renders (no GIL contention with the audio callback);
        # "thread": worker threads in this process (starts faster; used by most tests).
        "render_in": _with_default(_choice("process", "thread"), "process"),
        # A hit between pads renders at once if it can be ready this soon; else the nearest pad plays.
        "on_demand_deadline_ms": _with_default(_number(1, 100), 10.0),
        # A new model must render the whole grid within this (its decode time x pads), or it is refused.
        "max_grid_render_s": _with_default(_number(0.01, 600), 5.0),
    },
    "groove": {name: Field(default, allowed, check) for name, (default, allowed, check) in GROOVE_KEYS.items()},  # liveengine/groove/section.py
    "stream": {name: Field(default, allowed, check) for name, (default, allowed, check) in STREAM_KEYS.items()},  # liveengine/stream/section.py
    "choke": {},  # free keys: group name -> list of [row, col] pads, checked in loader
    "demo": {
        "score": Field("", "a score file path relative to the patch", lambda v: isinstance(v, str)),
        "seconds": _with_default(_number(0.5, 600), 8.0),
    },
    "web": {  # the web panel (liveengine/control/web); `play --web [PORT]` and --web-host override these
        "enabled": Field(False, "true or false: serve the web panel whenever this patch plays", lambda v: isinstance(v, bool)),
        "port": _with_default(_integer(1, 65535), 8765),
        "host": Field("127.0.0.1", "an address of this machine to listen on: 127.0.0.1, or 0.0.0.0 for the LAN (then a token is needed)",
                      lambda v: isinstance(v, str) and bool(v)),
        "allow_writes": Field(False, "true or false: browsers on other machines may capture, save state, record and load patches",
                              lambda v: isinstance(v, bool)),
    },
    "midi": {  # MIDI control (liveengine/control/midi); the [midi.cc] table binds CC numbers to parameters
        "api": _with_default(_choice("auto", "alsa", "jack", "coremidi", "winmm"), "auto"),
        "inputs": Field([], "a list of port names (or parts of names) to open; [] opens every controller", _texts),
        "virtual": Field(True, "true or false: open the virtual input port 'liveengine' for a DAW", lambda v: isinstance(v, bool)),
        "profile": _text("a MIDI profile name (see `liveengine midi`), or '' to choose by port name"),
        "note_off": _with_default(_choice("ignore", "choke", "fade"), "ignore"),
        "aftertouch": Field("", "a parameter name from /param (see docs/osc.md), or ''", _param_or_empty),
        "cc": Field({}, "a table of CC numbers (0 to 127) to parameter names, e.g. 21 = \"zoom\"", _cc_table),
        "programs": Field([], "a list of patch files (relative to this patch) that program change 0, 1, ... loads", _texts),
        "next_cc": Field(-1, "a CC number from 0 to 127 whose press loads the next patch, or -1", _cc_or_none),
        "previous_cc": Field(-1, "a CC number from 0 to 127 whose press loads the previous patch, or -1", _cc_or_none),
    },
}
