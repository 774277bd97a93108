"""The shared atomic words: the fast path through patomic's functions, checked against the package's own calls."""

from __future__ import annotations

import pytest

from liveengine.server.shm import Segment


@pytest.fixture
def segment():
    segment = Segment.create("atomic-test", 4096)
    yield segment
    segment.close()


def test_the_installed_atomics_gives_the_fast_path(segment):
    # The pinned atomics (1.0.x) exposes patomic's function pointers; if an upgrade hides them the words
    # still work through the package's slow calls, and this test says the callback lost its fast path.
    word = segment.atomic(0)
    assert word.fast
    # and its calls keep the interpreter lock: a call that released it would let another thread take the lock
    # in the middle of the audio callback (checked by the call's flags: a race would show it only now and then)
    assert word.keeps_lock


def test_fast_and_package_calls_agree_on_every_value(segment):
    word = segment.atomic(8)
    package = word._word  # the atomics package's own view of the same word
    for value in (0, 1, -1, 2**62, -(2**62), 2**63 - 1, -(2**63), 123_456_789_012):
        word.store(value)
        assert package.load() == value
        package.store(value ^ 0x5A5A)
        assert word.load() == value ^ 0x5A5A


def test_neighbouring_words_are_independent(segment):
    a, b = segment.atomic(16), segment.atomic(24)
    a.store(-5)
    b.store(7)
    assert (a.load(), b.load()) == (-5, 7)


def test_a_closed_word_refuses_calls(segment):
    word = segment.atomic(40)
    word.close()
    with pytest.raises(TypeError):
        word.load()


def test_words_still_open_at_exit_have_their_contexts_closed_and_keep_their_calls(segment):
    """The exit hook closes what the last garbage collection would otherwise finalise in no set order (the package's
    word first printed "Cannot call 'release' while context is open"); an audio thread still running at exit keeps
    calls that work on the still-mapped segment."""
    from liveengine.server import shm

    word, closed = segment.atomic(48), segment.atomic(56)
    closed.close()
    word.store(42)
    assert word in shm._OPEN and word._context is not None
    shm._close_open_words()
    assert word._context is None
    assert word.load() == 42  # the calls stay bound
    word.store(-3)
    assert word.load() == -3
    with pytest.raises(TypeError):
        closed.load()  # a word closed before stays closed
