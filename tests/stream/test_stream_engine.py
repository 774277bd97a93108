"""A stream in the engine, through the one command table, on the offline backend (the producer runs in
process, pumped before each block): notes and the XY pad play it beside the grid, /panic resets it, a
patch names it in [stream], and every mistake is one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from liveengine.audio.offline import OfflineBackend
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.stream.producer import StreamSettings, margin_frames
from liveengine.testing.models import build_audio_decoder, build_stream_model

RATE, BLOCK = 48000, 128


def write_patch(path: Path, stream: str) -> Path:
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n'
                    "[audio]\nsamplerate = 48000\nblocksize = 128\n"
                    "[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nrender_in = \"thread\"\n" + stream)
    return path


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> Path:
    return build_stream_model(tmp_path_factory.mktemp("models") / "voice")


def _engine(tmp_path, voice, extra: str = ""):
    patch = write_patch(tmp_path / "p.toml", f'[stream]\nmodel = "{voice}"\ninstrument = "violin"\nattack_ms = 5.0\nrelease_ms = 40.0\n{extra}')
    engine = Engine(load_patch(patch))
    backend = OfflineBackend(RATE, BLOCK, 2)
    engine.start(backend)
    return engine, backend


def test_a_stream_note_plays_beside_the_grid_and_releases(tmp_path, voice):
    engine, backend = _engine(tmp_path, voice)
    try:
        assert engine.wait_rendered(10)
        assert engine.stream.xy == engine.stream.point_of("violin") == (0.25, 0.75)
        quiet = backend.render(4096)[:, 0]
        assert np.max(np.abs(quiet)) == 0.0
        engine.submit(make_command("/stream/note", (69, 1.0)))
        engine.submit(make_command("/pad", (0, 0, 0.5)))  # the grid plays on beside it
        held = backend.render(RATE // 4)[:, 0]
        onset = int(np.flatnonzero(np.abs(held) > 1e-3)[0])
        assert onset <= margin_frames(BLOCK, 240, StreamSettings().slack_blocks) + BLOCK  # the producer's margin (default slack) and a block
        engine.submit(make_command("/stream/xy", (0.9, 0.1)))
        engine.submit(make_command("/stream/off", ()))
        after = backend.render(RATE // 4)[:, 0]
        assert np.max(np.abs(after[-RATE // 8 :])) == 0.0
        status = engine.status()
        assert status["stream_underruns"] == 0 and status["stream_fades"] == 0 and status["stream_frames"] > 0
        assert status["stream_nan_frames"] == 0 and engine.hits[-1].pad == 0
        engine.submit(make_command("/stream/note", (60, 1.0)))
        backend.render(4096)
        engine.submit(make_command("/panic", ()))
        assert not engine.stream.local.pad.held and np.all(engine.stream.model.state == 0.0)
        backend.render(4096)
        engine.submit(make_command("/stream/note", (64, 1.0)))
        again = backend.render(RATE // 8)[:, 0]
        assert np.max(np.abs(again[-RATE // 16 :])) > 0.01  # the stream voice came back after the panic
        with pytest.raises(LiveEngineError, match=r"/stream/instrument 'tuba' is not a point of model voice; allowed: violin, flute"):
            engine.submit(make_command("/stream/instrument", ("tuba",)))
    finally:
        engine.stop()


def test_switching_to_audio_input_revoices_it_and_back(tmp_path, voice):
    engine, backend = _engine(tmp_path, voice, "mix = 1.0\n")
    try:
        engine.submit(make_command("/stream/input", ("audio",)))
        tone = (0.4 * np.sin(2 * np.pi * 262.0 * np.arange(RATE // 2) / RATE)).astype(np.float32)
        feed = lambda frame: engine.core.audio_in(tone[frame % len(tone) :][:BLOCK])  # noqa: E731
        out = backend.render(RATE // 2, before_block=feed)[:, 0]
        assert np.max(np.abs(out[RATE // 4 :])) > 0.01
        engine.submit(make_command("/stream/input", ("notes",)))
        engine.submit(make_command("/stream/mix", (0.5,)))
        assert engine.stream.local.settings.input == "notes" and engine.stream.local.settings.mix == 0.5
        assert engine.status()["stream_fades"] == 0
    finally:
        engine.stop()


def test_stream_mistakes_are_one_clear_error(tmp_path, voice):
    plain = Engine(load_patch(write_patch(tmp_path / "plain.toml", "")))
    with pytest.raises(LiveEngineError, match=r"has no stream; add \[stream\] model = \"voices\""):
        plain.submit(make_command("/stream/note", (60, 1.0)))
    with pytest.raises(LiveEngineError, match=r"/stream/input argument 'name' is 'mic'; allowed: .*notes"):
        make_command("/stream/input", ("mic",))
    oneshot = build_audio_decoder(tmp_path / "kick", latent_dim=4, output_length=512)
    with pytest.raises(LiveEngineError, match=r"model kick: metadata liveengine.kind = 'oneshot'; \[stream\] model needs a stream model"):
        Engine(load_patch(write_patch(tmp_path / "a.toml", f'[stream]\nmodel = "{oneshot}"\n')))
    with pytest.raises(LiveEngineError, match=r"\[stream\] instrument = 'tuba' is not a point of model voice; allowed: violin, flute"):
        Engine(load_patch(write_patch(tmp_path / "b.toml", f'[stream]\nmodel = "{voice}"\ninstrument = "tuba"\n')))
    with pytest.raises(LiveEngineError, match=r"\[stream\] input"):
        load_patch(write_patch(tmp_path / "c.toml", f'[stream]\nmodel = "{voice}"\ninput = "mic"\n'))
    with pytest.raises(LiveEngineError, match=r"\[stream\] model = 'nowhere'.*not found"):
        load_patch(write_patch(tmp_path / "d.toml", '[stream]\nmodel = "nowhere"\n'))


def test_the_web_panel_moves_the_stream_voice(tmp_path, voice):
    """The panel's stream mode sends /stream/xy over its WebSocket (a real aiohttp server and client)."""
    import asyncio
    import json

    import aiohttp

    from liveengine.control.web.server import WebServer
    from liveengine.testing.jack_rig import wait_for

    engine, backend = _engine(tmp_path, voice)
    server = WebServer(engine, "127.0.0.1", 0)
    server.start()

    async def move() -> list:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.address[1]}/ws") as ws:
                await ws.receive(timeout=5)  # hello
                await ws.send_str(json.dumps({"address": "/stream/xy", "args": [0.2, 0.8]}))
                await ws.send_str(json.dumps({"address": "/stream/xy", "args": [2, 0.8]}))
                while True:
                    frame = await ws.receive(timeout=5)
                    errors = [m for m in json.loads(frame.data) if m[0] == "/error"]
                    if errors:
                        return errors

    try:
        errors = asyncio.run(asyncio.wait_for(move(), 20))
        assert "argument 'x' is 2" in errors[0][2]
        assert wait_for(lambda: engine.stream.xy == (0.2, 0.8), 5)
        np.testing.assert_allclose(engine.stream.local.pad.target_z, (-0.6, 0.6), atol=1e-6)
    finally:
        server.stop()
        engine.stop()


