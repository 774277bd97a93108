"""Pictures a person can read: a grid of pads as a sheet of spectrograms, and a classifier's confusion matrix.

Used by `liveengine render-grid --png` and bench/model_quality.py, so there is one way to draw a
spectrogram sheet. matplotlib's object API (Figure, saved by its Agg renderer) needs no display
and no pyplot state; it is imported inside the functions so `liveengine play` never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from liveengine.audio_files import power_frames

LOWEST_HZ = 40.0
BANDS = 96  # log-spaced frequency rows per spectrogram
FLOOR_DB = -80.0  # below the sheet's loudest point
FREQUENCY_TICKS = (100, 1000, 10000)


def pad_order(rows: int, cols: int) -> list[int]:
    """Pad indices (row * cols + col) in figure order: reading order from the top left, so row 0 is the
    bottom row, as the pads lie on a controller."""
    return [row * cols + col for row in reversed(range(rows)) for col in range(cols)]


def sheet_titles(rows: int, cols: int, classes: Sequence[str | None] | None = None) -> list[str]:
    """Each pad's subplot title in figure order: its row and column, and its class where it has one."""
    titles = []
    for pad in pad_order(rows, cols):
        label = classes[pad] if classes is not None else None
        titles.append(f"r{pad // cols} c{pad % cols}" + (f" {label}" if label else ""))
    return titles


def log_spectrogram(samples: np.ndarray, rate: int) -> np.ndarray:
    """Power in dB [BANDS, frames], rows log-spaced from LOWEST_HZ to rate / 2 (low frequencies first)."""
    power, frame, _ = power_frames(samples, rate)
    bins = np.fft.rfftfreq(frame, 1.0 / rate)
    rows = np.geomspace(LOWEST_HZ, rate / 2, BANDS)
    # Sampled, not summed, at each row's frequency: the low rows are narrower than one bin.
    sampled = np.stack([np.interp(rows, bins, spectrum) for spectrum in power], axis=1)
    return 10 * np.log10(sampled + 1e-20)


def spectrogram_sheet(sounds: Sequence[np.ndarray], rate: int, rows: int, cols: int,
                      classes: Sequence[str | None] | None = None, title: str = ""):
    """A matplotlib Figure: one small log-frequency spectrogram per pad (pad i at row i // cols, column i % cols,
    row 0 at the bottom), titled as sheet_titles(), with one colour bar in dB below the loudest pad."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    spectra = [log_spectrogram(s, rate) for s in sounds]
    loudest = max(float(s.max()) for s in spectra)
    longest = max(len(s) for s in sounds) / rate
    top = np.log10(rate / 2)
    width, height = 1.6 * cols + 1.6, 1.25 * rows + 1.0
    fig = Figure(figsize=(width, height))
    # Margins in inches, set by hand: matplotlib's constrained layout takes seconds for 64 axes.
    fig.subplots_adjust(left=0.75 / width, right=1 - 1.1 / width, bottom=0.6 / height, top=1 - 0.65 / height, wspace=0.15, hspace=0.45)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for ax, pad, text in zip(axes.flat, pad_order(rows, cols), sheet_titles(rows, cols, classes)):
        # The limits are set once below: imshow autoscaling each of the shared axes updates all the others (64 x 64).
        ax.set_autoscale_on(False)
        # The y axis is log10(Hz), labelled in Hz: imshow would resample a log-scaled axis wrongly.
        image = ax.imshow(spectra[pad] - loudest, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                          vmin=FLOOR_DB, vmax=0.0, extent=(0.0, max(len(sounds[pad]), 1) / rate, np.log10(LOWEST_HZ), top))
        ax.set_title(text, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.label_outer()
    first = axes[0, 0]
    first.set_xlim(0.0, longest)
    first.xaxis.set_major_locator(MaxNLocator(nbins=3))  # more numbers run into the next pad's
    first.set_ylim(np.log10(LOWEST_HZ), top)
    first.set_yticks(np.log10(FREQUENCY_TICKS), [f"{f // 1000}k" if f >= 1000 else str(f) for f in FREQUENCY_TICKS])
    bar = fig.add_axes((1 - 0.85 / width, 0.2, 0.15 / width, 0.6))
    fig.colorbar(image, cax=bar, label="dB below the loudest pad")
    fig.supxlabel("time (s)")
    fig.supylabel("frequency (Hz)")
    if title:
        fig.suptitle(title)
    return fig


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], title: str = ""):
    """A matplotlib Figure of a confusion matrix (rows true class, columns predicted): colour is the share of
    each true class's sounds, each cell shows its count."""
    from matplotlib.figure import Figure

    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    fig = Figure(figsize=(0.55 * k + 2.6, 0.5 * k + 1.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for (t, p), count in np.ndenumerate(confusion):
        ax.text(p, t, str(count), ha="center", va="center", fontsize=7, color="black" if rates[t, p] > 0.6 else "white")
    fig.colorbar(image, ax=ax, label="share of the true class")
    if title:
        ax.set_title(title)
    return fig


def save_png(fig, path: Path) -> None:
    fig.savefig(Path(path), format="png", dpi=100)
