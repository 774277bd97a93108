"""`liveengine generate`: new sounds from a model, as WAV files with their latent points, for sound designers.

SampleVAE's three ways of making sounds with a VAE, offline:

- random points of the model's prior, N(0, I): `Recipe(seed, count)`;
- variations of an audio file: the file encoded to its latent point, plus seeded noise of
  standard deviation `variance` (the engine's /param variance, grid.mappings.variation);
- weighted mixes of files: the sum of their points times `weights` (negative ones subtract:
  latent arithmetic, as the engine's /mix), then variations of that as above.

Sounds are rendered by the engine's own render path (export.grid_export.render_pads) and
written as render-grid writes pads (24-bit, one common gain if one would clip, or 32-bit
float), into a new or empty folder, with `generate.json` beside them: each file's latent
point and description, and how the points were made (mode, seed, files, weights).
Ctrl-C midway keeps the sounds rendered so far, as whole files with their generate.json (Interrupted).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine import __version__
from liveengine.atomic_file import write_atomic
from liveengine.commands import COMMANDS, PARAMS
from liveengine.decoders.base import Decoder, require_encoder
from liveengine.errors import LiveEngineError
from liveengine.export.grid_export import FORMATS, _description, check_out_dir, export_gain, model_json, render_pads
from liveengine.grid.mappings import mix, variation

VARIANCE_RANGE = PARAMS["variance"][:2]  # as the engine's /param variance
FILE_VARIANCE = 0.5  # default around one file: clearly its kind of sound, audibly different
DEFAULT_COUNT = 8
JSON_NAME = "generate.json"


@dataclass(frozen=True)
class Recipe:
    """How the latent points are made. Checked at construction: LiveEngineError naming the option at fault."""

    seed: int
    count: int | None = None  # None: DEFAULT_COUNT, or 1 where every point would be the same (variance 0)
    sources: tuple[Path, ...] = ()
    weights: tuple[float, ...] | None = None  # None: 1 for one file, equal weights summing to 1 for several
    variance: float | None = None  # None: FILE_VARIANCE for one file, 0 for a mix

    def __post_init__(self) -> None:
        if not self.sources and self.weights is not None:
            raise LiveEngineError("--weights needs --from files: one weight per file.")
        if not self.sources and self.variance is not None:
            raise LiveEngineError("--variance applies to sounds made --from files; without --from, sounds are random points of the model's prior.",
                                  "Give --from FILE, or leave --variance out.")
        if self.weights is not None and len(self.weights) != len(self.sources):
            raise LiveEngineError(f"--weights has {len(self.weights)} number{'s' if len(self.weights) != 1 else ''} for "
                                  f"{len(self.sources)} --from file{'s' if len(self.sources) != 1 else ''}; give one weight per file "
                                  "(negative weights subtract).")
        weight = COMMANDS["/mix"].args[0]  # the engine's /mix takes the same weights
        if self.weights is not None and not all(weight.low <= w <= weight.high for w in self.weights):  # nan fails too
            raise LiveEngineError(f"--weights {' '.join(f'{w:g}' for w in self.weights)} has a weight out of range; "
                                  f"allowed: {weight.allowed()} each.")
        if self.variance is not None and not VARIANCE_RANGE[0] <= self.variance <= VARIANCE_RANGE[1]:
            raise LiveEngineError(f"--variance {self.variance:g} is out of range; allowed: {VARIANCE_RANGE[0]:g} to {VARIANCE_RANGE[1]:g}.")

    @property
    def points(self) -> int:
        """How many sounds: the count asked for, else one where all would be the same (no spread), else DEFAULT_COUNT."""
        return self.count if self.count is not None else (1 if self.spread == 0 else DEFAULT_COUNT)

    @property
    def mode(self) -> str:
        return "prior" if not self.sources else "variation" if len(self.sources) == 1 else "mix"

    @property
    def spread(self) -> float:
        """Standard deviation of the noise around the base point, in prior units."""
        if not self.sources:
            return 1.0  # the prior itself: N(0, I)
        if self.variance is not None:
            return self.variance
        return FILE_VARIANCE if len(self.sources) == 1 else 0.0

    @property
    def summary(self) -> str:
        """What the sounds are, in words: `variations of kick.wav (variance 0.5)`."""
        if not self.sources:
            return "random points of the model's prior"
        spread = f" (variance {self.spread:g})" if self.spread or len(self.sources) == 1 else ""
        if len(self.sources) == 1:  # a weight other than 1 scales the file's point: said, as a mix's are
            weight = self.mix_weights[0]
            return f"variations of {'' if weight == 1 else f'{weight:g} x '}{self.sources[0]}{spread}"
        return "a mix of " + ", ".join(f"{w:g} x {p}" for p, w in zip(self.sources, self.mix_weights)) + spread

    @property
    def mix_weights(self) -> tuple[float, ...]:
        return self.weights if self.weights is not None else (1.0 / len(self.sources),) * len(self.sources)


def latent_points(decoder: Decoder, recipe: Recipe) -> tuple[np.ndarray, np.ndarray | None]:
    """(float32[recipe.points, latent_dim] points, float32[len(sources), latent_dim] the files' points or None).

    Point i is the i-th seeded variation of the base point (the prior's mean, or the weighted
    mix of the files' points), so the same seed always gives the same points.
    """
    from liveengine.grid.anchors import place_files

    encoded = None
    base = np.zeros(decoder.latent_dim, np.float32)
    if recipe.sources:
        require_encoder(decoder, "generate --from", "Use a model folder with encoder.onnx (the shipped drums model has one), "
                                                    "or leave --from out for random points of the prior.")
        encoded = place_files(decoder, list(recipe.sources)).astype(np.float32)  # fitted where the model can
        base = mix(encoded, np.asarray(recipe.mix_weights))
    points = np.stack([variation(base, recipe.spread, recipe.seed, 0, i) for i in range(recipe.points)])
    return points, encoded


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped generate: `sounds` (generate.json's entries) of `asked` were written into `out`, whole, with
    generate.json; none were when `sounds` is empty. A KeyboardInterrupt still: the CLI exits 130 after saying so."""

    def __init__(self, out: Path, sounds: list[dict], asked: int) -> None:
        super().__init__(f"stopped after {len(sounds)} of {asked} sounds")
        self.out, self.sounds, self.asked = out, sounds, asked


def generate(out: Path, decoder: Decoder, recipe: Recipe, rate: int, *, max_seconds: float = 4.0, sample_format: str = "pcm24",
             source: dict | None = None, on_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Make the recipe's sounds and write them into `out` (a new or empty folder) with generate.json; return its sound entries.

    Everything is encoded and rendered before anything is written, so a failure leaves no folder behind.
    Ctrl-C (KeyboardInterrupt) while rendering or writing raises Interrupted once the sounds finished by then
    are written: each file is whole (written beside, then renamed), generate.json lists them and says how
    many were asked for.
    """
    out = Path(out)
    check_out_dir(out, False, "generate", "Choose a new folder for --out, or empty this one.")
    try:
        points, encoded = latent_points(decoder, recipe)
    except KeyboardInterrupt:  # while encoding --from files: nothing made yet, and said so
        raise Interrupted(out, [], recipe.points) from None
    buffers: list = []
    try:
        render_pads(decoder, points, rate, max_seconds, on_progress, buffers)
        stopped = False
    except KeyboardInterrupt:
        stopped = True  # what was rendered is written below
    if stopped and not buffers:
        raise Interrupted(out, [], len(points)) from None
    gain = export_gain(buffers, sample_format)
    sounds: list[dict] = []
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    how = {"mode": recipe.mode, "seed": recipe.seed, "variance": recipe.spread if recipe.sources else None,
           "from": [{"file": str(path), "weight": weight, "latent": _exact(point)}
                    for path, weight, point in zip(recipe.sources, recipe.mix_weights, encoded)] if recipe.sources else []}
    manifest = {"liveengine": __version__, "model": model_json(decoder), "source": source or {}, "generated": how,
                "sample_rate": rate, "sample_format": FORMATS[sample_format], "gain_db": round(20 * float(np.log10(gain)), 6),
                "sounds": sounds}

    def write_manifest() -> None:
        write_atomic(out / JSON_NAME, (json.dumps(manifest, indent=1) + "\n").encode())

    # While the files are written, generate.json says so and lists them, at most a second behind: a process
    # killed meanwhile (kill -9, a power cut) leaves the seed and the points of what it wrote.
    manifest["writing"] = {"sounds_asked": len(points), "note": "incomplete: the process stopped while writing"}
    saved = time.monotonic()
    try:
        write_manifest()
        for i, (point, buffer) in enumerate(zip(points, buffers), 1):
            name = f"{recipe.mode}_{i:03d}.wav"
            samples = np.asarray(buffer.samples, np.float32) * np.float32(gain)
            _write_wav(out / name, samples, rate, FORMATS[sample_format])
            sounds.append({"file": name, "seconds": round(len(samples) / rate, 4), "latent": _exact(point),
                           "description": _description(buffer)})
            if time.monotonic() - saved >= 1.0:
                write_manifest()
                saved = time.monotonic()
    except KeyboardInterrupt:
        stopped = True  # the files written so far stay, listed in generate.json
    del manifest["writing"]
    if not sounds:  # stopped before the first file was in place
        (out / JSON_NAME).unlink(missing_ok=True)
        if created:
            out.rmdir()
        raise Interrupted(out, [], len(points)) from None
    if stopped:
        manifest["stopped"] = {"by": "Ctrl-C", "sounds_asked": len(points), "sounds_written": len(sounds)}
    write_manifest()
    if stopped:
        raise Interrupted(out, sounds, len(points)) from None
    return sounds


def _write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str) -> None:
    """Write beside `path`, then rename into place: a Ctrl-C midway leaves no half-written sound under its name.
    Not atomic_file.write_atomic: its fsync of every file would cost seconds across thousands of sounds."""
    import soundfile

    part = path.with_name(f".{path.name}.part")
    try:
        soundfile.write(part, samples, rate, subtype=subtype, format="WAV")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _exact(point: np.ndarray) -> list[float]:
    """Not rounded: decoding the point read back from the JSON gives the same sound, sample for sample."""
    return [float(v) for v in point]
