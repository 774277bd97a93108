"""The plane: pads laid over a 2-D slice of the latent space.

The slice runs along the model's first two principal axes (scaled by their
spreads) through its latent mean when the model declares them, else along the
first two latent dimensions through zero. Centre, zoom and rotation move it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class PlaneGrid:
    rows: int
    cols: int
    latent_dim: int
    center_x: float = 0.0
    center_y: float = 0.0
    zoom: float = 1.0
    rotation: float = 0.0  # degrees
    origin: tuple[float, ...] | None = None  # latent mean; None = zeros
    axes: tuple[tuple[float, ...], ...] | None = None  # two latent directions; None = unit z0, z1

    def pad_index(self, row: int, col: int) -> int:
        """Row 0 is the bottom row, as on pad controllers."""
        return row * self.cols + col

    def with_param(self, name: str, value: float) -> "PlaneGrid":
        return replace(self, **{name: value})

    def latent_points(self) -> np.ndarray:
        """float32[rows * cols, latent_dim]; pad i is row i // cols, column i % cols."""
        rows, cols = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        u = (cols.reshape(-1) / max(self.cols - 1, 1)) * 2.0 - 1.0
        v = (rows.reshape(-1) / max(self.rows - 1, 1)) * 2.0 - 1.0
        angle = math.radians(self.rotation)
        x = (u * math.cos(angle) - v * math.sin(angle)) * 2.0 / self.zoom + self.center_x
        y = (u * math.sin(angle) + v * math.cos(angle)) * 2.0 / self.zoom + self.center_y
        if self.axes is None:
            axes = np.eye(2, self.latent_dim, dtype=np.float64)
        else:
            axes = np.asarray(self.axes[:2], dtype=np.float64)
        origin = np.zeros(self.latent_dim) if self.origin is None else np.asarray(self.origin, dtype=np.float64)
        z = origin[None, :] + x[:, None] * axes[0][None, :] + y[:, None] * axes[1][None, :]
        return z.astype(np.float32)
