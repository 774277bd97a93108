"""Quality and compute of the shipped streaming voice (models_onnx/voices) on held-out phrases.

    python bench/stream_quality.py [--model models_onnx/voices] [--data training_data/voices] [--quick]

Needs the voice data set (`python scripts/build_voice_data.py`); the held-out phrases were never
trained on. No PyTorch: the model runs in onnxruntime, the synthesis in liveengine.stream.synth.
Writes bench/results_stream_quality.json.

Pinned settings (nothing tuned after the fact):
- Each held-out phrase is re-voiced at its own instrument's z point from its tracked f0 and
  loudness (model state from zeros), synthesised at the data set's rate (16 kHz for
  training_data/voices, 32 kHz for training_data/voices32, whatever rate the model learnt at) and
  compared with the FluidSynth render at that rate.
- Baseline, in the same run: a fixed harmonic-plus-noise synth per instrument, fed the same f0 and
  loudness. Its harmonic weights are the instrument's average harmonic spectrum (STFT magnitude at
  k * f0, n_fft 1024, normalised per frame, averaged over confident training frames); its noise is
  the instrument's average share of each band's power that lies away from the harmonics (more
  than 40 Hz from every k * f0); amplitude and noise magnitudes are set from the frame's
  loudness so that the synth's power matches it.
- Spectral distance: multi-resolution STFT (n_fft 2048, 1024, 512, 256, 128, 64, hop n_fft/4,
  Hann): spectral convergence + mean |log(|X| + 1e-5) - log(|Y| + 1e-5)|, averaged over the
  resolutions, then over phrases. Goal: the model at least 25% below the baseline.
- Above 8 kHz (32 kHz data only): per STFT frame (n_fft 1024, hop 256) the level of everything
  from 8 kHz up, in dB (floored at -100 dB), output against render, mean absolute difference over
  the frames where the render is above -70 dB; and the share of the render's and the output's
  power that lies there. A model learnt at 16 kHz has nothing there (its error is the render's
  level above the floor).
- Pitch error: the output re-tracked by CausalTracker vs the input f0, in cents, on frames where
  both the input and the output are confident (>= 0.5); also the share of confident input frames
  whose output is confident. Goal: median < 20 cents.
- Loudness correlation: Pearson r of the output's re-tracked loudness vs the input loudness, on
  frames where the input is above -70 dB. Goal >= 0.9.
- Compute per 5 ms frame at 48 kHz, one thread: a one-frame model call plus synthesis of 240
  samples, 4000 frames after 200 warm-up frames. Goal: 0.5 ms median, 1.5 ms p99. Twice: back to
  back, and at the live pace (asleep a 128-frame period between frames, as the producer waits for
  its input: the caches go cold meanwhile). `--compute-only` measures just these (no data set).
- z sweep: 60 s of held-out phrases (their f0 and loudness) re-voiced at 48 kHz while z moves
  along a Lissajous path across the whole [-1, 1] plane (periods 7 s and 11 s), versus the same
  input at each instrument's fixed point. Click bound: the sweep's largest sample-to-sample jump
  at most 1.25 x the largest jump of the steady renders.
- Long run: 10 minutes at 48 kHz called frame by frame (T = 1, state carried, never reset), the
  held-out phrases looped under a moving z: NaN count, the state's RMS and the output's RMS in
  the first and the last minute (drift), and the process's peak memory after the first minute
  and at the end (bounded memory).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from liveengine.stream.synth import HarmonicNoiseSynth  # noqa: E402
from liveengine.stream.tracker import CausalTracker  # noqa: E402

RESOLUTIONS = (2048, 1024, 512, 256, 128, 64)
CLICK_BOUND = 1.25
OUTPUT_RATE = 48000
SWEEP_SECONDS = 60.0


class Model:
    """The stream model's decoder.onnx and its declared metadata."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
        meta = {k[len("liveengine."):]: v for k, v in self.session.get_modelmeta().custom_metadata_map.items() if k.startswith("liveengine.")}
        self.meta = meta
        self.sample_rate = int(meta["sample_rate"])
        self.frame_rate = int(meta["frame_rate"])
        self.harmonics = int(meta["harmonics"])
        self.band_edges = json.loads(meta["band_edges_hz"])
        self.state_size = int(meta["state_size"])
        self.points = {k: tuple(v) for k, v in json.loads(meta["points"]).items()}

    def controls(self, f0, loudness, z, state=None):
        t = len(f0)
        z = np.broadcast_to(np.asarray(z, np.float32), (t, 2))
        state = np.zeros((1, self.state_size), np.float32) if state is None else state
        amp, harm, noise, state = self.session.run(None, {"f0_hz": f0[None].astype(np.float32), "loudness_db": loudness[None].astype(np.float32),
                                                          "z": z[None].astype(np.float32), "state": state})
        return amp[0, :, 0], harm[0], noise[0], state

    def synth(self, rate: int) -> HarmonicNoiseSynth:
        return HarmonicNoiseSynth(rate, rate // self.frame_rate, self.harmonics, self.band_edges)


def stft_mag(x: np.ndarray, n_fft: int) -> np.ndarray:
    hop = n_fft // 4
    pad = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * np.hanning(n_fft + 1)[:-1], axis=1))


