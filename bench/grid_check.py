"""The grid check: how each pad of the default patch's 8x8 grid ends, on the raw decoder output.

    python bench/grid_check.py [--model models_onnx/drums] [--json out.json]

bench/model_quality.py calls `check_model` and writes its figures into bench/results_model.json.
Every pad is the decoder's output for the pad's latent point (the `plane` mapping at zoom 1, as
patches/default.toml lays it), before any fade, trim or gain the engine applies. The figures and
their pinned definitions (tail level and decay, noise bed, cut) are liveengine/training/pad_endings.py's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liveengine.training.pad_endings import check_audio  # noqa: E402

RELEASE_START_S = 0.6
RELEASE_DB_S = 100.0


def release(length: int, sample_rate: int, start_s: float = RELEASE_START_S, db_s: float = RELEASE_DB_S) -> np.ndarray:
    """float32[length]: 1 until `start_s`, then falling at `db_s`: what a model would have to do to every sound to meet
    the grid goals in a 1 s window (a cymbal at -15 dB at 0.6 s is then under -50 dB by 0.95 s). The bench applies it to
    the reconstructions to price that in held-out distance; no model applies it."""
    t = np.arange(length) / sample_rate
    return (10 ** (-np.maximum(t - start_s, 0.0) * db_s / 20)).astype(np.float32)


def grid_points(decoder, rows: int = 8, cols: int = 8, zoom: float = 1.0) -> np.ndarray:
    """float32[rows * cols, latent_dim]: the latent point of each pad (row 0 at the bottom) under the `plane`
    mapping, built by the engine's own grid code, as the default patch plays it."""
    from liveengine.grid.anchors import plane_basis
    from liveengine.grid.mappings import GridSetting, PlaneMapping

    setting = GridSetting(rows, cols, mapping="plane", zoom=zoom)
    mapping = PlaneMapping(decoder.latent_dim, **plane_basis(decoder))
    return mapping.to_latent(setting.view(setting.pad_uv()))


def check_model(decoder, rows: int = 8, cols: int = 8, envelope: np.ndarray | None = None) -> dict:
    """Decode the default grid with `decoder` (an OnnxDecoder; its peak normalisation keeps each pad's shape) and check it,
    each pad multiplied by `envelope` first where given; each pad also carries the model's class for it when the model has
    a classifier."""
    z = grid_points(decoder, rows, cols)
    pads = np.zeros((len(z), decoder.info.output_length), np.float32)
    decoder.decode_into(z, pads)
    if envelope is not None:
        pads *= envelope
    result = check_audio(pads, decoder.info.sample_rate, cols)
    if getattr(decoder, "can_classify", False):
        names = decoder.classes
        for pad, p in zip(result["per_pad"], decoder.classify(z)):
            pad["class"] = names[int(np.argmax(p))]
    return result


def main(argv: list[str] | None = None) -> None:
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    from liveengine.resources import default_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=default_model(), help="a model folder (default: the default patch's)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    result = check_model(OnnxDecoder(args.model, threads=1, normalize="none"))
    for pad in sorted(result["per_pad"], key=lambda p: (-p["row"], p["col"])):
        flags = " ".join(f for f in ("noise_bed", "cut") if pad[f])
        print(f"row {pad['row']} col {pad['col']} {pad.get('class', ''):10s} tail {pad['tail_db']:7.1f} dB  decay {pad['tail_decay_db_s']:7.1f} dB/s  "
              f"last 10 ms {pad['last_10ms_db']:7.1f} dB  (window end: tail {pad['window_end']['tail_db']:7.1f} dB, last 10 ms {pad['window_end']['last_10ms_db']:7.1f} dB)  {flags}")
    print({k: v for k, v in result.items() if k not in ("per_pad", "definitions")})
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