def test_a_patch_swap_takes_the_stream_away_and_brings_it_back(tmp_path, voice):
    engine, backend = _engine(tmp_path, voice)
    try:
        engine.submit(make_command("/stream/note", (60, 1.0)))
        assert np.max(np.abs(backend.render(RATE // 8)[:, 0])) > 0.01
        plain = write_patch(tmp_path / "plain.toml", "")
        assert engine.load_patch(plain) and engine.stream is None
        quiet = backend.render(RATE // 8)[:, 0]
        assert np.max(np.abs(quiet[-RATE // 16 :])) == 0.0  # the stream voice faded out with its patch
        with pytest.raises(LiveEngineError, match="has no stream"):
            engine.submit(make_command("/stream/note", (60, 1.0)))
        assert engine.load_patch(tmp_path / "p.toml") and engine.stream is not None
        engine.submit(make_command("/stream/note", (67, 1.0)))
        assert np.max(np.abs(backend.render(RATE // 8)[:, 0][-RATE // 16 :])) > 0.01
    finally:
        engine.stop()


@pytest.mark.parametrize("line, allowed", [
    ("mix = 1.5", "a number from 0 to 1"),
    ("pitch_range = [96, 36]", "two MIDI notes [low, high], 0 to 127, low first"),
    ("portamento_ms = -1", "a number from 0 to 2000"),
    ("midi_channel = 17", "an integer from 0 (none) to 16"),
    ("x_cc = 128", "a CC number from 0 to 127, or -1"),
    ("slack_blocks = 9", "a number of blocks from 0 to 8"),
    ('gain = "loud"', "a number from 0 to 2"),
])
def test_a_bad_stream_key_is_one_clear_error_naming_what_is_allowed(tmp_path, voice, line, allowed):
    key = line.split(" = ")[0]
    with pytest.raises(LiveEngineError) as caught:
        load_patch(write_patch(tmp_path / "p.toml", f'[stream]\nmodel = "{voice}"\n{line}\n'))
    assert f"[stream] {key}" in str(caught.value) and allowed in str(caught.value), str(caught.value)


def test_a_render_runs_on_until_the_stream_voice_has_faded(tmp_path, voice):
    """`liveengine render` (in this process): a stream note released near the end of the score is heard to the end of its
    release, and the file ends in silence soon after, not when the pads' sounds end."""
    from liveengine.cli import render_score_to_file

    patch = write_patch(tmp_path / "p.toml", f'[stream]\nmodel = "{voice}"\nattack_ms = 5.0\nrelease_ms = 300.0\n')
    score = tmp_path / "s.score"
    score.write_text("0.0 /pad 0 0 0.5\n0.05 /stream/note 69 1.0\n0.2 /stream/off\n")
    status = render_score_to_file(load_patch(patch), score, tmp_path / "out.wav")
    audio, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    mono = audio[:, 0]
    heard = np.flatnonzero(np.abs(mono) > 1e-4)
    assert heard[-1] > int(0.4 * rate)  # the release (300 ms from 0.2 s) is in the file
    assert np.max(np.abs(mono[-BLOCK:])) == 0.0 and len(mono) < int(0.6 * rate)  # and then it ends, in silence
    assert status["stream_fades"] == 0 and status["stream_underruns"] == 0
