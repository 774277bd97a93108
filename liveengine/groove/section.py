"""The patch's [groove] section (and its [groove.kit] table): keys, defaults and the checks that need the grid.

    [groove]
    model = "grooves"        # a pattern model folder (docs/model-contract.md); "" = no groove page
    bpm = 120
    tempo_source = "patch"   # patch (bpm above), midi-clock, transport (Live through OSC), link (the optional extra)
    rows = 4                 # the groove page: pads of grooves, laid on the model's latent plane
    cols = 4
    mapping = "plane"        # plane, corners (4 MIDI files or latent points), library (a folder of MIDI loops), direct
    quantise = "bar"         # when a groove pad switches: bar, beat, now
    density = 0.5            # performance controls: see liveengine/groove/sequencer.py
    swing = 0.0
    humanise = 1.0
    dynamics = 1.0
    mute = []                # voice names
    start = []               # [row, col]: the groove that plays when the engine starts; [] waits for /groove
    output = "internal"      # internal (the sound grid's pads), midi (notes out, e.g. to Live's Drum Rack), both
    gate_ms = 50             # MIDI out: each note-off this long after its note-on
    midi_channel = 10        # MIDI out: 1..16 (10: General MIDI drums)

    [groove.kit]             # voice = [row, col] of the sound grid; voices not named follow the default rule (kit.py)
    kick = [0, 0]

    [groove.notes]           # MIDI out: voice = note; voices not named play General MIDI drum notes
    kick = 36
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liveengine.groove.kit import check_kit
from liveengine.groove.pattern import VOICES
from liveengine.groove.sequencer import BPM_RANGE, QUANTISE
from liveengine.groove.tempo import SOURCES
from liveengine.errors import LiveEngineError

MAPPINGS = ("plane", "corners", "library", "direct")
OUTPUTS = ("internal", "midi", "both")
PERFORMANCE_RANGES = {"density": (0.0, 1.0), "swing": (0.0, 0.5), "humanise": (0.0, 1.0), "dynamics": (0.0, 2.0)}


def _number(low: float, high: float):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


def _integer(low: int, high: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _pad_or_empty(v: Any) -> bool:
    return isinstance(v, list) and (v == [] or (len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in v)))


def _corners(v: Any) -> bool:
    return isinstance(v, list) and len(v) in (0, 4) and all(
        (isinstance(a, str) and a) or (isinstance(a, list) and a and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in a))
        for a in v)


# (default, allowed, check), as patch/schema.py's Field takes them
KEYS: dict[str, tuple[Any, str, Any]] = {
    "model": ("", "a pattern model folder name in models_onnx/ (or next to the patch), or '' for no groove page", lambda v: isinstance(v, str)),
    "bpm": (120.0, f"a tempo from {BPM_RANGE[0]:g} to {BPM_RANGE[1]:g} BPM", _number(*BPM_RANGE)),
    "tempo_source": ("patch", "one of " + ", ".join(map(repr, SOURCES)), lambda v: v in SOURCES),
    "rows": (4, "an integer from 1 to 16", _integer(1, 16)),
    "cols": (4, "an integer from 1 to 16", _integer(1, 16)),
    "mapping": ("plane", "one of " + ", ".join(map(repr, MAPPINGS)), lambda v: v in MAPPINGS),
    "center_x": (0.0, "a number from -4 to 4", _number(-4, 4)),
    "center_y": (0.0, "a number from -4 to 4", _number(-4, 4)),
    "zoom": (1.0, "a number from 0.05 to 8", _number(0.05, 8)),
    "corners": ([], "four anchors (bottom left, bottom right, top left, top right), each a MIDI file relative to the patch or a latent point", _corners),
    "library": ("", "a folder of MIDI loops (relative to the patch, or absolute)", lambda v: isinstance(v, str)),
    "quantise": ("bar", "one of " + ", ".join(map(repr, QUANTISE)), lambda v: v in QUANTISE),
    **{name: (default, f"a number from {low:g} to {high:g}", _number(low, high))
       for (name, (low, high)), default in zip(PERFORMANCE_RANGES.items(), (0.5, 0.0, 1.0, 1.0))},
    "mute": ([], "a list of voice names: " + ", ".join(VOICES), lambda v: isinstance(v, list) and all(x in VOICES for x in v)),
    "start": ([], "[row, col] of a groove pad, or [] to wait for /groove", _pad_or_empty),
    "kit": ({}, "a table of voice = [row, col] pads of the sound grid", lambda v: isinstance(v, dict)),
    "output": ("internal", "one of " + ", ".join(map(repr, OUTPUTS)), lambda v: v in OUTPUTS),
    "gate_ms": (50.0, "a note length from 1 to 2000 ms", _number(1, 2000)),
    "midi_channel": (10, "a MIDI channel from 1 to 16", _integer(1, 16)),
    "notes": ({}, "a table of voice = MIDI note (0 to 127), voices from " + ", ".join(VOICES),
              lambda v: isinstance(v, dict) and all(k in VOICES and _integer(0, 127)(n) for k, n in v.items())),
}


def check_section(groove: dict[str, Any], grid: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    """The checks that need more than one key: the model exists, the kit's pads are on the sound grid,
    the start pad is on the groove page. Returns (problem, fix) pairs, as the loader collects them."""
    from liveengine.decoders.registry import find_model

    problems: list[tuple[str, str]] = []
    if not groove["model"]:
        return problems
    try:
        find_model(groove["model"], path, kind="pattern")
    except LiveEngineError as exc:
        problems.append((f"[groove] model = {groove['model']!r}: {exc.message}", exc.fix))
    try:
        check_kit(groove["kit"], grid["rows"], grid["cols"])
    except LiveEngineError as exc:
        problems.append((exc.message, "Name pads inside the sound grid ([grid] rows and cols)."))
    start = groove["start"]
    if start and not (0 <= start[0] < groove["rows"] and 0 <= start[1] < groove["cols"]):
        problems.append((f"[groove] start = {start} is off the {groove['rows']}x{groove['cols']} groove page.", ""))
    return problems
