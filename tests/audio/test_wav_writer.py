"""CrashSafeWavWriter: real files, real libsndfile reads, real SIGKILLs."""

import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import liveengine.audio.wav_writer as wav_writer
from liveengine.audio.wav_writer import CrashSafeWavWriter

SR = 48000


def noise(frames, channels, seed=0):
    shape = (frames,) if channels is None else (frames, channels)
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def read_all(path):
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, sr


def header_fields(path):
    raw = Path(path).read_bytes()[:92]
    return {
        "magic": raw[0:4], "riff32": struct.unpack_from("<I", raw, 4)[0], "wave": raw[8:12],
        "chunk": raw[12:16], "chunk_len": struct.unpack_from("<I", raw, 16)[0],
        "ds64": struct.unpack_from("<QQQI", raw, 20),
        "fmt": raw[48:52], "fmt_tag": struct.unpack_from("<H", raw, 56)[0],
        "bits": struct.unpack_from("<H", raw, 70)[0],
        "fact": raw[72:76], "fact_frames": struct.unpack_from("<I", raw, 80)[0],
        "data": raw[84:88], "data32": struct.unpack_from("<I", raw, 88)[0],
    }


def write_uneven(w, audio, sizes=(1, 7, 128, 333, 64, 1000, 5)):
    i = k = 0
    while i < len(audio):
        n = sizes[k % len(sizes)]
        w.write(audio[i:i + n])
        i += n
        k += 1


# 1. round trip ------------------------------------------------------------
@pytest.mark.parametrize("channels,block_channels", [(1, None), (1, 1), (2, 2)])
def test_round_trip_bit_exact(tmp_path, channels, block_channels):
    path = tmp_path / "take.wav"
    audio = noise(12345, block_channels, seed=channels)
    audio.reshape(-1)[:3] = [np.nan, -0.0, 1e-40]  # NaN, signed zero, denormal survive too
    with CrashSafeWavWriter(path, 44100, channels) as w:
        write_uneven(w, audio)
        assert w.frames_written == 12345
        assert w.path == path and not w.is_rf64

    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames) == (44100, channels, 12345)
    assert (info.format, info.subtype) == ("WAV", "FLOAT")
    got, _ = read_all(path)
    # Bit-exact: compare the raw float32 bits (also covers NaN / -0.0 / denormals).
    assert got.view(np.uint32).tobytes() == audio.reshape(12345, channels).view(np.uint32).tobytes()

    h = header_fields(path)
    assert (h["magic"], h["wave"], h["chunk"], h["chunk_len"]) == (b"RIFF", b"WAVE", b"JUNK", 28)
    assert (h["fmt"], h["fmt_tag"], h["bits"]) == (b"fmt ", 3, 32)
    assert (h["fact"], h["fact_frames"]) == (b"fact", 12345)
    assert (h["data"], h["data32"]) == (b"data", 12345 * 4 * channels)
    assert h["riff32"] == path.stat().st_size - 8


def test_empty_recording_is_valid_before_and_after_close(tmp_path):
    path = tmp_path / "empty.wav"
    w = CrashSafeWavWriter(path, SR, 2)
    assert sf.info(str(path)).frames == 0  # valid from the first instant
    w.close()
    w.close()  # idempotent
    assert sf.info(str(path)).channels == 2
    with pytest.raises(ValueError, match="closed"):
        w.write(noise(4, 2))


# 2. overwrite protection --------------------------------------------------
def test_refuses_to_overwrite_existing_file(tmp_path):
    path = tmp_path / "earlier take.wav"
    path.write_bytes(b"precious earlier recording")
    with pytest.raises(FileExistsError) as exc:
        CrashSafeWavWriter(path, SR, 2)
    assert str(path) in str(exc.value)
    assert path.read_bytes() == b"precious earlier recording"

    audio = noise(1000, 2)
    with CrashSafeWavWriter(path, SR, 2, overwrite=True) as w:
        w.write(audio)
    got, sr = read_all(path)
    assert sr == SR and np.array_equal(got, audio)


