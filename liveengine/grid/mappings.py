"""How the pad grid is laid into the latent space.

Every mapping takes points of the *view plane* and returns latent points. The
view plane is where pads sit: pad (row, col) sits at u = col / (cols - 1) and
v = row / (rows - 1) (row 0 at the bottom), centred to -1..1, rotated, scaled
by 2 / zoom and moved to (center_x, center_y). At zoom 1 with no rotation the
grid spans -2..2 on both axes; an /xy hit between pads lands between them.

- `plane`: the model's latent mean plus x and y along its first two principal
  axes, scaled by their spreads (or along z0 and z1 through zero): units are
  standard deviations of the training encodings.
- `corners`: four anchor points at the corners of the -2..2 square, spherically
  interpolated across it (NSynth Super); outside the square the edges hold.
- `library`: a self-organising map over the encodings of the user's samples,
  bilinearly interpolated between its nodes (see grid/som.py).
- `direct`: the latent space is itself 2-D: (x, y) is the latent point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from liveengine.commands import MAPPING_NAMES as MAPPINGS  # noqa: F401  (one list of names, in the command table; the patch schema uses it)
from liveengine.errors import LiveEngineError

SQUARE = 2.0  # the view plane's unit square spans -SQUARE..SQUARE at zoom 1
CORNER_NAMES = ("bottom_left", "bottom_right", "top_left", "top_right")


@dataclass(frozen=True)
class GridSetting:
    """Everything that decides which latent point each pad plays: one value is one render generation."""

    rows: int
    cols: int
    mapping: str = "plane"
    center_x: float = 0.0
    center_y: float = 0.0
    zoom: float = 1.0
    rotation: float = 0.0  # degrees, anticlockwise
    variance: float = 0.0  # standard deviation of each hit's seeded variation, in prior units
    seed: int = 0

    @property
    def pads(self) -> int:
        return self.rows * self.cols

    def pad_index(self, row: int, col: int) -> int:
        """Row 0 is the bottom row, as on pad controllers."""
        return row * self.cols + col

    def with_param(self, name: str, value: float) -> "GridSetting":
        return replace(self, **{name: int(value) if name == "seed" else float(value)})

    def with_mapping(self, name: str) -> "GridSetting":
        return replace(self, mapping=name)

    def pad_uv(self) -> np.ndarray:
        """float64[pads, 2]: each pad's (u, v) in 0..1, pad i at row i // cols, column i % cols."""
        rows, cols = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        u = cols.reshape(-1) / max(self.cols - 1, 1)
        v = rows.reshape(-1) / max(self.rows - 1, 1)
        return np.stack([u, v], axis=1)

    def view(self, uv: np.ndarray) -> np.ndarray:
        """(u, v) in 0..1 (any shape [..., 2]) -> view-plane (x, y) after centre, zoom and rotation."""
        uv = np.asarray(uv, np.float64) * 2.0 - 1.0
        angle = math.radians(self.rotation)
        cos, sin = math.cos(angle), math.sin(angle)
        x = (uv[..., 0] * cos - uv[..., 1] * sin) * SQUARE / self.zoom + self.center_x
        y = (uv[..., 0] * sin + uv[..., 1] * cos) * SQUARE / self.zoom + self.center_y
        return np.stack([x, y], axis=-1)


@dataclass(frozen=True)
class PlaneMapping:
    latent_dim: int
    origin: np.ndarray | None = None  # float64[latent_dim]; None = zeros
    axes: np.ndarray | None = None  # float64[2, latent_dim], already scaled by the spreads
    name: str = "plane"

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        axes = np.eye(2, self.latent_dim) if self.axes is None else self.axes
        origin = np.zeros(self.latent_dim) if self.origin is None else self.origin
        xy = np.asarray(xy, np.float64)
        return (origin + xy[..., :1] * axes[0] + xy[..., 1:2] * axes[1]).astype(np.float32)