def spectral_distance(pred: np.ndarray, target: np.ndarray) -> float:
    total = 0.0
    for n_fft in RESOLUTIONS:
        p, t = stft_mag(pred, n_fft), stft_mag(target, n_fft)
        sc = np.linalg.norm(t - p) / (np.linalg.norm(t) + 1e-7)
        total += sc + np.mean(np.abs(np.log(p + 1e-5) - np.log(t + 1e-5)))
    return float(total / len(RESOLUTIONS))


class Baseline:
    """A fixed harmonic-plus-noise synth per instrument (average harmonic spectrum and noise shares)."""

    N_FFT = 1024

    def __init__(self, sr: int, h: int, band_edges, audio, f0, conf, instrument, hop: int, max_frames: int = 6000, seed: int = 0) -> None:
        edges = np.array(band_edges)
        self.harmonics, self.band_edges = h, tuple(band_edges)
        freqs = np.fft.rfftfreq(self.N_FFT, 1 / sr)
        window = np.hanning(self.N_FFT + 1)[:-1]
        rng = np.random.default_rng(seed)
        self.weights, self.noise_share = {}, {}
        for i in np.unique(instrument):
            rows, cols = np.nonzero((conf[instrument == i] >= 0.5))
            pick = rng.choice(len(rows), min(max_frames, len(rows)), replace=False)
            clips = audio[instrument == i]
            spectra, shares = [], []
            for r, c in zip(rows[pick], cols[pick]):
                end = (c + 1) * hop
                if end < self.N_FFT:
                    continue
                frame = clips[r, end - self.N_FFT:end] * window
                power = np.abs(np.fft.rfft(frame)) ** 2
                if power.sum() <= 0:
                    continue
                k = np.arange(1, h + 1) * f0[instrument == i][r, c]
                bins = np.clip(np.round(k / (sr / self.N_FFT)).astype(int), 0, len(freqs) - 1)
                mag = np.sqrt(power[bins]) * (k < sr / 2)
                spectra.append(mag / max(mag.sum(), 1e-12))
                away = np.min(np.abs(freqs[:, None] - k[None, :]), axis=1) > 40.0
                share = [power[(freqs >= lo) & (freqs < hi) & away].sum() / power.sum() for lo, hi in zip(edges[:-1], edges[1:])]
                shares.append(share)
            self.weights[int(i)] = np.mean(spectra, axis=0)
            self.noise_share[int(i)] = np.mean(shares, axis=0)
        self.sample_rate = sr
        self.bandwidth = np.diff(edges) / (sr / 2)

    def controls(self, instrument: int, f0, loudness):
        power = 10 ** (loudness / 10)
        share = self.noise_share[instrument]
        w = self.weights[instrument]
        below = (np.arange(1, len(w) + 1)[None, :] * f0[:, None]) < self.sample_rate / 2
        wb = w[None, :] * below
        wn = wb / np.maximum(wb.sum(axis=1, keepdims=True), 1e-12)
        harmonic_power = (1 - share.sum()) * power
        amp = np.sqrt(2 * harmonic_power / np.maximum((wn ** 2).sum(axis=1), 1e-12))
        noise = np.sqrt(share[None, :] * power[:, None] / self.bandwidth[None, :])
        return amp, wb, noise


