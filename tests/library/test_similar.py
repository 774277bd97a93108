"""`liveengine similar` and the library index: real audio files in tmp_path, a generated ONNX model with an encoder.

The encoder is the fixed feature encoder from liveengine.testing.models: similar sounds land
near each other, so the nearest sounds to a kick are kicks. The index cache is checked by
counting what the model encodes.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile

from liveengine.cli import main
from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.errors import LiveEngineError
from liveengine.library.index import cache_path, load_or_build
from liveengine.testing.models import build_audio_decoder, build_encoder
from tests.cli.test_cli_errors import interrupted

RATE, LENGTH, DIM = 22050, 11025, 6  # the model hears 0.5 s


def kick(freq=55.0, decay=0.15, seconds=0.6, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.9 * np.sin(2 * np.pi * freq * t * (1 + 2 * np.exp(-t / 0.01))) * np.exp(-t / decay)).astype(np.float32)


def hat(seed=0, decay=0.03, seconds=0.3, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    bright = np.diff(noise, prepend=0.0)  # a first difference: most energy high up
    return (0.5 * bright / np.max(np.abs(bright)) * np.exp(-t / decay)).astype(np.float32)


def snare(seed=0, seconds=0.4, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
    noise = np.random.default_rng(seed).standard_normal(len(t)) * np.exp(-t / 0.08)
    x = body + 0.6 * noise
    return (0.8 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture
def model(tmp_path):
    folder = build_audio_decoder(tmp_path / "enc-model", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    build_encoder(folder, DIM, LENGTH, RATE)
    return folder


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "samples"
    for sub in ("kicks", "hats", "snares/acoustic"):
        (root / sub).mkdir(parents=True)
    for i, (freq, decay) in enumerate([(50, 0.2), (60, 0.15), (70, 0.25)]):
        soundfile.write(root / "kicks" / f"kick{i}.wav", kick(freq, decay), 44100 if i == 0 else RATE)  # one at another rate
    soundfile.write(root / "kicks" / "kick-stereo.flac", np.stack([kick(58), kick(58)], axis=1), RATE)
    for i in range(3):
        soundfile.write(root / "hats" / f"hat{i}.wav", hat(seed=i, decay=0.02 + 0.01 * i), RATE, subtype="FLOAT")
    for i in range(2):
        soundfile.write(root / "snares" / "acoustic" / f"snare{i}.aiff", snare(seed=i), RATE)
    loop = np.zeros(int(2.5 * RATE), np.float32)  # a long take: kick at 0.2 s, hat at 0.9 s, snare at 1.6 s
    for start, sound in [(0.2, kick(62)), (0.9, hat(seed=7)), (1.6, snare(seed=5))]:
        loop[int(start * RATE) : int(start * RATE) + len(sound)] += sound
    soundfile.write(root / "loop.wav", loop, RATE)
    (root / "broken.wav").write_text("not audio at all\n" * 30)
    soundfile.write(root / "empty.wav", np.zeros(0, np.float32), RATE)
    (root / "notes.txt").write_text("not an audio file name: ignored")
    (root / ".hidden.wav").write_text("hidden: ignored")
    return root


class Counting:
    """The real decoder, counting the sounds it is asked to encode (to see what the cache saved)."""

    def __init__(self, decoder):
        self.decoder, self.encoded = decoder, 0

    def __getattr__(self, name):
        return getattr(self.decoder, name)

    def encode(self, audio):
        self.encoded += len(audio)
        return self.decoder.encode(audio)


def run_similar(capsys, *args):
    code = main(["similar", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def result_rows(out):
    return [(int(m[1]), float(m[2]), float(m[3]), m[4]) for m in re.finditer(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\S.*)$", out, re.M)]


def test_similar_lists_the_nearest_sounds(tmp_path, model, library, capsys):
    query = tmp_path / "query.wav"
    soundfile.write(query, np.concatenate([np.zeros(2000, np.float32), kick(57, 0.18)]), 48000)  # leading silence, another rate
    code, out, err = run_similar(capsys, query, "--library", library, "--model", model, "-n", "5", "--cache", tmp_path / "cache")
    assert code == 0, err
    assert "skipped 2 unreadable files" in out and "broken.wav could not be read as audio" in out and "empty.wav holds no audio" in out
    rows = result_rows(out)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    distances = [r[1] for r in rows]
    assert distances == sorted(distances)
    top = [r[3] for r in rows[:4]]
    kicks = {"kicks/kick0.wav", "kicks/kick1.wav", "kicks/kick2.wav", "kicks/kick-stereo.flac", "loop.wav"}
    assert set(top) <= kicks, out
    loop_rows = [r for r in rows if r[3] == "loop.wav"]
    assert all(abs(r[2] - 0.2) < 0.005 for r in loop_rows), out  # if the loop's kick is listed, it is at 0.2 s

    # A hat finds hats, and the loop's hat at 0.9 s before any kick.
    soundfile.write(query, hat(seed=42, decay=0.025), RATE)
    code, out, _ = run_similar(capsys, query, "--library", library, "--model", model, "-n", "4", "--cache", tmp_path / "cache")
    assert code == 0 and "index up to date" in out
    rows = result_rows(out)
    assert {r[3] for r in rows} <= {"hats/hat0.wav", "hats/hat1.wav", "hats/hat2.wav", "loop.wav"}, out
    assert [round(r[2], 1) for r in rows if r[3] == "loop.wav"] in ([], [0.9])


def test_long_files_are_indexed_per_hit(tmp_path, model, library):
    index = load_or_build(OnnxDecoder(model), library, tmp_path / "cache")
    loop = [start for name, start in index.entries if name == "loop.wav"]
    assert len(loop) == 3 and np.allclose(loop, [0.2, 0.9, 1.6], atol=0.005), loop
    assert [start for name, start in index.entries if name == "kicks/kick1.wav"] == [0.0]  # short files: one sound
    assert set(index.skipped) == {"broken.wav", "empty.wav"}
    assert len(index.files) == 10 and index.points.shape == (len(index.entries), DIM)
    # The loop's kick lands nearest the kicks, its hat nearest the hats.
    by_name = {entry: point for entry, point in zip(index.entries, index.points)}
    loop_kick, loop_hat = by_name[("loop.wav", loop[0])], by_name[("loop.wav", loop[1])]
    assert index.nearest(loop_kick, 2)[1][0].startswith("kicks/")
    assert index.nearest(loop_hat, 2)[1][0].startswith("hats/")


def test_the_cache_is_reused_and_follows_changes(tmp_path, model, library):
    cache = tmp_path / "cache"
    decoder = Counting(OnnxDecoder(model))
    first = load_or_build(decoder, library, cache)
    assert first.status == "built" and decoder.encoded == len(first.entries) == 12
    assert cache_path(cache, decoder.identity, library).is_file()

    decoder.encoded = 0
    again = load_or_build(decoder, library, cache)
    assert again.status == "cached" and decoder.encoded == 0
    assert again.entries == first.entries and np.array_equal(again.points, first.points)
    assert again.skipped == first.skipped  # unreadable files are remembered too, not re-read

    soundfile.write(library / "hats" / "hat9.wav", hat(seed=9), RATE)  # a new file
    (library / "kicks" / "kick2.wav").unlink()  # a removed one
    soundfile.write(library / "kicks" / "kick1.wav", kick(90, 0.05, seconds=0.3), RATE)  # a changed one
    decoder.encoded = 0
    changed = load_or_build(decoder, library, cache)
    assert changed.status == "updated" and decoder.encoded == 2  # only hat9 and the new kick1
    names = [name for name, _ in changed.entries]
    assert "hats/hat9.wav" in names and "kicks/kick2.wav" not in names
    fresh = load_or_build(OnnxDecoder(model), library, tmp_path / "other-cache")  # the same, built from nothing
    assert fresh.entries == changed.entries
    np.testing.assert_allclose(fresh.points, changed.points, atol=1e-6)

    cache_path(cache, decoder.identity, library).write_bytes(b"damaged")
    decoder.encoded = 0
    rebuilt = load_or_build(decoder, library, cache)
    assert rebuilt.status == "built" and decoder.encoded == len(rebuilt.entries)


def test_another_model_gets_its_own_index(tmp_path, model, library):
    other = build_audio_decoder(tmp_path / "other-model", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    build_encoder(other, DIM, LENGTH, RATE, seed=99)  # another projection: another hash, other points
    a = load_or_build(OnnxDecoder(model), library, tmp_path / "cache")
    b = load_or_build(OnnxDecoder(other), library, tmp_path / "cache")
    assert b.status == "built" and a.model_hash != b.model_hash
    assert not np.allclose(a.points, b.points)
    assert len(list((tmp_path / "cache").glob("index-*.npz"))) == 2


def test_default_cache_is_the_user_cache_folder(tmp_path, model, library, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LIVEENGINE_CACHE", raising=False)  # the test suite sets it; a user normally does not
    query = library / "kicks" / "kick1.wav"
    code, out, err = run_similar(capsys, query, "--library", library, "--model", model)
    assert code == 0, err
    assert "index built" in out
    assert len(list((tmp_path / "xdg" / "liveengine" / "similar").glob("index-*.npz"))) == 1
    rows = result_rows(out)
    assert len(rows) == 10 and rows[0][3] == "kicks/kick1.wav" and rows[0][1] < 1e-4  # a file finds itself first


def test_clear_errors(tmp_path, model, library, capsys):
    query = library / "kicks" / "kick1.wav"
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_text("no audio here")
    for folder, found in [(tmp_path / "empty-folder", "holds no audio files"), (tmp_path / "texts", "holds no audio files"),
                          (tmp_path / "nowhere", "does not exist"), (query, "is a file")]:
        code, _, err = run_similar(capsys, query, "--library", folder, "--model", model, "--cache", tmp_path / "cache")
        assert code == 1 and f"library folder {folder} {found}" in err, err

    bad = tmp_path / "bad-library"
    bad.mkdir()
    (bad / "a.wav").write_text("text")
    (bad / "b.flac").write_bytes(b"\x00" * 100)
    code, _, err = run_similar(capsys, query, "--library", bad, "--model", model, "--cache", tmp_path / "cache")
    assert code == 1 and "none of its 2 audio files could be indexed" in err and "a.wav" in err, err

    patch = tmp_path / "synth.toml"
    patch.write_text('[model]\ndecoder = "builtin:testsynth"\n')
    code, _, err = run_similar(capsys, query, "--library", library, "--patch", patch, "--cache", tmp_path / "cache")
    assert code == 1 and "model testsynth has no encoder" in err and "encoder.onnx" in err, err
    no_encoder = build_audio_decoder(tmp_path / "plain", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    code, _, err = run_similar(capsys, query, "--library", library, "--model", no_encoder, "--cache", tmp_path / "cache")
    assert code == 1 and "has no encoder" in err, err

    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(RATE, np.float32), RATE)
    code, _, err = run_similar(capsys, silent, "--library", library, "--model", model, "--cache", tmp_path / "cache")
    assert code == 1 and f"audio file {silent} is silent" in err, err
    code, _, err = run_similar(capsys, tmp_path / "missing.wav", "--library", library, "--model", model, "--cache", tmp_path / "cache")
    assert code == 1 and "missing.wav does not exist" in err, err
    with pytest.raises(SystemExit):
        main(["similar", str(query), "--library", str(library), "-n", "0"])
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("a file, not a folder")
    code, _, err = run_similar(capsys, query, "--library", library, "--model", model, "--cache", not_a_folder)
    assert code == 1 and f"cannot write --cache {not_a_folder}: it is a file, not a folder. Choose a --cache folder" in err, err
    with pytest.raises(LiveEngineError, match="has no encoder"):
        load_or_build(OnnxDecoder(no_encoder), library, tmp_path / "cache")


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


DAMAGE = {  # how a cache file goes bad -> its new bytes, from the whole file's
    "empty": lambda whole: b"",
    "1-byte": lambda whole: whole[:1],
    "22-bytes": lambda whole: whole[:22],
    "500-bytes": lambda whole: whole[:500],
    "half": lambda whole: whole[: len(whole) // 2],
    "all-but-1": lambda whole: whole[:-1],
    "flipped-byte": lambda whole: _flip(whole, len(whole) // 3),  # a bad CRC
    "npy-file": lambda whole: _npy(np.zeros((2, DIM), np.float32)),  # not an archive: np.load gives an array
    "foreign-meta": lambda whole: _npz(meta=np.array("[1, 2]"), points=np.zeros((2, DIM), np.float32)),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_cache_is_rebuilt(tmp_path, model, library, capsys, damage):
    # A cache cut short (a full disk, a killed run) fails in numpy's zip layer (BadZipFile, EOFError), not with OSError.
    query, cache = library / "kicks" / "kick1.wav", tmp_path / "cache"
    code, first, err = run_similar(capsys, query, "--library", library, "--model", model, "--cache", cache)
    assert code == 0, err
    (path,) = cache.glob("index-*.npz")
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    code, out, err = run_similar(capsys, query, "--library", library, "--model", model, "--cache", cache)
    assert code == 0 and "Traceback" not in err, err
    assert "index built" in out and result_rows(out) == result_rows(first), out
    code, out, err = run_similar(capsys, query, "--library", library, "--model", model, "--cache", cache)
    assert code == 0 and "index up to date" in out, err  # the rebuilt file was written whole


def test_a_ten_minute_query_is_read_in_blocks_and_only_up_to_its_first_sounds(tmp_path, model, library, capsys, monkeypatch):
    """A 320 s float WAV as the query once peaked at 2.07 GB: read whole as one array, then framed and analysed at once.
    Now a long query is read BLOCK_FRAMES at a time and only QUERY_SECONDS past its leading silence are kept."""
    from liveengine.audio_files import BLOCK_FRAMES, QUERY_SECONDS

    rate, first = 8000, 95.0
    take = np.zeros(600 * rate, np.float32)  # ten minutes: 95 s of silence, then a kick every half second
    for start in np.arange(first, 599.0, 0.5):
        take[int(start * rate) : int(start * rate) + int(0.6 * rate)] += kick(57, 0.18, rate=rate)
    query = tmp_path / "take.wav"
    soundfile.write(query, take, rate, subtype="PCM_16")
    reads = []  # frames returned by each read of the query, through the real file
    real_read = soundfile.SoundFile.read

    def read(self, *args, **kwargs):
        data = real_read(self, *args, **kwargs)
        if Path(self.name) == query:
            reads.append(len(data))
        return data

    monkeypatch.setattr(soundfile.SoundFile, "read", read)
    code, out, err = run_similar(capsys, query, "--library", library, "--model", model, "-n", "3", "--cache", tmp_path / "cache")
    assert code == 0, err
    assert reads and max(reads) <= BLOCK_FRAMES, reads
    assert sum(reads) <= (first + QUERY_SECONDS) * rate + BLOCK_FRAMES < len(take)  # never the whole take
    assert re.search(r"its first hit, at 9[45]\.9\d\d s", out), out
    assert {r[3] for r in result_rows(out)} <= {"kicks/kick0.wav", "kicks/kick1.wav", "kicks/kick2.wav", "kicks/kick-stereo.flac", "loop.wav"}, out


def test_ctrl_c_while_indexing_keeps_the_files_encoded_and_says_so(tmp_path, model):
    """Ctrl-C while indexing once exited 130 saying nothing and kept nothing: a library of thousands of files
    started over. Now what is encoded is saved and said, and the next run encodes only the rest."""
    library = tmp_path / "samples"
    library.mkdir()
    loop = np.zeros(40 * RATE // 4, np.float32)  # first in the folder: its 40 hits fill an encoder batch before progress is told
    for k in range(40):
        loop[k * RATE // 4 : k * RATE // 4 + int(0.15 * RATE)] += kick(50 + k, 0.05, seconds=0.15)
    soundfile.write(library / "a-loop.wav", loop, RATE)
    take = np.zeros(6 * RATE, np.float32)  # then takes of 12 hats: seconds of work after the first progress line
    for k in range(12):
        take[k * RATE // 2 : k * RATE // 2 + int(0.3 * RATE)] += hat(seed=k)
    for i in range(100):
        soundfile.write(library / f"take{i:03d}.wav", take * (0.5 + i / 250), RATE, subtype="PCM_16")
    cache = tmp_path / "cache"
    code, first, out, err = interrupted("similar", str(library / "a-loop.wav"), "--library", str(library), "--model", str(model),
                                        "--cache", str(cache), cwd=tmp_path, first="indexing library: ", timeout=120)
    assert first.rstrip().endswith("/101"), first
    assert code == 130 and "Traceback" not in err and out == ""
    said = re.search(rf"^liveengine: stopped by Ctrl-C while indexing {re.escape(str(library))}; the index in {re.escape(str(cache))} "
                     r"keeps (\d+) of its 101 files \((\d+) sounds\): the next run encodes only the rest\.$", err, re.M)
    assert said, err
    kept, sounds = int(said.group(1)), int(said.group(2))
    assert "liveengine: stopped by Ctrl-C.\n" not in err  # said once, by the command itself
    assert 1 <= kept < 101 and sounds == 40 + 12 * (kept - 1)
    decoder = Counting(OnnxDecoder(model))
    index = load_or_build(decoder, library, cache)
    assert index.status == "updated" and decoder.encoded == 12 * (101 - kept)  # only the files not saved
    assert len(index.entries) == 40 + 12 * 100
    fresh = load_or_build(OnnxDecoder(model), library, tmp_path / "fresh")  # the same index as one uninterrupted run
    assert fresh.entries == index.entries
    np.testing.assert_allclose(fresh.points, index.points, atol=1e-6)
