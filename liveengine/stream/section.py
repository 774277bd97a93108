"""The patch's [stream] section: a streaming voice beside the grid.

    [stream]
    model = "voices2"        # a stream model folder (docs/model-contract.md, kind "stream"); "" = no stream
    input = "notes"          # notes: the pad voice (MIDI notes, /stream/note); audio: timbre transfer of the audio input
    instrument = ""          # where the voice starts in z: one of the model's points ("violin"), or "" for the pad's centre
    mix = 1.0                # audio input: the wet share (1 = the model only, 0 = the dry input)
    pitch_range = [36, 96]   # MIDI notes outside are clamped into it
    portamento_ms = 40.0     # legato notes glide in log frequency with this time constant (0: jump)
    attack_ms = 10.0
    release_ms = 150.0
    gain = 0.8               # the stream voice's gain in the mix
    midi_channel = 0         # 1..16: notes on this MIDI channel play the stream instead of pads; 0: none
    x_cc = -1                # CC numbers that move the pad's x and y (0..127 -> 0..1); -1: none
    y_cc = -1
    audio_port = ""          # native JACK: the port the server's input `in_1` is connected from ("" leaves it to you)
    slack_blocks = 0.75      # extra blocks of lead (notes and audio; 0.25 is a quarter block), so a producer the machine holds up that long never fades
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from liveengine.errors import LiveEngineError
from liveengine.stream.producer import INPUTS


def _number(low: float, high: float):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


def _integer(low: int, high: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _pitch_range(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_integer(0, 127)(p) for p in v) and v[0] <= v[1]


# (default, allowed, check), as patch/schema.py's Field takes them
KEYS: dict[str, tuple[Any, str, Any]] = {
    "model": ("", "a stream model folder name in models_onnx/ (or next to the patch), or '' for no stream", lambda v: isinstance(v, str)),
    "input": ("notes", "one of " + ", ".join(map(repr, INPUTS)), lambda v: v in INPUTS),
    "instrument": ("", "one of the model's instrument points (its liveengine.points), or ''", lambda v: isinstance(v, str)),
    "mix": (1.0, "a number from 0 to 1", _number(0.0, 1.0)),
    "pitch_range": ([36, 96], "two MIDI notes [low, high], 0 to 127, low first", _pitch_range),
    "portamento_ms": (40.0, "a number from 0 to 2000", _number(0.0, 2000.0)),
    "attack_ms": (10.0, "a number from 0 to 5000", _number(0.0, 5000.0)),
    "release_ms": (150.0, "a number from 0 to 10000", _number(0.0, 10000.0)),
    "gain": (0.8, "a number from 0 to 2", _number(0.0, 2.0)),
    "midi_channel": (0, "an integer from 0 (none) to 16", _integer(0, 16)),
    "x_cc": (-1, "a CC number from 0 to 127, or -1", _integer(-1, 127)),
    "y_cc": (-1, "a CC number from 0 to 127, or -1", _integer(-1, 127)),
    "audio_port": ("", "a JACK port name such as 'system:capture_1', or ''", lambda v: isinstance(v, str)),
    "slack_blocks": (0.75, "a number of blocks from 0 to 8 (0.25 is a quarter of one)", _number(0.0, 8.0)),
}


def check_section(stream: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    """The checks that need more than one key: the model exists and is a stream model, the instrument is one of its points."""
    from liveengine.decoders.registry import find_model

    if not stream["model"]:
        return []
    try:
        folder = find_model(stream["model"], path, kind="stream")
    except LiveEngineError as exc:
        return [(f"[stream] model = {stream['model']!r}: {exc.message}", exc.fix)]
    if folder is None:
        return [(f"[stream] model = {stream['model']!r} is a builtin sound decoder; a stream needs a stream model folder "
                 "(liveengine.kind = 'stream'), such as 'voices'.", "")]
    return []


def settings_of(stream: dict[str, Any]):
    """The producer's settings from a checked [stream] section."""
    from liveengine.stream.producer import StreamSettings

    return StreamSettings(input=stream["input"], mix=float(stream["mix"]), pitch_low=stream["pitch_range"][0],
                          pitch_high=stream["pitch_range"][1], portamento_ms=float(stream["portamento_ms"]),
                          attack_ms=float(stream["attack_ms"]), release_ms=float(stream["release_ms"]), gain=float(stream["gain"]),
                          slack_blocks=float(stream["slack_blocks"]))
