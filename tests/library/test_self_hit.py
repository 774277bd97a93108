"""A file in the library finds itself first: the shipped drum model's exported grid as the library, every pad queried.

Query and library turn a file into sounds with one function (liveengine.library.index.file_sounds),
so a pad queried against the folder that holds it is at distance 0 from itself. Before, the query
was cut at its second onset and the library's copy was not: 21 of 64 pads were not their own top hit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from liveengine.decoders.registry import load_decoder
from liveengine.library.index import cache_path, encode_sounds, library_files, load_or_build, query_sound

RATE = 44100  # the drum model's


def liveengine(*args, cwd):
    return subprocess.run([sys.executable, "-m", "liveengine", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def ringing(seconds=4.0):
    """A ride-like one-shot: partials 17 Hz apart beat as it decays, which onset detection once took for 50-odd hits."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f * t) for f in (2900, 2917, 4400, 5230)) * np.exp(-t / 1.5)
    return (0.8 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("similar")
    result = liveengine("render-grid", "default", "--out", root / "grid", cwd=root)  # the shipped patch: models_onnx/drums
    assert result.returncode == 0, result.stderr
    pads = [soundfile.read(root / "grid" / f"pad_r{r}_c{c}.wav", dtype="float32")[0] for r, c in [(0, 0), (3, 7), (5, 5), (7, 7)]]
    take = np.zeros(3 * 48000, np.float32)  # a take: the four pads 0.7 s apart, the first at sample 0
    for k, pad in enumerate(pads):
        start = int(k * 0.7 * 48000)
        take[start : start + len(pad)] += pad[: len(take) - start]
    soundfile.write(root / "grid" / "take.wav", take, 48000, subtype="FLOAT")
    soundfile.write(root / "grid" / "ride.wav", ringing(), RATE, subtype="FLOAT")
    return root


def test_every_file_is_its_own_top_hit(library):
    decoder = load_decoder("drums")
    index = load_or_build(decoder, library / "grid", library / "cache")
    starts = {name: [s for n, s in index.entries if n == name] for name in ("take.wav", "ride.wav")}
    assert np.allclose(starts["take.wav"], [0.0, 0.7, 1.4, 2.1], atol=0.005), starts  # a take is cut at its hits
    assert starts["ride.wav"] == [0.0]  # a ringing one-shot is one sound
    files = library_files(library / "grid")
    assert len(files) == 66
    queries = [query_sound(path, decoder) for path in files]
    points = encode_sounds(decoder, [sound for _, sound in queries])
    for path, (start, _), point in zip(files, queries, points):
        (name, found_at, distance), = index.nearest(point, 1)
        assert (name, found_at) == (path.name, round(start, 4)) and distance < 1e-4, (path.name, name, distance)


def test_similar_lists_the_query_file_first(library):
    result = liveengine("similar", "grid/pad_r7_c7.wav", "--library", "grid", "--model", "drums", "-n", "3", "--cache", "cache", cwd=library)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.lstrip()[:1].isdigit()]
    assert len(rows) == 3 and rows[0][3] == "pad_r7_c7.wav" and float(rows[0][1]) < 1e-4, result.stdout


def test_an_index_cut_by_an_older_version_is_rebuilt(library):
    decoder = load_decoder("drums")
    cache = library / "old-cache"
    load_or_build(decoder, library / "grid", cache)
    path = cache_path(cache, decoder.identity, library / "grid")
    with np.load(path) as data:
        meta, points = json.loads(str(data["meta"])), data["points"]
    meta["version"] = 1  # as the index that cut a ringing ride into dozens of "hits" was written
    np.savez(path, meta=np.array(json.dumps(meta)), points=points)
    assert load_or_build(decoder, library / "grid", cache).status == "built"
