"""A self-organising map over a library's encodings, for the `library` mapping.

Batch SOM (Kohonen): nodes start on the data's principal plane, then each epoch
moves every node to the neighbourhood-weighted mean of the encodings whose best
node is near it, with the neighbourhood shrinking epoch by epoch. Neighbouring
nodes end up as prototypes of neighbouring regions of the library, so
neighbouring pads sound alike. Deterministic: no random initialisation.
"""

from __future__ import annotations

import numpy as np

from liveengine.errors import LiveEngineError


def fit_som(encodings: np.ndarray, rows: int, cols: int, epochs: int = 30) -> np.ndarray:
    """float[M, D] encodings -> float64[rows, cols, D] node prototypes."""
    data = np.asarray(encodings, np.float64)
    if data.ndim != 2 or len(data) < 2:
        raise LiveEngineError(f"the library mapping needs at least 2 encoded sounds; got {len(data) if data.ndim == 2 else 0}.",
                              "Put more audio files in the library folder.")
    mean = data.mean(axis=0)
    centred = data - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    spread = singular[:2] / np.sqrt(len(data))
    axes = vt[:2] * np.maximum(np.pad(spread, (0, 2 - len(spread))), 1e-6)[:, None] if len(vt) >= 2 else np.vstack([vt[0] * spread[0], vt[0] * 0])
    grid_r, grid_c = np.meshgrid(np.linspace(-1.5, 1.5, rows), np.linspace(-1.5, 1.5, cols), indexing="ij")
    nodes = mean + grid_c.reshape(-1, 1) * axes[0] + grid_r.reshape(-1, 1) * axes[1]  # [rows*cols, D]
    positions = np.stack([grid_r.reshape(-1), grid_c.reshape(-1)], axis=1) * np.array([(rows - 1) / 3, (cols - 1) / 3])
    grid_distance = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(-1)  # squared, in node steps
    sigmas = np.geomspace(max(rows, cols) / 2.0, 0.5, epochs)
    for sigma in sigmas:
        best = _best_nodes(data, nodes)
        influence = np.exp(-grid_distance / (2 * sigma * sigma))  # [nodes, nodes]
        weights = influence[:, best]  # [nodes, M]: how much each encoding pulls each node
        totals = weights.sum(axis=1, keepdims=True)
        nodes = np.where(totals > 1e-9, (weights @ data) / np.maximum(totals, 1e-12), nodes)
    return nodes.reshape(rows, cols, -1)


def _best_nodes(data: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    distances = (data * data).sum(1)[:, None] - 2 * data @ nodes.T + (nodes * nodes).sum(1)[None, :]
    return np.argmin(distances, axis=1)


def nearest_items(nodes: np.ndarray, encodings: np.ndarray) -> np.ndarray:
    """Index of the encoding nearest each node (row-major)."""
    flat = nodes.reshape(-1, nodes.shape[-1])
    data = np.asarray(encodings, np.float64)
    distances = (flat * flat).sum(1)[:, None] - 2 * flat @ data.T + (data * data).sum(1)[None, :]
    return np.argmin(distances, axis=1)


def topographic_error(nodes: np.ndarray, encodings: np.ndarray) -> float:
    """Share of encodings whose best and second-best nodes are not grid neighbours (0 = perfectly ordered)."""
    rows, cols, dim = nodes.shape
    flat = nodes.reshape(-1, dim)
    data = np.asarray(encodings, np.float64)
    distances = (data * data).sum(1)[:, None] - 2 * data @ flat.T + (flat * flat).sum(1)[None, :]
    two = np.argsort(distances, axis=1)[:, :2]
    r0, c0, r1, c1 = two[:, 0] // cols, two[:, 0] % cols, two[:, 1] // cols, two[:, 1] % cols
    return float(np.mean(np.maximum(abs(r0 - r1), abs(c0 - c1)) > 1))
