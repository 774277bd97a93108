"""Reading the user's audio files (anchors, libraries, find-similar queries) and cutting long ones at onsets.

Not for the audio thread: files are decoded by libsndfile (through `soundfile`), mixed to
mono and resampled once with soxr. Library files are read whole; a query or an anchor,
of which only the first sound counts, is read in blocks and at most QUERY_SECONDS of it kept
(read_audio_start), so a long recording given as one costs no more memory than a short one.
"""

from __future__ import annotations

import math
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
# Of a query (its first sound counts), what is read and analysed: many times a model's output (the drum
# models' 1.3 s), some 10 MB at 44.1 kHz. A 320 s float WAV read whole and analysed at once took 1.8 GB.
QUERY_SECONDS = 30.0
BLOCK_FRAMES = 65536  # frames read at a time from a long query
LEAD_SECONDS = 0.1  # digital silence kept before a long query's first sound: its onset rises out of it
ANALYSIS_FRAMES = 2048  # spectra computed at a time by onset_frames: bounded memory for a long library file


def read_audio(path: Path | str, rate: int) -> np.ndarray:
    """The file's audio as float32 mono at `rate` Hz (channels averaged; resampled with soxr when the file's rate differs).

    Raises LiveEngineError naming the file and what is readable for a missing, unreadable,
    empty or non-audio file.
    """
    import soundfile
    import soxr

    from liveengine.errors import LiveEngineError

    path = _existing(path)
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise _unreadable(path, exc) from None
    if len(data) == 0:
        raise LiveEngineError(f"audio file {path} holds no audio (0 frames); expected a {READABLE} file with sound in it.")
    mono = _mono(data)
    if file_rate != rate:
        mono = soxr.resample(mono, file_rate, rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_audio_start(path: Path | str, rate: int, seconds: float = QUERY_SECONDS) -> tuple[float, np.ndarray]:
    """(offset in seconds, float32 mono at `rate`): the start of the file's audio, for a query or anchor (its first sound).

    A file up to `seconds` long: (0.0, read_audio(path, rate)), the same audio. A longer one is read
    BLOCK_FRAMES frames at a time; leading digital silence (exact zeros) is skipped but for at least
    LEAD_SECONDS, and `seconds` of audio are kept from there: memory is bounded whatever the
    file's length. The offset is where the audio returned starts in the file. Errors as read_audio's.
    """
    import soundfile
    import soxr

    path = _existing(path)
    try:
        with soundfile.SoundFile(str(path)) as file:
            file_rate = file.samplerate
            if file.frames <= seconds * file_rate:
                return 0.0, read_audio(path, rate)
            want, lead = int(seconds * file_rate), int(LEAD_SECONDS * file_rate)
            # The kept part starts where resampling and onset frames fall on the same instants as in the whole
            # file: a whole number of resampling periods (file_rate / gcd) making a whole number of hops at `rate`.
            # The encoder hears a sound shifted by a fraction of a sample differently.
            period, out = file_rate // math.gcd(file_rate, rate), rate // math.gcd(file_rate, rate)
            hop = frame_size(rate) // 4
            align = period * (hop // math.gcd(out, hop))
            kept: list[np.ndarray] = []
            skipped = total = 0
            for block in file.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
                mono = _mono(block)
                if not kept:
                    sound = np.flatnonzero(mono)
                    if not sound.size:
                        skipped += len(mono)
                        continue
                    first = skipped + int(sound[0])  # every sample before it is a zero
                    skipped = max(0, first - lead) // align * align
                    mono = np.concatenate([np.zeros(first - skipped, np.float32), mono[int(sound[0]):]])
                kept.append(mono[: want - total])
                total += len(kept[-1])
                if total >= want:
                    break
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise _unreadable(path, exc) from None
    audio = np.concatenate(kept) if kept else np.zeros(0, np.float32)  # all silence: no sound in it
    if file_rate != rate and len(audio):
        audio = soxr.resample(audio, file_rate, rate, quality="HQ")
    return skipped / file_rate, np.ascontiguousarray(audio, dtype=np.float32)


def _existing(path: Path | str) -> Path:
    from liveengine.errors import LiveEngineError

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise LiveEngineError(f"audio file {path} {what}; expected a {READABLE} file.")
    return path


def _unreadable(path: Path, exc: Exception):
    """The LiveEngineError for a file libsndfile cannot open or decode."""
    import soundfile

    from liveengine.errors import LiveEngineError

    if isinstance(exc, (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError)):
        reason = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        return LiveEngineError(f"audio file {path} could not be read as audio ({reason}); readable: {READABLE}.",
                               "Convert it to WAV or FLAC, or remove it.")
    return LiveEngineError(f"audio file {path} could not be opened ({exc.strerror or exc}).")


def _mono(data: np.ndarray) -> np.ndarray:
    """float32[frames] from float32[frames, channels]: channels averaged, NaN and infinities as silence."""
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)


def frame_size(rate: int) -> int:
    """Samples in an analysis frame of power_frames: ~23 ms, 1024 at 44.1 and 48 kHz."""
    return 1 << max(6, int(np.round(np.log2(0.023 * rate))))


def power_frames(audio: np.ndarray, rate: int) -> tuple[np.ndarray, int, int]:
    """(power [1 + len(audio) // hop, frame // 2 + 1], frame, hop): Hann-windowed ~23 ms frames, hop frame / 4;
    frame i covers samples [i*hop - frame/2, i*hop + frame/2) (zeros outside the sound)."""
    frame = frame_size(rate)
    hop = frame // 4
    audio = np.asarray(audio, np.float32)
    frames = 1 + len(audio) // hop
    padded = np.concatenate([np.zeros(frame // 2, np.float32), audio, np.zeros(frame, np.float32)])
    return _spectra(padded, frame, hop, frames), frame, hop


def _spectra(padded: np.ndarray, frame: int, hop: int, frames: int) -> np.ndarray:
    """Power spectra of `frames` Hann-windowed frames of `padded`, frame i from sample i * hop."""
    index = np.arange(frame)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(padded[index] * np.hanning(frame).astype(np.float32), axis=1)) ** 2


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
    # The spectra ANALYSIS_FRAMES at a time, kept as band sums: each frame's numbers are those of power_frames
    # over the whole sound, whose frames x bins array of a long file took gigabytes.
    audio = np.asarray(audio, np.float32)
    frame = frame_size(rate)
    hop = frame // 4
    frames = 1 + len(audio) // hop
    freqs = np.fft.rfftfreq(frame, 1.0 / rate)
    edges = np.geomspace(30.0, rate / 2, 25)
    band_of = np.searchsorted(edges, freqs, side="right") - 1
    inside = (band_of >= 0) & (band_of < len(edges) - 1)
    energy = None
    bands = np.zeros((frames, len(edges) - 1))
    for first in range(0, frames, ANALYSIS_FRAMES):
        last = min(frames, first + ANALYSIS_FRAMES)
        # Frames first..last-1 cover samples [first*hop - frame/2, (last-1)*hop + frame/2): that stretch, as power_frames pads it.
        lo, hi = first * hop - frame // 2, (last - 1) * hop + frame // 2
        piece = audio[max(0, lo) : max(0, min(len(audio), hi))]
        piece = np.concatenate([np.zeros(max(0, -lo), np.float32), piece, np.zeros(hi - lo - max(0, -lo) - len(piece), np.float32)])
        power = _spectra(piece, frame, hop, last - first)
        if energy is None:
            energy = np.zeros(frames, power.dtype)
        energy[first:last] = power.sum(axis=1)
        np.add.at(bands[first:last].T, band_of[inside], power[:, inside].T)
    if not np.any(energy > 0):
        return np.zeros(0, np.int64), frame, hop
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