def retrack(audio: np.ndarray, sr: int, hop: int):
    return CausalTracker(sr, hop).push(audio)


def high_band(out: np.ndarray, target: np.ndarray, sr: int, above_hz: float = 8000.0) -> dict:
    """Level above `above_hz`, output against render: mean |dB difference| over the render's active frames, and each
    one's share of power there."""
    n_fft = 1024
    high = np.fft.rfftfreq(n_fft, 1 / sr) >= above_hz
    po, pt = stft_mag(out, n_fft) ** 2, stft_mag(target, n_fft) ** 2
    active = 10 * np.log10(pt.sum(axis=1) / n_fft + 1e-12) > -70
    level = lambda p: 10 * np.log10(np.maximum(p[:, high].sum(axis=1) / n_fft, 1e-10))
    return {"db_error": float(np.mean(np.abs(level(po) - level(pt))[active])) if active.any() else float("nan"),
            "share_out": float(po[:, high].sum() / max(po.sum(), 1e-20)), "share_render": float(pt[:, high].sum() / max(pt.sum(), 1e-20))}


def quality(model: Model, data: dict, quick: bool) -> dict:
    from liveengine.training.voices_config import band_edges  # the baseline's bands cover the data's whole range

    sr = int(data["sample_rate"])
    hop = sr // model.frame_rate
    names = [str(n) for n in data["names"]]
    split = data["split"]
    audio = data["audio"].astype(np.float32) / 32767
    train = split == "train"
    baseline = Baseline(sr, model.harmonics, band_edges(sr), audio[train], data["f0_hz"][train], data["confidence"][train],
                        data["instrument"][train], hop, max_frames=800 if quick else 6000)
    base_synth = HarmonicNoiseSynth(sr, hop, baseline.harmonics, baseline.band_edges)
    held = np.flatnonzero(split == "heldout")
    if quick:
        held = held[::3]
    rows = []
    for p in held:
        inst = int(data["instrument"][p])
        f0, loud, conf = data["f0_hz"][p], data["loudness_db"][p], data["confidence"][p]
        amp, harm, noise, _ = model.controls(f0, loud, model.points[names[inst]])
        out = model.synth(sr).render(f0, amp, harm, noise)
        b_amp, b_harm, b_noise = baseline.controls(inst, f0.astype(np.float64), loud.astype(np.float64))
        base_synth.reset()
        base = base_synth.render(f0, b_amp, b_harm, b_noise)
        target = audio[p]
        of0, oloud, oconf = retrack(out, sr, hop)
        both = (conf >= 0.5) & (oconf >= 0.5)
        cents = np.abs(1200 * np.log2(of0[both] / f0[both])) if both.any() else np.array([np.nan])
        active = loud > -70
        rows.append({"phrase": f"{names[inst]}-{p}", "instrument": names[inst],
                     "model": spectral_distance(out, target), "baseline": spectral_distance(base, target),
                     "cents": cents, "voiced_kept": float(both.sum() / max(1, (conf >= 0.5).sum())),
                     "loud_in": loud[active], "loud_out": oloud[active],
                     "high": high_band(out, target, sr) if sr > 16000 else None})
    per_instrument = {}
    for name in names:
        r = [x for x in rows if x["instrument"] == name]
        if not r:
            continue
        m, b = float(np.mean([x["model"] for x in r])), float(np.mean([x["baseline"] for x in r]))
        cents = np.concatenate([x["cents"] for x in r])
        per_instrument[name] = {"phrases": len(r), "model": round(m, 4), "baseline": round(b, 4), "reduction": round(1 - m / b, 3),
                                "median_cents": round(float(np.nanmedian(cents)), 2),
                                "loudness_r": round(float(np.corrcoef(np.concatenate([x["loud_in"] for x in r]),
                                                                      np.concatenate([x["loud_out"] for x in r]))[0, 1]), 3)}
    m = float(np.mean([x["model"] for x in rows]))
    b = float(np.mean([x["baseline"] for x in rows]))
    cents = np.concatenate([x["cents"] for x in rows])
    r = float(np.corrcoef(np.concatenate([x["loud_in"] for x in rows]), np.concatenate([x["loud_out"] for x in rows]))[0, 1])
    high = {}
    if sr > 16000:
        high = {"above_8khz": {k: round(float(np.mean([x["high"][k] for x in rows])), 4) for k in ("db_error", "share_out", "share_render")}}
    return {"held_out_phrases": len(rows), "sample_rate": sr, **high, "spectral_distance": {"model": round(m, 4), "baseline": round(b, 4), "reduction": round(1 - m / b, 3),
                                                                "goal_reduction": 0.25},
            "pitch": {"median_cents": round(float(np.nanmedian(cents)), 2), "p90_cents": round(float(np.nanpercentile(cents, 90)), 2),
                      "confident_frames_kept": round(float(np.mean([x["voiced_kept"] for x in rows])), 3), "goal_median_cents": 20},
            "loudness": {"pearson_r": round(r, 4), "goal": 0.9},
            "per_instrument": per_instrument}


