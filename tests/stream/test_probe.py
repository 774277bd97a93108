"""`liveengine check` on a patch with a stream: the model's frames from the zero state, timed, and the state contract
(one frame at a time = one block). Tiny generated models (liveengine/testing/models.py); the CLI runs in this process."""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.cli import main
from liveengine.decoders.contract import ModelError
from liveengine.decoders.stream_model import StreamModel
from liveengine.stream.probe import TOLERANCE, probe_stream
from liveengine.testing.models import build_stream_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    return {"good": build_stream_model(root / "good"), "forgets": build_stream_model(root / "forgets", forget_state=True)}


def test_the_probe_times_frames_and_finds_the_state_contract_kept_or_broken(folders):
    model = StreamModel(folders["good"])
    probe = probe_stream(model, 48000, frames=50)
    assert probe.frames == 50 and probe.hop == 240 and probe.state_difference <= TOLERANCE
    assert 0 < probe.model_ms_median <= probe.frame_ms_median <= probe.frame_ms_p99
    assert np.all(model.state == 0.0) and model.nan_frames == 0
    with pytest.raises(ModelError, match=r"model forgets: 50 frames one at a time differ from the same frames in one block by .*"
                                         r"\(allowed 1e-05\): state_out does not carry"):
        probe_stream(StreamModel(folders["forgets"]), 48000, frames=50)


def test_check_prints_the_stream_and_refuses_a_model_that_breaks_the_contract(folders, short_patch, capsys):
    patch = short_patch(extra_engine='render_in = "thread"', extra=f'[stream]\nmodel = "{folders["good"]}"\n')
    assert main(["check", str(patch)]) == 0
    said = capsys.readouterr().out
    assert "stream    " in said and "8 harmonics, 4 noise bands, state 8; input notes" in said
    assert "per 5 ms frame (model " in said and "one frame at a time = one block within" in said
    patch = short_patch(extra_engine='render_in = "thread"', extra=f'[stream]\nmodel = "{folders["forgets"]}"\n')
    assert main(["check", str(patch)]) == 1
    assert "model forgets: 200 frames one at a time differ" in capsys.readouterr().err
