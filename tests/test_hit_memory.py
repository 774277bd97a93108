"""Memory does not grow with hits (issue 15, item 10): the hit history keeps metadata, the
exact-point cache is bounded in bytes, /capture still saves the sound heard last, and
/status shows the instrument's memory (PSS over its processes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import soundfile

from liveengine.commands import make_command
from liveengine.render.buffers import PlayableBuffer

HITS = 120


def test_many_xy_hits_keep_no_audio_in_the_history_and_the_exact_cache_within_its_bytes(engines, short_patch, tmp_path):
    engine, backend = engines(short_patch(extra_engine='render_in = "thread"'))
    on_demand = engine.instrument.on_demand
    on_demand.max_bytes = 40 * 2400 * 4  # about 40 of this patch's 50 ms sounds, so the bound is reached
    rng = np.random.default_rng(3)
    for x, y in rng.uniform(0.05, 0.95, (HITS, 2)):  # distinct points between pads: every hit renders its own sound
        assert engine.submit(make_command("/xy", (float(x), float(y), 0.9)))  # offline: waits for its exact render
        backend.run(128)
    assert len(engine.hits) == HITS and all(h.kind == "exact" for h in engine.hits)

    # The history is metadata: no sound in it, no array bigger than a latent point (was: each hit's rendered sound).
    for hit in engine.hits:
        values = [getattr(hit, f.name) for f in dataclasses.fields(hit)]
        assert not any(isinstance(v, PlayableBuffer) for v in values)
        assert all(not isinstance(v, np.ndarray) or v.size <= engine.instrument.decoder.latent_dim for v in values)
    held = sum(b.samples.nbytes + b.envelope.nbytes for b in on_demand._exact.values())
    assert held == on_demand.cached_bytes <= on_demand.max_bytes
    assert 20 < len(on_demand._exact) < HITS  # the oldest went

    # /capture still saves what was heard last.
    path = engine.capture(tmp_path / "library")
    audio, _ = soundfile.read(path, dtype="float32")
    np.testing.assert_array_equal(audio, engine.last_sound.samples)
    assert np.max(np.abs(audio)) > 0.01

    memory = engine.status()["memory_mb"]
    assert memory is not None and 10 < memory < 4000  # PSS of this test process at least: a Python with numpy loaded
