"""Re-rendering under continuous hits, through JACK: a knob sweeps the plane while pads are played.

Every hit must be heard (onsets equal hits), and no hit may play a buffer older
than the newest setting the renderer had finished for the whole grid. Pads
render in the default child process, as on stage.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from liveengine.commands import make_command
from liveengine.testing.jack_rig import PERIOD, RATE, onsets
from tests.jack.test_jack_path import playing, wait_frames  # noqa: F401  (the fixture)

SPACING = RATE * 3 // 20  # 150 ms between hits; each sound is at most 50 ms


def test_a_knob_sweep_while_playing_loses_no_hit_and_plays_no_stale_sound(playing, short_patch):
    engine, capture = playing(short_patch(extra_engine='render_in = "process"'))
    capture.start()
    wait_frames(engine, 4 * PERIOD)
    stop = threading.Event()
    moves = []

    def sweep():  # the knob: a new centre every 15 ms
        t = 0.0
        while not stop.is_set():
            value = float(np.sin(t))
            engine.submit(make_command("/param", ["center_x", value]))
            moves.append(value)
            t += 0.05
            time.sleep(0.015)

    knob = threading.Thread(target=sweep, daemon=True)
    knob.start()
    hits = 36
    base = engine.now_frame() + RATE // 5
    try:
        for i in range(hits):
            at = base + i * SPACING
            # Submit shortly before each hit is due, as a sequencer would: 24 periods (64 ms) ahead, so a
            # busy machine's scheduling delay of this thread is not mistaken for a late engine (at 8 periods,
            # at a load of 5, one hit reached the server 65 frames after its frame: every sound here starts
            # 192 frames in, so that was the command, not the sound).
            while engine.now_frame() < at - 24 * PERIOD:
                time.sleep(0.002)
            assert engine.submit(make_command("/pad", [i % 8, (i * 3) % 8, 1.0], at=at))
    finally:
        stop.set()
        knob.join()
    wait_frames(engine, base + hits * SPACING - engine.now_frame() + RATE // 5)
    audio, _ = capture.stop()
    found = onsets(audio[:, 0], min_gap=SPACING // 2)
    assert len(moves) > 100, "the knob did not move"
    assert len(found) == hits, (len(found), engine.status())
    assert list(np.diff(found)) == [SPACING] * (hits - 1), engine.status()  # each on its frame
    played = list(engine.hits)[-hits:]
    assert len(played) == hits and all(h.kind == "pad" for h in played)
    assert all(h.generation >= h.complete_generation for h in played), [(h.generation, h.complete_generation) for h in played]
    assert played[-1].latest_generation > played[0].latest_generation + 50  # the settings really changed under the hits
    assert engine.shared.counter("late_commands") == 0
