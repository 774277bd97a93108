"""The stream voice (the seam for streaming decoders): plays what a producer wrote ahead into the shared
ring, from its command's frame, counts the frames the producer was late with, and fades out on stop.
The core runs on the offline path here, block by block, as in the audio server."""

from __future__ import annotations

import numpy as np

from liveengine.options import EngineOptions
from liveengine.rt.core import PANIC, STREAM, RealtimeCore
from liveengine.rt.stream import FADE_FRAMES
from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import Layout, SharedState
from liveengine.server.stream import StreamWriter

BLOCK = 128


def _rig(stream_frames: int = 4096):
    options = EngineOptions(samplerate=48000, blocksize=BLOCK, master_gain=1.0)
    state = SharedState.create(Layout(fifo_capacity=64, slots=2, slot_frames=1024, record_frames=8192, channels=2,
                                      timing_history=64, stream_frames=stream_frames, events_capacity=16), label="test")
    return options, state, RealtimeCore(options, state), FifoWriter(state), StreamWriter(state)


def _run(core, blocks: int) -> np.ndarray:
    out = np.zeros((BLOCK, 2), np.float32)
    mono = []
    for _ in range(blocks):
        core.process(out, BLOCK, core.frame / 48000)
        mono.append(out[:, 0].copy())
    return np.concatenate(mono)


def _stream(fifo, frame: int, gain: float) -> None:
    assert fifo.put((frame, 0, STREAM, -1, 0.0, -1, -1, 0, gain, 0, 0)) >= 0


def test_the_stream_plays_from_its_frame_what_was_written_ahead_across_the_ring_wrap():
    _, state, core, fifo, writer = _rig(stream_frames=1000)  # a ring that wraps within the test
    signal = (0.3 * np.sin(np.arange(3000) / 7.0)).astype(np.float32)
    _stream(fifo, 200, 0.5)  # starts 200 frames in: inside the second block
    written = writer.write(signal)
    assert written == 1000  # only what fits ahead of the reader: nothing it has not played is overwritten
    out = []
    while written < len(signal) or len(out) * BLOCK < 200 + len(signal):
        out.append(_run(core, 1))
        written += writer.write(signal[written:])
        if len(out) * BLOCK >= 200 + len(signal) - 2 * BLOCK:
            writer.write(np.zeros(BLOCK, np.float32))  # the producer (writing no continuation) keeps a block and a fade ahead to the end
    played = np.concatenate(out)
    np.testing.assert_array_equal(played[:200], 0.0)
    ramp = np.minimum(np.arange(1, len(signal) + 1) / FADE_FRAMES, 1.0)  # the first frames fade in
    np.testing.assert_allclose(played[200 : 200 + len(signal)], 0.5 * signal * ramp, atol=1e-7)
    assert state.counter("stream_underruns") == 0 and state.counter("stream_fades") == 0


