"""Capture, state save and resume: nothing found on stage is lost, and a wrong state never plays a wrong sound."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile

from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.state import STATE_VERSION, load_state, save_state

from tests.grid.test_grid_engine import wait_for, write_patch


@pytest.fixture(autouse=True)
def user_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEENGINE_LIBRARY", str(tmp_path / "library"))
    monkeypatch.setenv("LIVEENGINE_STATE", str(tmp_path / "state"))


def test_capture_keeps_the_sound_heard_last_with_its_latent_point(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml", "variance = 0.4\nseed = 9"))
    with pytest.raises(LiveEngineError, match="nothing has been played"):
        engine.capture()
    wait_for(lambda: engine.instrument.cache.ready(engine.instrument.cache.pads + 20) is not None, "the variation")
    engine.submit(make_command("/pad", [2, 4, 0.7]))
    heard = engine.last_heard
    assert heard.kind == "variation"
    path = engine.capture()
    assert path.parent == tmp_path / "library" and path.suffix == ".wav"
    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == 48000
    np.testing.assert_array_equal(audio, engine.last_sound.samples)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    np.testing.assert_allclose(sidecar["point"], heard.point, rtol=1e-6)
    assert sidecar["model_hash"] == engine.instrument.decoder.identity
    assert sidecar["setting"]["variance"] == 0.4 and sidecar["pad"] == 20
    # The point is not the pad's own: variance moved it, and capture kept what was heard.
    assert not np.allclose(sidecar["point"], engine.instrument.pad_points[20])
    second = engine.capture()
    assert second != path and second.exists()  # never overwrites
    assert [c["file"] for c in engine.state()["captures"]] == [path.name, second.name]


def test_state_saves_atomically_and_resumes_the_same_grid(engines, tmp_path):
    patch = write_patch(tmp_path / "p.toml")
    engine, backend = engines(patch)
    for name, value in [("zoom", 2.5), ("rotation", 30.0), ("center_x", -0.5), ("variance", 0.3), ("seed", 77)]:
        engine.submit(make_command("/param", [name, value]))
    engine.submit(make_command("/pad", [1, 1]))
    engine.capture()
    first = engine.save_state("gig")
    assert first == tmp_path / "state" / "gig.json"
    engine.submit(make_command("/param", ["zoom", 1.0]))
    engine.save_state("gig")
    assert json.loads((tmp_path / "state" / "gig.prev.json").read_text())["setting"]["zoom"] == 2.5  # the previous one kept
    engine.submit(make_command("/param", ["zoom", 2.5]))
    engine.save_state("gig")

    resumed = Engine(load_patch(patch))
    try:
        resumed.restore_state(tmp_path / "state" / "gig.json")
        assert resumed.instrument.setting == engine.instrument.setting
        np.testing.assert_array_equal(resumed.instrument.pad_points, engine.instrument.pad_points)
        assert resumed.instrument.variation_counts == engine.instrument.variation_counts
        assert len(resumed.captures) == 1
        assert resumed.wait_rendered(timeout=60)
    finally:
        resumed.stop()


def test_a_state_from_another_model_or_a_newer_version_is_refused(tmp_path):
    path = save_state(tmp_path / "s.json", {"model_hash": "abc", "setting": {}})
    with pytest.raises(LiveEngineError, match="saved with model abc; the patch's model is def"):
        load_state(path, "def")
    path.write_text(json.dumps({"version": STATE_VERSION + 1, "model_hash": "abc"}))
    with pytest.raises(LiveEngineError, match="newer liveengine"):
        load_state(path, "abc")
    path.write_text("{ half a file")
    with pytest.raises(LiveEngineError, match="unreadable"):
        load_state(path, "abc")
    with pytest.raises(LiveEngineError, match="no saved state"):
        load_state(tmp_path / "none.json", "abc")


def test_a_state_saved_with_an_earlier_export_whose_points_sound_the_same_loads(tmp_path):
    """A model re-exported with its decoder unchanged (a faster encoder, another head) lists its earlier hashes
    (tail.py --same-points-as): their state files load; any other model's are still refused."""
    path = save_state(tmp_path / "s.json", {"model_hash": "549df0736e068fc6", "setting": {}})
    assert load_state(path, "0766c2998ab48fc2", ("549df0736e068fc6",))["model_hash"] == "549df0736e068fc6"
    with pytest.raises(LiveEngineError, match="saved with model 549df0736e068fc6"):
        load_state(path, "0766c2998ab48fc2", ("1111111111111111",))


def test_restoring_a_bad_state_leaves_the_engine_as_it_was(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    before = engine.instrument.setting
    state = engine.state()
    state["variation_counts"] = [0] * 16  # a 4x4 grid's
    save_state(tmp_path / "small.json", state)
    with pytest.raises(LiveEngineError, match="grid of 16 pads; this patch has 64"):
        engine.restore_state(tmp_path / "small.json")
    assert engine.instrument.setting == before


def test_autosave_writes_once_after_the_changes_stop_and_at_exit(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    engine.autosave, engine.autosave_delay = "autosave", 2.0  # quiet seconds before a save: longer than a loaded machine stalls
    target = tmp_path / "state" / "autosave.json"
    for zoom in (1.5, 2.0, 2.5, 3.0):  # a knob sweep
        engine.submit(make_command("/param", ["zoom", zoom]))
        time.sleep(0.05)
    assert not target.exists()  # still moving: nothing written yet
    wait_for(target.exists, "the autosave", timeout=15)
    assert json.loads(target.read_text())["setting"]["zoom"] == 3.0  # once, after the last
    engine.submit(make_command("/param", ["zoom", 1.25]))
    engine.stop()
    assert json.loads(target.read_text())["setting"]["zoom"] == 1.25


def test_a_capture_that_cannot_be_written_is_one_clear_error_and_the_engine_plays_on(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.submit(make_command("/pad", [1, 1]))
    (tmp_path / "not-a-folder").write_text("a file where the library folder should be")
    with pytest.raises(LiveEngineError, match="cannot write the capture into .*not-a-folder"):
        engine.capture(tmp_path / "not-a-folder")
    assert engine.captures == []
    assert engine.submit(make_command("/pad", [2, 2]))  # still playing
    assert engine.capture(tmp_path / "ok").exists()


def test_a_state_that_cannot_be_saved_is_one_clear_error(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    (tmp_path / "blocked").write_text("a file where the state folder should be")
    with pytest.raises(LiveEngineError, match="cannot save the state into .*blocked"):
        engine.save_state("gig", tmp_path / "blocked")
