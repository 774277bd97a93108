"""Reading audio files (real WAV, FLAC, OGG, AIFF files written with soundfile) and cutting long ones at onsets."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from liveengine.audio_files import read_audio, segment_at_onsets
from liveengine.errors import LiveEngineError

RATE = 44100


def hit(freq: float, decay: float, seconds: float = 0.3, rate: int = RATE, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = np.sin(2 * np.pi * freq * t) + noise * np.random.default_rng(seed).standard_normal(len(t))
    return (0.8 * x / np.max(np.abs(x)) * np.exp(-t / decay)).astype(np.float32)


@pytest.mark.parametrize("name, subtype", [("a.wav", "PCM_24"), ("a.flac", "PCM_16"), ("a.ogg", "VORBIS"), ("a.aiff", "PCM_16"),
                                           ("a.wav", "FLOAT")])
def test_reads_common_formats_as_float32_mono(tmp_path, name, subtype):
    sound = hit(220, 0.1)
    path = tmp_path / name
    soundfile.write(path, sound, RATE, subtype=subtype)
    audio = read_audio(path, RATE)
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == len(sound)
    tolerance = 0.05 if subtype == "VORBIS" else 1e-3  # a lossy codec
    assert np.max(np.abs(audio - sound)) < tolerance


def test_stereo_is_averaged_and_other_rates_resampled(tmp_path):
    left, right = hit(440, 0.2, rate=22050), hit(440, 0.2, rate=22050) * 0.5
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path, 22050), (left + right) / 2, atol=1e-6)
    audio = read_audio(path, RATE)
    assert abs(len(audio) - 2 * len(left)) <= 2
    spectrum = np.abs(np.fft.rfft(audio[:RATE // 4]))
    assert abs(np.argmax(spectrum) * RATE / (RATE // 4) - 440) < 8  # the pitch survives resampling


def test_bad_files_are_one_clear_error_naming_the_file(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), RATE)
    cut = tmp_path / "cut.flac"
    soundfile.write(cut, hit(100, 0.2), RATE)
    cut.write_bytes(cut.read_bytes()[:40])  # a header and nothing else
    cases = [(text, "could not be read as audio"), (empty, "holds no audio (0 frames)"), (tmp_path / "missing.wav", "does not exist"),
             (tmp_path, "is a folder"), (cut, "could not be read as audio")]
    for path, found in cases:
        with pytest.raises(LiveEngineError) as info:
            read_audio(path, RATE)
        message = str(info.value)
        assert str(path) in message and found in message, message
        assert "WAV, FLAC" in message and "\n" not in message, message


def drum_take(times: list[float], seconds: float = 2.0, noise_db: float = -70.0) -> np.ndarray:
    audio = np.zeros(int(seconds * RATE), np.float32)
    sounds = [hit(60, 0.08), hit(5000, 0.02, noise=3.0, seed=1), hit(200, 0.05, noise=1.0, seed=2)]
    for k, time in enumerate(times):
        sound = sounds[k % len(sounds)]
        start = int(time * RATE)
        audio[start : start + len(sound)] += sound[: len(audio) - start]
    audio += 10 ** (noise_db / 20) * np.random.default_rng(9).standard_normal(len(audio)).astype(np.float32)
    return audio


def test_segments_start_at_each_hit():
    times = [0.1, 0.45, 0.7, 1.234, 1.6]
    segments = segment_at_onsets(drum_take(times), RATE, max_seconds=0.3)
    starts = [start for start, _ in segments]
    assert len(starts) == len(times), starts
    for found, true in zip(starts, times):
        assert true - 0.003 <= found <= true + 0.001, (found, true)  # 1 ms pre-roll, refined to the sample
    for (start, segment), next_start in zip(segments, starts[1:] + [2.0]):  # to the next hit, at most max_seconds
        assert abs(len(segment) - min(0.3, next_start - start) * RATE) <= 1
        assert segment.dtype == np.float32
    # Each segment holds its own hit: the kick's segment is dark, the hat's bright.
    def centroid(x):
        spectrum = np.abs(np.fft.rfft(x))
        return float((spectrum * np.fft.rfftfreq(len(x), 1 / RATE)).sum() / spectrum.sum())
    assert centroid(segments[0][1]) < 500 < 2000 < centroid(segments[1][1])


def test_silence_and_a_single_sustained_sound():
    assert segment_at_onsets(np.zeros(RATE, np.float32), RATE) == []
    assert segment_at_onsets(np.zeros(0, np.float32), RATE) == []
    t = np.arange(RATE) / RATE
    swell = (np.sin(2 * np.pi * 300 * t) * np.minimum(1.0, t / 0.5)).astype(np.float32)  # a slow fade-in, no sharp onset
    segments = segment_at_onsets(swell, RATE, max_seconds=2.0)
    assert len(segments) == 1 and segments[0][0] < 0.05
    quiet_start = np.concatenate([np.zeros(RATE // 2, np.float32), hit(100, 0.2)])
    ((start, _),) = segment_at_onsets(quiet_start, RATE)
    assert abs(start - 0.5) < 0.003


@pytest.mark.parametrize("file_rate, channels", [(RATE, 1), (48000, 2), (22050, 1)])
def test_a_long_query_keeps_a_bounded_start_and_finds_the_first_sound_of_the_whole_file(tmp_path, file_rate, channels):
    """read_audio_start keeps QUERY_SECONDS from just before the first sound, cut where resampling and onset frames
    fall as in the whole file: the first sound is the one the whole file gives, sample for sample."""
    from types import SimpleNamespace

    from liveengine.audio_files import LEAD_SECONDS, QUERY_SECONDS, read_audio_start
    from liveengine.library.index import file_sounds, query_sound

    silence = 41.3
    take = np.zeros((int((silence + 50) * file_rate), channels), np.float32)
    for k, start in enumerate(np.arange(silence, silence + 48, 0.45)):
        sound = hit((60, 5000, 200)[k % 3], 0.05, rate=file_rate, noise=k % 3, seed=k)
        take[int(start * file_rate) : int(start * file_rate) + len(sound)] += sound[:, None] * (0.3 + 0.1 * (k % 7))
    path = tmp_path / "take.wav"
    soundfile.write(path, take, file_rate, subtype="FLOAT")
    offset, audio = read_audio_start(path, RATE)
    assert silence - 1.0 < offset <= silence - LEAD_SECONDS and len(audio) == int(QUERY_SECONDS * RATE)
    model = SimpleNamespace(sample_rate=RATE, output_length=RATE // 2)
    whole_start, whole = file_sounds(read_audio(path, RATE), RATE, RATE // 2)[0]
    start, sound = query_sound(path, model)
    assert abs(whole_start - silence) < 0.002 and abs(start - whole_start) < 1e-9
    np.testing.assert_allclose(sound, whole, atol=1e-6)
    short = tmp_path / "short.wav"  # a file within QUERY_SECONDS is read whole, as before
    soundfile.write(short, take[: int(QUERY_SECONDS * file_rate)], file_rate, subtype="FLOAT")
    offset, audio = read_audio_start(short, RATE)
    assert offset == 0.0 and np.array_equal(audio, read_audio(short, RATE))
