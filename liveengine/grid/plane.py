"""The plain plane: pads laid over the decoder's first two latent dimensions.

The grid issue replaces this with the model's principal axes; the parameters
(centre, zoom, rotation) and the pad numbering stay.
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
        z = np.zeros((self.rows * self.cols, self.latent_dim), dtype=np.float32)
        z[:, 0] = x
        if self.latent_dim > 1:
            z[:, 1] = y
        return z
