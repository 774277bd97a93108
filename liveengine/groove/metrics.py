"""Pattern quality figures shared by training's monitor and bench/groove_quality.py (numpy only)."""

from __future__ import annotations

import numpy as np


def hit_f1(target: np.ndarray, predicted: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Micro-averaged over every cell: precision, recall and F1 of `predicted >= threshold` against hits 0/1."""
    truth = target > 0.5
    guess = predicted >= threshold
    tp = float(np.logical_and(truth, guess).sum())
    precision = tp / max(1.0, float(guess.sum()))
    recall = tp / max(1.0, float(truth.sum()))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def errors_on_hits(target_hits: np.ndarray, target: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error of `predicted` against `target` on the cells that are truly hit."""
    mask = target_hits > 0.5
    return float(np.abs(predicted[mask] - target[mask]).mean()) if mask.any() else 0.0
