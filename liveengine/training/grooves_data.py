"""Build the groove data set from the Groove MIDI Dataset's train and validation splits.

    python -m liveengine.training.grooves_data --gmd PATH/groove-midi --out training_data

Reads `info.csv`, keeps the 4/4 performances of the `train` and `validation` splits (the
dataset's test split is never read) and cuts each into 2-bar patterns (32 steps x 9 voices x
hit/velocity/offset, liveengine/groove/pattern.py) starting on every bar, as GrooVAE did.
A fill (shorter than 2 bars) gives one pattern from its start. Writes `grooves.npz`:
hits (uint8), velocities and offsets (float16), each [N, 32, 9]; split, style, beat_type,
bpm, source file and start step per pattern.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from liveengine.groove.pattern import read_drum_hits, windows

SPLITS = ("train", "validation")


def build(gmd: Path) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(open(gmd / "info.csv", newline="")))
    hits, velocities, offsets, meta = [], [], [], []
    for row in rows:
        if row["split"] not in SPLITS or row["time_signature"] != "4-4":
            continue
        path = gmd / row["midi_filename"]
        if not path.is_file():
            continue
        notes, length = read_drum_hits(path)
        for start, pattern in windows(notes, length):
            hits.append(pattern.hits.astype(np.uint8))
            velocities.append(pattern.velocities.astype(np.float16))
            offsets.append(pattern.offsets.astype(np.float16))
            meta.append((row["split"], row["style"].split("/")[0], row["beat_type"], int(row["bpm"]), row["midi_filename"], start))
    columns = list(zip(*meta))
    return {"hits": np.stack(hits), "velocities": np.stack(velocities), "offsets": np.stack(offsets),
            "split": np.array(columns[0]), "style": np.array(columns[1]), "beat_type": np.array(columns[2]),
            "bpm": np.array(columns[3], np.int16), "source": np.array(columns[4]), "start": np.array(columns[5], np.int32)}


def load(data: Path) -> dict[str, np.ndarray]:
    found = np.load(data / "grooves.npz")
    return {k: found[k] for k in found.files}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cut the Groove MIDI Dataset into 2-bar patterns.")
    parser.add_argument("--gmd", type=Path, required=True, help="the dataset folder (info.csv and the drummer folders)")
    parser.add_argument("--out", type=Path, default=Path("training_data"))
    args = parser.parse_args(argv)
    data = build(args.gmd)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "grooves.npz", **data)
    for split in SPLITS:
        mask = data["split"] == split
        print(f"{split}: {mask.sum()} patterns ({(data['beat_type'][mask] == 'fill').sum()} fills), "
              f"{data['hits'][mask].sum(axis=(1, 2)).mean():.1f} hits each on average")


if __name__ == "__main__":
    main()
