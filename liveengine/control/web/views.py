"""Read-only views the panel shows on hover or long press: one pad's details and its spectrogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPECTROGRAM_BINS = 48  # log-spaced, 30 Hz to the Nyquist frequency
SPECTROGRAM_FRAMES = 64
SPECTROGRAM_DB = 60.0  # shown range below the loudest cell


def spectrogram(samples: np.ndarray, rate: int) -> list[int]:
    """SPECTROGRAM_FRAMES x SPECTROGRAM_BINS levels 0..255 (frame-major, low bins first), dB below the loudest cell."""
    samples = np.asarray(samples, np.float32)
    n_fft = 1024
    if len(samples) < n_fft:
        samples = np.pad(samples, (0, n_fft - len(samples)))
    hop = max(1, (len(samples) - n_fft) // (SPECTROGRAM_FRAMES - 1))
    starts = np.minimum(np.arange(SPECTROGRAM_FRAMES) * hop, len(samples) - n_fft)
    frames = samples[starts[:, None] + np.arange(n_fft)] * np.hanning(n_fft).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = np.geomspace(30.0, rate / 2, SPECTROGRAM_BINS + 1)
    index = np.clip(np.searchsorted(edges, freqs) - 1, 0, SPECTROGRAM_BINS - 1)
    bands = np.zeros((SPECTROGRAM_FRAMES, SPECTROGRAM_BINS))
    for b in range(SPECTROGRAM_BINS):  # a band narrower than one FFT bin takes its nearest bin
        members = index == b
        centre = np.sqrt(edges[b] * edges[b + 1])
        bands[:, b] = power[:, members].mean(axis=1) if members.any() else power[:, int(np.argmin(np.abs(freqs - centre)))]
    db = 10 * np.log10(np.maximum(bands, 1e-12))
    level = np.clip((db - (db.max() - SPECTROGRAM_DB)) / SPECTROGRAM_DB, 0.0, 1.0)
    return [int(v) for v in np.round(level * 255).reshape(-1)]


def pad_info(engine, row: int, col: int) -> dict:
    """What the panel shows for one pad; fields are None while the pad is not rendered."""
    instrument = engine.instrument
    setting = instrument.setting
    pad = setting.pad_index(row, col)
    buffer = instrument.cache.get(pad)
    info: dict = {"row": row, "col": col, "mapping": setting.mapping, "class": None, "probability": None, "loudness_db": None,
                  "brightness": None, "color": None, "point": None, "nearest": None, "spectrogram": None,
                  "spectrogram_shape": [SPECTROGRAM_FRAMES, SPECTROGRAM_BINS], "seconds": None}
    if instrument.pad_points is not None and pad < len(instrument.pad_points):
        info["point"] = [round(float(v), 3) for v in instrument.pad_points[pad]]
    nearest = getattr(instrument.mapping, "nearest_sample", None)
    if nearest is not None:
        found = nearest(row, col, setting.rows, setting.cols)
        if found is not None:
            info["nearest"] = {"file": Path(str(found[0])).name, "start": round(float(found[1]), 3)}
    if buffer is not None:
        d = buffer.description
        if d is not None:
            info.update({"class": d.drum_class, "probability": round(float(d.probability), 3), "loudness_db": round(float(d.loudness_db), 1),
                         "brightness": round(float(d.brightness), 3), "color": list(d.color)})
        info["seconds"] = round(len(buffer.samples) / engine.options.samplerate, 3)
        info["spectrogram"] = spectrogram(buffer.samples, engine.options.samplerate)
    return info