def test_a_late_producer_fades_out_waits_and_fades_back_in_and_a_stop_fades_without_a_click():
    _, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    writer.write(np.full(300, 0.5, np.float32))
    first = _run(core, 4)  # 512 frames due, 300 written
    assert np.max(np.abs(np.diff(first))) <= 0.5 / FADE_FRAMES + 1e-6  # in and out in steps of 1/64 at most: no click
    np.testing.assert_array_equal(first[FADE_FRAMES:BLOCK + FADE_FRAMES], 0.5)
    # the second block would leave 44 < a fade ahead: its end fades to silence, then the voice waits
    fade = first[2 * BLOCK - FADE_FRAMES : 2 * BLOCK]
    assert np.all(np.diff(fade) < 0) and fade[-1] == 0.0
    np.testing.assert_array_equal(first[2 * BLOCK :], 0.0)
    assert state.counter("stream_underruns") == 2 * BLOCK and state.counter("stream_fades") == 1
    assert state.stream_read.load() == 2 * BLOCK  # nothing read while it waits: the producer catches up
    writer.write(np.full(1024, 0.5, np.float32))
    back = _run(core, 2)
    np.testing.assert_allclose(back[:FADE_FRAMES], 0.5 * np.arange(1, FADE_FRAMES + 1) / FADE_FRAMES, atol=1e-7)
    np.testing.assert_array_equal(back[FADE_FRAMES:], 0.5)
    _stream(fifo, core.frame + 100, 0.0)  # stop 100 frames into the next block
    after = _run(core, 3)
    np.testing.assert_array_equal(after[:100], 0.5)
    fade = after[100 : 100 + FADE_FRAMES]
    assert np.all(np.diff(fade) < 0) and fade[0] < 0.5 and fade[-1] == 0.0  # down to silence in steps of 1/64
    assert np.max(np.abs(np.diff(after[:100 + FADE_FRAMES + 1]))) <= 0.5 / FADE_FRAMES + 1e-6
    np.testing.assert_array_equal(after[100 + FADE_FRAMES :], 0.0)
    assert state.counter("stream_underruns") == 2 * BLOCK  # stopped: nothing more is due
    reader = state.stream_read.load()
    _run(core, 2)
    assert state.stream_read.load() == reader  # an idle stream voice reads nothing


def test_a_fade_in_a_block_entered_hurriedly_after_the_last_is_counted_apart():
    """A backend catching up after it woke late enters blocks back to back: the producer had no time for those, so their
    fades are counted apart (stream_fades_hurried), by the callback's entry times (the backend's clock)."""
    _, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    out = np.zeros((BLOCK, 2), np.float32)
    period = BLOCK / 48000
    writer.write(np.full(300, 0.5, np.float32))
    core.process(out, BLOCK, 10.0)
    core.process(out, BLOCK, 10.0 + 0.1 * period)  # caught up at once: 44 < a fade would remain, so this block fades
    assert state.counter("stream_fades") == 1 and state.counter("stream_fades_hurried") == 1
    writer.write(np.full(600, 0.5, np.float32))
    at = 10.0 + 0.1 * period
    while state.counter("stream_fades") < 2:  # the next shortfall comes on time: a fade, not a hurried one
        at += period
        core.process(out, BLOCK, at)
    assert state.counter("stream_fades_hurried") == 1


def test_input_events_cross_from_the_server_to_the_control_process():
    """The seam for MIDI read in the server's callback: a FIFO the other way, written without a lock."""
    _, state, core, _, _ = _rig()
    assert core.events.put((1234, 0, 0, -1, 0.0, -1, 42, 0, 0.0, 7, 0)) == 0
    records: list = []
    assert FifoReader(state, "events").drain(records, 10) == 1
    assert records[0][0] == 1234 and records[0][6] == 42 and records[0][9] == 7


def test_a_panic_fades_the_stream_out_drops_what_was_written_and_plays_on_and_a_new_server_resumes_it():
    options, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    writer.write(np.full(2048, 0.5, np.float32))
    _run(core, 4)
    assert fifo.put((core.frame + 10, 0, PANIC, -1, 0.0, -1, -1, 0, 0.0, 0, 0)) >= 0
    faded = _run(core, 2)
    np.testing.assert_array_equal(faded[:10], 0.5)
    assert np.all(np.diff(faded[10 : 10 + FADE_FRAMES]) < 0) and np.all(faded[10 + FADE_FRAMES :] == 0.0)
    assert state.stream_read.load() == writer.written  # the frames written before the panic are dropped
    writer.write(np.full(1024, 0.25, np.float32))  # the reset producer's next frames
    back = _run(core, 3)
    np.testing.assert_allclose(back[:FADE_FRAMES], 0.25 * np.arange(1, FADE_FRAMES + 1) / FADE_FRAMES, atol=1e-7)
    np.testing.assert_array_equal(back[FADE_FRAMES:], 0.25)
    replacement = RealtimeCore(options, state, start_frame=core.frame)  # a server started after this one died
    assert replacement.stream.on and replacement.stream.gain == 1.0


