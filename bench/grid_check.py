"""The grid check: how each pad of the default patch's 8x8 grid ends, on the raw decoder output.

    python bench/grid_check.py [--model models_onnx/drums] [--json out.json]

bench/model_quality.py calls `check_model` and writes its figures into bench/results_model.json.
Every pad is the decoder's output for the pad's latent point (the `plane` mapping at zoom 1, as
patches/default.toml lays it), before any fade, trim or gain the engine applies. Only its shape
matters (all levels are relative to the pad's own peak), so the decoder's peak normalisation
changes nothing.

Pinned definitions (the issue's goals; nothing is tuned after the fact). Every training sound longer
than the window ends in a 50 ms linear fade (liveengine/training/data.py), and a model learns it: read
over the window's last 100 ms, every pad of the first drum model decays at 190 dB/s or faster and
ends 42 dB or more under its peak, a cymbal ringing at -15 dB included. So the checks read the
sound *before* that fade, where a sustained bed or a sound still ringing shows:
- envelope: RMS over consecutive 10 ms frames, in dB; the **peak** is the loudest frame.
- **tail**: the 100 ms before the fade (0.85 s..0.95 s of a 1 s window): its RMS in dB re the peak
  (**tail level**) and minus the least-squares slope of the envelope over it in dB/s (**tail decay**;
  frames floored 120 dB below the peak, so digital silence counts as very quiet, not minus infinity).
- **noise bed**: tail level above -50 dB and tail decay under 60 dB/s (the goal allows either).
- **cut**: the last 10 ms before the fade above -40 dB re peak: the sound is still audible where
  the fade and the window stop it.
- The same figures over the window's literal last 100 ms and last 10 ms are kept beside them
  (`window_end`), to show what the fade hides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liveengine.training.data import FADE_S  # noqa: E402 - the data set's fade where it cuts a sound (the checks read before it)

FRAME_S = 0.010
TAIL_S = 0.100
FLOOR_DB = -120.0
BED_LEVEL_DB = -50.0
BED_DECAY_DB_S = 60.0
CUT_DB = -40.0


def envelope_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[frames] RMS level of consecutive 10 ms frames in dB re full scale (a last partial frame is dropped)."""
    n = int(round(FRAME_S * sample_rate))
    frames = np.asarray(audio, np.float64)[:len(audio) // n * n].reshape(-1, n)
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-30)


def _rms_db(audio: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(np.asarray(audio, np.float64) ** 2) + 1e-30))


def _ending(audio: np.ndarray, sample_rate: int, env: np.ndarray, peak: float, end_s: float) -> dict:
    """Tail level, tail decay and last-10-ms level (dB re the peak frame) of the 100 ms ending at `end_s`."""
    frame_end = int(round(end_s / FRAME_S))
    tail_frames = int(round(TAIL_S / FRAME_S))
    rel = np.maximum(env[frame_end - tail_frames:frame_end] - peak, FLOOR_DB)
    slope = float(np.polyfit(np.arange(tail_frames) * FRAME_S, rel, 1)[0])
    end = int(round(end_s * sample_rate))
    tail = max(_rms_db(audio[end - int(round(TAIL_S * sample_rate)):end]) - peak, FLOOR_DB)
    return {"tail_db": round(tail, 1), "tail_decay_db_s": round(-slope, 1), "last_10ms_db": round(float(rel[-1]), 1)}


def pad_ending(audio: np.ndarray, sample_rate: int) -> dict:
    """One sound's ending before the fade (tail level and decay, the last 10 ms), the verdicts, and the same
    figures at the window's end (`window_end`)."""
    env = envelope_db(audio, sample_rate)
    peak = float(env.max())
    seconds = len(env) * FRAME_S
    before = _ending(audio, sample_rate, env, peak, seconds - FADE_S)
    return dict(before, noise_bed=bool(before["tail_db"] > BED_LEVEL_DB and before["tail_decay_db_s"] < BED_DECAY_DB_S),
                cut=bool(before["last_10ms_db"] > CUT_DB), window_end=_ending(audio, sample_rate, env, peak, seconds))


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


def check_audio(pads: np.ndarray, sample_rate: int, cols: int = 8) -> dict:
    """The grid check of decoded pads [pads, samples] (pad i at row i // cols, column i % cols)."""
    rows = [dict(pad_ending(a, sample_rate), row=i // cols, col=i % cols) for i, a in enumerate(pads)]
    tails = np.array([r["tail_db"] for r in rows])
    ends = [r["window_end"] for r in rows]
    return {"pads": len(rows), "noise_bed_pads": sum(r["noise_bed"] for r in rows), "cut_pads": sum(r["cut"] for r in rows),
            "tail_db_median": float(np.median(tails)), "tail_db_worst": float(tails.max()),
            "slowest_tail_decay_db_s_where_above_minus_50_db": min([r["tail_decay_db_s"] for r in rows if r["tail_db"] > BED_LEVEL_DB], default=None),
            "window_end": {"noise_bed_pads": sum(e["tail_db"] > BED_LEVEL_DB and e["tail_decay_db_s"] < BED_DECAY_DB_S for e in ends),
                           "cut_pads": sum(e["last_10ms_db"] > CUT_DB for e in ends),
                           "tail_decay_db_s_min": min(e["tail_decay_db_s"] for e in ends if e["tail_db"] > FLOOR_DB) if any(e["tail_db"] > FLOOR_DB for e in ends) else None},
            "definitions": {"envelope": "RMS of 10 ms frames, dB re the loudest frame",
                            "tail": f"the {TAIL_S * 1000:g} ms before the window's last {FADE_S * 1000:g} ms (the data set's fade)",
                            "noise_bed": f"tail level above {BED_LEVEL_DB:g} dB and decaying under {BED_DECAY_DB_S:g} dB/s",
                            "cut": f"the last 10 ms before the fade above {CUT_DB:g} dB",
                            "window_end": "the same over the window's literal last 100 ms and 10 ms"},
            "per_pad": rows}


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