def compute(model: Model, frames: int, gap_seconds: float = 0.0) -> dict:
    """Model plus synthesis per frame, back to back (gap 0) or with `gap_seconds` asleep between frames, as the producer
    answers one period at a time (its caches go cold while the other processes run)."""
    synth = model.synth(OUTPUT_RATE)
    state = np.zeros((1, model.state_size), np.float32)
    f0 = np.array([220.0], np.float32)
    loud = np.array([-20.0], np.float32)
    z = np.array([[0.3, -0.2]], np.float32)
    model_t, total_t = [], []
    for i in range(frames + 200):
        if gap_seconds:
            time.sleep(gap_seconds)
        t0 = time.perf_counter()
        amp, harm, noise, state = model.controls(f0, loud, z, state)
        t1 = time.perf_counter()
        synth.render(f0, amp, harm, noise)
        t2 = time.perf_counter()
        if i >= 200:
            model_t.append(t1 - t0)
            total_t.append(t2 - t0)
    ms = lambda a, q: round(float(np.percentile(a, q)) * 1e3, 4)
    import os

    return {"frames": frames, "output_rate": OUTPUT_RATE, "hop": synth.hop, "gap_ms": gap_seconds * 1000,
            "load_average_1min": round(os.getloadavg()[0], 2),  # the machine is shared: the p99 moves with its load
            "frames_over_1_5_ms": round(float(np.mean(np.array(total_t) > 1.5e-3)), 4),
            "model_plus_synth_ms": {"median": ms(total_t, 50), "p99": ms(total_t, 99), "max": ms(total_t, 100)},
            "model_ms": {"median": ms(model_t, 50), "p99": ms(model_t, 99)}, "goal_ms": {"median": 0.5, "p99": 1.5}}


def sweep(model: Model, data: dict, seconds: float) -> dict:
    """Largest sample-to-sample jump with z moving across the plane vs with z steady at each point."""
    frames = int(seconds * model.frame_rate)
    held = np.flatnonzero(data["split"] == "heldout")
    f0 = np.concatenate([data["f0_hz"][p] for p in held])[:frames]
    loud = np.concatenate([data["loudness_db"][p] for p in held])[:frames]
    t = np.arange(frames) / model.frame_rate
    path = np.stack([np.sin(2 * np.pi * t / 7.0), np.sin(2 * np.pi * t / 11.0 + 0.5)], axis=1).astype(np.float32)

    def render(z) -> np.ndarray:
        synth = model.synth(OUTPUT_RATE)
        state, out = None, []
        for a in range(0, frames, 200):  # blocks of 1 s, the state carried across
            zz = z[a:a + 200] if np.ndim(z) == 2 else z
            amp, harm, noise, state = model.controls(f0[a:a + 200], loud[a:a + 200], zz, state)
            out.append(synth.render(f0[a:a + 200], amp, harm, noise))
        return np.concatenate(out)

    moving = render(path)
    steady = {name: render(np.array(point, np.float32)) for name, point in model.points.items()}
    jump = lambda x: float(np.abs(np.diff(x)).max())
    steady_max = max(jump(x) for x in steady.values())
    return {"seconds": round(frames / model.frame_rate, 1), "sweep_max_jump": round(jump(moving), 5),
            "steady_max_jump": round(steady_max, 5), "ratio": round(jump(moving) / steady_max, 3), "bound_ratio": CLICK_BOUND,
            "sweep_peak": round(float(np.abs(moving).max()), 4), "nan": bool(np.isnan(moving).any()),
            "steady_max_jump_per_point": {k: round(jump(v), 5) for k, v in steady.items()}}


