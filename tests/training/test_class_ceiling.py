"""bench/drum_class_ceiling.py's classifier: class-balanced nearest neighbours, and each kit classed from the others only."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import drum_class_ceiling as ceiling  # noqa: E402


def test_a_large_class_does_not_win_by_number_and_a_kit_never_votes_for_itself():
    rng = np.random.default_rng(0)
    # class 0: 40 points round (0, 0); class 1: 4 points round (3, 0); a query at (2.0, 0) is nearer class 1's points
    train = np.concatenate([rng.normal(0, 1.0, (40, 2)), rng.normal((3, 0), 0.1, (4, 2))])
    labels = np.array([0] * 40 + [1] * 4)
    assert ceiling.knn(train, labels, np.array([[2.4, 0.0]]), 2)[0] == 1
    assert ceiling.knn(train, labels, np.array([[-1.0, 0.0]]), 2)[0] == 0
    # two kits whose sounds are mislabelled copies of each other: classed from the other kit only, every one is wrong
    features = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.1], [5.0, 5.1]] * 3)
    truth = np.array([0, 1, 1, 0] * 3)
    kits = np.array(["a", "a", "b", "b"] * 3)
    predicted = ceiling.leave_one_kit_out(features, truth, kits, 2)
    assert ceiling.scores(predicted, truth, ["x", "y"]) == {"accuracy": 0.0, "worst_class": "x", "per_class": {"x": 0.0, "y": 0.0}}
