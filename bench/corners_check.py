"""The corners check: a producer's first try of the `corners` mapping with a held-out kit, for each held-out kit.

    python bench/corners_check.py [--model models_onnx/drums] [--data training_data] [--tether 0.01]

bench/model_quality.py calls `check_corners` and writes its figures into bench/results_model.json.
The issue (a drum model that sounds like drums on every pad) asks: with corners from a real kit,
at least 3 of the 4 corner pads keep their class and no class covers more than half the grid.

Pinned (nothing is tuned after the fact): for each held-out kit with a labelled kick, snare,
closed hat and cymbal, the first of each in the data set's order (its file order) is a corner:
kick bottom left, snare bottom right, closed hat top left, cymbal top right (the order of
`[grid] corners`). The cymbal is a crash, as in the issue's producer's kit: the first cymbal whose
instrument name (the kit's own, as the data set's manifest.csv keeps it) says "crash"; a kit without
one gives its first cymbal. Until 2026-12-07 the check took the first cymbal, a ride in four kits and
a China in one; that rule's figures are still written beside (`first_cymbal`). Each is placed as the engine places a corner file (`place_sounds`: fitted to the
data set's 1 s sound where the model has decoder_grad.onnx, else the encoder's mean; the sound
starts at its onset and is peak-normalised as `liveengine similar` reads a file), the 8x8 grid is laid by the engine's own CornersMapping at zoom 1, and every pad is
classed by the model's classifier on its latent point, as the pad colours and LEDs are.
A kit passes when 3 or more corners keep their class and no class has more than 32 of the 64 pads.
Each corner pad's distance to its file (MR-STFT, the training loss's, over the file's samples: a model longer than
the data set's sounds is not charged for its tail against their padding) is given as placed and as the
encoder alone would place it: what fitting a corner (liveengine/decoders/fit.py) buys.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CORNER_CLASSES = ("kick", "snare", "hat_closed", "cymbal")  # bottom left, bottom right, top left, top right

# What-if layouts, for the bench only (the engine lays corners evenly): each pad's position t, 0 to 1 across the
# grid, bent before CornersMapping interpolates, so the pads next to a corner stay nearer its file.
LAYOUTS = {"even": lambda t: t, "smoothstep": lambda t: t * t * (3 - 2 * t),
           "smootherstep": lambda t: t ** 3 * (t * (6 * t - 15) + 10)}


class Bent:
    """`mapping` with each view coordinate bent by `curve` (one of LAYOUTS) inside the unit square."""

    def __init__(self, mapping, curve) -> None:
        self.mapping, self.curve = mapping, curve

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        from liveengine.grid.mappings import SQUARE

        t = np.clip(np.asarray(xy, np.float64) / (2 * SQUARE) + 0.5, 0.0, 1.0)
        return self.mapping.to_latent((self.curve(t) - 0.5) * 2 * SQUARE)


def kit_corners(files: np.ndarray, classes: np.ndarray, names: list[str], rows: np.ndarray,
                instruments: np.ndarray | None = None) -> dict[str, list[int]]:
    """For each kit among `rows` (the folder a file came from) that has all four corner classes: the first row of each,
    the cymbal the first whose instrument name (`instruments`, one per file; None: not known) says crash, if any."""
    kits: dict[str, list[int]] = {}
    for kit in sorted({Path(str(files[i])).parent.name for i in rows}):
        own = [i for i in rows if Path(str(files[i])).parent.name == kit]
        chosen = [next((i for i in own if classes[i] == names.index(c)), None) for c in CORNER_CLASSES]
        if instruments is not None:
            crash = [i for i in own if classes[i] == names.index("cymbal") and "crash" in str(instruments[i]).lower()]
            chosen[CORNER_CLASSES.index("cymbal")] = crash[0] if crash else chosen[CORNER_CLASSES.index("cymbal")]
        if all(i is not None for i in chosen):
            kits[kit] = [int(i) for i in chosen]
    return kits


def instrument_names(data: Path, files: np.ndarray) -> np.ndarray:
    """Each of `files`' instrument name, as the kit names it (the data set's manifest.csv; "" where it names none)."""
    import csv

    manifest = Path(data) / "manifest.csv"
    try:
        with manifest.open(newline="") as fh:
            named = {row["file"]: row.get("instrument") or "" for row in csv.DictReader(fh)}
    except (OSError, KeyError, csv.Error) as error:
        raise SystemExit(f"{manifest}: cannot read the kits' instrument names ({error}); "
                         "allowed: the manifest.csv `python -m liveengine.training.data` writes beside sounds.npz") from error
    return np.array([named.get(str(f), "") for f in files])


def corner_grid(decoder, sounds: np.ndarray, tether: float | None = None, layout: str = "even") -> tuple[np.ndarray, np.ndarray]:
    """A kit's four corner sounds (float32[4, window], in CORNER_CLASSES order) placed as the engine places corner files,
    and the 64 pad points of the 8x8 grid laid between them: (anchors, points)."""
    from liveengine.grid.anchors import pad_points, place_sounds, prior_centre
    from liveengine.grid.mappings import CornersMapping, GridSetting

    anchors = place_sounds(decoder, sounds, tether)
    mapping = CornersMapping(anchors, prior_centre(decoder))
    return anchors, pad_points(GridSetting(8, 8, "corners"), mapping if layout == "even" else Bent(mapping, LAYOUTS[layout]))


def judge(heard: list[str], names: list[str]) -> dict:
    """The rule on one grid, given each pad's class (pad order, row 0 at the bottom) by whatever ear: the corner pads'
    classes, how many keep their corner's class, the largest class and whether the grid passes."""
    from liveengine.grid.mappings import GridSetting

    setting = GridSetting(8, 8, "corners")
    corner_pads = [setting.pad_index(0, 0), setting.pad_index(0, 7), setting.pad_index(7, 0), setting.pad_index(7, 7)]
    corners = [heard[p] for p in corner_pads]
    counts = np.bincount([names.index(h) for h in heard], minlength=len(names))
    kept = sum(h == c for h, c in zip(corners, CORNER_CLASSES))
    return {"corners": corners, "kept": int(kept), "largest_class": names[int(counts.argmax())],
            "largest_class_pads": int(counts.max()), "classes_on_grid": int((counts > 0).sum()),
            "passes": bool(kept >= 3 and counts.max() <= 32)}


