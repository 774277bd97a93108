"""One OnnxDecoder shared by several render workers ([engine] render_threads > 1).

Every pad must hold the sound of its own latent point, whichever worker decoded it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.patch.schema import SCHEMA
from liveengine.render.buffers import prepare_oneshot
from liveengine.render.workers import RenderWorkers
from liveengine.testing.models import build_audio_decoder, build_stft_decoder

from onnx_helpers import write_patch


@pytest.mark.parametrize("kind", ["audio", "stft"])
def test_concurrent_decodes_do_not_mix(tmp_path, kind):
    folder = build_audio_decoder(tmp_path / "m") if kind == "audio" else build_stft_decoder(tmp_path / "m")
    decoder = OnnxDecoder(folder)
    rng = np.random.default_rng(0)
    points = [rng.standard_normal((8, 8)).astype(np.float32) for _ in range(4)]
    expected = []
    for z in points:
        out = np.zeros((8, decoder.output_length), np.float32)
        decoder.decode_into(z, out)
        expected.append(out)
    results = [[] for _ in points]
    start = threading.Barrier(len(points))

    def work(i):
        start.wait()
        for _ in range(25):
            out = np.zeros((8, decoder.output_length), np.float32)
            decoder.decode_into(points[i], out)
            results[i].append(out)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(points))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, outs in enumerate(results):
        assert len(outs) == 25
        for out in outs:
            np.testing.assert_array_equal(out, expected[i])


def test_engine_with_four_render_threads_renders_every_pad_right(engines, tmp_path):
    build_audio_decoder(tmp_path / "drums")
    extra = "render_threads = 4"
    if "render_in" in SCHEMA["engine"]:  # rendering may default to a child process; this is about threads
        extra += '\nrender_in = "thread"'
    engine, _ = engines(write_patch(tmp_path / "song.toml", "drums", grid=8, engine_extra=extra))
    assert isinstance(engine.instrument.workers, RenderWorkers) and len(engine.instrument.workers._threads) == 4
    decoder, grid, cache = engine.instrument.decoder, engine.instrument.setting, engine.instrument.cache
    points = engine.instrument.pad_points
    out = np.zeros((len(points), decoder.output_length), np.float32)
    decoder.decode_into(points, out)
    assert engine.instrument.workers.errors == 0
    for pad in range(len(points)):
        expected = prepare_oneshot(out[pad], decoder.sample_rate, engine.options.samplerate, max_seconds=0.1)
        np.testing.assert_array_equal(cache.get(pad).samples, expected.samples, err_msg=f"pad {pad}")
