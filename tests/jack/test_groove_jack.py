"""A groove through a real JACK server (dummy driver): the live groove thread schedules each hit ahead,
and every onset the capture client hears is where the tempo map put it, to the sample."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from liveengine.audio.spec import DeviceSpec
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.jack_rig import RATE, Capture, onsets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "groove"))
from test_groove_render import best_lag, groove_patch  # noqa: E402


def test_live_groove_onsets_follow_the_tempo_map_to_the_sample(jack_server, tmp_path):
    patch = load_patch(groove_patch(tmp_path))
    options = patch.options()
    engine = Engine(patch, options)
    capture = Capture(jack_server.name, channels=options.channels)
    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.portaudio("JACK", options.samplerate, options.blocksize, options.channels))
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.2)
        groove = engine.groove
        began = engine.now_frame()
        groove.pad(1, 1, began + RATE // 5, began)
        deadline = time.monotonic() + 30
        while engine.now_frame() - began < 3.5 * RATE and time.monotonic() < deadline:  # 3.5 s of JACK time: a loaded machine's dummy driver runs slow
            time.sleep(0.05)
        groove.sequencer.stop()
        assert capture.wait_for_more(int(0.3 * RATE))
        audio, _ = capture.stop(every_cycle=False)
        events = [e for e in groove.sequencer.events]
        mono = audio[:, 0].astype(np.float64)
        first = onsets(mono, min_gap=2400)[0]
        shift = first - events[0].frame  # the engine's frame counter against the capture's start: one constant
        kit, cache = groove._kit(), engine.instrument.cache
        lags = []
        for event in events:
            if event.frame + shift + 2500 > len(mono):
                break
            row, col = kit[groove.voices[event.voice]]
            lags.append(best_lag(mono, event.frame + shift, cache.get(row * 4 + col)))
        assert len(lags) >= 20 and engine.status()["late_commands"] == 0
        assert max(lags) - min(lags) <= 1, lags  # every onset at its computed frame plus one constant latency
        assert groove.sequencer.dropped == 0 and groove.sequencer.late_bars == 0
    finally:
        engine.stop()
        capture.close()
