"""Quality, classifier, smoothness and speed figures for a shipped model (issue: the trained drum model).

    python bench/model_quality.py [--model models_onnx/drums5] [--also models_onnx/drums2] [--data training_data] [--quick] [--baseline DIR]
    python bench/model_quality.py --encoded-only --model A --also B [--out bench/results_model_encoded.json]

With --encoded-only, only each model's held-out distances at its encoder's points and its classifier there (about 3
minutes a model whose encoder descends, on two cores): for comparing export settings before the full run.

The bench runner calls it (`python bench/run.py --only model`). The SampleVAE-style baseline's
ONNX export ships in bench/baselines/samplevae/ (liveengine/training/baseline.py trained it).

The model on top (--model) is by default the one the default patch plays; models measured beside it (--also, by
default every models_onnx/drums* folder) get their figures under "other_models". Writes
bench/results_model.json and, for each model, the images bench/model_confusion_<folder>.png and
bench/model_walk_<folder>.png and the walk's audio bench/model_walk_<folder>.flac. Each model also gets the grid
check (bench/grid_check.py): how each pad of the default 8x8 grid ends, before the engine's fades. Needs the built data set
(`python -m liveengine.training.data`) for the held-out kits; no PyTorch.

Pinned analysis settings (nothing is tuned after the fact): 44.1 kHz, 1 s (a model with a longer window is
compared on its first second, faded where the data set fades, and over its whole window against the held-out sounds
built at that window: see model_figures); Griffin-Lim baselines
use n_fft 2048, hop 512, 128 mel bands, 60 iterations; distances are the multi-resolution STFT
distance (n_fft 512/1024/2048, hop n_fft/4: spectral convergence + log-magnitude L1, each the
mean over the resolutions) and mel-cepstral distortion (MCD, dB: (10 / ln 10) sqrt(2 sum (c_d - c'_d)^2) over c1..c12, the
orthonormal DCT of the natural-log amplitude of a 40-band mel spectrum at 2048/512, mel power
floored 80 dB below the reference's loudest band, averaged over frames).
The log-magnitude L1 adds 1e-5 to magnitudes before the log (as the training loss does). Every sound is peak-normalised before it is compared.
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

from liveengine.decoders.onnx_decoder import ENCODE_ROWS  # noqa: E402 - sounds per encoder run, as the engine runs them
from liveengine.training.data import FADE_S  # noqa: E402 - the data set's fade where it cuts a sound

SR = 44100
N = 44100
GL_FFT, GL_HOP, GL_MELS, GL_ITERS = 2048, 512, 128, 60
RESOLUTIONS = (512, 1024, 2048)
BASELINE = REPO / "bench" / "baselines" / "samplevae"


# ---------------------------------------------------------------- analysis

def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1]


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred (reflect-padded) STFT of a 1-D signal: [frames, bins], complex."""
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad), mode="reflect")
    frames = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.fft.rfft(xp[idx] * _window(n_fft), axis=-1)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    frames = spec.shape[0]
    w = _window(n_fft)
    time_frames = np.fft.irfft(spec, n=n_fft, axis=-1) * w
    out = np.zeros((frames - 1) * hop + n_fft)
    norm = np.zeros_like(out)
    for f in range(frames):
        out[f * hop:f * hop + n_fft] += time_frames[f]
        norm[f * hop:f * hop + n_fft] += w * w
    out /= np.maximum(norm, 1e-3)
    return out[n_fft // 2:n_fft // 2 + length]


def _mel(n_fft: int, n_mels: int) -> np.ndarray:
    """HTK-scale triangular mel filters, [n_mels, bins] (the same construction as the model's encoder)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    points = hz(np.linspace(mel(20.0), mel(SR / 2), n_mels + 2))
    freqs = np.linspace(0, SR / 2, n_fft // 2 + 1)
    bank = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = points[i], points[i + 1], points[i + 2]
        bank[i] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))) * (2.0 / (hi - lo))
    return bank


MEL128 = None
MEL40 = None


def mel128() -> np.ndarray:
    global MEL128
    if MEL128 is None:
        MEL128 = _mel(GL_FFT, GL_MELS)
    return MEL128


def log_mel(x: np.ndarray) -> np.ndarray:
    """[frames, 128] log mel power at the pinned settings."""
    return np.log(np.abs(stft(x, GL_FFT, GL_HOP)) ** 2 @ mel128().T + 1e-8)


def normalise(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x * (0.9 / peak) if peak > 1e-8 else x


def mrstft_distance(ref: np.ndarray, est: np.ndarray) -> tuple[float, float]:
    sc, lm = [], []
    for n_fft in RESOLUTIONS:
        a, b = np.abs(stft(ref, n_fft, n_fft // 4)), np.abs(stft(est, n_fft, n_fft // 4))
        sc.append(np.linalg.norm(a - b) / (np.linalg.norm(a) + 1e-9))
        lm.append(np.mean(np.abs(np.log(a + 1e-5) - np.log(b + 1e-5))))
    return float(np.mean(sc)), float(np.mean(lm))


def mcd(ref: np.ndarray, est: np.ndarray) -> float:
    global MEL40
    if MEL40 is None:
        MEL40 = _mel(GL_FFT, 40)
    k = np.arange(40)
    dct = np.cos(np.pi / 40 * (k[None, :] + 0.5) * np.arange(13)[:, None]) * np.sqrt(2 / 40)  # orthonormal DCT-II rows c0..c12

    ref_power = np.abs(stft(ref, GL_FFT, GL_HOP)) ** 2 @ MEL40.T
    est_power = np.abs(stft(est, GL_FFT, GL_HOP)) ** 2 @ MEL40.T
    floor = 1e-8 * ref_power.max()  # an 80 dB range below the reference's loudest band: digital silence is not infinitely far

    def cepstra(power):
        return (0.5 * np.log(np.maximum(power, floor)) @ dct.T)[:, 1:]  # cepstra of the log amplitude (natural log)

    diff = cepstra(ref_power) - cepstra(est_power)
    return float(np.mean(10.0 / np.log(10) * np.sqrt(2.0 * np.sum(diff ** 2, axis=1))))


def distances(ref: np.ndarray, est: np.ndarray) -> dict:
    ref, est = normalise(ref), normalise(est)
    sc, lm = mrstft_distance(ref, est)
    return {"mrstft": sc + lm, "sc": sc, "logmag": lm, "mcd": mcd(ref, est)}


def griffin_lim_from_mel(mel_power: np.ndarray, iters: int = GL_ITERS, seed: int = 0) -> np.ndarray:
    """Mel power [frames, 128] -> magnitude by the filterbank's pseudo-inverse -> Griffin-Lim."""
    magnitude = np.sqrt(np.maximum(mel_power @ np.linalg.pinv(mel128()).T, 0.0))
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    x = istft(magnitude * angles, GL_FFT, GL_HOP, N)
    for _ in range(iters):
        spec = stft(x, GL_FFT, GL_HOP)
        x = istft(magnitude * np.exp(1j * np.angle(spec)), GL_FFT, GL_HOP, N)
    return x


# ---------------------------------------------------------------- pictures

WALK_SPREADS = 2.0  # the walk covers latent mean +- this many spreads along each plane axis


def pad_walk(decoder) -> tuple[np.ndarray, list[str]]:
    """The 8x8 pad plane decoded: ([64, the model's window] sounds in pad order, pad = row * 8 + col with row 0 at the bottom,
    each pad's class). Columns run along the first plane axis, rows along the second, both from -2 to +2 spreads."""
    info = decoder.info
    center = np.asarray(info.latent_mean, np.float32)
    axes = np.asarray(info.latent_axes[:2], np.float32)
    spreads = np.asarray(info.latent_spreads[:2], np.float32)
    steps = np.linspace(-WALK_SPREADS, WALK_SPREADS, 8)
    z = np.array([center + u * spreads[0] * axes[0] + v * spreads[1] * axes[1] for v in steps for u in steps], np.float32)
    walk = np.zeros((64, info.output_length), np.float32)
    decoder.decode_into(z, walk)
    classes = [info.classes[i] for i in decoder.classifier.run(None, {"z": z})[0].argmax(1)]
    return walk, classes


def draw_pictures(folder: Path, confusion: np.ndarray, classes: list[str], walk: np.ndarray, walk_classes: list[str],
                  model_name: str, suffix: str = "") -> tuple:
    """model_confusion<suffix>.png and model_walk<suffix>.png in `folder`, drawn by the package's picture module; returns their figures."""
    from liveengine.export.pictures import confusion_figure, save_png, spectrogram_sheet

    right = int(np.trace(confusion))
    figures = (confusion_figure(confusion, classes, title=f"{model_name}: {right} of {int(confusion.sum())} held-out sounds right"),
               spectrogram_sheet(walk, SR, 8, 8, walk_classes,
                                 title=f"{model_name}: the pad plane, mean +-{WALK_SPREADS:g} spreads along its two axes (row 0 at the bottom)"))
    for figure, name in zip(figures, (f"model_confusion{suffix}.png", f"model_walk{suffix}.png")):
        save_png(figure, folder / name)
    return figures


# ---------------------------------------------------------------- the benchmark

def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def baseline_reconstructions(folder: Path, sounds: np.ndarray) -> np.ndarray:
    """The SampleVAE-style baseline (liveengine/training/baseline.py, exported to ONNX): log-mel in,
    log-mel out, Griffin-Lim 60 iterations back to audio."""
    encoder, decoder = _session(folder / "mel_encoder.onnx"), _session(folder / "mel_decoder.onnx")
    out = []
    for x in sounds:
        logmel = np.log(np.abs(stft(normalise(x), GL_FFT, GL_HOP)) ** 2 @ mel128().T + 1e-6).T[None].astype(np.float32)
        mean = encoder.run(None, {"logmel": logmel})[0]
        mel_power = np.maximum(np.exp(decoder.run(None, {"z": mean})[0][0].T.astype(np.float64)) - 1e-6, 0.0)
        out.append(griffin_lim_from_mel(mel_power))
    return np.stack(out)


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def window_data(data: Path, length: int, files: np.ndarray) -> np.ndarray:
    """The data set's sounds at a window of `length` samples: `data` itself for 1 s, else the folder
    `data/<seconds>s` built with `python -m liveengine.training.data --seconds <seconds> --out data/<seconds>s`,
    which must hold the same sounds in the same order (`files`)."""
    folder = data / f"{length / SR:g}s"
    if not (folder / "sounds.npz").exists():
        raise SystemExit(f"a model with a {length / SR:g} s window needs its held-out sounds at that length in {folder}; build them with "
                         f"python -m liveengine.training.data --seconds {length / SR:g} --out {folder}")
    sounds = np.load(folder / "sounds.npz")
    if sounds["audio"].shape[1] != length or not np.array_equal(sounds["files"], files):
        raise SystemExit(f"{folder} does not hold the same sounds as {data} at {length} samples; rebuild it from the same packages.")
    return sounds["audio"].astype(np.float32) / 32767.0


def first_second(recon: np.ndarray, long_refs: np.ndarray) -> np.ndarray:
    """A longer window's reconstructions as the 1 s data set has the sounds: the first second, with the data builder's
    50 ms fade where it cut the sound at 1 s (where the longer reference still sounds after 1 s)."""
    out = recon[:, :N].copy()
    fade = int(FADE_S * SR)
    cut = np.any(long_refs[:, N:] != 0, axis=1)
    out[cut, N - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def model_window(model: Path) -> int:
    """The window (samples) a model folder's decoder metadata declares."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(model / "decoder.onnx"), load_external_data=False).metadata_props}
    return int(meta["liveengine.output_length"])


def fit_all(decoder, x: np.ndarray, steps: int | None = None, tether: float | None = None) -> tuple[np.ndarray, float]:
    """Fitted points of every row of `x` (`steps` fit steps and `tether`; None: the fit's defaults), in batches of 16 on
    two threads (the fits' FFTs and runs release the GIL), and the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda i: decoder.fit(x[i:i + 16], steps, tether)[0], range(0, len(x), 16)))
    return np.concatenate(parts), time.perf_counter() - start


def model_name(model: Path) -> str:
    """How results name a model folder: its path in the repository, else its folder's name."""
    return str(model.relative_to(REPO) if model.is_relative_to(REPO) else model.name)


def data_set(data: Path, models: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """The data set's sounds at 1 s (audio, classes, files), its held-out and training rows, and the same sounds at
    every longer window `models` need (by length in samples); a missing data set is said in one sentence."""
    if not (data / "sounds.npz").is_file():
        raise SystemExit(f"--data {data}: no sounds.npz there; build the data set with python -m liveengine.training.data --out {data}")
    sounds = np.load(data / "sounds.npz")
    split, files = sounds["split"], sounds["files"]
    audio = sounds["audio"].astype(np.float32) / 32767.0
    longer = {length: window_data(data, length, files) for length in {model_window(m) for m in models} if length != N}
    return audio, sounds["classes"].astype(int), files, np.flatnonzero(split == "heldout"), np.flatnonzero(split == "train"), longer


def encoded(decoder, audio: np.ndarray, held: np.ndarray, longer: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The held-out sounds at the model's window, its encoder's points for them, their reconstructions as the 1 s data
    set has the sounds, and the distances: "ours" (the first second against the 1 s sounds) and "ours_at_<window>"
    for each longer window (see model_figures)."""
    length = decoder.info.output_length
    x = (audio if length == N else longer[length])[held]
    rows = ENCODE_ROWS  # as the engine runs an encoder: a few sounds a run (an encoder that descends holds tens of MB a sound)
    mean = np.concatenate([decoder.encoder.run(None, {"audio": x[i:i + rows]})[0] for i in range(0, len(x), rows)])
    recon = np.zeros_like(x)
    decoder.decode_into(mean.astype(np.float32), recon)
    figures = {}
    for window, sounds in sorted(longer.items()):
        if window >= length:
            padded = np.zeros((len(recon), window), np.float32)
            padded[:, :length] = recon
            rows = [distances(sounds[idx], padded[i]) for i, idx in enumerate(held)]
            figures[f"ours_at_{window / SR:g}s"] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    if length != N:
        recon = first_second(recon, x)
    rows = [distances(audio[idx], recon[i]) for i, idx in enumerate(held)]
    figures["ours"] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return x, mean, recon, figures


def classifier_figures(decoder, mean: np.ndarray, classes: np.ndarray, held: np.ndarray, train: np.ndarray) -> tuple[dict, np.ndarray]:
    """The classifier at the encoder's points of the held-out sounds with a label, and its confusion matrix."""
    names = list(decoder.info.classes)
    labelled = classes[held] >= 0
    predicted = decoder.classifier.run(None, {"z": mean.astype(np.float32)})[0].argmax(1)[labelled]
    truth = classes[held][labelled]
    k = len(names)
    confusion = np.zeros((k, k), int)
    for t, p in zip(truth, predicted):
        confusion[t, p] += 1
    train_majority = np.bincount(classes[train][classes[train] >= 0], minlength=k).argmax()
    per_class = {name: float(confusion[i, i] / confusion[i].sum()) for i, name in enumerate(names) if confusion[i].sum()}
    return {"classes": names, "labelled_held_out": int(labelled.sum()),
            "accuracy": float(np.mean(predicted == truth)), "per_class_accuracy": per_class,
            "worst_class": min(per_class, key=per_class.get),
            "majority_class_accuracy": float(np.max(np.bincount(truth, minlength=k)) / len(truth)),
            "majority_class": names[int(np.bincount(truth, minlength=k).argmax())],
            "training_majority_class_accuracy": float(np.mean(truth == train_majority)),
            "training_majority_class": names[int(train_majority)],
            "confusion_rows_truth_cols_predicted": confusion.tolist()}, confusion


def model_figures(model: Path, audio: np.ndarray, classes: np.ndarray, held: np.ndarray, train: np.ndarray, quick: bool,
                  suffix: str = "", longer: dict[int, np.ndarray] | None = None, files: np.ndarray | None = None,
                  instruments: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """One model's figures on the held-out sounds (distances of its reconstructions, classifier, smoothness, the grid
    check, the pad walk's pictures and audio with `suffix` in their names, speed) and the reconstructions.

    `audio` is the 1 s data set, `longer` the same sounds at longer windows (by length in samples). A model with a
    longer window encodes the held-out sounds at its window; its distances ("ours") are then those of its first second
    against the 1 s sounds, as the 1 s models are measured. Every model also gets "ours_at_<window>" for each longer
    window: its whole output, zero-padded to that window, against the sounds cut at that window (for the model of that
    window, its whole window)."""
    from concurrent.futures import ThreadPoolExecutor

    from liveengine.decoders import fit
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    import grid_check

    decoder = OnnxDecoder(model, threads=1, normalize="peak", max_batch=16)
    info = decoder.info
    length = info.output_length
    results: dict = {"model": model_name(model), "model_hash": decoder.identity,
                     "window_s": length / SR}
    x, mean, recon, figures = encoded(decoder, audio, held, longer or {})
    results.update(figures)
    fitted = None
    if decoder.can_fit:  # the same sounds placed as corner files are: fitted from the encoder's mean (liveengine/decoders/fit.py)
        fitted, seconds = fit_all(decoder, x)
        recon_fitted = np.zeros_like(x)
        decoder.decode_into(fitted, recon_fitted)
        if length != N:
            recon_fitted = first_second(recon_fitted, x)
        rows = [distances(audio[idx], recon_fitted[i]) for i, idx in enumerate(held)]
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:  # the encoder alone on the same sounds, the same way: the fit's price as a ratio
            list(pool.map(lambda i: decoder.encode(x[i:i + 16]), range(0, len(x), 16)))
        encode_seconds = time.perf_counter() - start
        results["ours_fitted"] = {**{k: float(np.mean([r[k] for r in rows])) for k in rows[0]},
                                  "steps": fit.STEPS, "tether": fit.TETHER, "seconds_per_sound": seconds / len(x), "fit_over_encode": seconds / encode_seconds,
                                  "moved": float(np.mean(np.linalg.norm(fitted - mean, axis=1)))}

    results["classifier"], confusion = classifier_figures(decoder, mean, classes, held, train)
    if fitted is not None:
        labelled = classes[held] >= 0
        results["classifier"]["accuracy_on_fitted_points"] = float(np.mean(decoder.classify(fitted)[labelled].argmax(1) == classes[held][labelled]))

    # Smoothness: straight lines between encoded held-out sounds, 17 points each.
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(10 if quick else 30):
        a, b = rng.choice(len(mean), 2, replace=False)
        t = np.linspace(0, 1, 17)[:, None]
        line = ((1 - t) * mean[a] + t * mean[b]).astype(np.float32)
        out = np.zeros((17, length), np.float32)
        decoder.decode_into(line, out)
        feats = np.stack([log_mel(o) for o in out])
        steps = np.mean(np.abs(np.diff(feats, axis=0)), axis=(1, 2))
        ratios.append(float(steps.max() / max(steps.mean(), 1e-9)))
    results["smoothness"] = {"lines": len(ratios), "points_per_line": 17, "max_over_mean_step_mean": float(np.mean(ratios)),
                             "max_over_mean_step_median": float(np.median(ratios)), "max_over_mean_step_worst": float(np.max(ratios)),
                             "goal": 3.0}

    # The grid check: how the default grid's pads end, on the raw decoder output.
    results["grid_check"] = grid_check.check_model(decoder)
    if files is not None and instruments is not None:  # the corners check: each held-out kit's kick, snare, closed hat and crash as corners
        import corners_check

        results["corners_check"] = corners_check.check_both(decoder, audio, files, classes, held, instruments)
    if length == N:
        # Its price: the same reconstructions and grid with a release from 0.6 s at 100 dB/s (what meeting the grid goals
        # in a 1 s window would take), against the held-out sounds as they are.
        envelope = grid_check.release(N, SR)
        released = [distances(audio[idx], recon[i] * envelope) for i, idx in enumerate(held)]
        checked = grid_check.check_model(decoder, envelope=envelope)
        results["release_price"] = {"release": f"1 until {grid_check.RELEASE_START_S} s, then -{grid_check.RELEASE_DB_S:g} dB/s",
                                    "ours": {k: float(np.mean([r[k] for r in released])) for k in released[0]},
                                    "noise_bed_pads": checked["noise_bed_pads"], "cut_pads": checked["cut_pads"]}
    audio_pictures(decoder, confusion, suffix, results)
    results["_mean"], results["_sound"] = mean, x[:1]
    return results


def audio_pictures(decoder, confusion: np.ndarray, suffix: str, results: dict) -> None:
    """The 8x8 walk over the pad plane, drawn with the confusion matrix, and its audio; noted in `results["walk"]`."""
    import soundfile as sf

    walk, walk_classes = pad_walk(decoder)
    length = walk.shape[1]
    draw_pictures(REPO / "bench", confusion, list(decoder.info.classes), walk, walk_classes, decoder.name, suffix)
    # 0.4 s of each pad, faded out, row by row: 26 s of FLAC (about 1 MB) to listen along with the image.
    shown = int(0.4 * SR)
    top_first = walk.reshape(8, 8, length)[::-1].reshape(64, length)  # rows as the image reads, from the top
    sf.write(REPO / "bench" / f"model_walk{suffix}.flac", np.concatenate([w[:shown] * np.linspace(1, 0, shown) ** 0.5 for w in top_first]), SR,
             subtype="PCM_16")
    results["walk"] = {"grid": "8x8 over the pad plane (the model's latent.mean and latent.axes, as the default patch plays it): "
                               "rows top to bottom = axis 2 from +2 to -2 spreads, columns = axis 1 from -2 to +2",
                       "image": f"bench/model_walk{suffix}.png", "audio": f"bench/model_walk{suffix}.flac (0.4 s per pad, row by row)"}


def alternated_speed(entries: list[tuple[dict, Path, np.ndarray, np.ndarray | None]], quick: bool, rounds: int | None = None) -> None:
    """Each model's speed, one thread, inverse STFT included: one sound and 64 sounds of its window, and encoding one
    held-out sound (`sound`, where the model has an encoder), written into its results as "speed". The models take
    turns, round after round, so a machine whose speed drifts over the run (it does, by 1.2 to 1.6x within half an hour
    here) slows them alike and their ratios hold."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    runs = []
    for results, model, mean, sound in entries:
        decoder = OnnxDecoder(model, threads=1, normalize="peak", max_batch=16)
        decoder.prepare(16)
        length = decoder.info.output_length
        one_z, z64 = mean[:1].astype(np.float32), np.resize(mean, (64, decoder.info.latent_dim)).astype(np.float32)
        one, out64 = np.zeros((1, length), np.float32), np.zeros((64, length), np.float32)
        encode = (lambda d=decoder, x=sound: d.encode(x)) if decoder.can_encode and sound is not None else None
        if encode is not None:
            encode()  # its first run allocates
        runs.append((results, lambda d=decoder, z=one_z, o=one: d.decode_into(z, o), lambda d=decoder, z=z64, o=out64: d.decode_into(z, o),
                     encode, [], [], []))
    default_rounds, ones = (3, 17) if quick else (10, 20)
    rounds = default_rounds if rounds is None else rounds
    for _ in range(rounds):
        for _, decode_one, decode_64, encode, times_1, times_64, times_encode in runs:
            for _ in range(ones):
                start = time.perf_counter()
                decode_one()
                times_1.append(time.perf_counter() - start)
            start = time.perf_counter()
            decode_64()
            times_64.append(time.perf_counter() - start)
            if encode is not None:
                start = time.perf_counter()
                encode()
                times_encode.append(time.perf_counter() - start)
    for results, _, _, _, times_1, times_64, times_encode in runs:
        results["speed"] = {"batch_1_ms": 1000 * float(np.median(times_1)), "batch_64_ms": 1000 * float(np.median(times_64)),
                            **({"encode_1_ms": 1000 * float(np.median(times_encode))} if times_encode else {}),
                            "timing": f"{rounds} rounds, the models in turn: {ones} single sounds, one batch of 64 and one sound "
                                      "encoded each a round"}


def run(model: Path, data: Path, quick: bool, baseline: Path | None = None, others: tuple[Path, ...] = ()) -> dict:
    """The figures of `model` (the shipped one, at the top level as before) and of each of `others` (under "other_models",
    by folder), against the same retrieval, oracle and baseline figures computed once."""
    audio, classes, files, held, train, longer = data_set(data, (model, *others))
    if quick:
        held = held[np.random.default_rng(0).choice(len(held), 60, replace=False)]
    import corners_check

    instruments = corners_check.instrument_names(data, files)  # the corners check picks each kit's crash by its name
    main_figures = model_figures(model, audio, classes, held, train, quick, suffix=f"_{model.name}", longer=longer, files=files, instruments=instruments)
    mean, sound = main_figures.pop("_mean"), main_figures.pop("_sound")
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
                     "model": main_figures.pop("model"), "model_hash": main_figures.pop("model_hash"),
                     "held_out_sounds": int(len(held)), "quick": quick,
                     "settings": {"sample_rate": SR, "seconds": 1.0, "griffin_lim": {"n_fft": GL_FFT, "hop": GL_HOP, "mels": GL_MELS, "iterations": GL_ITERS},
                                  "mrstft_resolutions": list(RESOLUTIONS), "mcd": "c1..c12: orthonormal DCT of ln amplitude, 40-band mel at 2048/512, 80 dB floor"}}

    # Nearest training sound by log-mel distance (retrieval).
    x = audio[held]
    train_feats = np.stack([log_mel(a).ravel() for a in audio[train]])
    held_feats = np.stack([log_mel(a).ravel() for a in x])
    d2 = (held_feats ** 2).sum(1)[:, None] - 2 * held_feats @ train_feats.T + (train_feats ** 2).sum(1)[None, :]
    nearest = train[np.argmin(d2, axis=1)]

    systems = {"nearest training sound (log-mel L2)": [], "oracle: own mel + Griffin-Lim 60": []}
    for i, idx in enumerate(held):
        ref = audio[idx]
        systems["nearest training sound (log-mel L2)"].append(distances(ref, audio[nearest[i]]))
        mel_power = np.abs(stft(ref, GL_FFT, GL_HOP)) ** 2 @ mel128().T
        systems["oracle: own mel + Griffin-Lim 60"].append(distances(ref, griffin_lim_from_mel(mel_power)))
    if baseline is not None:
        name = "SampleVAE-style baseline (mel-VAE + Griffin-Lim 60)"
        systems[name] = [distances(audio[idx], y) for idx, y in zip(held, baseline_reconstructions(baseline, x))]
    fitted = {"ours (encode, fit, decode)": main_figures.pop("ours_fitted")} if "ours_fitted" in main_figures else {}
    results["quality"] = {"ours (encode, decode)": main_figures.pop("ours"), **fitted,
                          **{name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} for name, rows in systems.items()}}
    results.update(main_figures)

    # The same ending checks on the held-out sounds themselves: how many real drums of each class ring past 0.85 s.
    from liveengine.training.pad_endings import pad_ending

    names = list(results["classifier"]["classes"])
    endings = [pad_ending(audio[idx], SR) for idx in held]
    results["grid_check_of_held_out_sounds"] = {
        name: {"sounds": int(np.sum(classes[held] == k)), "noise_bed": int(sum(e["noise_bed"] for e, c in zip(endings, classes[held]) if c == k)),
               "cut": int(sum(e["cut"] for e, c in zip(endings, classes[held]) if c == k))} for k, name in enumerate(names)}

    timed = [(results, model, mean, sound)]
    for other in others:
        figures = model_figures(other, audio, classes, held, train, quick, suffix=f"_{other.name}", longer=longer, files=files, instruments=instruments)
        timed.append((figures, other, figures.pop("_mean"), figures.pop("_sound")))
        results.setdefault("other_models", {})[figures["model"]] = figures
        length = int(round(figures["window_s"] * SR))
        if length != N and f"grid_check_of_held_out_sounds_{figures['window_s']:g}s" not in results:
            # The same check on the held-out sounds at that window: how many still ring where it ends.
            endings = [pad_ending(longer[length][idx], SR) for idx in held]
            results[f"grid_check_of_held_out_sounds_{figures['window_s']:g}s"] = {
                name: {"sounds": int(np.sum(classes[held] == k)),
                       "noise_bed": int(sum(e["noise_bed"] for e, c in zip(endings, classes[held]) if c == k)),
                       "cut": int(sum(e["cut"] for e, c in zip(endings, classes[held]) if c == k))} for k, name in enumerate(names)}
    alternated_speed(timed, quick)

    # The Griffin-Lim pipeline's 60 iterations for one sound, against the shipped model's decode.
    speed = results["speed"]
    one_z = mean[:1].astype(np.float32)
    mel_power = np.abs(stft(audio[held[0]], GL_FFT, GL_HOP)) ** 2 @ mel128().T
    speed["griffin_lim_60_one_sound_ms"] = median_ms(lambda: griffin_lim_from_mel(mel_power), 3)
    speed["griffin_lim_over_ours_batch_1"] = speed["griffin_lim_60_one_sound_ms"] / speed["batch_1_ms"]
    speed["note"] = ("decode_into with max_batch 16 (the runtime's default), one onnxruntime thread, numpy inverse STFT; "
                     "Griffin-Lim is the numpy implementation here (the same one the quality figures use)")
    if baseline is not None:
        mel_decoder = _session(baseline / "mel_decoder.onnx")
        speed["samplevae_mel_decoder_ms"] = median_ms(lambda: mel_decoder.run(None, {"z": one_z}), 50 if quick else 200)
        speed["samplevae_pipeline_one_sound_ms"] = speed["samplevae_mel_decoder_ms"] + speed["griffin_lim_60_one_sound_ms"]
        speed["samplevae_pipeline_over_ours_batch_1"] = speed["samplevae_pipeline_one_sound_ms"] / speed["batch_1_ms"]

    return results


def run_encoded(models: tuple[Path, ...], data: Path) -> dict:
    """`--encoded-only`: for each model, its held-out distances at its encoder's points and its classifier there, in
    one run: what comparing export settings (an encoder's descent, a class head) needs, in minutes instead of the
    half hour of every figure. No retrieval, oracle, fit, smoothness, grid or corners check, pictures or speed."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    audio, classes, _, held, train, longer = data_set(data, models)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
                     "encoded_only": True, "held_out_sounds": int(len(held)), "models": {}}
    for model in models:
        decoder = OnnxDecoder(model, threads=1, normalize="peak", max_batch=16)
        _, mean, _, figures = encoded(decoder, audio, held, longer)
        results["models"][model_name(model)] = {
            "model_hash": decoder.identity, "window_s": decoder.info.output_length / SR, "encoder": decoder.info.description,
            **figures, "classifier": classifier_figures(decoder, mean, classes, held, train)[0]}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="the model on top (default: the one the default patch plays)")
    parser.add_argument("--data", type=Path, default=REPO / "training_data")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", type=Path, default=BASELINE if (BASELINE / "mel_decoder.onnx").exists() else None,
                        help="folder with the baseline's mel_encoder.onnx and mel_decoder.onnx (default: bench/baselines/samplevae)")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another model folder measured in the same run, beside --model (repeatable; default: every models_onnx/drums* "
                             "folder, less --model; a model with a longer window needs the data at that window, see window_data)")
    parser.add_argument("--encoded-only", action="store_true",
                        help="only each model's held-out distances at its encoder's points and its classifier there (minutes, not the half "
                             "hour of every figure): for comparing export settings; --model as above, --also only the models named")
    parser.add_argument("--out", type=Path, default=None, help="the results file (default: bench/results_model.json; with "
                                                                  "--encoded-only bench/results_model_encoded.json)")
    args = parser.parse_args(argv)
    for folder in [args.model, *args.also]:
        if folder is not None and not (folder / "decoder.onnx").is_file():
            parser.error(f"{folder}: not a model folder (no decoder.onnx in it); give a folder as models_onnx/drums19")
    from liveengine.resources import default_model

    model = args.model or default_model()
    from liveengine.decoders.registry import by_number

    # every shipped drum model, in number order (drums, drums2, ..., drums10) as `liveengine check` lists them
    others = args.also or ([] if args.encoded_only else  # --encoded-only compares what it is given: no default beside
                           sorted((p.parent for p in (REPO / "models_onnx").glob("drums*/decoder.onnx")), key=lambda p: by_number(p.name)))
    others = tuple(p.resolve() for p in others if p.resolve() != model.resolve())
    if args.encoded_only:
        results = run_encoded((model.resolve(), *others), args.data)
        out = args.out or REPO / "bench" / "results_model_encoded.json"
        out.write_text(json.dumps(results, indent=1) + "\n")
        for name, figures in results["models"].items():
            c = figures["classifier"]
            print(f"{name}: MR-STFT {figures['ours']['mrstft']:.4f}, MCD {figures['ours']['mcd']:.2f} dB, classifier {c['accuracy']:.3f} "
                  f"(worst {c['worst_class']} {c['per_class_accuracy'][c['worst_class']]:.3f})")
        return
    results = run(model.resolve(), args.data, args.quick, args.baseline, others)
    (args.out or REPO / "bench" / "results_model.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("quality", "smoothness", "speed")}, indent=1))
    c = results["classifier"]
    print(f"classifier: {c['accuracy']:.3f} vs majority {c['majority_class_accuracy']:.3f} ({c['labelled_held_out']} held-out sounds)")
    for name, other in results.get("other_models", {}).items():
        print(name, json.dumps({k: other[k] for k in ("ours", "smoothness", "speed")}, indent=1))
        print(f"{name} classifier: {other['classifier']['accuracy']:.3f}")


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the model benchmark (bench/model_quality.py)", main))
