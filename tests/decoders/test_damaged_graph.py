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


def test_an_encoder_that_aborts_the_runtime_is_tried_in_a_child_on_first_use_and_refused_there(tmp_path):
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
        trial_load.subprocess.run = lambda command, **kw: children.append(command) or real_run(command, **kw)
        for _ in range(2):
            with pytest.raises(ModelError, match=r"crashes the ONNX runtime while loading \(SIGABRT\): the file is damaged"):
                decoder.encode(np.zeros((1, 1000), np.float32))
        assert len(children) == 1  # tried once; the error is kept
        assert engine.submit(make_command("/pad", [1, 1, 0.9]))  # this process lives and plays
    finally:
        trial_load.subprocess.run = real_run
        engine.stop()


def test_an_encoder_loads_without_a_trial_while_the_instrument_starts(tmp_path, monkeypatch):
    """Before the audio starts a crash ends the start (as one loading the model does), so a corner file encoded then
    (a patch whose grid is corners) costs no child; once playing, the first encode tries the model in one."""
    import numpy as np

    from liveengine.decoders import trial_load

    children = []
    real_run = trial_load.subprocess.run
    monkeypatch.setattr(trial_load.subprocess, "run", lambda command, **kw: children.append(command) or real_run(command, **kw))
    monkeypatch.setattr(trial_load, "_TRIED", {})
    patch = tmp_path / "drums.toml"
    patch.write_text('[model]\ndecoder = "drums"\n[engine]\nrender_in = "thread"\n')
    for started in (False, True):
        engine = Engine(load_patch(patch))
        try:
            if started:
                engine.start(OfflineBackend(48000, 128, 2))
            assert engine.instrument.decoder.encode(np.zeros((1, 1000), np.float32)).shape == (1, engine.instrument.decoder.latent_dim)
            assert len(children) == started
        finally:
            engine.stop()