def long_run(model: Model, data: dict, minutes: float) -> dict:
    import resource

    frames = int(minutes * 60 * model.frame_rate)
    held = np.flatnonzero(data["split"] == "heldout")
    f0_all = np.concatenate([data["f0_hz"][p] for p in held])
    loud_all = np.concatenate([data["loudness_db"][p] for p in held])
    synth = model.synth(OUTPUT_RATE)
    state = np.zeros((1, model.state_size), np.float32)
    minute = 60 * model.frame_rate
    nans, state_sq, out_sq, mem = 0, {}, {}, {}
    for i in range(frames):
        k = i % len(f0_all)
        t = i / model.frame_rate
        z = np.array([[np.sin(2 * np.pi * t / 13.0), np.cos(2 * np.pi * t / 17.0)]], np.float32)
        amp, harm, noise, state = model.controls(f0_all[k:k + 1], loud_all[k:k + 1], z, state)
        audio = synth.render(f0_all[k:k + 1], amp, harm, noise)
        if not np.isfinite(audio).all() or not np.isfinite(state).all():
            nans += 1
        m = i // minute
        state_sq[m] = state_sq.get(m, 0.0) + float(np.mean(state ** 2))
        out_sq[m] = out_sq.get(m, 0.0) + float(np.mean(audio.astype(np.float64) ** 2))
        if i in (minute - 1, frames - 1):
            mem["after_first_minute" if i == minute - 1 else "at_end"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    last = max(state_sq)
    rms = lambda d, m: round(float(np.sqrt(d[m] / minute)), 5)
    return {"minutes": minutes, "frames": frames, "frames_with_nan": nans,
            "state_rms": {"first_minute": rms(state_sq, 0), "last_minute": rms(state_sq, last)},
            "output_rms": {"first_minute": rms(out_sq, 0), "last_minute": rms(out_sq, last)},
            "peak_memory_mb": mem,
            "note": "the input loops the held-out phrases, so the first and last minutes play different phrases"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "models_onnx" / "voices")
    parser.add_argument("--data", type=Path, default=REPO / "training_data" / "voices")
    parser.add_argument("--quick", action="store_true", help="a third of the held-out phrases, fewer frames, 15 s sweep, 1-minute long run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results_stream_quality.json")
    parser.add_argument("--compute-only", action="store_true",
                        help="only the compute figures (no data set needed): back to back and one frame a 2.67 ms period; "
                             "replaces `compute` and `compute_live_pace` in the results, dated `compute_date`")
    parser.add_argument("--quality-only", action="store_true",
                        help="only the held-out quality (no compute, sweep or long run): to compare another model on the same data")
    args = parser.parse_args(argv)
    model = Model(args.model)
    if args.compute_only:
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        results.update({"compute_date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "compute": compute(model, 4000),
                        "compute_live_pace": compute(model, 4000, gap_seconds=128 / 48000)})
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps({k: results[k] for k in ("compute", "compute_live_pace")}, indent=1))
        return 0
    data = dict(np.load(args.data / "phrases.npz"))
    if args.quality_only:
        results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model": model.meta.get("description", ""),
                   "data": args.data.name, "quality": quality(model, data, args.quick)}
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results["quality"], indent=1))
        return 0
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, Python {platform.python_version()}", "model": model.meta.get("description", ""),
               "data": args.data.name,
               "quality": quality(model, data, args.quick),
               "compute": compute(model, 1000 if args.quick else 4000),
               "compute_live_pace": compute(model, 1000 if args.quick else 4000, gap_seconds=128 / 48000),
               "z_sweep": sweep(model, data, 15.0 if args.quick else SWEEP_SECONDS),
               "long_run": long_run(model, data, 1.0 if args.quick else 10.0),
               "peers_latency_ms": {"DDSP-VST (published, fixed)": 64, "nn~ 2048-sample buffer at 48 kHz": 42.7,
                                    "nn~ 4096-sample buffer at 48 kHz": 85.3}}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("quality", "compute", "z_sweep", "long_run")}, indent=1))
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the stream voice benchmark (bench/stream_quality.py)", main))
