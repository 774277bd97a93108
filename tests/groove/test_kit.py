"""The kit's default rule (liveengine/groove/kit.py) and its checks, on pad descriptions as the renderer makes them."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.errors import LiveEngineError
from liveengine.groove.kit import PadSound, check_kit, decay_seconds, default_kit
from liveengine.groove.pattern import VOICES


def sound(pad, cls, p=0.9, centroid=1000.0, decay=0.2):
    return PadSound(pad, cls, p, centroid, decay)


def test_default_rule_picks_the_surest_pads_toms_by_pitch_and_cymbals_by_decay():
    cols = 4
    sounds = [sound(0, "kick", 0.7), sound(1, "kick", 0.95), sound(2, "snare"), sound(3, "hat_closed"), sound(4, "hat_open"),
              sound(5, "tom", 0.9, centroid=400), sound(6, "tom", 0.8, centroid=150), sound(7, "tom", 0.85, centroid=250),
              sound(8, "tom", 0.3, centroid=90),  # the least sure tom is left out
              sound(9, "cymbal", 0.9, decay=0.4), sound(10, "cymbal", 0.8, decay=1.6), sound(11, "cymbal", 0.2, decay=3.0)]
    kit = default_kit(sounds, 4, cols)
    assert kit["kick"] == (0, 1)
    assert (kit["snare"], kit["hat_closed"], kit["hat_open"]) == ((0, 2), (0, 3), (1, 0))
    assert (kit["tom_low"], kit["tom_mid"], kit["tom_high"]) == ((1, 2), (1, 3), (1, 1))  # 150, 250, 400 Hz
    assert (kit["crash"], kit["ride"]) == ((2, 2), (2, 1))  # rings 1.6 s: the crash; 0.4 s: the ride
    assert list(kit) == list(VOICES)


def test_few_toms_and_one_cymbal_share_pads_and_missing_classes_fall_back_to_the_bottom_row():
    kit = default_kit([sound(5, "tom", centroid=200), sound(6, "tom", centroid=300), sound(9, "cymbal")], 4, 4)
    assert (kit["tom_low"], kit["tom_mid"], kit["tom_high"]) == ((1, 1), (1, 2), (1, 2))
    assert kit["crash"] == kit["ride"] == (2, 1)
    assert (kit["kick"], kit["snare"], kit["hat_closed"], kit["hat_open"]) == ((0, 0), (0, 1), (0, 2), (0, 3))
    no_classes = default_kit([sound(i, None) for i in range(16)], 4, 4)  # builtin:testsynth has no classifier
    assert list(no_classes.values()) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]


def test_decay_is_the_time_until_20_db_below_the_peak():
    envelope = np.concatenate([[0.5, 1.0], np.geomspace(1.0, 0.01, 100)])
    hop, rate = 64, 48000
    expected = (1 + np.flatnonzero(np.geomspace(1.0, 0.01, 100) >= 0.1)[-1] + 1) * hop / rate
    assert decay_seconds(envelope, hop, rate) == pytest.approx(expected)
    assert decay_seconds(np.zeros(4), hop, rate) == 0.0


@pytest.mark.parametrize("table, found", [
    ({"kick": [8, 0]}, "kick = [8, 0] is off the 8x8 sound grid; rows 0..7, columns 0..7"),
    ({"cowbell": [0, 0]}, "names voice 'cowbell'; the groove model's voices are kick, snare"),
    ({"kick": "0 0"}, "kick = '0 0'; expected a pad as [row, col]"),
])
def test_a_kit_naming_a_pad_off_the_grid_or_a_voice_that_is_not_there_is_one_error(table, found):
    with pytest.raises(LiveEngineError, match=found.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        check_kit(table, 8, 8)