def window(decoder, sounds: np.ndarray) -> tuple[np.ndarray, int]:
    """`sounds` padded or cut to the model's window (float32), and how many of their samples are the files' own."""
    length = decoder.info.output_length
    compared = min(sounds.shape[1], length)
    sounds = sounds[:, :length] if sounds.shape[1] >= length else np.pad(sounds, ((0, 0), (0, length - sounds.shape[1])))
    return np.ascontiguousarray(sounds, np.float32), compared


def check_corners(decoder, audio: np.ndarray, files: np.ndarray, classes: np.ndarray, held: np.ndarray,
                  tether: float | None = None, layout: str = "even", instruments: np.ndarray | None = None) -> dict:
    """Per kit: the corner classes, how many kept theirs, the largest class's pad count; and how many kits pass.
    `tether`: the fit's (None: its own, fit.TETHER); `layout`: one of LAYOUTS (the engine's: even); `instruments`: each
    file's instrument name, to pick a crash (None: the first cymbal)."""
    from liveengine.decoders.fit import SpectralDistance

    names = list(decoder.classes)
    per_kit = {}
    for kit, rows in kit_corners(files, classes, names, held, instruments).items():
        sounds, compared = window(decoder, audio[rows])  # compared: the file's own length, not a longer model's tail
        anchors, points = corner_grid(decoder, sounds, tether, layout)
        # How near each corner pad (its anchor, exactly) sounds to its file, placed as the engine places it and by the
        # encoder alone: the multi-resolution STFT distance the model trained on, over the file's samples.
        near = SpectralDistance(sounds[:, :compared])
        decoded = np.zeros_like(sounds)
        distance = {}
        for how, at in (("placed", anchors), ("encoded", decoder.encode(sounds))):
            decoder.decode_into(at.astype(np.float32), decoded)
            distance[how] = near.value_and_grad(decoded[:, :compared], grad=False)[0].astype(float).tolist()
        per_kit[kit] = {**judge([names[c] for c in decoder.classify(points).argmax(axis=1)], names), "corner_distance": distance,
                        "files": [Path(str(files[r])).name for r in rows]}
    return {"kits": len(per_kit), "kits_passing": sum(k["passes"] for k in per_kit.values()),
            "corners_kept": sum(k["kept"] for k in per_kit.values()), "corners": 4 * len(per_kit), "per_kit": per_kit,
            "corner_distance_mean": {how: float(np.mean([d for k in per_kit.values() for d in k["corner_distance"][how]])) if per_kit else None
                                     for how in ("placed", "encoded")},
            "corner_classes": list(CORNER_CLASSES), "cymbal": "a crash where the kit names one" if instruments is not None else "the first"}


def check_both(decoder, audio: np.ndarray, files: np.ndarray, classes: np.ndarray, held: np.ndarray, instruments: np.ndarray,
               tether: float | None = None, layout: str = "even") -> dict:
    """`check_corners` with a crash for the cymbal corner (the issue's rule, the figure the goal reads), and under
    "first_cymbal" what the first cymbal gives (the rule until 2026-12-07), kit by kit."""
    result = check_corners(decoder, audio, files, classes, held, tether, layout, instruments)
    first = check_corners(decoder, audio, files, classes, held, tether, layout)
    result["first_cymbal"] = {"kits_passing": first["kits_passing"], "corners_kept": first["corners_kept"],
                              "per_kit": {kit: {k: v[k] for k in ("corners", "kept", "largest_class", "largest_class_pads", "passes", "files")}
                                          for kit, v in first["per_kit"].items()}}
    return result


def main(argv: list[str] | None = None) -> int:
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    from liveengine.resources import default_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=default_model(), help="a model folder (default: the default patch's)")
    parser.add_argument("--data", type=Path, default=REPO / "training_data")
    parser.add_argument("--tether", type=float, default=None, help="the fit's tether (default: its own, fit.TETHER; 0 a free walk)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="even",
                        help="how the pads lie between the corners (default: even, as the engine lays them; the others are what-ifs)")
    args = parser.parse_args(argv)
    if args.tether is not None and not 0.0 <= args.tether < float("inf"):
        parser.error(f"--tether {args.tether}: allowed: a number of 0 or more")
    sounds = np.load(args.data / "sounds.npz")
    classes = sounds["classes"].astype(int)
    held = np.flatnonzero((sounds["split"] == "heldout") & (classes >= 0))
    result = check_both(OnnxDecoder(args.model, threads=1), sounds["audio"].astype(np.float32) / 32767.0, sounds["files"], classes, held,
                        instrument_names(args.data, sounds["files"]), args.tether, args.layout)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
