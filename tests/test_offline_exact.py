"""Offline renders play exactly what the score asks for, on a busy machine as on an idle one.

Live, a hit whose exact sound cannot be ready by its deadline plays the nearest ready
pad, and a pad whose next variation is not rendered yet plays its plain sound. Offline
there is no deadline: the fake clock waits for every sound, so variations, points
between pads (/xy, /latent, /mix) and velocity moves render as asked, and the same
score and seed give the same file, bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from liveengine.cli import render_score_to_file
from liveengine.patch import load_patch

RATE = 48000
GAP = 0.5  # seconds between hits; every sound is 50 ms long, so each hit is alone in its window


def _patch(tmp_path: Path, grid: str = "") -> Path:
    path = tmp_path / "exact.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n'
                    f"[grid]\nrows = 8\ncols = 8\n{grid}\n"
                    "[audio]\nsamplerate = 48000\nblocksize = 128\n"
                    "[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nvelocity_curve = 1.0\nrender_in = \"process\"\n")
    return path


def _render(tmp_path: Path, patch: Path, lines: list[str], name: str) -> list[np.ndarray]:
    """Render one hit per line (GAP apart, 0.1 s into its window) and return each hit's window of audio."""
    score = tmp_path / f"{name}.score"
    score.write_text("".join(f"{0.1 + i * GAP:.3f} {line}\n" for i, line in enumerate(lines)))  # a sound starts before its hit by its onset
    out = tmp_path / f"{name}.wav"
    status = render_score_to_file(load_patch(patch), score, out, seconds=len(lines) * GAP + 0.2)
    assert status["rejected"] == 0
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == RATE
    mono = audio[:, 0]
    window = int(GAP * RATE)
    return [mono[i * window : (i + 1) * window] for i in range(len(lines))]


def _differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)))


def test_each_hit_with_variance_plays_a_new_variation(tmp_path):
    plain = _render(tmp_path, _patch(tmp_path), ["/pad 7 7 0.9"], "plain")[0]
    hits = _render(tmp_path, _patch(tmp_path, "variance = 0.3"), ["/pad 7 7 0.9"] * 3, "varied")
    assert all(np.max(np.abs(h)) > 0.01 for h in hits)
    # Three different sounds, none of them the pad's plain sound (was: three identical plain hits).
    for i in range(3):
        assert _differ(hits[i], plain) > 1e-3, i
        for j in range(i):
            assert _differ(hits[i], hits[j]) > 1e-3, (i, j)


def test_points_between_pads_render_their_own_sound_not_the_nearest_pad(tmp_path):
    patch = _patch(tmp_path)
    pad33, pad34, xy, mix, mix_again = _render(
        tmp_path, patch, ["/pad 3 3 0.9", "/pad 3 4 0.9", "/xy 0.4375 0.4375 0.9", "/mix 0.5 3 3 0.5 3 4 0.9", "/mix 0.5 3 3 0.5 3 4 0.9"], "between")
    assert _differ(xy, pad33) > 1e-3  # was: exactly pad (3, 3)'s sound
    assert _differ(mix, pad33) > 1e-3 and _differ(mix, pad34) > 1e-3
    np.testing.assert_array_equal(mix, mix_again)  # the same point twice: the same sound


def test_velocity_moves_play_the_moved_point(tmp_path):
    patch = _patch(tmp_path, "velocity_moves = 0.5")
    soft, hard = _render(tmp_path, patch, ["/pad 3 3 0.5", "/pad 3 3 1.0"], "moves")
    # Velocity 0.5 is the pad itself; 1.0 lands further along the plane: another sound, not just louder.
    soft_shape, hard_shape = soft / np.max(np.abs(soft)), hard / np.max(np.abs(hard))
    assert _differ(soft_shape, hard_shape) > 1e-2


def test_the_same_score_renders_bit_for_bit_the_same_beside_a_busy_process(tmp_path):
    patch = _patch(tmp_path, "variance = 0.3\nvelocity_moves = 0.25")
    lines = ["/pad 7 7 0.9", "/xy 0.3 0.6 0.8", "/pad 7 7 0.9", "/latent 0.2 -0.4 0.1 0.3 -0.2 0.0 0.5 -0.1 0.7", "/mix 0.5 1 1 0.5 2 2 1.0",
             "/pad 2 5 1.0", "/param zoom 1.5", "/pad 2 5 1.0", "/pad 7 7 0.6"]
    quiet = _render(tmp_path, patch, lines, "quiet")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded = _render(tmp_path, patch, lines, "loaded")
    finally:
        busy.kill()
        busy.wait()
    for i, (a, b) in enumerate(zip(quiet, loaded)):
        np.testing.assert_array_equal(a, b, err_msg=f"hit {i} ({lines[i]})")
    # ...and the knob move was heard: the pad after it is the new setting's sound.
    assert _differ(quiet[5], quiet[7]) > 1e-3