def test_the_skew_says_which_ring_frame_plays_with_which_input_frame():
    """`stream_skew` (stored by audio_in before the input's count): input written minus stream read where the last block
    left them. Steady while the voice reads every block; up by what it did not read (off, or waiting); down when a panic
    moves it on past what was written."""
    _, state, core, fifo, writer = _rig()
    silence = np.zeros(BLOCK, np.float32)
    out = np.zeros((BLOCK, 2), np.float32)

    def block() -> int:
        core.audio_in(silence)
        skew = state.stream_skew.load()
        core.process(out, BLOCK, core.frame / 48000)
        return skew

    assert [block() for _ in range(3)] == [0, BLOCK, 2 * BLOCK]  # the voice off: nothing read
    _stream(fifo, core.frame + 32, 1.0)  # on 32 frames into the next block
    writer.write(np.full(16 * BLOCK, 0.1, np.float32))
    skews = [block() for _ in range(4)]
    steady = 3 * BLOCK + 32
    assert skews == [3 * BLOCK, steady, steady, steady]  # steady once it reads every block
    assert fifo.put((core.frame, 0, PANIC, -1, 0.0, -1, -1, 0, 0.0, 0, 0)) >= 0
    block()  # the panic's fade; at its end the voice moves on past what was written
    assert state.stream_read.load() == writer.written
    written_in = state.stream_in_write.load()
    assert block() == written_in - writer.written < steady


def test_a_producer_late_once_is_played_through_on_its_continuation_and_crossfaded_back_without_a_step():
    """The producer leaves, past what it publishes, a block and a fade of what would follow (stream_tail: where that
    ends). A block it has fully written plays in full with nothing after it; a block it is late with plays on into the
    continuation at full level (a bridge, read past as if written), and the next block rises out of the continuation's
    next frames into the producer's own for the same moments, so a sine runs on without a fade and without a step."""
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    more = BLOCK + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(sine[:2 * BLOCK], tail=sine[2 * BLOCK:2 * BLOCK + more])
    assert writer.written == 2 * BLOCK and state.stream_tail.load() == 2 * BLOCK + more
    first = _run(core, 2)  # exactly the two blocks written: no fade (without a continuation the second would fade)
    ramp = np.minimum(np.arange(1, 2 * BLOCK + 1) / FADE_FRAMES, 1.0)
    np.testing.assert_allclose(first, sine[:2 * BLOCK] * ramp, atol=1e-7)
    assert state.counter("stream_fades") == 0 and state.counter("stream_underruns") == 0
    writer.write(sine[2 * BLOCK:2 * BLOCK + 100], tail=sine[2 * BLOCK + 100:2 * BLOCK + 100 + more])
    bridged = _run(core, 1)  # 100 of 128 written: they play, then 28 of the continuation, at full level
    np.testing.assert_allclose(bridged, sine[2 * BLOCK:3 * BLOCK], atol=1e-7)
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 0
    assert state.counter("stream_underruns") == BLOCK - 100 and state.stream_read.load() == 3 * BLOCK
    # the producer's own frames for those moments differ from what it guessed (its controls moved: 0.8 of the level)
    own = 0.8 * sine
    writer.write(own[2 * BLOCK + 100:5 * BLOCK], tail=own[5 * BLOCK:5 * BLOCK + more])
    back = _run(core, 2)
    rise = np.arange(1, FADE_FRAMES + 1) / FADE_FRAMES
    expected = own[3 * BLOCK:5 * BLOCK].copy()
    expected[:FADE_FRAMES] = sine[3 * BLOCK:3 * BLOCK + FADE_FRAMES] * (1 - rise) + own[3 * BLOCK:3 * BLOCK + FADE_FRAMES] * rise
    np.testing.assert_allclose(back, expected, atol=1e-6)
    played = np.concatenate([first, bridged, back])
    assert np.max(np.abs(np.diff(played))) <= np.max(np.abs(np.diff(sine))) + 0.1 / FADE_FRAMES  # no step anywhere
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 0


