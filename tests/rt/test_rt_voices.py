"""Voice stealing, choke groups, stop and panic: every fade is the pool's ramp, nothing clicks."""

from __future__ import annotations

import numpy as np
import pytest
from rtkit import ASAP, CHOKE, PANIC, STOP_PAD, dc, event, make_buffer, make_core, run, start

LONG = 20000  # frames: longer than any test runs, so voices end only by fading


def ramp(fade_frames: int) -> np.ndarray:
    """The fade the pool applies: 1 -> 0 in `fade_frames` steps, first value already below 1."""
    return np.linspace(1.0, 0.0, fade_frames + 1, dtype=np.float32)[1:]


def check_fade(mono: np.ndarray, begin: int, level: float, fade_frames: int, rest: float = 0.0, joins: float = 0.0) -> None:
    """`level` fades out from frame `begin` over exactly `fade_frames`, over a constant `rest`.

    `joins`: the part of `rest` that a new voice starting at `begin` adds (a step of the test signal itself).
    """
    before = rest - joins + level
    assert mono[begin - 1] == pytest.approx(before, abs=1e-6)
    expected = np.float32(rest) + np.float32(level) * ramp(fade_frames)
    np.testing.assert_allclose(mono[begin : begin + fade_frames], expected, rtol=0, atol=1e-6)
    assert mono[begin + fade_frames - 1] == pytest.approx(rest, abs=1e-7)
    np.testing.assert_allclose(mono[begin + fade_frames :], rest, rtol=0, atol=1e-6)
    # No click: no step between neighbours larger than one step of the ramp.
    steps = np.abs(np.diff(mono[begin - 1 : begin + fade_frames + 1].astype(np.float64)))
    steps[0] -= joins
    assert steps.max() <= level / fade_frames + 1e-6


# ---- stealing ----

def test_33rd_hit_steals_the_oldest_and_fades_it_without_click():
    core = make_core(voices=32, blocksize=128)
    ff = core.options.fade_frames
    core.queue.put(start(0, dc(0.5, LONG), pad=0))  # the oldest, the only one making sound
    for pad in range(1, 32):
        core.queue.put(start(pad, dc(0.0, LONG), pad=pad))
    steal_at = 300  # mid-block; the fade crosses the block boundary at 384
    core.queue.put(start(steal_at, dc(0.0, LONG), pad=32))
    mono = run(core, 1024)[:, 0]
    assert core.voices.steals == 1
    assert core.voices.hard_cuts == 0
    np.testing.assert_array_equal(mono[:steal_at], np.float32(0.5))
    check_fade(mono, steal_at, 0.5, ff)
    assert len(core.voices.sounding) == 32
    assert sorted(v.pad for v in core.voices.sounding) == list(range(1, 33))


def test_no_steal_below_polyphony():
    core = make_core(voices=32)
    for pad in range(32):
        core.queue.put(start(pad, dc(0.01, LONG), pad=pad))
    mono = run(core, 512)[:, 0]
    assert core.voices.steals == 0
    assert mono[-1] == pytest.approx(0.32, abs=1e-5)


@pytest.mark.parametrize("steal, victim", [("oldest", 0), ("quietest", 17)])
def test_steal_mode_picks_its_victim(steal, victim):
    """32 voices at distinct levels; pad 17 is the quietest, pad 0 the oldest."""
    core = make_core(voices=32, steal=steal, blocksize=128)
    levels = {pad: 0.002 + 0.001 * pad for pad in range(32)}
    levels[17] = 0.0005
    one = dc(1.0, LONG)
    for pad in range(32):
        core.queue.put(start(pad, one, gain=levels[pad], pad=pad))
    core.queue.put(start(400, dc(0.0, LONG), pad=99))
    mono = run(core, 1024)[:, 0]
    total = sum(levels.values())
    assert mono[399] == pytest.approx(total, abs=1e-5)
    assert mono[-1] == pytest.approx(total - levels[victim], abs=1e-5)
    assert core.voices.steals == 1
    assert victim not in {v.pad for v in core.voices.sounding}


def test_quietest_looks_at_the_level_now_not_at_the_start():
    """A voice that was loudest but has decayed is the quietest by the time of the steal."""
    core = make_core(voices=32, steal="quietest", blocksize=128)
    decayed = make_buffer(np.concatenate([np.full(256, 0.9), np.full(LONG, 1e-4)]))
    core.queue.put(start(0, dc(0.01, LONG), pad=0))  # oldest
    core.queue.put(start(0, decayed, pad=5))
    for pad in range(6, 36):
        core.queue.put(start(0, dc(0.01, LONG), pad=pad))
    core.queue.put(start(700, dc(0.0, LONG), pad=99))  # by then pad 5 plays at 1e-4
    run(core, 1024)
    assert core.voices.steals == 1
    assert 5 not in {v.pad for v in core.voices.sounding}
    assert 0 in {v.pad for v in core.voices.sounding}


