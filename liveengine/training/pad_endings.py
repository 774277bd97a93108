"""How a drum sound ends: the grid check's figures (noise beds and cuts), on raw decoder output.

bench/grid_check.py checks the default patch's grid with them; `liveengine train` puts the same
figures for a user's model in its card. Only a sound's shape matters (every level is relative to
its own peak), so a decoder's peak normalisation changes nothing.

Pinned definitions (issue 19's goals; nothing is tuned after the fact). Every training sound longer
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

import numpy as np

from liveengine.training.data import FADE_S

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
