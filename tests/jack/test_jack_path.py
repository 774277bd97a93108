"""The engine through a real JACK server (dummy driver), PortAudio via sounddevice, and a capture client."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from liveengine.testing.jack_rig import PERIOD, RATE, Capture, onsets
from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.patch import load_patch


@pytest.fixture
def playing(jack_server, short_patch):
    """Start an engine on the JACK device with a capture client listening to it."""
    started = []

    def start(patch_path=None, **overrides):
        # PortAudio keeps one JACK client for all streams: close the last engine first,
        # so the capture listens to this engine's ports only.
        while started:
            engine, capture = started.pop()
            engine.stop()
            capture.close()
        patch = load_patch(patch_path or short_patch())
        options = patch.options(**overrides)
        engine = Engine(patch, options)
        assert engine.wait_rendered(timeout=60)
        capture = Capture(jack_server.name, channels=options.channels)
        backend = DeviceSpec.portaudio("JACK", options.samplerate, options.blocksize, options.channels)
        engine.start(backend)
        capture.connect_from("liveengine")
        started.append((engine, capture))
        return engine, capture

    yield start
    for engine, capture in started:
        engine.stop()
        capture.close()


def wait_frames(engine: Engine, frames: int) -> None:
    target = engine.now_frame() + frames
    deadline = time.monotonic() + 10 + frames / RATE * 4
    while engine.now_frame() < target:
        assert time.monotonic() < deadline, "the JACK stream stopped advancing"
        time.sleep(0.01)


def test_timed_commands_come_out_at_their_exact_frame(playing):
    engine, capture = playing()
    capture.start()
    wait_frames(engine, 4 * PERIOD)
    base = engine.now_frame() + RATE // 10
    # Targets inside blocks (not on block boundaries), and distances that are not multiples of a block.
    targets = [base + 77, base + 77 + 12_345, base + 77 + 12_345 + 9_001]
    for target in targets:
        assert engine.submit(make_command("/pad", [2, 3, 1.0], at=target))
    wait_frames(engine, targets[-1] - engine.now_frame() + RATE // 5)
    audio, _ = capture.stop()
    found = onsets(audio[:, 0])
    assert len(found) == 3, f"expected 3 hits, found onsets at {found}"
    # Sample-accurate spacing: the first sample above -60 dBFS of each hit is exactly where it was scheduled.
    assert list(np.diff(found)) == list(np.diff(targets))
    # Engine blocks line up with JACK periods: every hit sits at the same frame of its block.
    assert (found[0] - targets[0]) % PERIOD == 0 or (targets[0] - found[0]) % PERIOD == 0
    assert engine.shared.counter("late_commands") == 0
    # The mono mix goes to both channels of the pair.
    np.testing.assert_array_equal(audio[:, 0], audio[:, 1])


def _latencies(engine: Engine, capture: Capture, hits: int) -> tuple[np.ndarray, np.ndarray]:
    """(latency, arrival phase) in frames of each hit whose arrival is known to the frame.

    Arrivals are aimed at the first half of the audio server's cycle (16 to 71 frames after its
    callback began, read off the engine clock), leaving room for the time `submit` takes (0.2 to
    0.6 ms for a thread just woken on this machine, 0.05 ms warm): near a cycle's end "which block
    did it arrive in" depends on scheduling, not on the engine. Left out, at most half: a hit
    whose queueing took over 1 ms (this thread was descheduled between its time stamp and the
    record's publication), and one that arrived while the capture client's own callback was late
    (it shares this process's interpreter lock), so that its frame is not known.
    """
    capture.start()
    wait_frames(engine, 4 * PERIOD)
    xruns = engine.status()["xruns"]
    before, after = [], []
    for i in range(hits):
        time.sleep(0.1)  # hits far apart: each is found alone
        target = engine.clock.anchor()[1] + (16 + (i * 37) % 56) / RATE
        while target < time.perf_counter() + 0.001:
            target += PERIOD / RATE
        time.sleep(target - time.perf_counter())
        before.append(time.perf_counter())
        assert engine.submit(make_command("/pad", [2, 3, 1.0]))
        after.append(time.perf_counter())
    time.sleep(0.3)
    moments = np.array(before)
    arrivals = capture.frames_at(moments)
    known = capture.placed(moments) & (np.array(after) - moments < 1e-3)
    audio, first_frame = capture.stop()
    found = onsets(audio[:, 0], min_gap=1200) + first_frame  # hits are >= 4800 frames apart, each 2400 long
    status = engine.status()
    lost_periods = status["xruns"] - xruns
    # Every hit is heard, except one that JACK dropped with the server's periods in a stall of this machine (once in 14
    # runs on 12-03: 5 xruns, and the hits after it 58 ms late), counted as xruns. Hits lost with none: a failure.
    assert len(found) == hits or 0 < hits - len(found) <= lost_periods, \
        (f"{len(found)} of {hits} hits heard, {lost_periods} xruns, late commands {status['late_commands']}, gaps {np.diff(found)}")
    if len(found) < hits:
        pytest.skip(f"{hits - len(found)} hit lost with {lost_periods} periods JACK dropped (a stall of the machine): latency not "
                    f"measured; gaps between the hits heard {np.diff(found).tolist()}, late commands {status['late_commands']}")
    assert known.mean() >= 0.5, f"only {known.sum()} of {hits} arrivals known to the frame"
    return (found - arrivals)[known], (arrivals % PERIOD)[known]


def test_constant_mode_has_constant_latency_and_lowest_latency_answers_sooner(playing, short_patch):
    """Latency from arrival (read off the capture client's cycles) to the first sample out."""
    engine, capture = playing()
    constant, _ = _latencies(engine, capture, 24)
    median = np.median(constant)
    # One block after arrival, whatever the arrival's place in its block: no jitter beyond the
    # audio server's wake-up delay at the start of its callback, which stamps the clock. That
    # process runs without real-time priority on this rig: up to 35 frames (0.7 ms) were seen
    # (24 held when the callback shared the test's process); stamping from JACK's own frame
    # clock instead of the callback's entry is the next step (issue 14 reads MIDI that way).
    assert PERIOD - 16 <= median <= 2 * PERIOD, sorted(constant)
    assert np.mean(np.abs(constant - median) <= 48) >= 0.9, sorted(constant)
    # A control thread held up between reading the clock and queueing the command (2.7 ms here:
    # this process also runs the capture client) finds the block gone: played at once, counted.
    assert engine.shared.counter("late_commands") <= 2

    engine2, capture2 = playing(short_patch(extra_audio='timing = "lowest-latency"'))
    lowest, phase = _latencies(engine2, capture2, 24)
    # The next block's first frame: a hit that arrives p frames into a block sounds p frames sooner
    # than in constant mode (measured: latency + p within 12 frames of the constant median).
    shortfall = lowest + phase - median
    assert np.mean(np.abs(shortfall) <= 48) >= 0.9, sorted(zip(phase.round(), lowest.round()))
    assert np.median(lowest) < median - PERIOD // 8, (sorted(lowest), sorted(constant))


def test_output_never_exceeds_full_scale_and_64_hits_steal_without_clicks(playing, short_patch):
    engine, capture = playing(short_patch(extra_engine="", extra=""), )
    engine.submit(make_command("/param", ["gain", 2.0]))
    capture.start()
    wait_frames(engine, 4 * PERIOD)
    at = engine.now_frame() + RATE // 10
    for i in range(64):  # 64 simultaneous hits on 64 pads, far past the 32-voice polyphony
        assert engine.submit(make_command("/pad", [i // 8, i % 8, 1.0], at=at))
    wait_frames(engine, at - engine.now_frame() + RATE // 5)
    audio, _ = capture.stop()
    assert np.max(np.abs(audio)) <= 1.0
    assert np.max(np.abs(audio)) <= engine.options.limiter_ceiling + 1e-6
    assert engine.shared.counter("steals") == 32  # every hit past the 32nd stole the oldest voice
    assert engine.shared.counter("hard_cuts") == 0  # ...and each stolen voice faded out rather than being cut
    assert engine.shared.counter("callback_errors") == 0
    assert engine.shared.counter("limited_blocks") > 0  # the limiter, not luck, kept the peak down
    assert engine.backend.alive


def test_recording_equals_what_jack_received(playing, tmp_path):
    engine, capture = playing()
    path = tmp_path / "take.wav"
    capture.start()
    engine.record(path)
    wait_frames(engine, 2 * PERIOD)
    at = engine.now_frame() + RATE // 20
    for i in range(6):
        engine.submit(make_command("/pad", [i, 7 - i, 0.3 + 0.1 * i], at=at + i * 4_000 + 13 * i))
    wait_frames(engine, at + 30_000 - engine.now_frame())
    engine.stop_recording()
    audio, _ = capture.stop()
    recorded, rate = sf.read(path, dtype="float32")
    assert rate == RATE and recorded.shape[1] == 2
    a, b = onsets(audio[:, 0])[0], onsets(recorded[:, 0])[0]
    n = min(len(audio) - a, len(recorded) - b)
    assert n > 20_000
    np.testing.assert_array_equal(recorded[b : b + n], audio[a : a + n])


def test_panic_silences_every_voice_within_the_fade(playing):
    engine, capture = playing()
    capture.start()
    wait_frames(engine, 4 * PERIOD)
    at = engine.now_frame() + RATE // 10
    for i in range(8):
        engine.submit(make_command("/pad", [0, i, 1.0], at=at))
    engine.submit(make_command("/pad", [1, 1, 1.0], at=at + RATE))  # scheduled: panic must drop it
    wait_frames(engine, at - engine.now_frame() + 200)
    engine.submit(make_command("/panic"))
    wait_frames(engine, RATE + RATE // 5)
    audio, _ = capture.stop()
    loud = np.flatnonzero(np.abs(audio[:, 0]) > 1e-4)
    # Everything ends within two blocks plus the fade after the panic; the scheduled hit never sounds.
    assert loud[-1] - loud[0] < 200 + 4 * PERIOD + engine.options.fade_frames + 2 * PERIOD
    assert engine.status()["voices"] == 0


def test_named_jack_ports_replace_the_default_connections(jack_server, short_patch):
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    capture = Capture(jack_server.name)
    try:
        engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2, jack_ports=["capture:in_1", "capture:in_0"]))
        client = capture.client
        ours = client.get_ports("liveengine:", is_output=True, is_audio=True)  # PortAudio numbers ports per stream
        assert len(ours) == 2
        assert [p.name for p in client.get_all_connections(ours[0])] == ["capture:in_1"]
        assert [p.name for p in client.get_all_connections(ours[1])] == ["capture:in_0"]
    finally:
        engine.stop()
        capture.close()


def test_a_missing_jack_port_is_one_clear_error(jack_server, short_patch):
    from liveengine.errors import LiveEngineError

    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    try:
        with pytest.raises(LiveEngineError, match="JACK port 'nowhere:in_9'.*does not exist; input ports:"):
            engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2, jack_ports=["nowhere:in_9"]))
    finally:
        engine.stop()


def test_a_late_callback_is_counted_as_an_xrun_by_the_audio_server(jack_server, short_patch):
    """With JACK's dummy driver a late client skips no frame, so the server counts a callback that
    ended after its cycle's deadline (as JACK does) and not only lost cycles: five 30 ms stops of
    the audio server process, four xruns or more (JACK itself may count a stop twice). One stop of five
    went uncounted once in about 20 runs on 12-06, most likely one that landed after the callback had
    returned and before libjack told the server the cycle was done: the next cycle then starts late with no
    frame skipped and no callback running long, nothing the callback can see. A real device's driver skips
    the frames it missed, and the callback counts those (the cycle gap). On a non-real-time JACK server the callback thread is made real-time by
    the audio server itself."""
    import os
    import signal

    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    try:
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2))
        wait_frames(engine, RATE // 10)
        before = engine.status()["xruns"]
        stops = []
        for _ in range(5):
            stopped = time.perf_counter()
            os.kill(engine.server.pid, signal.SIGSTOP)
            time.sleep(0.03)
            os.kill(engine.server.pid, signal.SIGCONT)
            stops.append((stopped, time.perf_counter()))
            wait_frames(engine, RATE // 20)
        counted = engine.status()["xruns"] - before
        assert counted >= 4, counted
        # Each is timed (the block after it began), so a bench can match it with what else happened then:
        # each stop counted has one between its start and the blocks just after it was lifted.
        ring = engine.shared.xrun_times
        times = [float(ring[i % len(ring)]) for i in range(before, before + counted)]
        seen = [any(stopped <= t <= resumed + 0.1 for t in times) for stopped, resumed in stops]
        assert sum(seen) >= 4, (stops, times)
        assert engine.status()["server_restarts"] == 0
        # The test JACK server is not real-time: the audio server made its callback SCHED_FIFO itself
        # (as root here; elsewhere it says it kept its nice value), and only that one thread.
        scheduling = engine.status()["server_scheduling"]
        fifo = [int(task) for task in os.listdir(f"/proc/{engine.server.pid}/task")
                if os.sched_getscheduler(int(task)) == os.SCHED_FIFO]
        if os.geteuid() == 0:
            assert scheduling == "SCHED_FIFO 40"
            assert len(fifo) == 1 and os.sched_getparam(fifo[0]).sched_priority == 40
        else:
            assert scheduling.startswith("nice ") and fifo == []
    finally:
        engine.stop()
