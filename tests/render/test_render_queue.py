"""The render process's inbox policy (RenderQueue): what renders at once while a knob moves, and what
waits for it to rest. The clock is passed in, so these run without a process or a sleep."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.render.process_workers import EAGER_PADS, SETTLE_FACTOR, SETTLE_SECONDS, FocusJob, GridJob, MoreJob, RenderQueue
from liveengine.render.workers import render_order

COLS, PADS = 8, 64
POINTS = np.arange(PADS * 2, dtype=np.float32).reshape(PADS, 2)


def grid(generation: int, first: int, batch: int) -> GridJob:
    return GridJob(generation, render_order(POINTS, first, batch, COLS, pads=PADS))


def cross(pad: int) -> set[int]:
    row, col = divmod(pad, COLS)
    return {r * COLS + c for r, c in ((row, col), (row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
            if 0 <= r < 8 and 0 <= c < COLS}


def drain(queue: RenderQueue, current: int, now: float) -> list[int]:
    """Every pad the queue hands out at `now`, in order."""
    pads = []
    while (job := queue.next(current, now)) is not None:
        assert job[0] == current
        pads += job[2]
    return pads


def sweep(queue: RenderQueue, moves: int, batch: int, pad: int, gap: float = 0.02) -> float:
    """A knob moving every `gap` seconds: one grid request per move, nothing rendered between them."""
    now = 10.0
    for generation in range(1, moves + 1):
        queue.add(grid(generation, pad, batch), generation, now)
        now += gap
    return now - gap  # when the last move came


@pytest.mark.parametrize("batch", [1, 2, 8])
def test_while_a_knob_moves_the_hit_pad_and_its_neighbours_render_at_once_whatever_the_batch(batch):
    queue = RenderQueue()
    pad = 27
    last = sweep(queue, 10, batch, pad)
    eager = drain(queue, 10, last + 0.001)
    # The hit pad and its 4 neighbours, then the nearest diagonals: the same count at every batch size.
    assert len(eager) == EAGER_PADS
    assert cross(pad) <= set(eager)
    assert eager[0] == pad
    assert queue.wait(last + 0.001) > 0  # the far pads wait for the knob to rest ...
    rest = drain(queue, 10, last + SETTLE_SECONDS)  # ... and render once it has
    assert sorted(eager + rest) == list(range(PADS))


def test_a_knob_at_rest_renders_the_whole_grid_at_once():
    queue = RenderQueue()
    queue.add(grid(1, 0, 1), 1, 10.0)
    assert len(drain(queue, 1, 10.0)) == PADS
    queue.add(grid(2, 0, 8), 2, 11.0)  # a single move a second later: not a sweep
    assert queue.wait(11.0) == 0.0
    assert len(drain(queue, 2, 11.0)) == PADS


def test_a_pad_hit_during_a_sweep_renders_its_own_neighbours_at_once():
    queue = RenderQueue()
    last = sweep(queue, 10, 1, 0)
    first = drain(queue, 10, last)
    assert len(first) == EAGER_PADS  # the corner pad's neighbourhood
    queue.add(FocusJob(10, render_order(POINTS, 45, 1, COLS, pads=PADS)), 10, last + 0.005)
    eager = drain(queue, 10, last + 0.005)
    assert len(eager) == EAGER_PADS and cross(45) <= set(eager)
    queue.add(FocusJob(9, render_order(POINTS, 60, 1, COLS, pads=PADS)), 10, last + 0.006)  # for a setting gone by
    assert queue.next(10, last + 0.006) is None  # still waiting for the knob to rest, not re-ordered
    rest = drain(queue, 10, last + SETTLE_SECONDS)
    # Every pad of the setting renders once: a focus does not render again what was rendered before it.
    assert sorted(first + eager + rest) == list(range(PADS))


@pytest.mark.parametrize("batch", [1, 8])
def test_a_focus_after_part_of_the_grid_rendered_renders_only_what_is_left(batch):
    queue = RenderQueue()
    queue.add(grid(1, 0, batch), 1, 10.0)  # a knob at rest: everything at once
    done = []
    while len(done) < 20:
        done += queue.next(1, 10.0)[2]
    queue.add(FocusJob(1, render_order(POINTS, 63, batch, COLS, pads=PADS)), 1, 10.05)  # a far pad hit meanwhile
    rest = drain(queue, 1, 10.05)
    assert rest[0] == 63
    assert not set(done) & set(rest)
    assert sorted(done + rest) == list(range(PADS))


def test_superseded_requests_are_dropped_and_variations_go_first():
    queue = RenderQueue()
    queue.add(grid(1, 0, 8), 1, 10.0)
    queue.add(MoreJob(1, POINTS[:1], [PADS + 3]), 1, 10.0)
    queue.add(MoreJob(2, POINTS[:1], [PADS + 4]), 2, 10.0)
    # The engine moved on to setting 2 before the child looked: nothing of setting 1 renders.
    generation, points, slots = queue.next(2, 10.0)
    assert (generation, slots) == (2, [PADS + 4])
    assert queue.next(2, 10.0) is None
    assert queue.todo == [] and queue.extras == []
    assert queue.wait(10.0) == 0.5  # idle


def test_the_knob_rests_by_the_time_of_its_moves_not_by_when_the_render_process_read_them():
    queue = RenderQueue()
    for generation, (sent, read) in enumerate([(10.00, 10.00), (10.02, 10.021), (10.04, 10.058)], start=1):
        queue.add(GridJob(generation, render_order(POINTS, 27, 8, COLS, pads=PADS), sent), generation, read)
    assert len(drain(queue, 3, 10.058)) == EAGER_PADS
    gap = 0.02  # between the moves themselves (the last one was read 18 ms late)
    rests = 10.04 + SETTLE_FACTOR * gap
    assert queue.next(3, rests - 0.001) is None
    assert len(drain(queue, 3, rests + 0.001)) == PADS - EAGER_PADS
