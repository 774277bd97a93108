"""Acceptance: an offline render of a score that plays grooves puts every sequenced hit's transient within
one sample of its computed frame (offsets and swing included), checked on the rendered audio.

Real parts throughout: the testsynth sound grid rendered by the engine, a pattern model as a real ONNX
file (a fixed pattern, so the expected frames are known independently), the score feeder and the
offline backend that `liveengine render` uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.commands import make_command
from liveengine.control.score import ScoreFeeder, parse_score
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.testing.models import build_pattern_model

RATE = 48000
STEP = 6000  # a 16th at 120 BPM
SWING = 0.1


def fixed_pattern(seed=3):
    """One voice a step (each step's voice differs from its neighbours'), offsets within 0.15 of a step (every sound, 50 ms, ends before the next), the first on the beat."""
    rng = np.random.default_rng(seed)
    hits, velocities, offsets = (np.zeros((32, 9)) for _ in range(3))
    for step in range(32):
        voice = step % 9
        hits[step, voice] = 1
        velocities[step, voice] = rng.uniform(0.5, 1.0)
        offsets[step, voice] = 0.0 if step == 0 else rng.uniform(-0.15, 0.15)
    return hits, velocities, offsets


def best_lag(audio, frame, buffer, search=40):
    """Where the hit's sound best matches `audio` around `frame` (its transient's frame): the lag in samples."""
    sound = buffer.samples.astype(np.float64)
    lags = range(-search, search + 1)
    scores = [float(np.dot(audio[frame - buffer.onset + lag: frame - buffer.onset + lag + len(sound)], sound)) for lag in lags]
    return lags[int(np.argmax(scores))]


def groove_patch(tmp_path, extra="", kit="", page="rows = 2\ncols = 2"):
    build_pattern_model(tmp_path / "beat", fixed=fixed_pattern())
    path = tmp_path / "groove.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n'
                    "[audio]\nsamplerate = 48000\nblocksize = 128\n"
                    '[engine]\nmax_seconds = 0.05\nmaster_gain = 0.5\nvelocity_curve = 1.0\nrender_in = "thread"\n'
                    f'[groove]\nmodel = "beat"\nbpm = 120\n{page}\nswing = {SWING}\nhumanise = 1.0\n{extra}\n{kit}')
    return path


@pytest.fixture
def engine(tmp_path):
    engine = Engine(load_patch(groove_patch(tmp_path)))
    engine.wait_rendered(30)
    engine.start(OfflineBackend(RATE, 128, 2))
    yield engine
    engine.stop()


def render(engine, score, seconds):
    feeder = ScoreFeeder(engine, parse_score(score, fits=engine.check_fits), 0, horizon_frames=512)
    groove = engine.groove
    return engine.backend.render(int(seconds * RATE), lambda frame: (feeder.feed(frame), groove.feed(frame)))[:, 0], feeder


def test_every_hit_transient_is_within_one_sample_of_its_computed_frame(engine):
    audio, feeder = render(engine, "0.25 /groove 1 1\n", 3.0)  # 2.75 s: 22 steps
    hits, _, offsets = fixed_pattern()
    start = int(0.25 * RATE)
    events = engine.groove.sequencer.events
    assert feeder.rejected == 0 and engine.groove.sequencer.dropped == 0 and len(events) >= 20
    kit = engine.groove._kit()
    cache = engine.instrument.cache
    for event in events:
        n = event.step
        voice = int(np.flatnonzero(hits[n % 32])[0])
        expected = int(round(start + n * STEP + (SWING * STEP if n % 2 else 0.0) + offsets[n % 32, voice] * STEP))
        assert (event.frame, event.voice) == (expected, voice)
        if expected + 2500 > len(audio):  # the last sound, cut by the end of the render
            continue
        buffer = cache.get(kit[engine.groove.voices[voice]][0] * 4 + kit[engine.groove.voices[voice]][1])
        assert abs(best_lag(audio, expected, buffer)) <= 1, n
        sound = buffer.samples.astype(np.float64)
        heard = audio[expected - buffer.onset: expected - buffer.onset + len(sound)]
        assert np.corrcoef(heard, sound)[0, 1] > 0.999  # the hit's own sound, alone, at that frame
    assert np.max(np.abs(audio[: start - 128])) == 0.0  # nothing before the groove starts


def test_bad_tempo_is_refused_and_the_groove_keeps_playing(engine):
    audio, _ = render(engine, "0.1 /groove 0 0\n", 0.5)
    with pytest.raises(LiveEngineError, match=r"/param tempo value 0.0 is out of range; allowed: 20 to 300"):
        make_command("/param", ["tempo", 0.0])
    with pytest.raises(LiveEngineError, match="is not a tempo"):
        engine.groove.set_param("tempo", float("inf"))
    before = engine.groove.sequencer.scheduled
    more, _ = render(engine, "", 0.5)
    assert engine.groove.sequencer.scheduled > before and np.max(np.abs(more)) > 0.01


def test_a_groove_switch_lands_on_the_bar_and_a_morph_is_decoded_ahead(engine):
    render(engine, "0.1 /groove 0 0\n0.3 /groove 1 0\n2.3 /groove/xy 0.5 0.5\n", 4.5)  # bars at 0.1, 2.1, 4.1 s
    seq = engine.groove.sequencer
    changes = [(e.step, e.label) for a, e in zip(seq.events, seq.events[1:]) if a.label != e.label]
    assert [step % 16 for step, _ in changes] == [0, 0]
    assert [label for _, label in changes] == [("pad", 1, 0), ("xy", 0.5, 0.5)]
    assert seq.late_bars == 0


def test_a_morph_that_starts_the_groove_plays_its_first_step(engine):
    render(engine, "0.1 /groove/xy 0.3 0.7\n", 0.5)
    first = engine.groove.sequencer.events[0]
    assert (first.step, first.label) == (0, ("xy", 0.3, 0.7))