def test_a_producer_late_twice_running_fades_out_of_the_bridge_and_comes_back_where_it_stopped():
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    more = BLOCK + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(sine[:BLOCK + 50], tail=sine[BLOCK + 50:BLOCK + 50 + more])
    _run(core, 1)
    bridged = _run(core, 1)  # 50 written: a bridge
    np.testing.assert_allclose(bridged, sine[BLOCK:2 * BLOCK], atol=1e-7)
    faded = _run(core, 1)  # nothing more written: the bridge's 64 frames, faded to silence, then silence
    level = np.arange(FADE_FRAMES - 1, -1, -1) / FADE_FRAMES
    np.testing.assert_allclose(faded[:FADE_FRAMES], sine[2 * BLOCK:2 * BLOCK + FADE_FRAMES] * level, atol=1e-7)
    np.testing.assert_array_equal(faded[FADE_FRAMES:], 0.0)
    assert np.max(np.abs(np.diff(np.concatenate([bridged, faded])))) <= np.max(np.abs(np.diff(sine))) + 0.5 / FADE_FRAMES
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 1
    assert state.counter("stream_underruns") == (BLOCK - 50) + BLOCK and state.stream_read.load() == 2 * BLOCK
    writer.write(sine[BLOCK + 50:4 * BLOCK], tail=sine[4 * BLOCK:4 * BLOCK + more])  # written past the bridge: waits no more
    back = _run(core, 1)  # comes back in where it stopped reading, faded in
    np.testing.assert_allclose(back, sine[2 * BLOCK:3 * BLOCK] * np.minimum(np.arange(1, BLOCK + 1) / FADE_FRAMES, 1.0), atol=1e-6)


def test_a_continuation_shorter_than_a_block_is_faded_over_and_not_read():
    """A producer that leaves only a fade's worth of continuation: a shortfall plays on into it and fades over it,
    without a step; the continuation is not read (counted as underrun, its frames play once written)."""
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    _stream(fifo, 0, 1.0)
    writer.write(sine[:2 * BLOCK], tail=sine[2 * BLOCK:2 * BLOCK + FADE_FRAMES])
    first = _run(core, 2)
    writer.write(sine[2 * BLOCK:2 * BLOCK + 100], tail=sine[2 * BLOCK + 100:2 * BLOCK + 100 + FADE_FRAMES])
    short = _run(core, 1)  # 100 of 128 written: they play, then the continuation, faded out over its last 64 frames
    level = np.ones(BLOCK, np.float32)
    level[BLOCK - FADE_FRAMES:] = np.arange(FADE_FRAMES - 1, -1, -1) / FADE_FRAMES
    np.testing.assert_allclose(short, sine[2 * BLOCK:3 * BLOCK] * level, atol=1e-6)
    assert np.max(np.abs(np.diff(np.concatenate([first, short])))) <= np.max(np.abs(np.diff(sine))) + 0.5 / FADE_FRAMES
    assert state.counter("stream_fades") == 1 and state.counter("stream_bridges") == 0
    assert state.counter("stream_underruns") == BLOCK - 100 and state.stream_read.load() == 2 * BLOCK + 100
    writer.write(sine[2 * BLOCK + 100:2 * BLOCK + 100 + BLOCK - 1], tail=np.zeros(FADE_FRAMES, np.float32))
    _run(core, 1)  # waiting: a block is not yet written past where it stopped
    assert state.stream_read.load() == 2 * BLOCK + 100
    writer.write(sine[2 * BLOCK + 100 + BLOCK - 1:2 * BLOCK + 100 + 2 * BLOCK], tail=np.zeros(FADE_FRAMES, np.float32))
    back = _run(core, 1)  # a block ahead again: it comes back in where it stopped, faded in
    np.testing.assert_allclose(back, sine[2 * BLOCK + 100:3 * BLOCK + 100] * np.minimum(np.arange(1, BLOCK + 1) / FADE_FRAMES, 1.0),
                               atol=1e-6)


