"""The groove page: grooves laid on pads with the sound grid's mappings (grid/mappings.py), over a pattern model.

- `plane`: the model's latent mean and its first two axes scaled by their spreads;
- `corners`: four MIDI files (or latent points), encoded by the model's encoder, interpolated across the page;
- `library`: a self-organising map over the user's folder of MIDI loops (each file's first two bars);
- `direct`: a model whose latent space is 2-D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveengine.decoders.pattern_model import PatternModel
from liveengine.errors import LiveEngineError, first_of
from liveengine.grid.anchors import check_latent_point, patch_file, plane_basis, prior_centre
from liveengine.grid.mappings import CORNER_NAMES, CornersMapping, DirectMapping, GridSetting, LibraryMapping, PlaneMapping
from liveengine.grid.som import fit_som, nearest_items
from liveengine.groove.pattern import MidiPatternError, Pattern, pattern_from_midi

MIDI_SUFFIXES = (".mid", ".midi", ".smf")


@dataclass
class GroovePage:
    setting: GridSetting
    mapping: object
    points: np.ndarray  # float32[pads, latent_dim], pad i at row i // cols
    labels: tuple[str, ...] = ()  # where the anchors or library loops came from
    skipped: dict[str, str] = field(default_factory=dict)  # library file -> why it gave no pattern

    def point_at(self, x: float, y: float) -> np.ndarray:
        """The latent point at (x, y) in 0..1 across the columns and up the rows (as /xy takes them)."""
        return np.asarray(self.mapping.to_latent(self.setting.view(np.array([x, y]))), np.float32)


def skipped_line(skipped: dict[str, str]) -> str:
    """'groove library: skipped 3 files: a.mid is empty; ...' (as `train` lists its skipped files), or '' for none."""
    if not skipped:
        return ""
    return f"groove library: skipped {len(skipped)} file{'' if len(skipped) == 1 else 's'}: {first_of(skipped, 8)}"


def encode_patterns(model: PatternModel, patterns: list[Pattern]) -> np.ndarray:
    stacked = [np.stack([getattr(p, name) for p in patterns]) for name in ("hits", "velocities", "offsets")]
    return model.encode(*stacked).astype(np.float64)


def _base(patch) -> Path:
    return patch.path.parent if patch.path else Path.cwd()


def build_page(model: PatternModel, patch) -> GroovePage:
    """The groove page a patch's [groove] section describes; LiveEngineError (one sentence) naming what is wrong."""
    groove = patch.groove
    setting = GridSetting(groove["rows"], groove["cols"], groove["mapping"], groove["center_x"], groove["center_y"], groove["zoom"])
    labels: tuple[str, ...] = ()
    skipped: dict[str, str] = {}
    if setting.mapping == "plane":
        mapping = PlaneMapping(model.latent_dim, **plane_basis(model))
    elif setting.mapping == "direct":
        mapping = DirectMapping(model.latent_dim)
    elif setting.mapping == "corners":
        mapping = _corners(model, patch)
        labels = mapping.labels
    else:
        mapping, labels, skipped = _library(model, patch, setting)
    uv = setting.pad_uv()
    points = np.asarray(mapping.to_latent(setting.view(uv)), np.float32)
    return GroovePage(setting, mapping, points, labels, skipped)


def _corners(model: PatternModel, patch) -> CornersMapping:
    corners = patch.groove["corners"]
    where = f"{patch_file(patch)}: [groove] corners"
    if len(corners) != 4:
        raise LiveEngineError(f"[groove] mapping 'corners' needs four anchors in [groove] corners ({', '.join(CORNER_NAMES)}); "
                              f"{patch_file(patch)} gives {len(corners)}.", 'Add corners = ["funk.mid", "rock.mid", "jazz.mid", "fill.mid"].')
    anchors, labels = [], []
    for i, (corner, entry) in enumerate(zip(CORNER_NAMES, corners), 1):
        if isinstance(entry, str):
            anchors.append(encode_patterns(model, [pattern_from_midi(_base(patch) / entry)])[0])
            labels.append(entry)
        else:
            if len(entry) != model.latent_dim:
                raise LiveEngineError(f"{where} {corner} has {len(entry)} numbers; this model's latent points have {model.latent_dim}.")
            anchors.append(check_latent_point(np.asarray(entry, np.float64), model, f"{where}: corner {i} ({corner})"))
            labels.append("point")
    return CornersMapping(np.stack(anchors), prior_centre(model), tuple(labels))


def _library(model: PatternModel, patch, setting: GridSetting) -> tuple[LibraryMapping, tuple[str, ...], dict[str, str]]:
    text = patch.groove["library"]
    if not text:
        raise LiveEngineError(f"[groove] mapping 'library' needs [groove] library = a folder of MIDI loops; {patch_file(patch)} names none.")
    folder = (_base(patch) / Path(text).expanduser()).resolve()
    if not folder.is_dir():
        raise LiveEngineError(f"[groove] library folder {folder} does not exist.")
    patterns, names, skipped = [], [], {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES):
        name = str(path.relative_to(folder))
        try:
            patterns.append(pattern_from_midi(path))
            names.append(name)
        except MidiPatternError as exc:  # named with its reason on the page: a folder of loops often holds a melody or two
            skipped[name] = exc.message.replace(f"groove MIDI file {path.name} ", "", 1).rstrip(".")
    if len(patterns) < 2:
        raise LiveEngineError(f"[groove] library folder {folder}: {len(patterns)} MIDI file(s) with drums ({len(skipped)} skipped"
                              + (f": {first_of(skipped, 3)}" if skipped else "") + "); the library mapping needs at least 2.")
    points = encode_patterns(model, patterns)
    nodes = fit_som(points, setting.rows if setting.rows > 1 else 2, setting.cols if setting.cols > 1 else 2)
    nearest = tuple((names[i], 0.0) for i in nearest_items(nodes, points))
    return LibraryMapping(nodes, nearest), tuple(names) + ((f"{len(skipped)} skipped",) if skipped else ()), skipped
