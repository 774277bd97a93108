"""Building a mapping from a patch: the model's plane, corner anchors, or a fitted library map.

Runs on a control thread at patch load or at a live mapping switch (never the
audio thread). Anchors and library sounds are audio files encoded with the
model's encoder; a corner may also be a saved latent point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveengine.decoders.base import Decoder, require_encoder
from liveengine.errors import LiveEngineError
from liveengine.grid.mappings import CORNER_NAMES, CornersMapping, DirectMapping, GridSetting, LibraryMapping, PlaneMapping
from liveengine.grid.som import fit_som, nearest_items

SPREADS_ALLOWED = 10.0  # generous: further out is a typo (1e6, 1e308), not a sound the model knows


def plane_basis(decoder: Decoder) -> dict:
    """The model's latent mean and first two principal axes (scaled by their spreads), if it declares them."""
    info = getattr(decoder, "info", None)
    if info is None or not info.latent_axes:
        return {}
    spreads = info.latent_spreads or (1.0, 1.0)
    axes = np.array([[v * spreads[i] for v in info.latent_axes[i]] for i in range(2)], np.float64)
    origin = np.asarray(info.latent_mean, np.float64) if info.latent_mean else None
    return {"origin": origin, "axes": axes}


def prior_centre(decoder: Decoder) -> np.ndarray:
    info = getattr(decoder, "info", None)
    if info is not None and info.latent_mean:
        return np.asarray(info.latent_mean, np.float64)
    return np.zeros(decoder.latent_dim)


def check_latent_point(point: np.ndarray, decoder: Decoder, what: str) -> np.ndarray:
    """The point, or LiveEngineError naming `what` when a number of it is not within SPREADS_ALLOWED of the model's
    largest latent spread from its latent mean: far outside anything it was trained on, so its silence (or a grid
    of one class) is the point's fault, not the model's. No coordinate of the encodings varies more than the largest spread."""
    spreads = getattr(getattr(decoder, "info", None), "latent_spreads", None) or ()
    spread = max(spreads) if spreads else 1.0  # without stats, a unit prior, as the plane mapping assumes
    bound = SPREADS_ALLOWED * spread
    centre = prior_centre(decoder)
    near = np.abs(point - centre) <= bound  # False for NaN too
    if not near.all():
        j = int(np.argmin(near))
        raise LiveEngineError(f"{what} number {j + 1} is {point[j]:g}; allowed: numbers within {bound:.3g} of model {decoder.name}'s "
                              f"latent mean ({centre[j]:.3g} there), {SPREADS_ALLOWED:g} times its largest latent spread "
                              f"({spread:.3g}{'' if spreads else ', assumed: the model declares none'}).",
                              "Use a point near the model's own (such as one a pad plays), or an audio file.")
    return point


def patch_file(patch) -> str:
    """How a mapping's errors name the patch file (a patch made in code has none)."""
    return patch.path.name if patch.path else "the patch"


def build_mapping(name: str, decoder: Decoder, patch, setting: GridSetting):
    """The named mapping for this decoder and patch; LiveEngineError naming what is missing."""
    if name == "plane":
        return PlaneMapping(decoder.latent_dim, **plane_basis(decoder))
    if name == "direct":
        return DirectMapping(decoder.latent_dim)
    if name == "corners":
        return corners_mapping(decoder, patch)
    if name == "library":
        return library_mapping(decoder, patch, setting)
    raise LiveEngineError(f"unknown mapping {name!r}; mappings: plane, corners, library, direct.")


def place_sounds(decoder: Decoder, sounds: np.ndarray, tether: float | None = None) -> np.ndarray:
    """Latent points for sounds a performer brings (corners, generate --from): float64[len(sounds), latent_dim].

    Where the model has decoder_grad.onnx, each point is fitted to its sound (liveengine/decoders/fit.py; `tether`
    None: the fit's own), so the pad plays back nearer the file; else it is the encoder's mean.
    """
    if getattr(decoder, "can_fit", False):
        return decoder.fit(sounds, tether=tether)[0].astype(np.float64)
    return decoder.encode(sounds).astype(np.float64)


def place_files(decoder: Decoder, paths: list[Path]) -> np.ndarray:
    """Latent points of audio files' first sounds (as `liveengine similar` reads them), by place_sounds."""
    from liveengine.library.index import query_sound, sound_batch

    return place_sounds(decoder, sound_batch(decoder, [query_sound(path, decoder)[1] for path in paths]))


def corners_mapping(decoder: Decoder, patch) -> CornersMapping:
    corners = patch.grid.get("corners") or []
    where = f"{patch_file(patch)}: [grid] corners"
    if len(corners) != 4:
        raise LiveEngineError(f"mapping 'corners' needs four anchors in [grid] corners ({', '.join(CORNER_NAMES)}); "
                              f"{patch_file(patch)} gives {len(corners)}.",
                              'Add corners = ["kick.wav", "snare.wav", "hat.wav", [0.1, ...]] (audio files or latent points).')
    anchors, labels, files = [], [], {}
    base = patch.path.parent if patch.path else Path.cwd()
    for i, (corner, entry) in enumerate(zip(CORNER_NAMES, corners)):
        if isinstance(entry, str):
            require_encoder(decoder, f"{where} {corner} = {entry!r}",
                            "Give the anchors as latent points (lists of numbers), or use a model with an encoder.")
            files[i] = (base / entry).resolve()
            anchors.append(None)
            labels.append(entry)
        else:
            if len(entry) != decoder.latent_dim:
                raise LiveEngineError(f"{where} {corner} has {len(entry)} numbers; this model's latent points have {decoder.latent_dim}.")
            anchors.append(check_latent_point(np.asarray(entry, np.float64), decoder, f"{where}: corner {i + 1} ({corner})"))
            labels.append("point")
    if files:  # the files in one batch: a fit decodes every step
        for i, point in zip(files, place_files(decoder, list(files.values()))):
            anchors[i] = point
    return CornersMapping(np.stack(anchors), prior_centre(decoder), tuple(labels))


def library_mapping(decoder: Decoder, patch, setting: GridSetting) -> LibraryMapping:
    """A self-organising map over the library's index (encoded once, cached on disk, long files cut at onsets)."""
    from liveengine.library.index import load_or_build

    folder_text = patch.grid.get("library") or ""
    if not folder_text:
        raise LiveEngineError(f"mapping 'library' needs [grid] library = a folder of your samples; {patch_file(patch)} names none.")
    require_encoder(decoder, "mapping 'library'", "Use a model folder with encoder.onnx, or another mapping (plane, corners, direct).")
    base = patch.path.parent if patch.path else Path.cwd()
    index = load_or_build(decoder, (base / Path(folder_text).expanduser()).resolve())
    if len(index.entries) < 2:
        raise LiveEngineError(f"library folder {index.folder}: {len(index.entries)} readable sound(s); the library mapping needs at least 2.")
    nodes = fit_som(index.points, setting.rows, setting.cols)
    nearest = tuple(index.entries[i] for i in nearest_items(nodes, index.points))
    return LibraryMapping(nodes, nearest)


def patch_setting(patch) -> GridSetting:
    """The grid setting a patch starts with."""
    grid = patch.grid
    return GridSetting(grid["rows"], grid["cols"], grid["mapping"], grid["center_x"], grid["center_y"], grid["zoom"],
                       grid["rotation"], grid["variance"], grid["seed"])


def pad_points(setting: GridSetting, mapping) -> np.ndarray:
    """float32[pads, latent_dim]: each pad's latent point under this setting and mapping."""
    return np.asarray(mapping.to_latent(setting.view(setting.pad_uv())), np.float32)