def test_a_continuation_stays_promised_and_never_goes_past_the_ring():
    """stream_tail (where the continuation ends) is stored before stream_write and never moves back: a write with no
    continuation of its own (or no room for one) leaves the last one promised, since the voice may have kept no fade
    reserve on the strength of it; its frames took the place of the first ones of it, so the rest still follows them."""
    _, state, core, fifo, writer = _rig(stream_frames=1024)
    _stream(fifo, 0, 1.0)
    writer.write(np.full(BLOCK, 0.5, np.float32), tail=np.full(BLOCK + FADE_FRAMES, 0.5, np.float32))
    assert state.stream_tail.load() == 2 * BLOCK + FADE_FRAMES
    writer.write(np.full(BLOCK, 0.5, np.float32))  # none of its own: the last one's end stays
    assert writer.written == 2 * BLOCK and state.stream_tail.load() == 2 * BLOCK + FADE_FRAMES
    writer.write(np.full(FADE_FRAMES, 0.5, np.float32))  # past it: nothing follows these frames
    assert state.stream_tail.load() == writer.written == 2 * BLOCK + FADE_FRAMES
    out = _run(core, 3)  # the third block: 64 frames written, no continuation: they play with their end faded
    assert state.counter("stream_fades") == 1 and state.counter("stream_bridges") == 0
    assert out[-1] == 0.0 and state.stream_read.load() == 2 * BLOCK + FADE_FRAMES
    assert writer.write(np.full(1024 - FADE_FRAMES, 0.25, np.float32), tail=np.ones(FADE_FRAMES, np.float32)) == 1024 - FADE_FRAMES
    assert state.stream_tail.load() == writer.written + FADE_FRAMES  # just room for it
    assert writer.write(np.zeros(0, np.float32), tail=np.ones(FADE_FRAMES + 1, np.float32)) == 0
    assert state.stream_tail.load() == writer.written + FADE_FRAMES  # no room for a longer one: the last one stays
    np.testing.assert_array_equal(state.stream[2 * BLOCK + FADE_FRAMES:2 * BLOCK + FADE_FRAMES + 10], 0.25)


def test_a_write_without_a_continuation_after_one_never_cuts_the_sound():
    """The voice played a block that ended exactly where the frames did, trusting the continuation past them; the next
    write brings 0, 1 or 10 frames and no continuation: the block plays on through what is left of the promised one."""
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    for k in (0, 1, 10):
        _, state, core, fifo, writer = _rig()
        _stream(fifo, 0, 1.0)
        writer.write(sine[:2 * BLOCK], tail=sine[2 * BLOCK:3 * BLOCK + FADE_FRAMES])
        first = _run(core, 2)
        writer.write(sine[2 * BLOCK:2 * BLOCK + k])
        then = _run(core, 1)
        np.testing.assert_allclose(then, sine[2 * BLOCK:3 * BLOCK], atol=1e-7)
        assert np.max(np.abs(np.diff(np.concatenate([first, then])[FADE_FRAMES:]))) <= np.max(np.abs(np.diff(sine))) + 1e-6, k
        assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 0


