"""Fixtures for the decoder tests: started offline engines, cleaned up after."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.engine import Engine
from liveengine.patch import load_patch


@pytest.fixture
def engines():
    """Make started engines on offline backends; stop them and undo Engine.start's interpreter tweaks after."""
    made = []
    switch = sys.getswitchinterval()

    def make(patch_path: Path):
        engine = Engine(load_patch(patch_path))
        made.append(engine)
        assert engine.wait_rendered(timeout=60)
        o = engine.options
        backend = OfflineBackend(o.samplerate, o.blocksize, o.channels)
        engine.start(backend)
        return engine, backend

    yield make
    for engine in made:
        engine.stop()
    sys.setswitchinterval(switch)
    gc.unfreeze()
