"""ONNX models in the running engine (offline backend) and in `liveengine check`.

A model named in a patch plays; a model that fails to load leaves the running
instrument playing, sample for sample; `check` prints what it loaded or one error line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from liveengine.commands import make_command
from liveengine.decoders.contract import model_identity
from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.grid.anchors import plane_basis
from liveengine.render.buffers import prepare_oneshot
from liveengine.testing.models import build_audio_decoder, build_stft_decoder, contract_metadata

from onnx_helpers import write_patch

VELOCITY = 0.5
HITS = [(1000, (0, 0)), (6000, (3, 3)), (11000, (1, 2))]
MEAN = [0.1, -0.2, 0.0, 0.3, 0.0, 0.0, -0.1, 0.2]
AXES = [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]


def place(frames: int, buffer, begin: int, gain: float) -> np.ndarray:
    out = np.zeros(frames, dtype=np.float32)
    s = buffer.samples * np.float32(gain)
    skip = max(0, -begin)
    begin = max(0, begin)
    n = min(len(s) - skip, frames - begin)
    out[begin : begin + n] = s[skip : skip + n]
    return out


def render_hits(engine, backend) -> np.ndarray:
    for at, (r, c) in HITS:
        assert engine.submit(make_command("/pad", (r, c, VELOCITY), backend.frame + at))
    return backend.render(16000)


def plane_meta(output: str = "audio", **extra) -> dict:
    """Declared statistics: a non-zero mean, axes along z3 and z5, unequal spreads."""
    return contract_metadata(8, 44100, 8820 if output == "audio" else 4096, output,
                             **{"latent.mean": MEAN, "latent.axes": AXES, "latent.spreads": [0.5, 2.0], **extra})


def build(kind: str, folder):
    if kind == "audio":
        return build_audio_decoder(folder, metadata=plane_meta())
    stft = {"stft.n_fft": "256", "stft.hop": "64", "stft.window": "hann"}
    return build_stft_decoder(folder, metadata=plane_meta("stft", **stft))


# ---- a model named in a patch plays ----

@pytest.mark.parametrize("kind", ["audio", "stft"])
def test_engine_plays_a_model_next_to_the_patch(engines, tmp_path, kind):
    build(kind, tmp_path / "drums")
    engine, backend = engines(write_patch(tmp_path / "song.toml", "drums"))
    instrument = engine.instrument
    decoder, grid, cache = instrument.decoder, instrument.setting, instrument.cache
    assert isinstance(decoder, OnnxDecoder) and decoder.info.folder == tmp_path / "drums"
    assert decoder.info.output == kind

    # The plane runs through the declared mean along the declared axes, scaled by the spreads.
    np.testing.assert_allclose(instrument.mapping.origin, MEAN)
    points = instrument.pad_points
    offsets = points - np.asarray(MEAN, np.float32)
    assert np.all(np.abs(offsets[:, [0, 1, 2, 4, 6, 7]]) < 1e-6)  # nothing off the plane
    np.testing.assert_allclose(offsets[grid.pad_index(0, 0)], [0, 0, 0, -2 * 0.5, 0, -2 * 2.0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(offsets[grid.pad_index(3, 3)], [0, 0, 0, 2 * 0.5, 0, 2 * 2.0, 0, 0], atol=1e-6)

    # Each pad's buffer is the decoder's sound for that pad's point.
    for pad in (grid.pad_index(0, 0), grid.pad_index(2, 1)):
        out = np.zeros((1, decoder.output_length), np.float32)
        decoder.decode_into(points[pad : pad + 1], out)
        expected = prepare_oneshot(out[0], decoder.sample_rate, engine.options.samplerate, max_seconds=0.1)
        np.testing.assert_array_equal(cache.get(pad).samples, expected.samples)

    # Pads are different sounds.
    buffers = [cache.get(p).samples for p in range(grid.rows * grid.cols)]
    for a, b in [(0, 1), (0, 4), (0, 15), (5, 10)]:
        n = min(len(buffers[a]), len(buffers[b]))
        corr = np.dot(buffers[a][:n], buffers[b][:n]) / (np.linalg.norm(buffers[a][:n]) * np.linalg.norm(buffers[b][:n]))
        assert corr < 0.99, (a, b, corr)

    mono = render_hits(engine, backend)[:, 0]
    expected = np.zeros(len(mono), np.float32)
    for at, (r, c) in HITS:
        buffer = cache.get(grid.pad_index(r, c))
        expected += place(len(mono), buffer, at - buffer.onset, VELOCITY)
    np.testing.assert_allclose(mono, expected, rtol=0, atol=1e-6)
    assert np.max(np.abs(mono)) > 0.3  # peak-normalised to 0.9, at velocity 0.5
    assert engine.shared.counter("callback_errors") == 0 and instrument.workers.errors == 0


def test_plane_basis_without_declared_axes_is_the_first_two_dimensions(tmp_path):
    meta = contract_metadata(8, 44100, 8820)
    del meta["latent.axes"], meta["latent.spreads"]
    decoder = OnnxDecoder(build_audio_decoder(tmp_path / "plain", metadata=meta))
    assert plane_basis(decoder) == {}


@pytest.mark.parametrize("normalize", ["none", "loudness"])
def test_patch_normalize_reaches_the_decoder(engines, tmp_path, normalize):
    build_audio_decoder(tmp_path / "drums")
    engine, _ = engines(write_patch(tmp_path / "song.toml", "drums", normalize=normalize))
    assert engine.instrument.decoder.normalize == normalize
    peaks = [engine.instrument.cache.get(p).peak for p in range(16)]
    assert not np.allclose(peaks, 0.9, atol=1e-3)  # not peak-normalised


# ---- a broken model never takes the engine down ----

BROKEN = {
    "contract": (lambda f: build_audio_decoder(f, metadata=contract_metadata(8, 44100, 8820, contract="2")), "contract = '2'"),
    "nan": (lambda f: build_audio_decoder(f, add_nan=True), "NaN"),
    "bytes": (lambda f: (f.mkdir(), (f / "decoder.onnx").write_bytes(b"\x08\x07garbage" * 50)), "not a loadable ONNX model"),
    "missing": (lambda f: None, "not found"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_failed_model_load_leaves_the_running_engine_alone(engines, tmp_path, broken):
    testsynth = write_patch(tmp_path / "synth.toml", "builtin:testsynth")
    make, problem = BROKEN[broken]
    make(tmp_path / "wreck")
    bad = write_patch(tmp_path / "bad.toml", "wreck")
    build_audio_decoder(tmp_path / "drums")
    good = write_patch(tmp_path / "good.toml", "drums", name="onnx drums")

    reference_engine, reference_backend = engines(testsynth)
    reference = render_hits(reference_engine, reference_backend)

    engine, backend = engines(testsynth)
    instrument = engine.instrument
    assert engine.load_patch(bad) is False
    assert engine.instrument is instrument
    report = engine.reports[-1]
    assert report.startswith("patch not loaded, still playing synth:")
    assert "wreck" in report and problem in report
    after = render_hits(engine, backend)
    assert np.max(np.abs(after)) > 0.1
    np.testing.assert_array_equal(after, reference)

    # A good ONNX patch then swaps in, and the sound changes.
    assert engine.load_patch(good) is True
    assert engine.reports[-1] == "patch onnx drums loaded"
    assert engine.wait_rendered(timeout=60)
    assert isinstance(engine.instrument.decoder, OnnxDecoder)
    swapped = render_hits(engine, backend)
    assert np.max(np.abs(swapped)) > 0.1
    assert not np.allclose(swapped, reference, atol=1e-3)
    assert engine.shared.counter("callback_errors") == 0


def test_a_patch_of_the_model_playing_reuses_it_until_its_files_change(engines, tmp_path, monkeypatch):
    """Patches over one model (the shipped default, grooves and voice patches all play drums19) switch without loading
    it again, no trial load in a child either; a model exported again into the same folder, or other model options,
    load afresh."""
    from liveengine.engine import engine as engine_module

    trial_loads = []
    real_trial = engine_module.load_in_child
    monkeypatch.setattr(engine_module, "load_in_child", lambda *args: trial_loads.append(args[0]) or real_trial(*args))
    build_audio_decoder(tmp_path / "drums", seed=1)
    first = write_patch(tmp_path / "first.toml", "drums", name="first")
    second = write_patch(tmp_path / "second.toml", "drums", grid=8, name="second")
    quieter = write_patch(tmp_path / "quieter.toml", "drums", name="quieter", normalize="none")
    engine, backend = engines(first)
    playing = engine.instrument.decoder
    assert engine.load_patch(second) is True and engine.wait_rendered(timeout=60)
    assert engine.instrument.decoder is playing and trial_loads == []
    assert engine.instrument.setting.pads == 64 and np.max(np.abs(render_hits(engine, backend))) > 0.1

    build_audio_decoder(tmp_path / "drums", seed=2)  # another model written over the folder
    assert engine.load_patch(first) is True and engine.wait_rendered(timeout=60)
    assert engine.instrument.decoder is not playing and trial_loads == ["drums"]
    assert engine.instrument.decoder.identity == model_identity(tmp_path / "drums") != playing.identity
    again = engine.instrument.decoder
    assert engine.load_patch(quieter) is True and engine.wait_rendered(timeout=60)  # normalize differs: its own load
    assert engine.instrument.decoder is not again and trial_loads == ["drums", "drums"]


def test_a_model_loaded_before_is_not_tried_in_a_child_again_until_its_files_change(engines, tmp_path, monkeypatch):
    """The trial load in a throwaway process guards against files that crash the runtime; a model folder that has
    loaded here already, or passed a trial, with the same files, is not tried again: switching back and forth between
    two models starts no child after the first time; any file written again, the gradient graph too, brings it back."""
    from liveengine.decoders import trial_load

    children = []
    real_run = trial_load.subprocess.run
    monkeypatch.setattr(trial_load.subprocess, "run", lambda command, **kw: children.append(command[-1]) or real_run(command, **kw))
    for name, seed in (("a", 1), ("b", 2)):
        build_audio_decoder(tmp_path / name, seed=seed)
        write_patch(tmp_path / f"{name}.toml", name, name=name)
    engine, backend = engines(tmp_path / "a.toml")  # loaded here: remembered
    for name in ("b", "a", "b", "a"):
        assert engine.load_patch(tmp_path / f"{name}.toml") is True and engine.wait_rendered(timeout=60)
        assert engine.instrument.patch.name == name
    assert [json.loads(args)[0] for args in children] == ["b"]  # b's first switch only
    (tmp_path / "b" / "decoder_grad.onnx").write_bytes(b"")  # a new file in the folder: tried again (and refused there)
    assert engine.load_patch(tmp_path / "b.toml") is False
    assert [json.loads(args)[0] for args in children] == ["b", "b"] and engine.instrument.patch.name == "a"
    assert np.max(np.abs(render_hits(engine, backend))) > 0.1


# ---- liveengine check ----

def liveengine(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["audio", "stft"])
def test_check_prints_the_model(tmp_path, kind):
    folder = build(kind, tmp_path / "drums")
    write_patch(tmp_path / "song.toml", "drums")
    result = liveengine("check", "song.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"hash {model_identity(folder)}" in out
    contract = re.search(r"^contract\s+v1 oneshot, output (\w+)(.*)$", out, re.M)
    assert contract is not None, out
    assert contract.group(1) == kind
    if kind == "stft":
        assert "STFT n_fft 256, hop 64, hann" in contract.group(2)
    assert re.search(r"^decode\s+\d+\.\d+ ms for one sound, \d+\.\d+ ms for a batch of 8$", out, re.M), out
    assert re.search(r"^extras\s+.*, fit no$", out, re.M), out  # no decoder_grad.onnx in this folder
    assert out.strip().splitlines()[-1] == "ok"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("broken", ["contract", "bytes"])
def test_check_on_a_broken_model_is_one_line(tmp_path, broken):
    make, problem = BROKEN[broken]
    make(tmp_path / "wreck")
    write_patch(tmp_path / "song.toml", "wreck")
    result = liveengine("check", "song.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("liveengine: model wreck: ")
    assert problem in lines[0]
    assert "hash" not in result.stdout