def test_a_start_after_a_stop_fades_in_and_a_start_or_stop_during_a_fade_lets_it_run_out():
    def steps(out):
        return np.max(np.abs(np.diff(out)))

    # a start after the stop's fade has ended: from silence at its frame, fading in
    _, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    writer.write(np.full(2048, 0.5, np.float32))
    played = [_run(core, 3)]
    _stream(fifo, core.frame + 10, 0.0)
    played.append(_run(core, 2))
    _stream(fifo, core.frame + 20, 1.0)
    again = _run(core, 2)
    np.testing.assert_array_equal(again[:20], 0.0)
    np.testing.assert_allclose(again[20:20 + FADE_FRAMES], 0.5 * np.arange(1, FADE_FRAMES + 1) / FADE_FRAMES, atol=1e-7)
    assert steps(np.concatenate(played + [again])) <= 0.5 / FADE_FRAMES + 1e-6

    # a start while a stop's or a panic's fade runs: the fade runs out, then the voice fades back in (after a panic
    # from the producer's next frames: what the ring held is dropped)
    for first in ("stop", "panic"):
        _, state, core, fifo, writer = _rig()
        _stream(fifo, 0, 1.0)
        writer.write(np.full(2048, 0.5, np.float32))
        played = [_run(core, 3)]
        if first == "stop":
            _stream(fifo, core.frame + 100, 0.0)
        else:
            assert fifo.put((core.frame + 100, 0, PANIC, -1, 0.0, -1, -1, 0, 0.0, 0, 0)) >= 0
        played.append(_run(core, 1))
        _stream(fifo, core.frame + 20, 1.0)  # 28 frames of the fade still to run
        played.append(_run(core, 1))
        if first == "panic":
            assert state.stream_read.load() == writer.written  # dropped
            writer.write(np.full(1024, 0.5, np.float32))
        played.append(_run(core, 3))
        out = np.concatenate(played)
        assert steps(out) <= 0.5 / FADE_FRAMES + 1e-6, first
        assert np.any(out[3 * BLOCK + 100:5 * BLOCK] == 0.0) and np.all(out[-BLOCK:] == 0.5), first  # out, then back in

    # a stop while a panic's fade runs: off at its end, as the stop asked (and as stream_gain says)
    _, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    writer.write(np.full(2048, 0.5, np.float32))
    _run(core, 4)
    assert fifo.put((core.frame + 100, 0, PANIC, -1, 0.0, -1, -1, 0, 0.0, 0, 0)) >= 0
    _run(core, 1)
    _stream(fifo, core.frame + 10, 0.0)
    _run(core, 1)
    writer.write(np.full(1024, 0.25, np.float32))
    after = _run(core, 4)
    assert not core.stream.on and state.float("stream_gain") == 0.0
    np.testing.assert_array_equal(after, 0.0)


def test_a_bridge_in_a_block_entered_hurriedly_is_counted_apart():
    _, state, core, fifo, writer = _rig()
    _stream(fifo, 0, 1.0)
    out = np.zeros((BLOCK, 2), np.float32)
    period = BLOCK / 48000
    writer.write(np.full(BLOCK + 40, 0.5, np.float32), tail=np.full(BLOCK + FADE_FRAMES, 0.5, np.float32))
    core.process(out, BLOCK, 10.0)
    core.process(out, BLOCK, 10.0 + 0.1 * period)  # caught up at once: 40 of 128 written, played through
    np.testing.assert_array_equal(out[:, 0], 0.5)
    assert state.counter("stream_bridges") == 1 and state.counter("stream_bridges_hurried") == 1
    assert state.counter("stream_fades") == 0


def test_a_short_continuation_with_the_block_written_is_no_bridge_and_no_negative_underrun():
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    _stream(fifo, 0, 1.0)
    writer.write(sine[:3 * BLOCK + 20], tail=sine[3 * BLOCK + 20:3 * BLOCK + 70])  # a continuation under a fade
    _run(core, 3)  # the third block is written in full, but 20 + 50 frames past it are less than a fade: its end fades
    assert state.counter("stream_bridges") == 0 and state.counter("stream_underruns") == 0
    assert state.counter("stream_fades") == 1


