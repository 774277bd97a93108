"""The stream producer against the real-time core on the offline path, block by block as in the audio
server: a generated stream model (liveengine/testing/models.py), the real synth and tracker, the shared
stream ring and input ring. The producer is pumped between blocks, as its process does between polls."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.decoders.stream_model import StreamModel
from liveengine.options import EngineOptions
from liveengine.rt.core import STREAM, RealtimeCore
from liveengine.rt.stream import FADE_FRAMES
from liveengine.server.fifo import FifoWriter
from liveengine.server.layout import Layout, SharedState
from liveengine.stream.producer import (AHEAD_SECONDS, POLL_AUDIO_SECONDS, POLL_SECONDS, StreamProducer, StreamSettings, lead_frames,
                                        margin_frames, message_within)
from liveengine.stream.tracker import CausalTracker
from liveengine.testing.models import build_stream_model

RATE, BLOCK = 48000, 128


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    return {"plain": build_stream_model(root / "plain", harmonics=8, noise_bands=4, state_size=8),
            "nan": build_stream_model(root / "nan", nan_above_x=0.5)}


class Rig:
    def __init__(self, folder, **settings) -> None:
        options = EngineOptions(samplerate=RATE, blocksize=BLOCK, master_gain=1.0, limiter_ceiling=1.0)
        self.state = SharedState.create(Layout(fifo_capacity=64, slots=2, slot_frames=1024, record_frames=8192, channels=2,
                                               timing_history=64, stream_frames=8192, stream_in_frames=4096, events_capacity=16),
                                        label="test")
        self.core = RealtimeCore(options, self.state)
        self.producer = StreamProducer(self.state, StreamModel(folder), RATE, BLOCK, StreamSettings(**settings))
        assert FifoWriter(self.state).put((0, 0, STREAM, -1, 0.0, -1, -1, 0, 1.0, 0, 0)) >= 0
        self.out = np.zeros((BLOCK, 2), np.float32)

    def run(self, blocks: int, source: np.ndarray | None = None) -> np.ndarray:
        """Play `blocks` blocks (feeding `source`'s samples to the input ring first), pumping the producer before each."""
        played = []
        for b in range(blocks):
            if source is not None:
                self.core.audio_in(source[b * BLOCK : (b + 1) * BLOCK])
            self.producer.pump()
            self.core.process(self.out, BLOCK, self.core.frame / RATE)
            played.append(self.out[:, 0].copy())
        return np.concatenate(played)

    def counter(self, name: str) -> int:
        return self.state.counter(name)


def _onset(audio: np.ndarray, threshold: float = 1e-3) -> int:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return int(loud[0]) if len(loud) else -1


def test_a_note_sounds_within_the_margin_glides_and_releases_to_silence_with_no_shortfall(folders):
    rig = Rig(folders["plain"], attack_ms=5.0, release_ms=50.0, portamento_ms=30.0, slack_blocks=0)
    hop = rig.producer.hop
    assert hop == 240 and rig.producer.margin == margin_frames(BLOCK, hop) == BLOCK + hop
    silent = rig.run(20)
    assert np.max(np.abs(silent)) == 0.0  # no note: the gate keeps it silent
    rig.producer.handle(("xy", 0.2, -0.3))
    rig.producer.handle(("note", 69, 1.0))
    noted_at = len(silent)
    held = rig.run(100)
    onset = _onset(held)
    assert 0 <= onset <= rig.producer.margin + BLOCK  # heard within the ring's margin and a block
    tracked = CausalTracker(RATE, hop).push(held[onset + 4800 :])[0]
    assert abs(1200 * np.log2(np.median(tracked) / 440.0)) < 20  # the note's pitch (tracked from the output)
    rig.producer.handle(("note", 81, 1.0))  # legato: glides an octave up
    glide = rig.run(100)
    f0 = CausalTracker(RATE, hop).push(glide)[0]
    assert 500 < f0[len(f0) // 2 :].min() and abs(1200 * np.log2(np.median(f0[-10:]) / 880.0)) < 20
    rig.producer.handle(("off", -1))
    after = rig.run(60)
    release = int(0.05 * RATE) + rig.producer.margin + BLOCK
    assert np.max(np.abs(after[release:])) == 0.0  # released to silence
    assert np.max(np.abs(np.diff(np.concatenate([held, glide, after])))) < 0.25  # no click anywhere
    assert rig.counter("stream_underruns") == 0 and rig.counter("stream_fades") == 0
    assert noted_at > 0 and rig.producer.stats()["nan_frames"] == 0


def test_the_producer_leaves_what_would_follow_past_each_write(folders):
    """Past every write, a block and FADE_FRAMES of the synth run on with the last controls (rt/stream.py plays through
    them when the next frames are late): with a note held steady they are what the next frames then bring, to within 2%."""
    rig = Rig(folders["plain"], attack_ms=5.0, slack_blocks=0)
    rig.producer.handle(("xy", 0.2, -0.3))
    rig.producer.handle(("note", 60, 1.0))
    rig.run(60)
    written, size = rig.producer.writer.written, len(rig.state.stream)
    assert rig.state.stream_tail.load() == written + BLOCK + FADE_FRAMES
    at = np.arange(written, written + BLOCK + FADE_FRAMES) % size
    tail = rig.state.stream[at].copy()
    rig.run(3)
    real = rig.state.stream[at]
    assert np.max(np.abs(real)) > 0.01
    np.testing.assert_allclose(tail, real, atol=0.02 * np.max(np.abs(real)))
    rig.producer.handle(("off", -1))
    rig.run(100)
    assert not rig.state.stream[np.arange(rig.producer.writer.written, rig.producer.writer.written + BLOCK + FADE_FRAMES) % size].any()


def test_a_producer_that_stalls_fades_out_and_comes_back_in_counted(folders):
    rig = Rig(folders["plain"], attack_ms=5.0)
    rig.producer.handle(("note", 60, 1.0))
    rig.run(40)
    played = []
    for _ in range(6):  # the producer stalls for 6 blocks
        rig.core.process(rig.out, BLOCK, rig.core.frame / RATE)
        played.append(rig.out[:, 0].copy())
    stalled = np.concatenate(played)
    resumed = rig.run(20)
    # the first missed block played through on the continuation, the next faded out of it
    assert rig.counter("stream_bridges") == 1 and rig.counter("stream_fades") == 1 and rig.counter("stream_underruns") > 0
    both = np.concatenate([stalled, resumed])
    assert np.max(np.abs(both[-BLOCK * 10 :])) > 0.01  # back
    assert np.max(np.abs(np.diff(both))) < 0.25


def test_a_producer_a_block_late_once_is_not_heard(folders):
    """The machine holds the producer up for one block (the stall a busy laptop or a hurried backend gives): the voice
    plays that block through on the producer's continuation and crossfades back into its frames. Against the same run
    with no stall: no fade, and the output within 2% of the note's peak throughout, equal again after the crossfade."""
    def played(skip: int | None) -> tuple[np.ndarray, Rig]:
        rig = Rig(folders["plain"], attack_ms=5.0, slack_blocks=0)
        rig.producer.handle(("xy", 0.2, -0.3))
        rig.producer.handle(("note", 60, 1.0))
        out = []
        for b in range(60):
            if b != skip:
                rig.producer.pump()
            rig.core.process(rig.out, BLOCK, rig.core.frame / RATE)
            out.append(rig.out[:, 0].copy())
        return np.concatenate(out), rig

    reference, _ = played(None)
    peak = np.max(np.abs(reference))
    bridged = 0
    for skip in range(40, 46):  # a frame (240) spans 1.9 blocks: a skipped pump is not always missed
        out, rig = played(skip)
        if rig.counter("stream_bridges") == 0:
            np.testing.assert_array_equal(out, reference)
            continue
        bridged += 1
        assert rig.counter("stream_bridges") == 1 and rig.counter("stream_fades") == 0
        np.testing.assert_allclose(out, reference, atol=0.02 * peak)
        np.testing.assert_allclose(out[(skip + 2) * BLOCK :], reference[(skip + 2) * BLOCK :], atol=1e-6)
    assert bridged >= 2


def test_an_input_tone_comes_out_revoiced_at_its_pitch_and_dry_wet_mixes(folders):
    t = np.arange(RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)
    tone[: RATE // 10] = 0.0  # 100 ms of silence first
    rig = Rig(folders["plain"], input="audio", mix=1.0)
    wet = rig.run(len(tone) // BLOCK, tone)
    onset = _onset(wet)
    hop = rig.producer.hop
    assert RATE // 10 <= onset <= RATE // 10 + 2 * hop + BLOCK  # a hop to track, a hop ahead, a block
    f0 = CausalTracker(RATE, rig.producer.hop).push(wet[onset + 4800 :])[0]
    assert abs(1200 * np.log2(np.median(f0) / 330.0)) < 20
    assert not np.allclose(wet[onset + 4800 : onset + 9600], tone[onset + 4800 : onset + 9600], atol=0.05)  # not the tone itself
    stats = rig.producer.stats()
    assert stats["silent_frames"] >= 19  # the leading silence, counted
    assert stats["headroom_min"] >= 0 and stats["compute_cpu_ms_median"] > 0  # pumped before every block: every frame in time
    assert 0 < stats["answer_ms_median"] <= stats["answer_ms_p99"] <= stats["answer_ms_max"]
    # between blocks the producer sleeps until just before the next is due (a period after the last), then checks often
    rig.core.audio_in(tone[:BLOCK])
    rig.producer.pump()
    seen = rig.producer._input_at  # the clock is given, so a stall of this test's process cannot move the answers
    assert rig.producer.wait_seconds(seen) == pytest.approx(BLOCK / RATE - AHEAD_SECONDS)  # just before the next block
    # a period later: the block is due, so check every POLL_AUDIO_SECONDS
    assert rig.producer.wait_seconds(seen + BLOCK / RATE) == POLL_AUDIO_SECONDS
    # three periods without input: none is coming soon, check less often
    assert rig.producer.wait_seconds(seen + 3 * BLOCK / RATE) == POLL_SECONDS
    from multiprocessing import Pipe

    mine, theirs = Pipe()
    assert not rig.producer.wait(mine, POLL_AUDIO_SECONDS) and len(rig.producer.overslept) == 1  # timed out: how late, kept
    theirs.send(("xy", 0.0, 0.0))
    assert rig.producer.wait(mine, POLL_AUDIO_SECONDS) and len(rig.producer.overslept) == 1  # a message: nothing to keep
    assert rig.producer.stats()["overslept_ms_max"] >= rig.producer.stats()["overslept_ms_p99"]
    dry = Rig(folders["plain"], input="audio", mix=0.0).run(len(tone) // BLOCK, tone)
    lag = _onset(dry) - _onset(tone)
    assert 0 <= lag <= 2 * hop + BLOCK
    np.testing.assert_allclose(dry[lag + 6000 : lag + 12000], tone[6000:12000], atol=1e-6)  # the dry path: the input, delayed


@pytest.mark.parametrize("kind", ["silence", "noise", "clipping"])
def test_bad_input_is_a_counted_fallback_and_the_voice_keeps_playing(folders, kind):
    rng = np.random.default_rng(1)
    n = RATE // 2
    source = {"silence": np.zeros(n), "noise": rng.standard_normal(n) * 0.3,
              "clipping": np.clip(4.0 * np.sin(2 * np.pi * 220.0 * np.arange(n) / RATE), -1.0, 1.0)}[kind].astype(np.float32)
    rig = Rig(folders["plain"], input="audio", mix=1.0)
    out = rig.run(n // BLOCK, source)
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    stats = rig.producer.stats()
    frames = stats["frames"]
    assert frames >= n // rig.producer.hop - 2
    if kind == "silence":
        assert np.max(np.abs(out)) == 0.0 and stats["silent_frames"] == frames
    elif kind == "noise":
        assert stats["unpitched_frames"] > frames // 2 and np.max(np.abs(out)) > 0.001
    else:
        f0 = CausalTracker(RATE, rig.producer.hop).push(out[4800:])[0]
        assert abs(1200 * np.log2(np.median(f0) / 220.0)) < 20 and stats["unpitched_frames"] <= 8  # the tracker's window filling (2 periods of 50 Hz)
    assert rig.counter("stream_fades") == 0


def test_nan_from_the_model_is_silence_and_a_reset_then_it_plays_on(folders):
    rig = Rig(folders["nan"], attack_ms=5.0)
    rig.producer.handle(("note", 64, 1.0))
    good = rig.run(30)
    rig.producer.handle(("xy", 0.9, 0.0))  # z x beyond 0.5: this model gives NaN there
    bad = rig.run(30)
    stats = rig.producer.stats()
    assert stats["nan_frames"] > 0 and stats["resets"] >= 1
    assert np.all(np.isfinite(bad)) and np.max(np.abs(bad[-BLOCK * 10 :])) == 0.0
    rig.producer.handle(("xy", 0.0, 0.0))
    back = rig.run(40)
    assert np.max(np.abs(good)) > 0.01 and np.max(np.abs(back[-BLOCK * 10 :])) > 0.01
    rig.producer.handle(("panic",))
    assert not rig.producer.pad.held and np.all(rig.producer.model.state == 0.0)


def test_input_onsets_are_heard_the_lead_after_them_wherever_they_fall_in_a_frame_and_after_a_stall(folders):
    """Bursts after silence, starting at different points of the 5 ms frame grid: each is heard exactly `lead` frames
    (and the rise to the threshold) after it, the same for every burst. A producer that stalls makes the voice wait;
    what it fell behind is dropped (counted) and the next bursts come out at the same lead again."""
    rig = Rig(folders["plain"], input="audio", mix=1.0, slack_blocks=0)
    hop, lead = rig.producer.hop, rig.producer.lead
    assert lead == lead_frames(BLOCK, hop) == hop + BLOCK
    burst = (0.5 * np.sin(2 * np.pi * 262.0 * np.arange(RATE // 20) / RATE)).astype(np.float32)
    every = RATE // 8
    starts = [RATE // 20 + i * every + (i * 37) % hop for i in range(8)]  # 37 samples further into a frame each time
    source = np.zeros(starts[-1] + every, np.float32)
    for s in starts:
        source[s : s + len(burst)] = burst
    blocks = len(source) // BLOCK
    stall_from = (starts[3] + 1000) // BLOCK  # during the fourth burst
    played = []
    for b in range(blocks):
        rig.core.audio_in(source[b * BLOCK : (b + 1) * BLOCK])
        if b == stall_from:
            underruns = rig.counter("stream_underruns")
        if not stall_from <= b < stall_from + 6:  # the producer stalls for 6 blocks
            rig.producer.pump()
        rig.core.process(rig.out, BLOCK, rig.core.frame / RATE)
        played.append(rig.out[:, 0].copy())
    out = np.concatenate(played)
    delays = [_onset(out[s : s + every // 2]) for s in starts]
    assert all(lead <= d <= lead + 4 for d in delays), (lead, delays)  # within 4 samples (0.08 ms) of the lead, every one
    stats = rig.producer.stats()
    # the stall: its first block played through on the continuation, the next faded out of it, both counted
    assert stats["onsets"] == len(starts) and rig.counter("stream_bridges") == 1 and rig.counter("stream_fades") == 1
    assert stats["headroom_min"] < 0  # the frames after the stall came after the voice had looked for them
    # what the voice waited for, dropped: the frames it lacked, less those the bridge played from the continuation
    missed = rig.counter("stream_underruns") - underruns
    assert stats["trims"] >= 1 and 0 < stats["trimmed"] < missed <= stats["trimmed"] + BLOCK
    assert np.max(np.abs(np.diff(out))) < 0.25  # no click, the stall's fade and the trim's crossfade included


def test_waiting_for_a_message_sees_one_waiting_none_and_a_closed_pipe():
    """The producer's wait between input checks (select, not conn.poll, whose timeout is whole milliseconds)."""
    from multiprocessing import Pipe

    mine, theirs = Pipe()
    assert not message_within(mine, 0.0002) and not message_within(mine, 0)
    theirs.send(("xy", 0.0, 0.0))
    assert message_within(mine, 0.0002) and message_within(mine, 0)
    assert mine.recv() == ("xy", 0.0, 0.0)
    theirs.close()
    assert message_within(mine, 0.0002)  # the control process is gone: the read that follows raises EOFError, and the producer exits


def test_the_producer_stays_below_the_audio_callback():
    from liveengine.stream.producer import PRODUCER_FIFO, producer_priority

    assert producer_priority(65) == PRODUCER_FIFO  # a real-time JACK at -P 70
    assert producer_priority(40) == PRODUCER_FIFO  # the server's own, on a non-real-time one
    assert producer_priority(5) == 4  # `jackd -R` at its default priority: below the callback, not above
    assert producer_priority(1) == 0 and producer_priority(0) == 0  # no room below, or no real-time callback: nice -5
