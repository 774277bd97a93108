"""The kit: which pad of the sound grid plays each of a groove's voices.

The default rule, when the patch's [groove.kit] does not name a voice's pad, reads the
rendered pads' descriptions (render/describe.py: the drum model's likeliest class, its
probability, the spectral centroid) and their decay:

- kick, snare, hat_closed, hat_open: the pad most surely of that class;
- tom_low, tom_mid, tom_high: the three pads most surely `tom`, ordered by spectral centroid
  (darkest is the low tom); with fewer tom pads, the darkest plays the low tom and so on, the
  brightest also taking the voices left over;
- crash, ride: the two pads most surely `cymbal` (or `crash`/`ride` where a model names them):
  the one that rings longer (time until its envelope falls 20 dB below its peak) is the crash,
  the other the ride; one cymbal pad plays both.
- A voice whose class no pad has (or a model without a classifier, such as builtin:testsynth)
  takes the pads along the bottom row in voice order: kick (0, 0), snare (0, 1), ... wrapping to
  the next row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveengine.errors import LiveEngineError
from liveengine.groove.pattern import VOICES

CLASS_OF_VOICE = {"kick": ("kick",), "snare": ("snare", "clap"), "hat_closed": ("hat_closed", "hat"), "hat_open": ("hat_open", "hat")}
TOMS = ("tom_low", "tom_mid", "tom_high")
CYMBALS = ("crash", "ride")


@dataclass(frozen=True)
class PadSound:
    """What the default rule knows of one rendered pad."""

    pad: int
    drum_class: str | None
    probability: float
    centroid_hz: float
    decay_s: float


def decay_seconds(envelope: np.ndarray, hop: int, rate: int) -> float:
    """Seconds from the envelope's peak until it stays 20 dB below it (the whole tail if it never falls that far)."""
    envelope = np.asarray(envelope, np.float64)
    if envelope.size == 0 or envelope.max() <= 0:
        return 0.0
    peak = int(np.argmax(envelope))
    loud = np.flatnonzero(envelope[peak:] >= envelope[peak] * 0.1)
    return float((loud[-1] + 1) * hop / rate)


def layout_pad(voice_index: int, rows: int, cols: int) -> tuple[int, int]:
    """The fallback: voices along the bottom row in order, wrapping upwards."""
    index = voice_index % (rows * cols)
    return index // cols, index % cols


def default_kit(sounds: list[PadSound], rows: int, cols: int, voices: tuple[str, ...] = VOICES) -> dict[str, tuple[int, int]]:
    """Voice name -> (row, col) by the rule in this module's docstring."""

    def best(classes: tuple[str, ...], n: int) -> list[PadSound]:
        found = [s for s in sounds if s.drum_class in classes]
        return sorted(found, key=lambda s: (-s.probability, s.pad))[:n]

    def where(sound: PadSound) -> tuple[int, int]:
        return divmod(sound.pad, cols)

    kit: dict[str, tuple[int, int]] = {}
    for voice, classes in CLASS_OF_VOICE.items():
        found = best(classes, 1)
        if found:
            kit[voice] = where(found[0])
    toms = sorted(best(("tom",), 3), key=lambda s: (s.centroid_hz, s.pad))
    for i, voice in enumerate(TOMS):
        if toms:
            kit[voice] = where(toms[min(i, len(toms) - 1)])
    cymbals = best(("cymbal", "crash", "ride"), 2)
    if cymbals:
        by_decay = sorted(cymbals, key=lambda s: (-s.decay_s, s.pad))
        kit["crash"] = where(by_decay[0])
        kit["ride"] = where(by_decay[-1])
    for i, voice in enumerate(voices):
        kit.setdefault(voice, layout_pad(i, rows, cols))
    return {voice: kit[voice] for voice in voices}


def check_kit(table: dict, rows: int, cols: int, voices: tuple[str, ...] = VOICES, where: str = "[groove.kit]") -> dict[str, tuple[int, int]]:
    """A kit table from a patch or OSC, checked: voice names the model has, pads on the grid. LiveEngineError otherwise."""
    kit: dict[str, tuple[int, int]] = {}
    for voice, pad in table.items():
        if voice not in voices:
            raise LiveEngineError(f"{where} names voice {voice!r}; the groove model's voices are {', '.join(voices)}.")
        if (not isinstance(pad, (list, tuple)) or len(pad) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pad)):
            raise LiveEngineError(f"{where} {voice} = {pad!r}; expected a pad as [row, col].")
        row, col = pad
        if not (0 <= row < rows and 0 <= col < cols):
            raise LiveEngineError(f"{where} {voice} = [{row}, {col}] is off the {rows}x{cols} sound grid; "
                                  f"rows 0..{rows - 1}, columns 0..{cols - 1}.")
        kit[voice] = (row, col)
    return kit
