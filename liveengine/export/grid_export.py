"""`liveengine render-grid`: every pad as a WAV file, mapped to notes for common samplers.

Pads are rendered by the engine's own render path (render.workers.render_batch:
decode, normalise, resample to the rate, trim, describe), offline with no audio
device, so each file holds exactly the buffer a hit on that pad plays. Files:

- `pad_r{row}_c{col}.wav`: 24-bit PCM (or 32-bit float with `sample_format="float"`) at
  the rate given (the patch's device rate from the CLI), mono; row 0 is the bottom row.
- `grid.sfz`: one region per pad, note = first_note + pad index (pad = row * cols + col),
  one-shot.
- `grid.dspreset`: the same mapping for Decent Sampler.
- `grid.json`: each pad's row, column, note, file, latent point and description.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import quoteattr

import numpy as np

from liveengine import __version__
from liveengine.atomic_file import StagedFolder
from liveengine.decoders.base import Decoder
from liveengine.errors import LiveEngineError
from liveengine.render.workers import BATCH, RenderFailure, render_batch

FORMATS = {"pcm24": "PCM_24", "float": "FLOAT"}
FULL_SCALE = 0.999  # just under 24-bit full scale
FIRST_NOTE = 36  # C1 in the C3 = 60 naming: the bottom-left pad of a drum rack
PAD_FILE = re.compile(r"^pad_r\d+_c\d+\.wav$")
OWN_FILES = ("grid.sfz", "grid.dspreset", "grid.json")


@dataclass(frozen=True)
class ExportedPad:
    row: int
    col: int
    note: int | None  # None when the grid has more pads than MIDI has notes
    file: str
    point: np.ndarray
    samples: np.ndarray  # float32 mono at the export rate
    description: dict


def pad_notes(pads: int) -> list[int | None]:
    """MIDI notes for pads 0..pads-1: from 36 up while they fit below 128, else starting lower (never below 1,
    which Decent Sampler does not map); pads beyond note 127 get None."""
    first = max(1, min(FIRST_NOTE, 128 - pads))
    return [first + pad if first + pad <= 127 else None for pad in range(pads)]


def render_pads(decoder: Decoder, points: np.ndarray, rate: int, max_seconds: float,
                on_progress: Callable[[int, int], None] | None = None, buffers: list | None = None) -> list:
    """One described PlayableBuffer per latent point, rendered as the engine's workers render them;
    LiveEngineError naming the first point the model cannot render (an export has no old sound to keep).

    `buffers`: a list each buffer is appended to as it is made, so a caller stopped midway (Ctrl-C) keeps those done.
    """
    points = np.asarray(points, np.float32)
    batch = max(1, min(BATCH, getattr(decoder, "preferred_batch", BATCH)))
    out = np.zeros((BATCH, decoder.output_length), np.float32)
    buffers = [] if buffers is None else buffers
    for start in range(0, len(points), batch):
        for i, rendered in enumerate(render_batch(decoder, points[start : start + batch], out, rate, max_seconds), start):
            if isinstance(rendered, RenderFailure):
                raise LiveEngineError(f"point {i + 1} of {len(points)} cannot be rendered: {rendered.reason}; nothing was written.",
                                      "Fix or re-export the model, or choose a grid setting where it sounds.")
            buffers.append(rendered)
        if on_progress is not None:
            on_progress(len(buffers), len(points))
    return buffers


def _description(buffer) -> dict:
    description = buffer.description  # render_batch describes every buffer
    return {"loudness_db": round(float(description.loudness_db), 2), "centroid_hz": round(float(description.centroid_hz), 1),
            "brightness": round(float(description.brightness), 3), "class": description.drum_class,
            "probability": round(float(description.probability), 3) if description.drum_class is not None else None}


def check_out_dir(out: Path, force: bool, command: str = "render-grid",
                  fix: str = "Pass --force to replace the pad files and grid.* maps in it.") -> None:
    """Refuse a folder that already holds files unless `force` (no command overwrites silently)."""
    if out.exists() and not out.is_dir():
        raise LiveEngineError(f"--out {out} is a file; expected a folder, new or empty.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LiveEngineError(f"--out {out} already holds files; {command} writes into a new or empty folder.", fix)


def export_grid(out: Path, decoder: Decoder, points: np.ndarray, rows: int, cols: int, rate: int, *, max_seconds: float = 4.0,
                sample_format: str = "pcm24", force: bool = False, source: dict | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> tuple[list[ExportedPad], float]:
    """Render `points` (float32[rows * cols, latent_dim], pad i at row i // cols, column i % cols) and write the export.

    Everything is rendered before anything is written, so a failed render leaves `out` untouched.
    24-bit files get one common gain if the loudest pad would clip (see export_gain).
    `source` (patch name and path, mapping, ...) is recorded in grid.json as given.
    Returns the pads written and the gain applied to them.
    """
    import soundfile

    out = Path(out)
    if sample_format not in FORMATS:
        raise LiveEngineError(f"sample format {sample_format!r}; allowed: {', '.join(FORMATS)}.")
    points = np.asarray(points, np.float32)
    if points.shape != (rows * cols, decoder.latent_dim):
        raise ValueError(f"points must be [{rows * cols}, {decoder.latent_dim}] for a {rows}x{cols} grid; got {points.shape}")
    check_out_dir(out, force)
    buffers = render_pads(decoder, points, rate, max_seconds, on_progress)
    gain = export_gain(buffers, sample_format)
    notes = pad_notes(rows * cols)
    pads = []
    for index, buffer in enumerate(buffers):
        row, col = divmod(index, cols)
        samples = np.asarray(buffer.samples, np.float32) * np.float32(gain)
        pads.append(ExportedPad(row, col, notes[index], f"pad_r{row}_c{col}.wav", points[index].copy(), samples,
                                _description(buffer)))
    # A new (or empty) folder is written whole beside it and swapped in, so a render stopped while writing (Ctrl-C, a
    # kill) leaves no half grid that the next run would refuse as "already holds files"; the hidden folder it leaves is
    # ours, removed by the next run. With --force into a folder of other files, the pads go in place.
    staged = StagedFolder(out, "partial") if not out.exists() or (out.is_dir() and not any(out.iterdir())) else None
    if staged is not None:
        staged.begin()
    target = staged.stage if staged is not None else out
    written = {pad.file for pad in pads}
    for stale in target.iterdir():  # only with --force can the folder hold files: an earlier, larger grid's pads go
        if PAD_FILE.match(stale.name) and stale.name not in written:
            stale.unlink()
    for pad in pads:
        soundfile.write(target / pad.file, pad.samples, rate, subtype=FORMATS[sample_format], format="WAV")
    (target / "grid.sfz").write_text(sfz_text(pads, rows, cols, decoder, rate))
    (target / "grid.dspreset").write_text(dspreset_text(pads, decoder, rate))
    (target / "grid.json").write_text(json.dumps(grid_json(pads, rows, cols, decoder, rate, sample_format, gain, source), indent=1) + "\n")
    if staged is not None:
        staged.swap_in()
    return pads, gain


def export_gain(buffers: list, sample_format: str) -> float:
    """1.0, or for 24-bit files whose loudest pad would clip, the one gain that brings it to full scale.

    Resampling a pad normalised to -0.9 dBFS can overshoot 0 dBFS a little (intersample peaks of
    a click), and normalize = "none" can be far louder; the engine's limiter handles both, a PCM
    file would clip. One gain for every pad keeps their balance; grid.json records it.
    """
    if sample_format != "pcm24":
        return 1.0
    peak = max((float(np.max(np.abs(b.samples))) for b in buffers if len(b.samples)), default=0.0)
    return min(1.0, FULL_SCALE / peak) if peak > 0 else 1.0


def _model_line(decoder: Decoder) -> str:
    return f"model {decoder.name} (hash {decoder.identity})"


def sfz_text(pads: list[ExportedPad], rows: int, cols: int, decoder: Decoder, rate: int) -> str:
    lines = [f"// liveengine {__version__} grid export: {_model_line(decoder)}, {rows}x{cols} pads, {rate} Hz.",
             f"// Pad (row, col) plays note {pads[0].note} + row * {cols} + col; row 0 is the bottom row.",
             "<control>", "default_path=", "", "<global>", "loop_mode=one_shot", "amp_veltrack=100", ""]
    for pad in pads:
        if pad.note is None:
            continue
        lines.append(f"<region> sample={pad.file} lokey={pad.note} hikey={pad.note} pitch_keycenter={pad.note}"
                     f"  // row {pad.row} col {pad.col}")
    return "\n".join(lines) + "\n"


def dspreset_text(pads: list[ExportedPad], decoder: Decoder, rate: int) -> str:
    """Decent Sampler preset. Its samples follow note-off through their envelope's release, so the release is
    set to the longest pad: every hit rings out whole, as a one-shot."""
    longest = max((len(p.samples) for p in pads), default=0) / rate
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f"<!-- liveengine {__version__} grid export: {_model_line(decoder).replace('--', '- -')}; row 0 is the bottom row -->",
             '<DecentSampler minVersion="1.0.0">',
             f'  <groups attack="0.0" decay="0.0" sustain="1.0" release="{longest + 0.01:.3f}">',
             f'    <group name={quoteattr("liveengine grid")} ampVelTrack="1" pitchKeyTrack="0">']
    for pad in pads:
        if pad.note is None:
            continue
        lines.append(f"      <sample path={quoteattr(pad.file)} rootNote=\"{pad.note}\" loNote=\"{pad.note}\" hiNote=\"{pad.note}\""
                     f" loopEnabled=\"false\" tags={quoteattr(f'row{pad.row},col{pad.col}')}/>")
    lines += ["    </group>", "  </groups>", "</DecentSampler>"]
    return "\n".join(lines) + "\n"


def model_json(decoder: Decoder) -> dict:
    """What a JSON file beside exported sounds says of the model that made them."""
    return {"name": decoder.name, "hash": decoder.identity, "latent_dim": decoder.latent_dim, "sample_rate": decoder.sample_rate,
            "classes": list(decoder.classes) if getattr(decoder, "can_classify", False) else None}


def grid_json(pads: list[ExportedPad], rows: int, cols: int, decoder: Decoder, rate: int, sample_format: str, gain: float,
              source: dict | None) -> dict:
    return {
        "liveengine": __version__,
        "model": model_json(decoder),
        "source": source or {},
        "rows": rows, "cols": cols, "sample_rate": rate, "sample_format": FORMATS[sample_format],
        "gain_db": round(20 * float(np.log10(gain)), 6),  # applied to every pad so 24-bit files do not clip (0: none)
        "pads": [{"row": p.row, "col": p.col, "pad": p.row * cols + p.col, "note": p.note, "file": p.file,
                  "seconds": round(len(p.samples) / rate, 4), "latent": [round(float(v), 6) for v in p.point],
                  "description": p.description} for p in pads],
    }
