"""Trying a model before it plays: a few points spread over the grid, each rendered and timed.

A model can be fine at the prior's mean (where loading checks it) and fail away from it:
a wrong output shape, NaN, or seconds a sound. The probe renders points across the grid
the patch opens on, where the grid renders (the render process, by default), so a model
that cannot fill the grid is refused with one sentence before it replaces the one playing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from liveengine.decoders.base import Decoder
from liveengine.errors import LiveEngineError
from liveengine.render.on_demand import point_key
from liveengine.render.workers import RenderFailure, render_batch

PROBE_POINTS = 8
OVERRUN = 3.0  # a probe stops once it has spent this many times its points' share of max_grid_render_s


@dataclass(frozen=True)
class Trial:
    """What a model must pass before it plays: these points render, and `pads` sounds within `max_grid_render_s`."""

    points: np.ndarray  # float32[<= PROBE_POINTS, latent_dim]
    pads: int
    max_grid_render_s: float

    @classmethod
    def of_grid(cls, pad_points: np.ndarray, cols: int, max_grid_render_s: float) -> "Trial":
        """The four corner pads and pads spread between them."""
        pads = len(pad_points)
        corners = [0, cols - 1, pads - cols, pads - 1]
        between = np.linspace(0, pads - 1, PROBE_POINTS - len(corners) + 2).round().astype(int)[1:-1]
        points = np.asarray(pad_points[sorted(set(corners) | set(between.tolist()))], np.float32)
        return cls(points, pads, max_grid_render_s)

    @property
    def timeout(self) -> float:
        """An upper bound on a probe's time: OVERRUN times the whole grid's budget (it stops once it
        has spent OVERRUN times its own points' share)."""
        return OVERRUN * self.max_grid_render_s


def probe(decoder: Decoder, trial: Trial, device_rate: int, max_seconds: float, keep: dict | None = None) -> str:
    """Render the trial's points one at a time: '' if each gives a playable sound and its pads take
    at most max_grid_render_s (by the median decode); else why not, as a clause. Runs where pads render.
    `keep`: gets each playable render by its point (point_key), for the grid render to take instead of
    rendering those pads again."""
    out = np.zeros((1, decoder.output_length), np.float32)
    points, pads, max_grid_render_s = trial.points, trial.pads, trial.max_grid_render_s
    seconds = []
    started = time.perf_counter()
    for point in points:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        result = render_batch(decoder, point[None, :], out, device_rate, max_seconds)[0]
        # The lesser of wall and CPU time: a busy machine stretches the wall time of a fast model
        # (refusing it would be wrong), and a model on several threads spends more CPU than wall time.
        seconds.append(min(time.perf_counter() - begin, time.process_time() - begin_cpu))
        if keep is not None and not isinstance(result, RenderFailure):
            keep[point_key(point)] = result
        if isinstance(result, RenderFailure):
            return f"{result.reason} (latent point {np.array2string(point, precision=2, threshold=8, edgeitems=3, max_line_width=200)})"
        if time.perf_counter() - started > trial.timeout * len(points) / pads:
            break  # far too slow: no need to wait for the rest
    per_pad = float(np.median(seconds))
    if per_pad * pads > max_grid_render_s:
        return (f"it takes {per_pad * 1000:.0f} ms a sound, so its {pads} pads would take {per_pad * pads:.1f} s, "
                f"above the patch's max_grid_render_s of {max_grid_render_s:g} s")
    return ""


def refuse(model: str, problem: str) -> None:
    """Raise the one refusal sentence for a model whose probe found `problem` (nothing if '')."""
    if problem:
        raise LiveEngineError(f"model {model} is refused: {problem.rstrip('.')}.",  # a child's ModelError ends with one already
                              "Fix or re-export the model, or raise max_grid_render_s in the patch's [engine] table if it is only slow.")
