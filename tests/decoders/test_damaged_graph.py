"""A model whose graph makes onnxruntime abort the process (SIGABRT from a C++ assertion, no Python
error): `/patch` refuses it in one sentence and the old patch keeps playing; `check` says why."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liveengine.commands import make_command
from liveengine.audio.offline import OfflineBackend
from liveengine.engine import Engine
from liveengine.patch import load_patch

REPO = Path(__file__).resolve().parents[2]
ABORTING_FLIP = 2508  # xor 0xFF at this offset of the shipped drum decoder makes onnxruntime's session creation abort


@pytest.fixture
def damaged(tmp_path) -> Path:
    model = tmp_path / "drums-damaged"
    shutil.copytree(REPO / "models_onnx" / "drums", model)
    data = bytearray((model / "decoder.onnx").read_bytes())
    data[ABORTING_FLIP] ^= 0xFF
    (model / "decoder.onnx").write_bytes(bytes(data))
    probe = subprocess.run([sys.executable, "-c", f"from liveengine.decoders.registry import load_decoder; load_decoder({str(model)!r})"],
                           capture_output=True)
    if probe.returncode >= 0:
        pytest.skip("this onnxruntime does not abort on that byte (the test needs a model that kills its process)")
    patch = tmp_path / "damaged.toml"
    patch.write_text(f'[model]\ndecoder = "{model}"\n[engine]\nrender_in = "thread"\n')
    return patch


def test_a_patch_swap_to_a_model_that_aborts_the_runtime_is_refused_and_the_show_goes_on(damaged, short_patch):
    reports: list[str] = []
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')), on_report=reports.append)
    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(OfflineBackend(48000, 128, 2))
        assert not engine.load_patch(damaged)
        assert any("crashes the ONNX runtime while loading (SIGABRT): the file is damaged" in r for r in reports), reports
        assert engine.instrument.patch.name == "short" and engine.submit(make_command("/pad", [1, 1, 0.9]))  # still playing
    finally:
        engine.stop()


def test_check_says_why_instead_of_dying(damaged):
    done = subprocess.run([sys.executable, "-m", "liveengine", "check", str(damaged)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("liveengine: model") and "crashes the ONNX runtime while loading (SIGABRT)" in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "Assertion" not in done.stderr


def test_an_encoder_that_aborts_the_runtime_is_tried_in_a_child_on_first_use_and_refused_there(tmp_path, monkeypatch):
    """The encoder loads on first use (a corner file, a library), not with the model: a model played from the start has
    its encoder tried in a throwaway process first, so a damaged encoder.onnx is one error for what needed it, once, and
    the show goes on. The damaged bytes are the drum decoder's with the aborting flip, written as encoder.onnx."""
    import numpy as np

    model = tmp_path / "drums-bad-encoder"
    shutil.copytree(REPO / "models_onnx" / "drums", model)
    data = bytearray((model / "decoder.onnx").read_bytes())
    data[ABORTING_FLIP] ^= 0xFF
    (model / "encoder.onnx").write_bytes(bytes(data))
    probe = subprocess.run([sys.executable, "-c", "import sys, onnxruntime; onnxruntime.InferenceSession(sys.argv[1])",
                            str(model / "encoder.onnx")], capture_output=True)
    if probe.returncode >= 0:
        pytest.skip("this onnxruntime does not abort on that byte (the test needs a model that kills its process)")
    patch = tmp_path / "bad-encoder.toml"
    patch.write_text(f'[model]\ndecoder = "{model}"\n[engine]\nrender_in = "thread"\n')
    (tmp_path / "short.toml").write_text('[model]\ndecoder = "builtin:testsynth"\n[engine]\nrender_in = "thread"\n')
    from liveengine.decoders import trial_load
    from liveengine.decoders.contract import ModelError

    children = []
    real_run = trial_load.subprocess.run
    engine = Engine(load_patch(patch))  # loads in this process: the encoder is not loaded yet
    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(OfflineBackend(48000, 128, 2))
        decoder = engine.instrument.decoder
        assert decoder.can_encode and not decoder.encoder_loaded
        monkeypatch.setattr(trial_load.subprocess, "run", lambda command, **kw: children.append(command) or real_run(command, **kw))
        for _ in range(2):
            with pytest.raises(ModelError, match=r"crashes the ONNX runtime while loading \(SIGABRT\): the file is damaged"):
                decoder.encode(np.zeros((1, 1000), np.float32))
        assert len(children) == 1  # tried once; the error is kept
        assert engine.submit(make_command("/pad", [1, 1, 0.9]))  # this process lives and plays
    finally:
        engine.stop()
    # A live switch to it: its pads load and play (the trial's child crashed on the encoder alone); encoding is refused
    # by what that child found, with no child of its own.
    engine = Engine(load_patch(tmp_path / "short.toml"))
    try:
        engine.start(OfflineBackend(48000, 128, 2))
        monkeypatch.setattr(trial_load, "_TRIED", {})  # as in a new session: nothing tried yet
        monkeypatch.setattr(trial_load, "_LOADED", {})
        assert engine.load_patch(patch) and engine.wait_rendered(timeout=60)
        assert len(children) == 2 and engine.instrument.patch.name == "bad-encoder"
        with pytest.raises(ModelError, match=r"encoder.onnx crashes the ONNX runtime while loading \(SIGABRT\)"):
            engine.instrument.decoder.encode(np.zeros((1, 1000), np.float32))
        assert len(children) == 2 and engine.submit(make_command("/pad", [1, 1, 0.9]))
    finally:
        engine.stop()
    # check on a patch whose grid is corner files over it: the trial's finding, said before the start encodes them
    import numpy as np
    import soundfile as sf

    for name in "abcd":
        sf.write(tmp_path / f"{name}.wav", np.sin(np.arange(4410) / 5.0) * np.exp(-np.arange(4410) / 800), 44100)
    corners = tmp_path / "corners.toml"
    corners.write_text(f'[model]\ndecoder = "{model}"\n[grid]\nmapping = "corners"\ncorners = ["a.wav", "b.wav", "c.wav", "d.wav"]\n')
    done = subprocess.run([sys.executable, "-m", "liveengine", "check", str(corners)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "encoder.onnx crashes the ONNX runtime while loading (SIGABRT)" in done.stderr and "Traceback" not in done.stderr


def test_an_encoder_loads_without_a_trial_while_the_first_instrument_is_built_and_with_one_after(tmp_path, monkeypatch):
    """A corners patch encodes its files while the engine builds its first instrument: a crash there ends the start, as
    one loading the model does, so no child is started. Any later first use (another thread, after the start) tries the
    model in one child, once per folder: a second engine on it, whose encoder the child refused, starts no second."""
    import numpy as np
    import soundfile as sf

    from liveengine.decoders import trial_load
    from liveengine.decoders.contract import ModelError

    children = []
    real_run = trial_load.subprocess.run
    monkeypatch.setattr(trial_load.subprocess, "run", lambda command, **kw: children.append(command) or real_run(command, **kw))
    monkeypatch.setattr(trial_load, "_TRIED", {})
    t = np.arange(4410) / 44100
    for i, name in enumerate(("a", "b", "c", "d")):
        sf.write(tmp_path / f"{name}.wav", np.sin(2 * np.pi * (80 + 900 * i) * t) * np.exp(-t / 0.03), 44100)
    corners = tmp_path / "corners.toml"
    corners.write_text('[model]\ndecoder = "drums"\n[engine]\nrender_in = "thread"\n'
                       '[grid]\nmapping = "corners"\ncorners = ["a.wav", "b.wav", "c.wav", "d.wav"]\n')
    engine = Engine(load_patch(corners))
    try:
        assert engine.instrument.decoder.encoder_loaded and children == []
    finally:
        engine.stop()
    plane = tmp_path / "plane.toml"
    plane.write_text('[model]\ndecoder = "drums"\n[engine]\nrender_in = "thread"\n')
    engine = Engine(load_patch(plane))
    try:
        assert not engine.instrument.decoder.encoder_loaded
        assert engine.instrument.decoder.encode(np.zeros((1, 1000), np.float32)).shape == (1, engine.instrument.decoder.latent_dim)
        assert len(children) == 1
    finally:
        engine.stop()

    wrong = tmp_path / "drums-wrong-encoder"  # an encoder.onnx that loads but breaks the contract: the child lives
    shutil.copytree(REPO / "models_onnx" / "drums", wrong)
    shutil.copy(wrong / "classifier.onnx", wrong / "encoder.onnx")
    plane.write_text(f'[model]\ndecoder = "{wrong}"\n[engine]\nrender_in = "thread"\n')
    for _ in range(2):
        engine = Engine(load_patch(plane))
        try:
            with pytest.raises(ModelError, match="encoder.onnx inputs"):
                engine.instrument.decoder.encode(np.zeros((1, 1000), np.float32))
            assert len(children) == 2
        finally:
            engine.stop()
