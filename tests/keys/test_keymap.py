"""The keyboard keymap: keys to pads, the block's moves, and telling a held key's repeats from presses."""

from __future__ import annotations

from liveengine.control.keys import PRESS, RELEASE, REPEAT, REPEAT_GAP, Key, KeyBlock, RepeatFilter, parse_keys


def test_plain_keys_arrows_and_kitty_protocol_sequences_parse():
    keys = parse_keys(b"qZ\x1b[C\x1b[113u\x1b[113;1:2u\x1b[113;1:3u\x1b[97;2u\x1b[1;1:2A\x1b[99;5u\x1b[15~x")
    assert keys == [
        Key("q"), Key("z", shift=True), Key("right"),
        Key("q", event=PRESS, exact=True), Key("q", event=REPEAT, exact=True), Key("q", event=RELEASE, exact=True),
        Key("a", shift=True, exact=True), Key("up", event=REPEAT, exact=True), Key("c", exact=True, ctrl=True),
        Key("x"),  # F5 (CSI 15 ~) is skipped
    ]


def test_the_block_maps_keys_with_row_0_at_the_bottom_and_stays_on_the_grid():
    block = KeyBlock(8, 8)
    assert block.pad("z") == (0, 0) and block.pad("v") == (0, 3) and block.pad("1") == (3, 0) and block.pad("r") == (2, 3)
    assert block.pad("p") is None
    assert block.move("right") and block.move("up")
    assert block.pad("z") == (1, 1)
    for _ in range(10):
        block.move("up")
        block.move("right")
    assert block.pad("4") == (7, 7)  # the block's top right at the grid's top right, not beyond
    assert not block.move("up")
    for _ in range(10):
        block.move("down")
        block.move("left")
    assert block.pad("z") == (0, 0)


def test_repeats_are_told_from_presses_by_timing_or_by_the_terminal():
    repeats = RepeatFilter()
    q = Key("q")
    assert not repeats.is_repeat(q, 10.0)  # the press
    assert [repeats.is_repeat(q, 10.5 + i * 0.03) for i in range(5)] == [False, True, True, True, True]  # held: first repeat plays
    assert not repeats.is_repeat(q, 10.62 + REPEAT_GAP + 0.01)  # pressed again after a release
    assert not repeats.is_repeat(Key("w"), 10.63 + REPEAT_GAP)  # another key at once: a chord, not a repeat
    # The kitty protocol says which is which, however fast.
    assert not repeats.is_repeat(Key("e", exact=True), 20.0)
    assert repeats.is_repeat(Key("e", event=REPEAT, exact=True), 20.6)
    assert repeats.is_repeat(Key("e", event=RELEASE, exact=True), 20.7)
    assert not repeats.is_repeat(Key("e", exact=True), 20.71)


def test_keys_without_a_terminal_is_one_sentence_before_anything_starts(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "liveengine", "play", "--keys", "--no-osc", "--no-midi", "--seconds", "1"],
                          cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("liveengine: --keys needs a terminal, and standard input is not one."), done.stderr
    assert len(lines) == 1 and "Run play --keys in a terminal window" in lines[0]
    assert "Traceback" not in done.stderr and "rendering" not in done.stdout  # refused before any model work
    assert list(tmp_path.iterdir()) == []  # nothing written (no demo render fell back)
