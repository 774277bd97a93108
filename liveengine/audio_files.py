"""Reading the user's audio files (anchors, libraries, find-similar queries) and cutting long ones at onsets.

Not for the audio thread: files are read whole, decoded by libsndfile (through
`soundfile`), mixed to mono and resampled once with soxr.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# What a library folder is searched for. libsndfile reads more (AU, CAF, W64, ...), and
# read_audio takes any of them; these are the endings a sample library actually uses.
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".mp3", ".w64", ".rf64", ".caf")
READABLE = "WAV, FLAC, OGG (Vorbis, Opus), AIFF or MP3"

SILENCE_DB = -60.0  # relative to the file's loudest frame: quieter frames start no segment
# A new hit is this much louder than the frames just before it. The beating and flutter of a
# ringing cymbal or open hat rise 1 to 3.5 dB from frame to frame (measured on decaying noise,
# partials beating 17 Hz apart and the drum model's sounds); a hit in a loop rose 8 to 51 dB.
NEW_HIT_DB = 6.0
MIN_GAP_SECONDS = 0.05  # between two hits


def read_audio(path: Path | str, rate: int) -> np.ndarray:
    """The file's audio as float32 mono at `rate` Hz (channels averaged; resampled with soxr when the file's rate differs).

    Raises LiveEngineError naming the file and what is readable for a missing, unreadable,
    empty or non-audio file.
    """
    import soundfile
    import soxr

    from liveengine.errors import LiveEngineError

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise LiveEngineError(f"audio file {path} {what}; expected a {READABLE} file.")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        raise LiveEngineError(f"audio file {path} could not be read as audio ({reason}); readable: {READABLE}.",
                              "Convert it to WAV or FLAC, or remove it.") from None
    except OSError as exc:
        raise LiveEngineError(f"audio file {path} could not be opened ({exc.strerror or exc}).") from None
    if len(data) == 0:
        raise LiveEngineError(f"audio file {path} holds no audio (0 frames); expected a {READABLE} file with sound in it.")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    if file_rate != rate:
        mono = soxr.resample(mono, file_rate, rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def power_frames(audio: np.ndarray, rate: int) -> tuple[np.ndarray, int, int]:
    """(power [1 + len(audio) // hop, frame // 2 + 1], frame, hop): Hann-windowed ~23 ms frames, hop frame / 4;
    frame i covers samples [i*hop - frame/2, i*hop + frame/2) (zeros outside the sound)."""
    frame = 1 << max(6, int(np.round(np.log2(0.023 * rate))))  # 1024 at 44.1 and 48 kHz
    hop = frame // 4
    audio = np.asarray(audio, np.float32)
    frames = 1 + len(audio) // hop
    padded = np.concatenate([np.zeros(frame // 2, np.float32), audio, np.zeros(frame, np.float32)])
    index = np.arange(frame)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(padded[index] * np.hanning(frame).astype(np.float32), axis=1)) ** 2, frame, hop


def onset_frames(audio: np.ndarray, rate: int, *, delta: float = 0.07, min_gap_seconds: float = MIN_GAP_SECONDS) -> tuple[np.ndarray, int, int]:
    """Spectral-flux onset detection: (onset frame indices, frame size, hop).

    Frame i covers samples [i*hop - frame/2, i*hop + frame/2). The spectrum is summed into
    log-spaced bands in dB (floored 80 dB under the loudest band), so a low kick's one or two
    bins count as much as a hat's hundreds; flux is the mean rise in dB from one frame to the
    next. A frame is an onset where its flux is the largest within +-3 frames, rises `delta`
    (of the largest flux) above the mean of +-10 frames, the sound gets NEW_HIT_DB louder there
    (not a sound ending, whose splatter also rises in many bands, nor a ringing sound's beating),
    and it is within SILENCE_DB of the loudest frame.
    """
    power, frame, hop = power_frames(audio, rate)
    frames = len(power)
    energy = power.sum(axis=1)
    if not np.any(energy > 0):
        return np.zeros(0, np.int64), frame, hop
    freqs = np.fft.rfftfreq(frame, 1.0 / rate)
    edges = np.geomspace(30.0, rate / 2, 25)
    band_of = np.searchsorted(edges, freqs, side="right") - 1
    bands = np.zeros((frames, len(edges) - 1))
    inside = (band_of >= 0) & (band_of < len(edges) - 1)
    np.add.at(bands.T, band_of[inside], power[:, inside].T)
    bands = bands[:, bands.any(axis=0)]  # bands narrower than a bin hold nothing
    band_db = 10 * np.log10(bands + 1e-30)
    band_db = np.maximum(band_db, band_db.max() - 80.0)
    flux = np.zeros(frames)
    flux[1:] = np.mean(np.maximum(band_db[1:] - band_db[:-1], 0.0), axis=1)
    flux /= flux.max() + 1e-12
    energy_db = 10 * np.log10(energy / energy.max() + 1e-20)
    gap = max(1, int(round(min_gap_seconds * rate / hop)))
    onsets: list[int] = []
    for i in range(1, frames):
        lo, hi = max(0, i - 3), min(frames, i + 4)
        if flux[i] <= 0.0 or flux[i] < flux[lo:hi].max():
            continue
        if flux[i] < flux[max(0, i - 10) : i + 11].mean() + delta:
            continue
        after = energy_db[i : i + 3].max()
        if after <= SILENCE_DB or after < energy_db[max(0, i - 3) : i].max() + NEW_HIT_DB:
            continue
        if onsets and i - onsets[-1] < gap:
            continue
        onsets.append(i)
    return np.asarray(onsets, np.int64), frame, hop


def segment_at_onsets(audio: np.ndarray, rate: int, *, max_seconds: float = 2.0, min_seconds: float = 0.02,
                      pre_roll_ms: float = 1.0) -> list[tuple[float, np.ndarray]]:
    """Cut a long recording into its hits: (start in seconds, float32 segment) pairs, in time order.

    Each segment runs from an onset (refined to the first sample within 20 dB of the hit's
    local peak, less `pre_roll_ms`) to the next onset, at most `max_seconds`; segments
    shorter than `min_seconds` are dropped. Silence gives []. Sound before the first onset (a
    hit at the file's very start, or sound with no detectable onset) starts a segment at the
    first sample within 20 dB of the file's peak.
    """
    audio = np.asarray(audio, np.float32).reshape(-1)
    if audio.size == 0 or not np.any(audio):
        return []
    frames, frame, hop = onset_frames(audio, rate)
    pre_roll = int(round(pre_roll_ms * 1e-3 * rate))
    starts: list[int] = []
    for i in frames:
        lo = max(0, int(i) * hop - frame)
        hi = min(len(audio), int(i) * hop + frame // 2)
        part = np.abs(audio[lo:hi])
        if part.size == 0 or part.max() <= 0:
            continue
        first = lo + int(np.argmax(part >= part.max() * 0.1))
        start = max(0, first - pre_roll)
        if starts and start <= starts[-1]:
            continue
        starts.append(start)
    # A hit at sample 0 has no quieter frame before it to rise from, so no onset marks it.
    audible = max(0, int(np.argmax(np.abs(audio) >= float(np.max(np.abs(audio))) * 0.1)) - pre_roll)
    if not starts or starts[0] - audible >= MIN_GAP_SECONDS * rate:
        starts.insert(0, audible)
    limit = int(max_seconds * rate)
    shortest = int(min_seconds * rate)
    segments = []
    for k, start in enumerate(starts):
        end = min(starts[k + 1] if k + 1 < len(starts) else len(audio), start + limit)
        if end - start >= shortest:
            segments.append((start / rate, audio[start:end].copy()))
    return segments
