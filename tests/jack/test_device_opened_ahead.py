"""`play` opens the device while the grid renders (Engine.prepare_audio with a device): the stream
runs silent before `start`, `start` adopts that very server, and a device that cannot open is still
reported by `start`, in one sentence."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import RATE, Capture, onsets


def _spec(options) -> DeviceSpec:
    return DeviceSpec.jack(options.samplerate, options.blocksize, options.channels)


def _wait_blocks(engine: Engine, blocks: int) -> None:
    deadline = time.monotonic() + 20
    while engine.shared.blocks.load() < blocks:
        assert time.monotonic() < deadline, "the stream opened ahead does not run"
        time.sleep(0.01)


def test_the_device_opened_ahead_runs_before_start_and_start_adopts_it(jack_server, short_patch):
    patch = load_patch(short_patch())
    engine = Engine(patch, prepare_audio=True)
    capture = None
    try:
        engine.prepare_audio(_spec(engine.options))
        early = engine._prepared._standby
        _wait_blocks(engine, 20)  # the device is open and its callback runs, though nothing has started
        assert engine.server is None and engine.voices() == 0
        assert engine.wait_rendered(timeout=60)
        engine.start(_spec(engine.options))
        assert engine.server.pid == early.pid and early.poll() is None, "start took the server that opened ahead"
        capture = Capture(jack_server.name, channels=engine.options.channels)
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.1)
        assert engine.submit(make_command("/pad", [2, 3, 1.0]))
        assert capture.wait_for_more(int(0.3 * RATE))
        audio, _ = capture.stop()
        assert len(onsets(audio[:, 0])) == 1 and np.abs(audio).max() > 0.05, "a hit after start sounds"
    finally:
        if capture is not None:
            capture.close()
        engine.stop()


def test_a_server_opened_ahead_for_another_device_is_closed_and_start_opens_the_right_one(jack_server, short_patch):
    engine = Engine(load_patch(short_patch()), prepare_audio=True)
    try:
        engine.prepare_audio(_spec(engine.options))
        early = engine._prepared._standby
        _wait_blocks(engine, 5)
        assert engine.wait_rendered(timeout=60)
        other = dataclasses.replace(_spec(engine.options), midi_out=True)
        engine.start(other)
        assert engine.server.pid != early.pid and engine.server.spec == other
        assert early.returncode == 0, "the early server was asked to close its device and exit, not killed"
        blocks = engine.shared.blocks.load()
        time.sleep(0.2)
        assert engine.shared.blocks.load() - blocks > 0.1 * RATE / engine.options.blocksize, "the new server plays"
    finally:
        engine.stop()


def test_a_device_that_cannot_open_ahead_is_refused_by_start_and_another_then_plays(jack_server, short_patch):
    engine = Engine(load_patch(short_patch()), prepare_audio=True)
    try:
        missing = dataclasses.replace(_spec(engine.options), servername="liveengine-no-such-server")
        engine.prepare_audio(missing)
        assert engine.wait_rendered(timeout=60)
        with pytest.raises(LiveEngineError, match="liveengine-no-such-server"):
            engine.start(missing)
        assert engine.server is None
        engine.start(_spec(engine.options))  # the engine is still whole: the right device plays
        _wait_blocks(engine, engine.shared.blocks.load() + 10)
    finally:
        engine.stop()


def test_a_device_that_could_not_open_ahead_is_tried_again_at_start(jack_server, short_patch):
    """Opened ahead, a device can be busy for a moment (another program still releasing it, a JACK server
    still starting); `start` tries once more rather than refuse what is there by then. On a JACK server
    of the child's own (`jack_server` only puts this test in the serial JACK pass: it starts a jackd)."""
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    child = Path(__file__).with_name("late_server_child.py")
    done = subprocess.run([sys.executable, str(child), str(short_patch()), f"liveengine-late-{os.getpid()}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"early_exit": 3, "playing": True, "new_process": True}, result