def _short_blocks(block: int):
    """A rig whose core runs `block`-frame blocks, and `run(n)`: n blocks played, the mono output."""
    options = EngineOptions(samplerate=48000, blocksize=block, master_gain=1.0)
    state = SharedState.create(Layout(fifo_capacity=64, slots=2, slot_frames=1024, record_frames=8192, channels=2,
                                      timing_history=64, stream_frames=4096, events_capacity=16), label="test")
    core = RealtimeCore(options, state)
    out = np.zeros((block, 2), np.float32)

    def run(n):
        played = []
        for _ in range(n):
            core.process(out, block, core.frame / 48000)
            played.append(out[:, 0].copy())
        return np.concatenate(played)

    return state, core, FifoWriter(state), StreamWriter(state), run


def test_a_crossfade_cut_short_by_a_fade_is_not_finished_when_the_voice_comes_back():
    """32-frame blocks: a bridge, then half its crossfade in a block that fades out (less than a fade written past
    it, no continuation). When the producer is ahead again the voice fades in from the ring alone: the bridge's
    leftover frames (another moment's sound) are not mixed into it."""
    short = 32
    state, core, fifo, writer, run = _short_blocks(short)
    sine = (0.5 * np.sin(2 * np.pi * 200 * np.arange(8192) / 48000)).astype(np.float32)
    more = short + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(sine[:4 * short], tail=sine[4 * short:4 * short + more])
    run(4)
    writer.write(sine[4 * short:4 * short + 10], tail=sine[4 * short + 10:4 * short + 10 + more])
    run(1)  # a bridge
    own = 0.8 * sine  # the producer's own frames: its controls moved
    writer.write(own[4 * short + 10:5 * short + 40])  # the next block written, under a fade past it, no continuation
    run(1)  # half the crossfade, and the end faded: the voice waits
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 1
    writer.write(own[5 * short + 40:12 * short], tail=own[12 * short:12 * short + more])
    back = run(3)
    rise = np.minimum(np.arange(1, 3 * short + 1) / FADE_FRAMES, 1.0)
    np.testing.assert_allclose(back, own[6 * short:9 * short] * rise, atol=1e-6)


def test_late_again_halfway_through_the_crossfade_with_short_blocks_leads_on_from_where_it_was():
    """32-frame blocks: the crossfade out of a bridge spans two blocks; late again after the first, the voice fades
    out of the continuation starting from the mix it had reached, not from the continuation alone (a step of about
    half their difference)."""
    short = 32
    state, core, fifo, writer, run = _short_blocks(short)
    t = np.arange(4096)
    guess = (0.5 * np.sin(2 * np.pi * 200 * t / 48000)).astype(np.float32)  # the continuation: the controls held
    own = (0.2 * np.sin(2 * np.pi * 200 * t / 48000)).astype(np.float32)  # the producer's own frames: they moved
    more = short + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(guess[:4 * short], tail=guess[4 * short:4 * short + more])
    y = [run(4)]
    writer.write(guess[4 * short:4 * short + 10], tail=guess[4 * short + 10:4 * short + 10 + more])
    y.append(run(1))  # a bridge
    writer.write(own[4 * short + 10:6 * short], tail=own[6 * short:6 * short + more])
    y.append(run(1))  # half the crossfade
    y.append(run(2))  # late again: out of the bridge, leading on from the mix
    y = np.concatenate(y)
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 1
    slope = np.max(np.abs(np.diff(guess)))
    # a fade over the 32 frames left of the bridge: level / 32 a frame at most, plus the signal's own slope
    assert np.max(np.abs(np.diff(y[FADE_FRAMES:]))) <= slope + 0.5 / short + 1e-6
    np.testing.assert_array_equal(y[7 * short:], 0.0)


