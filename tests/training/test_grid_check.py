"""How a pad ends (liveengine/training/pad_endings.py: noise bed, cut at the window's end) on known envelopes, and
bench/grid_check.py's check of the default grid on a real small ONNX decoder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
try:
    import grid_check
finally:
    sys.path.pop(0)
from liveengine.training.pad_endings import BED_DECAY_DB_S, pad_ending  # noqa: E402

SR = 44100


def _noise(decay_db_s: float, seconds: float = 1.0, fade: bool = False, seed: int = 0) -> np.ndarray:
    """White noise decaying exponentially at `decay_db_s`; with the data set's 50 ms linear fade at the end if `fade`."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.random.default_rng(seed).standard_normal(len(t)) * 10 ** (-decay_db_s * t / 20)
    if fade:
        n = int(0.05 * SR)
        x[-n:] *= np.linspace(1.0, 0.0, n)
    return x


def test_a_steady_bed_is_found_behind_the_data_sets_fade():
    ending = pad_ending(_noise(0.0, fade=True), SR)
    assert ending["noise_bed"] and ending["cut"]
    assert abs(ending["tail_db"]) < 1.0 and abs(ending["tail_decay_db_s"]) < 15.0
    # Read over the window's literal end, the fade alone would pass the bed check: this is why the check reads before it.
    end = ending["window_end"]
    assert end["tail_decay_db_s"] > BED_DECAY_DB_S


@pytest.mark.parametrize("decay, bed, cut", [(48.0, True, False), (30.0, True, True), (80.0, False, False), (250.0, False, False)])
def test_the_verdicts_follow_the_decay_rate(decay, bed, cut):
    """Over 0.85..0.95 s: 48 dB/s sits near -43 dB (a bed: above -50 dB and slower than 60 dB/s) and ends near -45 dB
    (under -40 dB, so not cut); 30 dB/s sits near -27 dB (both); 80 dB/s is under -65 dB; 250 dB/s reaches the floor."""
    ending = pad_ending(_noise(decay, fade=True), SR)
    assert ending["noise_bed"] is bed and ending["cut"] is cut
    if decay < 100:
        assert ending["tail_decay_db_s"] == pytest.approx(decay, abs=8.0)


def test_the_grid_of_a_real_onnx_decoder(tmp_path):
    """The default patch's 8x8 plane decoded by a small STFT decoder whose magnitude decays at 108.6 dB/s
    (time constant 80 ms): 64 pads, laid out as the plane mapping lays them, none on a bed or cut, each with its class."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.testing import models

    classes = ["kick", "snare", "hat"]
    meta = models.contract_metadata(4, SR, SR, "stft", **{"stft.n_fft": "1024", "stft.hop": "256", "stft.window": "hann"}, classes=classes)
    meta["latent.mean"] = [0.5, 0.0, 0.0, 0.0]
    meta["latent.spreads"] = [2.0, 1.0]
    folder = models.build_stft_decoder(tmp_path / "m", latent_dim=4, n_fft=1024, hop=256, output_length=SR, metadata=meta)
    models.build_classifier(folder, 4, len(classes))
    decoder = OnnxDecoder(folder, threads=1, normalize="none")

    z = grid_check.grid_points(decoder)
    assert z.shape == (64, 4)
    assert np.allclose(z[0], [0.5 - 4.0, -2.0, 0, 0]) and np.allclose(z[7], [0.5 + 4.0, -2.0, 0, 0])  # bottom row
    assert np.allclose(z[63], [0.5 + 4.0, 2.0, 0, 0])  # top right

    result = grid_check.check_model(decoder)
    assert result["pads"] == 64 and result["noise_bed_pads"] == 0 and result["cut_pads"] == 0
    for pad in result["per_pad"]:
        assert pad["tail_decay_db_s"] == pytest.approx(108.6, abs=15.0)
        assert pad["tail_db"] < -70.0
        assert pad["class"] in classes
    assert [(p["row"], p["col"]) for p in result["per_pad"][:9]] == [(0, c) for c in range(8)] + [(1, 0)]


def test_the_shipped_default_grid_ends_clean_and_the_tail_is_what_does_it():
    """The issue's grid goal on the shipped files: `drums19` (the default patch's model) has no pad on a noise bed and
    none cut on its default 8x8 grid; `drums5`, the decoder it grew from without the decay tail, on the same plane,
    has both."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.resources import default_model

    shipped = default_model()
    assert shipped.name == "drums19"
    with_tail = grid_check.check_model(OnnxDecoder(shipped, threads=1, normalize="none"))
    assert (with_tail["noise_bed_pads"], with_tail["cut_pads"]) == (0, 0)
    without = grid_check.check_model(OnnxDecoder(shipped.parent / "drums5", threads=1, normalize="none"))
    assert without["noise_bed_pads"] > 0 and without["cut_pads"] > 0
