"""The producer as a process of its own (forked from the fork server with the shared segment's descriptor),
feeding a real-time core driven here block by block: it plays, it is replaced when killed, and it exits
when its pipe closes. Each block waits until the producer is a block ahead (or 5 s), so the
test waits on what the producer did, never on the clock."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from liveengine.options import EngineOptions
from liveengine.rt.core import STREAM, RealtimeCore
from liveengine.server.fifo import FifoWriter
from liveengine.server.layout import Layout, SharedState
from liveengine.stream.player import StreamPlayer
from liveengine.stream.producer import StreamSettings
from liveengine.testing.models import build_stream_model

RATE, BLOCK = 48000, 128


def _until(condition, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.002)
    return True


def test_the_producer_process_plays_is_replaced_when_killed_and_exits_with_its_pipe(tmp_path):
    options = EngineOptions(samplerate=RATE, blocksize=BLOCK, master_gain=1.0)
    state = SharedState.create(Layout(fifo_capacity=64, slots=2, slot_frames=1024, record_frames=8192, channels=2, timing_history=64,
                                      stream_frames=8192, stream_in_frames=4096, events_capacity=16), label="test")
    core = RealtimeCore(options, state)
    FifoWriter(state).put((0, 0, STREAM, -1, 0.0, -1, -1, 0, 1.0, 0, 0))
    reports: list[str] = []
    player = StreamPlayer(state, build_stream_model(tmp_path / "voice"), RATE, BLOCK, StreamSettings(attack_ms=5.0), reports.append)
    out = np.zeros((BLOCK, 2), np.float32)

    def play(blocks: int) -> np.ndarray:
        played = []
        for _ in range(blocks):
            _until(lambda: state.stream_write.load() - state.stream_read.load() >= BLOCK, 5.0)  # a block ahead: the voice needs no more (rt/stream.py)
            core.process(out, BLOCK, core.frame / RATE)
            played.append(out[:, 0].copy())
        return np.concatenate(played)

    player.start()
    try:
        assert _until(lambda: (player.check(), player._ready)[1])
        first = player.pid
        player.send(("note", 69, 1.0))
        heard = play(100)
        assert np.max(np.abs(heard[-BLOCK * 20 :])) > 0.01
        os.kill(first, signal.SIGKILL)
        assert _until(lambda: (player.check(), player.restarts == 1 and player._ready)[1])
        assert player.pid != first and any("stream producer exited (code -9); restarting it" in r for r in reports)
        player.send(("note", 64, 1.0))
        again = play(100)
        assert np.max(np.abs(again[-BLOCK * 20 :])) > 0.01  # the new producer plays on (the voice faded across the gap)
        assert np.all(np.isfinite(again))
        assert _until(lambda: (player.check(), player.counts.get("frames", 0) > 0)[1])
    finally:
        process = player._process
        player.stop()
    assert not process.is_alive() and process.exitcode == 0  # it saw its pipe close and returned