def test_a_write_racing_the_bridges_copy_is_never_played_torn():
    """The producer's late write lands while the voice copies a bridge (between its copy of the block and of the
    continuation after it): the copy is checked against the write sequence (stream_seq) and made again, so the block
    and the bridge are the frames and continuation of one write, and nothing steps where old and new would meet."""
    _, state, core, fifo, writer = _rig()
    t = np.arange(4096)
    guess = (0.5 * np.sin(2 * np.pi * 200 * t / 48000)).astype(np.float32)  # the continuation: the level held at 0.5
    level = np.clip(0.5 - 0.3 * (t - (2 * BLOCK + 40)) / FADE_FRAMES, 0.2, 0.5)  # the producer's own: it falls to 0.2
    own = (level * np.sin(2 * np.pi * 200 * t / 48000)).astype(np.float32)
    more = BLOCK + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(guess[:2 * BLOCK], tail=guess[2 * BLOCK:2 * BLOCK + more])
    played = [_run(core, 2)]
    writer.write(guess[2 * BLOCK:2 * BLOCK + 40], tail=guess[2 * BLOCK + 40:2 * BLOCK + 40 + more])
    voice, copy, raced = core.stream, core.stream._gather, []

    def gather(at, out):  # the late write, between the block's copy and the continuation's
        if out is voice._bridge and not raced:
            raced.append(at)
            writer.write(own[2 * BLOCK + 40:4 * BLOCK], tail=own[4 * BLOCK:4 * BLOCK + more])
        copy(at, out)

    voice._gather = gather
    played.append(_run(core, 3))
    y = np.concatenate(played)
    assert raced and state.counter("stream_fades") == 0
    np.testing.assert_allclose(y[2 * BLOCK:5 * BLOCK], own[2 * BLOCK:5 * BLOCK], atol=1e-6)  # the new write's, whole
    # the own frames' steepest step; a torn copy steps from 0.5 to 0.2 of the sine (about 0.02 here, 3x this)
    assert np.max(np.abs(np.diff(y[FADE_FRAMES:]))) <= np.max(np.abs(np.diff(own))) + 1e-6


def test_a_bridge_raced_twice_running_fades_out_over_its_block_and_is_counted():
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 200 * np.arange(8192) / 48000)).astype(np.float32)
    more = BLOCK + FADE_FRAMES
    _stream(fifo, 0, 1.0)
    writer.write(sine[:2 * BLOCK], tail=sine[2 * BLOCK:2 * BLOCK + more])
    _run(core, 2)
    writer.write(sine[2 * BLOCK:2 * BLOCK + 40], tail=sine[2 * BLOCK + 40:2 * BLOCK + 40 + more])
    voice, copy = core.stream, core.stream._gather

    def gather(at, out):  # a write lands during every copy of the continuation (one frame at a time)
        if out is voice._bridge:
            writer.write(sine[writer.written:writer.written + 1], tail=sine[writer.written + 1:writer.written + 1 + more])
        copy(at, out)

    voice._gather = gather
    out = _run(core, 1)
    assert state.counter("stream_bridges") == 0 and state.counter("stream_fades") == 1 and voice.starved
    assert out[-1] == 0.0 and np.max(np.abs(out[-8:])) <= 0.5 * 7 / BLOCK + 1e-6  # faded out over the block


def test_a_producer_killed_in_the_middle_of_a_write_leaves_the_next_one_able_to_bridge():
    """stream_seq left odd by a producer that died while writing: its replacement's writer ends that write, so the
    voice's check of a bridge's copy is not failed for ever (every late block faded instead)."""
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    state.stream_seq.store(state.stream_seq.load() + 1)  # killed between its two stores
    writer = StreamWriter(state)  # the replacement producer's
    assert state.stream_seq.load() % 2 == 0
    _stream(fifo, 0, 1.0)
    writer.write(sine[:2 * BLOCK + 40], tail=sine[2 * BLOCK + 40:3 * BLOCK + 40 + FADE_FRAMES])
    assert state.stream_seq.load() % 2 == 0
    _run(core, 3)  # the third block is 40 frames short: a bridge
    assert state.counter("stream_bridges") == 1 and state.counter("stream_fades") == 0
