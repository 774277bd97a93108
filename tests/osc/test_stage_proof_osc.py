"""Hostile input through the real OSC port (issue 15): repeated /record/start, and /patch names
that are files in the engine's working folder. Real UDP, a started engine on the offline backend."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest
from pythonosc.osc_message import OscMessage

from liveengine.control.osc.server import OscServer, build_message


@pytest.fixture
def live(engines, short_patch, tmp_path):
    """A started engine (offline backend: the test moves its clock) behind a real OSC server."""
    engine, backend = engines(short_patch(extra_engine='render_in = "thread"'))
    server = OscServer(engine, "127.0.0.1", 0, recordings_dir=tmp_path / "takes")
    server.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(5.0)
    yield engine, backend, server, client
    client.close()
    server.stop()


def ask(client, server, *message) -> OscMessage:
    client.sendto(build_message(*message), server.address)
    return OscMessage(client.recvfrom(65536)[0])


def wav_frames(path) -> tuple[int, int]:
    """(frames the header counts, whole float32 frames of data the file holds)."""
    raw = path.read_bytes()
    channels = struct.unpack_from("<H", raw, 48 + 10)[0]
    return struct.unpack_from("<I", raw, 80)[0], (len(raw) - 92) // (4 * channels)


def writers() -> int:
    """Recording writer threads alive in this process."""
    return sum(t.name == "liveengine-recorder" for t in threading.enumerate())


def test_record_start_during_a_recording_is_refused_and_leaks_no_thread(live, tmp_path):
    engine, backend, server, client = live
    rate = engine.options.samplerate
    assert ask(client, server, "/record/start", "take0").address == "/record/start"
    assert writers() == 1
    replies = []
    for n in range(1, 8):
        backend.run(rate // 10)  # 0.1 s of audio into the running recording
        replies.append(ask(client, server, "/record/start", f"take{n}"))
    assert writers() == 1  # a refused start starts no writer (main: 8, each file left unfinished)
    for reply in replies:
        assert reply.address == "/error" and "take0.wav is running" in reply.params[1], reply.params
    assert ask(client, server, "/record/stop").params == [str(tmp_path / "takes" / "take0.wav")]
    assert writers() == 0  # the writer ended with its file
    assert sorted(os.listdir(tmp_path / "takes")) == ["take0.wav"]
    counted, held = wav_frames(tmp_path / "takes" / "take0.wav")
    assert counted == held >= 7 * rate // 10
    # The next recording starts cleanly once the first has stopped.
    assert ask(client, server, "/record/start", "take1").address == "/record/start"
    backend.run(rate // 10)
    assert ask(client, server, "/record/stop").address == "/record/stop"
    counted, held = wav_frames(tmp_path / "takes" / "take1.wav")
    assert counted == held >= rate // 10
    assert writers() == 0


def test_patch_takes_names_from_the_patch_folders_only(live, short_patch, tmp_path, monkeypatch):
    engine, backend, server, client = live
    patch_text = short_patch(extra_engine='render_in = "thread"').read_text()
    # An extension-less patch file in the engine's working folder is not a patch name.
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "stray").write_text(patch_text.replace('[model]', '[patch]\nname = "stray"\n[model]'))
    monkeypatch.chdir(tmp_path / "work")
    reply = ask(client, server, "/patch", "stray")
    assert reply.address == "/error" and "'stray' not found" in reply.params[1] and "patch folders" in reply.params[1], reply.params
    assert engine.instrument.patch.name != "stray"
    # A patch in the user's patch folder is one.
    monkeypatch.setenv("LIVEENGINE_USER_PATCHES", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "stray.toml").write_text(patch_text.replace('[model]', '[patch]\nname = "mine"\n[model]'))
    assert ask(client, server, "/patch", "stray").params == ["stray", "ok"]
    assert engine.instrument.patch.name == "mine"