def test_hard_cuts_only_when_release_slots_run_out():
    core = make_core(voices=32, release_voices=4, blocksize=128)
    for pad in range(32):
        core.queue.put(start(0, dc(0.0, LONG), pad=pad))
    run(core, 128)
    # Four steals in one block use the four release slots: no hard cut.
    for i in range(4):
        core.queue.put(start(core.frame + 10 + i, dc(0.0, LONG), pad=100 + i))
    run(core, 128)
    assert core.voices.steals == 4
    assert core.voices.hard_cuts == 0
    # A fifth steal while all four still fade: a slot must be cut.
    core.queue.put(start(core.frame, dc(0.0, LONG), pad=200))
    run(core, 128)
    assert core.voices.steals == 5
    assert core.voices.hard_cuts == 1
    assert core.voices.active <= 36
    # Once the fades are over the release slots are free again.
    run(core, 512)
    assert len(core.voices.fading) == 0
    for i in range(4):
        core.queue.put(start(core.frame + i, dc(0.0, LONG), pad=300 + i))
    run(core, 128)
    assert core.voices.steals == 9
    assert core.voices.hard_cuts == 1


def test_hard_cut_takes_the_fade_closest_to_silence():
    core = make_core(voices=32, release_voices=2, blocksize=128)
    ff = core.options.fade_frames
    assert ff > 128  # the first fade is still running one block later
    core.queue.put(start(0, dc(0.5, LONG), pad=0))
    for pad in range(1, 32):
        core.queue.put(start(0, dc(0.0, LONG), pad=pad))
    run(core, 128)
    core.queue.put(start(128, dc(0.0, LONG), pad=40))  # steals pad 0 (sounding 0.5)
    run(core, 128)
    core.queue.put(start(256, dc(0.0, LONG), pad=41))  # steals pad 1: both release slots in use
    core.queue.put(start(256, dc(0.0, LONG), pad=42))  # steals pad 2: cuts pad 0's fade, the furthest along
    mono = run(core, 256)[:, 0]
    assert core.voices.hard_cuts == 1
    assert 0 not in {v.pad for v in core.voices.fading}
    np.testing.assert_array_equal(mono, 0.0)  # pad 0 is gone at once; the others are silent


# ---- choke groups ----

def test_choke_group_fades_only_its_own_voices():
    core = make_core(blocksize=128)
    ff = core.options.fade_frames
    core.queue.put(start(0, dc(0.5, LONG), choke=0, pad=1))
    core.queue.put(start(0, dc(0.25, LONG), choke=1, pad=2))
    core.queue.put(start(0, dc(0.125, LONG), pad=3))  # in no group
    hit = 300
    core.queue.put(start(hit, dc(0.0625, LONG), choke=0, pad=4))  # the new hit of group 0
    mono = run(core, 1024)[:, 0]
    np.testing.assert_array_equal(mono[:hit], np.float32(0.875))
    # From the new hit on: it sounds, group 0's old voice fades over exactly fade_frames.
    check_fade(mono, hit, 0.5, ff, rest=0.25 + 0.125 + 0.0625, joins=0.0625)
    assert sorted(v.pad for v in core.voices.sounding) == [2, 3, 4]


def test_choke_event_fades_the_group_at_its_frame():
    core = make_core(blocksize=128)
    ff = core.options.fade_frames
    core.queue.put(start(0, dc(0.5, LONG), choke=2, pad=1))
    core.queue.put(start(0, dc(0.25, LONG), choke=3, pad=2))
    core.queue.put(event(200, CHOKE, 2))
    mono = run(core, 768)[:, 0]
    check_fade(mono, 200, 0.5, ff, rest=0.25)
    assert core.voices.steals == 0


def test_stop_pad_fades_that_pad_only():
    core = make_core(blocksize=128)
    ff = core.options.fade_frames
    core.queue.put(start(0, dc(0.5, LONG), pad=7))
    core.queue.put(start(0, dc(0.25, LONG), pad=8))
    core.queue.put(event(250, STOP_PAD, 7))
    mono = run(core, 768)[:, 0]
    check_fade(mono, 250, 0.5, ff, rest=0.25)


# ---- panic ----

@pytest.mark.parametrize("at", [ASAP, 333])
def test_panic_fades_everything_and_drops_the_schedule(at):
    core = make_core(blocksize=128)
    ff = core.options.fade_frames
    for pad, level in enumerate([0.25, 0.125, 0.0625]):
        core.queue.put(start(0, dc(level, LONG), pad=pad))
    core.queue.put(start(2000, dc(0.5, LONG), pad=9))  # scheduled for later
    core.queue.put(start(5000, dc(0.5, LONG), pad=10))
    run(core, 256)
    assert len(core.schedule) == 2
    core.queue.put(event(at, PANIC))
    mono = run(core, 6000 - 256)[:, 0]
    begin = 0 if at == ASAP else at - 256  # index in `mono`, which starts at frame 256
    if begin:
        check_fade(mono, begin, 0.4375, ff)
    else:
        np.testing.assert_allclose(mono[:ff], np.float32(0.4375) * ramp(ff), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(mono[begin + ff :], 0.0)  # the scheduled hits never play
    assert core.schedule == []
    assert core.voices.active == 0
    assert core.counters.late_commands == 0
    # The engine is not disabled: the next hit plays.
    core.queue.put(start(core.frame + 10, dc(0.5, 100), pad=11))
    mono = run(core, 256)[:, 0]
    np.testing.assert_array_equal(mono[10:110], np.float32(0.5))
