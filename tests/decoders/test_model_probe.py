"""Models that break away from the prior's mean (issue 15, item 1): refused before they play, or,
where they break only after a zoom, their failures counted while the pads keep their old sounds.

Every model here is a real ONNX file (liveengine.testing.models, `fault=`); the mean itself decodes
fine, so the load-time check at the mean passes and only the probe across the grid can catch them.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from liveengine.commands import make_command
from liveengine.testing.models import build_audio_decoder

from onnx_helpers import write_patch

HITS = [(1000, (0, 0)), (6000, (3, 3)), (11000, (1, 2))]


def render_hits(engine, backend) -> np.ndarray:
    for at, (r, c) in HITS:
        assert engine.submit(make_command("/pad", (r, c, 0.5), backend.frame + at))  # under the limiter: renders repeat exactly
    return backend.render(16000)


@pytest.mark.parametrize("fault", ["short", "nan", "slow"])
def test_patch_swap_refuses_a_model_that_fails_off_the_mean_and_the_old_one_keeps_playing(engines, tmp_path, fault):
    build_audio_decoder(tmp_path / "good")
    build_audio_decoder(tmp_path / "bad", fault=fault, seed=1)
    engine, backend = engines(write_patch(tmp_path / "good.toml", "good", name="good", engine_extra='render_in = "thread"'))
    before = render_hits(engine, backend)
    # A 4x4 grid at zoom 1 reaches a latent norm of 2.8; the bad model fails beyond 0.5. The slow one
    # (about 30 ms a sound) would need about 0.5 s for 16 pads: above this patch's limit.
    limit = "\nmax_grid_render_s = 0.1" if fault == "slow" else ""  # the others fail at the default limit too
    bad = write_patch(tmp_path / "bad.toml", "bad", name="bad", engine_extra='render_in = "process"' + limit)

    assert engine.load_patch(bad) is False
    report = engine.reports[-1]
    assert report.startswith("patch not loaded, still playing good: model bad is refused: ") and "\n" not in report
    expected = {"short": "its output has shape {1,4410} here, not {1,8820}", "nan": "silence (or NaN)",
                "slow": "above the patch's max_grid_render_s of 0.1 s"}[fault]
    assert expected in report, report
    assert engine.instrument.patch.name == "good"
    np.testing.assert_array_equal(render_hits(engine, backend), before)


@pytest.mark.parametrize("fault", ["short", "nan"])
def test_pads_that_fail_after_a_zoom_keep_their_old_sound_and_are_counted(engines, tmp_path, fault):
    # Fine within a latent norm of 4 (the whole grid at zoom 1), broken beyond: zoom 0.5 takes
    # the twelve outer pads of the 4x4 grid there, the four inner ones stay inside.
    build_audio_decoder(tmp_path / "edge", fault=fault, fault_radius=4.0)
    engine, backend = engines(write_patch(tmp_path / "edge.toml", "edge", engine_extra='render_in = "thread"'))
    cache, grid = engine.instrument.cache, engine.instrument.setting
    corner, inner = grid.pad_index(0, 0), grid.pad_index(1, 1)
    old_corner, old_inner = cache.get(corner), cache.get(inner)

    assert engine.submit(make_command("/param", ("zoom", 0.5)))
    assert engine.wait_rendered(timeout=20)  # failed pads count as done: a start-up never waits forever

    assert cache.get(corner) is old_corner and old_corner.peak > 0.1  # the old sound, not silence
    assert cache.get(inner) is not old_inner and cache.get(inner).peak > 0.1  # rendered for the new zoom
    assert engine.status()["render_failures"] == cache.failures >= 12
    assert sum("keep their old sound" in r for r in engine.reports) == 1  # reported once for the setting, not per pad
    audio = render_hits(engine, backend)
    assert np.max(np.abs(audio[1000:6000])) > 0.05  # the corner pad still sounds

    # A hit between pads in the broken region: its render fails, is counted, and the nearest pad plays.
    failures = engine.status()["render_failures"]
    assert engine.submit(make_command("/xy", (0.1, 0.1, 0.5)))
    assert engine.last_heard.kind == "fallback" and engine.last_heard.pad == corner
    assert engine.status()["render_failures"] == failures + 1
    assert np.max(np.abs(backend.render(6000))) > 0.05


def run_check(patch, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", "check", str(patch)], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fault", ["short", "nan"])
def test_check_never_says_ok_for_a_model_that_fails_off_the_mean(tmp_path, fault):
    build_audio_decoder(tmp_path / "bad", fault=fault)
    result = run_check(write_patch(tmp_path / "bad.toml", "bad"), tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "ok" not in result.stdout.split()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liveengine: model bad is refused: "), result.stderr


def test_render_refuses_a_model_whose_pads_fail_instead_of_waiting_for_them_forever(tmp_path):
    # Was: `rendering pads: 0/16` and a wait without end (play waited the same way at start).
    build_audio_decoder(tmp_path / "bad", fault="short")
    (tmp_path / "one.score").write_text("0.0 /pad 0 0 1.0\n")
    result = subprocess.run([sys.executable, "-m", "liveengine", "render", str(write_patch(tmp_path / "bad.toml", "bad")),
                             "--score", "one.score", "--out", "out.wav"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and not (tmp_path / "out.wav").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liveengine: model bad is refused: the model failed to decode there"), result.stderr


@pytest.mark.parametrize("fault", ["short", "nan"])
def test_render_grid_refuses_a_pad_the_model_cannot_render_and_writes_nothing(tmp_path, fault):
    # Was: the NaN pads exported as silent files; the short ones as a traceback.
    build_audio_decoder(tmp_path / "bad", fault=fault)
    result = subprocess.run([sys.executable, "-m", "liveengine", "render-grid", str(write_patch(tmp_path / "bad.toml", "bad")),
                             "--out", "grid"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert not (tmp_path / "grid").exists() or not any((tmp_path / "grid").iterdir())
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("liveengine: point 1 of 16 cannot be rendered: the model "), result.stderr


class _Waiting:
    """The test synth, but each decode also waits `wait` s without using the CPU: what a busy machine
    does to a fast model's wall time (a real busy neighbour would make this test depend on load)."""

    def __init__(self, wait: float, spin: bool = False) -> None:
        from liveengine.decoders.test_synth import TestSynthDecoder

        self.inner, self.wait, self.spin = TestSynthDecoder(), wait, spin
        for name in ("name", "latent_dim", "sample_rate", "output_length", "preferred_batch", "identity"):
            setattr(self, name, getattr(self.inner, name))

    def decode_into(self, points, out):
        import time

        self.inner.decode_into(points, out)
        # The model's own cost: `wait` s of this thread's CPU time, however long a busy machine makes that take
        # (spinning to a wall-clock deadline charged less than `wait` when the thread was kept off the CPU).
        end = time.thread_time() + self.wait
        while self.spin and time.thread_time() < end:
            pass
        if not self.spin:
            time.sleep(self.wait)


def test_the_probe_charges_a_model_for_its_cpu_time_not_for_waiting_on_a_busy_machine():
    from liveengine.render.probe import Trial, probe

    points = np.zeros((4, 8), np.float32)
    trial = Trial(points, pads=64, max_grid_render_s=1.0)  # 15.6 ms a pad allowed
    assert probe(_Waiting(0.05), trial, 48000, 1.0) == ""  # 50 ms of waiting a pad: not the model's cost
    slow = probe(_Waiting(0.05, spin=True), trial, 48000, 1.0)  # 50 ms of CPU a pad: refused
    assert "ms a sound, so its 64 pads would take" in slow and "max_grid_render_s of 1 s" in slow