@dataclass(frozen=True)
class DirectMapping:
    latent_dim: int = 2
    name: str = "direct"

    def __post_init__(self) -> None:
        if self.latent_dim != 2:
            raise LiveEngineError(f"mapping 'direct' needs a model with a 2-D latent space; this model's latent space has {self.latent_dim} dimensions.",
                                  "Use mapping = 'plane' (a 2-D slice of a larger latent space).")

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(xy, np.float32).copy()


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of a and b (about the origin) by t in 0..1; linear when nearly parallel.

    A Gaussian prior puts its mass on a shell, so a straight line between two
    points passes through the unlikely middle; the arc keeps the norm on the shell.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    na, nb = np.linalg.norm(a, axis=-1, keepdims=True), np.linalg.norm(b, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    linear = (1.0 - t) * a + t * b
    with np.errstate(invalid="ignore", divide="ignore"):
        arc = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / sin
    return np.where(sin > 1e-4, arc, linear)


@dataclass(frozen=True)
class CornersMapping:
    anchors: np.ndarray  # float64[4, latent_dim]: bottom left, bottom right, top left, top right
    origin: np.ndarray  # the prior's centre: interpolation arcs go around it
    labels: tuple[str, ...] = ()  # where each anchor came from (file or "point")
    name: str = "corners"

    @property
    def latent_dim(self) -> int:
        return self.anchors.shape[1]

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(xy, np.float64) / (2 * SQUARE) + 0.5, 0.0, 1.0)
        shape = t.shape[:-1]
        t = t.reshape(-1, 2)
        centred = self.anchors - self.origin
        count = len(t)
        bottom = slerp(np.repeat(centred[0:1], count, 0), np.repeat(centred[1:2], count, 0), t[:, 0])
        top = slerp(np.repeat(centred[2:3], count, 0), np.repeat(centred[3:4], count, 0), t[:, 0])
        z = slerp(bottom, top, t[:, 1]) + self.origin
        return z.reshape(*shape, -1).astype(np.float32)


@dataclass(frozen=True)
class LibraryMapping:
    nodes: np.ndarray  # float64[rows, cols, latent_dim]: the self-organising map's prototypes
    nearest: tuple[tuple[str, float], ...] = field(default=())  # per node (row-major): nearest real sample and its start (s)
    name: str = "library"

    @property
    def latent_dim(self) -> int:
        return self.nodes.shape[2]

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        rows, cols, _ = self.nodes.shape
        t = np.clip(np.asarray(xy, np.float64) / (2 * SQUARE) + 0.5, 0.0, 1.0)
        shape = t.shape[:-1]
        t = t.reshape(-1, 2)
        fx, fy = t[:, 0] * (cols - 1), t[:, 1] * (rows - 1)
        x0, y0 = np.minimum(fx.astype(int), cols - 2), np.minimum(fy.astype(int), rows - 2)
        ax, ay = (fx - x0)[:, None], (fy - y0)[:, None]
        n = self.nodes
        z = ((1 - ax) * (1 - ay) * n[y0, x0] + ax * (1 - ay) * n[y0, x0 + 1]
             + (1 - ax) * ay * n[y0 + 1, x0] + ax * ay * n[y0 + 1, x0 + 1])
        return z.reshape(*shape, -1).astype(np.float32)

    def nearest_sample(self, row: int, col: int, rows: int, cols: int) -> tuple[str, float] | None:
        """The real sample nearest the node under pad (row, col) of a rows x cols grid."""
        if not self.nearest:
            return None
        node_rows, node_cols, _ = self.nodes.shape
        r = round(row * (node_rows - 1) / max(rows - 1, 1))
        c = round(col * (node_cols - 1) / max(cols - 1, 1))
        return self.nearest[r * node_cols + c]


def variation(base: np.ndarray, variance: float, seed: int, pad: int, count: int, scale: float = 1.0) -> np.ndarray:
    """The `count`-th seeded variation of a pad's point: the same (seed, pad, count) always gives the same point."""
    rng = np.random.default_rng([seed & 0x7FFFFFFF, pad, count])
    return (np.asarray(base, np.float64) + variance * scale * rng.standard_normal(len(base))).astype(np.float32)


def mix(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Latent arithmetic: sum of weights * points (weights may be negative and need not sum to 1)."""
    return np.tensordot(np.asarray(weights, np.float64), np.asarray(points, np.float64), axes=1).astype(np.float32)
