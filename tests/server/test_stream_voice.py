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


def test_a_late_producer_with_a_continuation_fades_over_it_without_a_step_and_needs_no_fade_reserve():
    """The producer leaves, past what it publishes, what would follow (stream_tail): a block it has fully written plays
    in full even with nothing after it, and a shortfall plays on into the continuation and fades over it, so the sine
    runs on without a step. The continuation is not read: it is counted as underrun and its frames play once written."""
    _, state, core, fifo, writer = _rig()
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(4096) / 48000)).astype(np.float32)
    _stream(fifo, 0, 1.0)
    writer.write(sine[:2 * BLOCK], tail=sine[2 * BLOCK:2 * BLOCK + FADE_FRAMES])
    assert state.stream_tail.load() == writer.written == 2 * BLOCK
    first = _run(core, 2)  # exactly the two blocks written: no fade (without a continuation the second would fade)
    ramp = np.minimum(np.arange(1, 2 * BLOCK + 1) / FADE_FRAMES, 1.0)
    np.testing.assert_allclose(first, sine[:2 * BLOCK] * ramp, atol=1e-7)
    assert state.counter("stream_fades") == 0 and state.counter("stream_underruns") == 0
    writer.write(sine[2 * BLOCK:2 * BLOCK + 100], tail=sine[2 * BLOCK + 100:2 * BLOCK + 100 + FADE_FRAMES])
    short = _run(core, 1)  # 100 of 128 written: they play, then the continuation, faded out over its last 64 frames
    level = np.ones(BLOCK, np.float32)
    level[BLOCK - FADE_FRAMES:] = np.arange(FADE_FRAMES - 1, -1, -1) / FADE_FRAMES
    np.testing.assert_allclose(short, sine[2 * BLOCK:3 * BLOCK] * level, atol=1e-6)
    both = np.concatenate([first, short])
    assert np.max(np.abs(np.diff(both))) <= np.max(np.abs(np.diff(sine))) + 0.5 / FADE_FRAMES  # no step where the frames ran out
    assert state.counter("stream_fades") == 1 and state.counter("stream_underruns") == BLOCK - 100
    assert state.stream_read.load() == 2 * BLOCK + 100  # the continuation was not read
    writer.write(sine[2 * BLOCK + 100:2 * BLOCK + 100 + BLOCK - 1], tail=np.zeros(FADE_FRAMES, np.float32))
    _run(core, 1)  # waiting: a block is not yet written past where it stopped
    assert state.stream_read.load() == 2 * BLOCK + 100
    writer.write(sine[2 * BLOCK + 100 + BLOCK - 1:2 * BLOCK + 100 + 2 * BLOCK], tail=np.zeros(FADE_FRAMES, np.float32))
    back = _run(core, 1)  # a block ahead again: it comes back in where it stopped, faded in
    np.testing.assert_allclose(back, sine[2 * BLOCK + 100:3 * BLOCK + 100] * np.minimum(np.arange(1, BLOCK + 1) / FADE_FRAMES, 1.0),
                               atol=1e-6)


def test_a_continuation_counts_only_right_after_its_frames_and_never_past_the_ring():
    """stream_tail is stored before stream_write: the voice trusts a continuation that starts at or past what it saw
    written (the frames before it are in the ring already); an older one (a write that had no room for it) is not
    trusted, and the voice keeps a fade reserve as a producer without one needs."""
    _, state, core, fifo, writer = _rig(stream_frames=1024)
    _stream(fifo, 0, 1.0)
    writer.write(np.full(BLOCK, 0.5, np.float32), tail=np.full(FADE_FRAMES, 0.5, np.float32))
    writer.write(np.full(BLOCK, 0.5, np.float32))  # no continuation this time: the one stored is behind what is written
    assert state.stream_tail.load() == BLOCK < writer.written
    out = _run(core, 2)
    assert state.counter("stream_fades") == 1  # the second block left less than a fade: its end faded, as without one
    assert out[-1] == 0.0 and state.stream_read.load() == 2 * BLOCK
    assert writer.write(np.full(1024 - FADE_FRAMES, 0.25, np.float32), tail=np.ones(FADE_FRAMES, np.float32)) == 1024 - FADE_FRAMES
    assert state.stream_tail.load() == writer.written  # just room for it
    assert writer.write(np.zeros(0, np.float32), tail=np.ones(FADE_FRAMES + 1, np.float32)) == 0
    assert state.stream_tail.load() == writer.written  # no room for a longer one: not written over frames not yet played
    np.testing.assert_array_equal(state.stream[2 * BLOCK:2 * BLOCK + 10], 0.25)