# 3. crash safety ----------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from liveengine.audio.wav_writer import CrashSafeWavWriter
    path, threshold = sys.argv[1], int(sys.argv[2])
    audio = np.random.default_rng(1234).uniform(-1, 1, (96000, 2)).astype(np.float32)
    w = CrashSafeWavWriter(path, 48000, 2, header_every_frames=4800, rf64_threshold_bytes=threshold)
    for i in range(0, len(audio), 128):
        w.write(audio[i:i + 128])
    print(w.frames_written, int(w.is_rf64), flush=True)
    time.sleep(120)  # never closes: the test SIGKILLs us here
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("threshold,expect_rf64", [(0xFFFFFFFF - (1 << 20), False), (100_000, True)])
def test_sigkill_leaves_playable_file(tmp_path, threshold, expect_rf64):
    path = tmp_path / "killed.wav"
    root = Path(wav_writer.__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(threshold)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line, f"child died before reporting: {proc.stderr.read()}"
        written, rf64 = map(int, line.split())
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert written == 96000 and rf64 == expect_rf64

    expected = np.random.default_rng(1234).uniform(-1, 1, (96000, 2)).astype(np.float32)
    got, sr = read_all(path)
    assert sr == SR and got.shape[1] == 2
    assert written - SR <= len(got) <= written
    assert np.array_equal(got, expected[: len(got)])
    magic = path.read_bytes()[:4]
    assert magic == (b"RF64" if expect_rf64 else b"RIFF")
    assert sf.info(str(path)).format == ("RF64" if expect_rf64 else "WAV")


# 4. header valid after every flush ---------------------------------------
@pytest.mark.parametrize("threshold", [0xFFFFFFFF - (1 << 20), 6000])
def test_header_valid_on_disk_after_every_flush(tmp_path, threshold):
    path = tmp_path / "live.wav"
    audio = noise(4000, 2, seed=7)
    w = CrashSafeWavWriter(path, SR, 2, header_every_frames=10**9, rf64_threshold_bytes=threshold)
    done = 0
    for n in (100, 1, 499, 1400, 2000):
        was_rf64 = w.is_rf64
        w.write(audio[done:done + n])
        # The header lags until flushed (that is what flush_header is for),
        # except that the RF64 switch rewrites it at once.
        switched = w.is_rf64 and not was_rf64
        assert sf.info(str(path)).frames == (done + n if switched else done)
        done += n
        w.flush_header()
        got, _ = read_all(path)  # a second, independent handle (libsndfile)
        assert np.array_equal(got, audio[:done])
    assert w.is_rf64 == (threshold < 10**6)
    w.close()


def test_header_every_frames_bounds_the_loss(tmp_path):
    path = tmp_path / "auto.wav"
    audio = noise(20000, 1, seed=3)
    with CrashSafeWavWriter(path, SR, 1, header_every_frames=1000) as w:
        for i in range(0, len(audio), 96):
            w.write(audio[i:i + 96])
            on_disk = sf.info(str(path)).frames
            assert w.frames_written - 1000 < on_disk <= w.frames_written


# 5. RF64 ------------------------------------------------------------------
def test_rf64_switch_is_transparent(tmp_path):
    path = tmp_path / "long.wav"
    audio = noise(10000, 2, seed=5)
    # RIFF size = 84 + 8 * frames: 501 frames -> 4092, exactly the threshold
    # (still RIFF); 502 frames -> 4100, over it (RF64).
    w = CrashSafeWavWriter(path, SR, 2, rf64_threshold_bytes=4092)
    w.write(audio[:501])
    assert not w.is_rf64
    w.write(audio[501:502])
    assert w.is_rf64
    assert Path(path).read_bytes()[:4] == b"RF64"  # switched on disk at once
    write_uneven(w, audio[502:])
    w.close()

    h = header_fields(path)
    size = path.stat().st_size
    assert (h["magic"], h["riff32"], h["wave"]) == (b"RF64", 0xFFFFFFFF, b"WAVE")
    assert (h["chunk"], h["chunk_len"]) == (b"ds64", 28)
    assert h["ds64"] == (size - 8, 10000 * 8, 10000, 0)
    assert (h["data"], h["data32"]) == (b"data", 0xFFFFFFFF)
    assert size == 92 + 10000 * 8  # audio never moved
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.frames, info.channels) == ("RF64", "FLOAT", 10000, 2)
    got, _ = read_all(path)
    assert got.view(np.uint32).tobytes() == audio.view(np.uint32).tobytes()


# 6. bad input -------------------------------------------------------------
@pytest.mark.parametrize("block,words", [
    (np.zeros((128, 2), np.int16), ["int16", "float32"]),
    (np.zeros((128, 2), np.float64), ["float64", "float32"]),
    (np.zeros((128, 3), np.float32), ["(128, 3)", "(frames, 2)"]),
    (np.zeros(128, np.float32), ["(128,)", "(frames, 2)"]),
    (np.zeros((4, 128, 2), np.float32), ["(4, 128, 2)", "(frames, 2)"]),
    ([[0.0, 0.0]], ["list", "float32"]),
])
def test_bad_blocks_are_rejected_clearly(tmp_path, block, words):
    path = tmp_path / "bad.wav"
    with CrashSafeWavWriter(path, SR, 2) as w:
        with pytest.raises(ValueError) as exc:
            w.write(block)
        for word in words:
            assert word in str(exc.value)
        assert w.frames_written == 0
        w.write(noise(10, 2))  # the writer is still usable
    assert sf.info(str(path)).frames == 10


def test_mono_rejects_stereo_block(tmp_path):
    with CrashSafeWavWriter(tmp_path / "m.wav", SR, 1) as w:
        with pytest.raises(ValueError, match=r"\(frames,\) or \(frames, 1\).*\(16, 2\)"):
            w.write(np.zeros((16, 2), np.float32))
