"""Sample accuracy: a START lands its transient exactly on the target frame, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
from rtkit import ASAP, first_loud, make_buffer, make_core, run, start, with_preroll

ONSET = 24  # 0.5 ms at 48 kHz, what prepare_oneshot leaves before a transient


def play(core, buffer, target, queue_at_frame, frames):
    """Queue START(target - onset) when the core's clock reaches `queue_at_frame` (a block start)."""
    queued = []

    def before(c):
        if not queued and c.frame >= queue_at_frame:
            assert c.queue.put(start(target - buffer.onset, buffer))
            queued.append(c.frame)

    out = run(core, frames, before_block=before)
    assert queued, "the event was never queued"
    return out


@pytest.mark.parametrize("blocksize", [32, 128, 1000])
@pytest.mark.parametrize("where", ["block start", "mid block", "last frame"])
@pytest.mark.parametrize("onset", [0, ONSET])
@pytest.mark.parametrize("path", ["scheduled ahead", "just in time"])
def test_transient_lands_on_target_frame(blocksize, where, onset, path):
    core = make_core(blocksize=blocksize)
    buffer = with_preroll(onset) if onset else make_buffer(np.full(300, 0.5))
    block = 3 * blocksize
    target = block + {"block start": 0, "mid block": blocksize // 2, "last frame": blocksize - 1}[where]
    begin = target - onset  # the buffer's first frame
    # Either queued long before (goes through the schedule heap) or in the block holding `begin`.
    queue_at = 0 if path == "scheduled ahead" else begin - begin % blocksize
    out = play(core, buffer, target, queue_at, target + 2000)
    mono = out[:, 0]
    assert first_loud(mono) == target
    n = len(buffer.samples)
    assert np.all(mono[:begin] == 0.0)
    np.testing.assert_array_equal(mono[begin : begin + n], buffer.samples)
    assert np.all(mono[begin + n :] == 0.0)
    np.testing.assert_array_equal(out[:, 1], mono)
    assert core.counters.late_commands == 0
    assert core.counters.callback_errors == 0


@pytest.mark.parametrize("ahead", [0, 1, 5, ONSET - 1])
def test_start_in_rendered_block_skips_into_preroll(ahead):
    """The buffer should have begun in a block already gone, but its transient is still ahead."""
    blocksize = 128
    core = make_core(blocksize=blocksize)
    buffer = with_preroll(ONSET)
    block = 4 * blocksize
    target = block + ahead  # begin = target - ONSET < block: already rendered
    out = play(core, buffer, target, block, block + 1000)
    mono = out[:, 0]
    assert first_loud(mono) == target
    skip = block - (target - ONSET)
    assert 0 < skip <= ONSET
    assert np.all(mono[:block] == 0.0)
    n = len(buffer.samples) - skip
    np.testing.assert_array_equal(mono[block : block + n], buffer.samples[skip:])
    assert core.counters.late_commands == 0


@pytest.mark.parametrize("target", [0, 1, ONSET // 2, ONSET - 1])
def test_target_near_clock_start_skips_into_preroll(target):
    """A hit on one of the first frames: the buffer would begin before frame 0 (a negative frame)."""
    core = make_core(blocksize=128)
    buffer = with_preroll(ONSET)
    out = play(core, buffer, target, 0, 1000)
    mono = out[:, 0]
    assert first_loud(mono) == target
    skip = ONSET - target
    np.testing.assert_array_equal(mono[: len(buffer.samples) - skip], buffer.samples[skip:])
    assert core.counters.late_commands == 0


@pytest.mark.parametrize("past", [1, 50, 1000])
def test_start_whose_transient_is_past_plays_at_once_and_counts_late(past):
    blocksize = 128
    core = make_core(blocksize=blocksize)
    buffer = with_preroll(ONSET)
    block = 10 * blocksize
    target = block - past
    out = play(core, buffer, target, block, block + 1000)
    mono = out[:, 0]
    # Late: the whole buffer, pre-roll included, starts on the first frame of the block.
    assert np.all(mono[:block] == 0.0)
    np.testing.assert_array_equal(mono[block : block + len(buffer.samples)], buffer.samples)
    assert first_loud(mono) == block + ONSET
    assert core.counters.late_commands == 1


def test_asap_start_begins_on_the_first_frame_of_the_next_block():
    blocksize = 128
    core = make_core(blocksize=blocksize)
    buffer = with_preroll(ONSET)
    block = 2 * blocksize

    def before(c):
        if c.frame == block:
            c.queue.put((ASAP,) + start(0, buffer)[1:])

    mono = run(core, block + 1000, before_block=before)[:, 0]
    assert np.all(mono[:block] == 0.0)
    np.testing.assert_array_equal(mono[block : block + len(buffer.samples)], buffer.samples)
    assert first_loud(mono) == block + ONSET
    assert core.counters.late_commands == 0


def test_events_in_one_block_apply_in_frame_order_then_arrival_order():
    """Queued out of order, several hits in one block each land on their own frame."""
    core = make_core(blocksize=256)
    imp = make_buffer([0.25])
    frames = [200, 10, 130, 10]
    for f in frames:
        core.queue.put(start(f, imp))
    mono = run(core, 256)[:, 0]
    expected = np.zeros(256, dtype=np.float32)
    for f in frames:
        expected[f] += np.float32(0.25)
    np.testing.assert_array_equal(mono, expected)
