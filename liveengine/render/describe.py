"""A short description of each rendered sound, for controller LEDs and OSC feedback.

Computed on the render side (worker thread or render process), once per render:
loudness, brightness and, when the model has a classifier, the likeliest drum
class with its probability. `pad_color` turns a description into an RGB colour.
"""

from __future__ import annotations

import colorsys
import functools
import zlib
from dataclasses import dataclass

import numpy as np

BRIGHTNESS_LOW_HZ = 100.0  # spectral centroids map onto 0..1 on a log scale between these
BRIGHTNESS_HIGH_HZ = 8000.0
ANALYSIS_SECONDS = 0.25  # the attack and body: what a drum sound is recognised by

# Fixed hues for the drum classes a model is likely to name, so a kick is always the
# same colour on every controller; other class names get a hue from their hash.
CLASS_HUES = {
    "kick": 0.0, "snare": 0.08, "clap": 0.15, "rim": 0.2, "tom": 0.3, "perc": 0.42,
    "hat_closed": 0.52, "hat_open": 0.6, "hat": 0.55, "cymbal": 0.7, "crash": 0.7, "ride": 0.78, "shaker": 0.88,
}


@dataclass(frozen=True, slots=True)
class PadDescription:
    loudness_db: float  # RMS over the analysed part, dBFS
    centroid_hz: float  # spectral centroid over the analysed part
    brightness: float  # centroid on a log scale, 0 (dark) .. 1 (bright)
    drum_class: str | None = None
    probability: float = 0.0

    @property
    def color(self) -> tuple[int, int, int]:
        return pad_color(self)

    def as_dict(self) -> dict:
        return {"loudness_db": round(self.loudness_db, 2), "centroid_hz": round(self.centroid_hz, 1),
                "brightness": round(self.brightness, 3), "class": self.drum_class, "probability": round(self.probability, 3),
                "color": list(self.color)}


@functools.lru_cache(maxsize=8)
def _window(length: int) -> np.ndarray:
    """The analysis window, made once per length (every pad of a model has the same one)."""
    window = np.hanning(length)
    window.flags.writeable = False
    return window


def describe(samples: np.ndarray, rate: int, drum_class: str | None = None, probability: float = 0.0) -> PadDescription:
    """Loudness and brightness of a mono sound (any length; silence gives -120 dB and 0)."""
    part = np.asarray(samples, np.float32)[: max(1, int(ANALYSIS_SECONDS * rate))]
    rms = float(np.sqrt(np.mean(part.astype(np.float64) ** 2))) if part.size else 0.0
    loudness = 20.0 * np.log10(max(rms, 1e-6))
    spectrum = np.abs(np.fft.rfft(part * _window(len(part)))) if len(part) > 1 else np.zeros(1)
    total = float(spectrum.sum())
    if total <= 1e-9:
        centroid = 0.0
    else:
        freqs = np.fft.rfftfreq(len(part), 1.0 / rate)
        centroid = float((spectrum * freqs).sum() / total)
    span = np.log(BRIGHTNESS_HIGH_HZ / BRIGHTNESS_LOW_HZ)
    brightness = float(np.clip(np.log(max(centroid, BRIGHTNESS_LOW_HZ) / BRIGHTNESS_LOW_HZ) / span, 0.0, 1.0))
    return PadDescription(float(loudness), centroid, brightness, drum_class, float(probability))


def pad_color(description: PadDescription) -> tuple[int, int, int]:
    """Hue from the drum class when known (else from brightness: dark red to bright cyan), value from loudness."""
    if description.drum_class is not None:
        hue = CLASS_HUES.get(description.drum_class)
        if hue is None:
            hue = (zlib.crc32(description.drum_class.encode()) % 360) / 360.0
    else:
        hue = 0.55 * description.brightness
    value = float(np.clip((description.loudness_db + 60.0) / 50.0, 0.25, 1.0))
    r, g, b = colorsys.hsv_to_rgb(hue, 1.0, value)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))
