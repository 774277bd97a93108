"""`liveengine play --web` as a performer runs it: no MIDI, no OSC, a browser's /pad reaches the audio server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from liveengine.control.osc.server import build_message
from liveengine.control.web.guard import host_refusal, origin_refusal
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.testing.play import free_port, start_play


@pytest.mark.parametrize("alone", [True, False], ids=["no MIDI, no OSC", "with MIDI and OSC"])
def test_play_serves_the_panel(jack_server, short_patch, tmp_path, alone):
    port, osc_port = free_port(), free_port()
    patch = short_patch(extra_engine='render_in = "thread"')
    inputs = ["--no-midi", "--no-osc"] if alone else ["--osc-port", str(osc_port)]
    process, lines = start_play([str(patch), *inputs, "--no-autosave", "--web", str(port)], tmp_path,
                                ready=lambda line: line.startswith("web panel:"))  # or play's end: its output is all read
    try:
        assert lines[-1].strip() == f"web panel: http://127.0.0.1:{port}/", "".join(lines)

        async def play():
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                    first = json.loads((await ws.receive(timeout=10)).data)
                    await ws.send_str(json.dumps({"address": "/pad", "args": [2, 3, 0.9]}))
                    while True:  # the audio server says the pad sounds: the whole path, browser to voice
                        for message in json.loads((await ws.receive(timeout=10)).data):
                            assert message[0] != "/error", message
                            if message == ["/pad/playing", 2, 3, 1]:
                                return first

        first = asyncio.run(asyncio.wait_for(play(), 20))
        assert sum(1 for m in first if m[0] == "/pad/description") == 64
        if not alone:  # OSC answers beside the panel
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.settimeout(5)
                client.sendto(build_message("/ping"), ("127.0.0.1", osc_port))
                assert client.recv(64).startswith(b"/pong")
    finally:
        process.send_signal(signal.SIGINT)
        out = process.communicate(timeout=30)[0]
    assert process.returncode == 0, out
    assert ("listening for OSC" in "".join(lines)) != alone


def test_web_patch_section_is_checked(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[web]\nenabled = true\nport = 70000\n')
    with pytest.raises(LiveEngineError, match=r"\[web\] port = 70000 is not allowed; allowed: an integer from 1 to 65535"):
        load_patch(path)
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[web]\nenabled = true\nport = 9999\nallow_writes = true\n')
    assert load_patch(path).web == {"enabled": True, "port": 9999, "host": "127.0.0.1", "allow_writes": True}


@pytest.mark.parametrize("host, loopback_only, refused", [
    ("127.0.0.1:8765", True, False), ("localhost:8765", True, False), ("[::1]:8765", True, False),
    ("192.168.1.20:8765", True, True), ("attacker.example:8765", True, True), (None, True, True),
    ("192.168.1.20:8765", False, False), ("attacker.example:8765", False, True),
])
def test_host_header_rule(host, loopback_only, refused):
    assert bool(host_refusal(host, loopback_only)) == refused


def test_origin_rule():
    assert origin_refusal(None, "127.0.0.1:8765") == ""
    assert origin_refusal("http://127.0.0.1:8765", "127.0.0.1:8765") == ""
    assert "not this panel's page" in origin_refusal("http://127.0.0.1:8766", "127.0.0.1:8765")
    assert origin_refusal("https://evil.example", "127.0.0.1:8765")


def test_docs_web_md_is_generated_from_the_tables():
    from pathlib import Path

    from liveengine.control.web.docs import markdown

    assert (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text() == markdown(), \
        "docs/web.md is out of date: run python -m liveengine.control.web.docs"


@pytest.mark.parametrize("host, taken, said, hint", [
    # 8.8.8.8 is no address of this machine: another port would fail the same way, so the hint names the host.
    ("8.8.8.8", False, "8.8.8.8 is not an address of this machine (Cannot assign requested address).", "--web-host"),
    ("no-such-host.invalid", False, "the host name 'no-such-host.invalid' does not resolve", "--web-host"),
    ("127.0.0.1", True, "Address already in use.", "Pick another port with --web PORT."),
], ids=["not this machine's", "unresolvable", "port in use"])
def test_play_names_the_web_setting_that_is_wrong(short_patch, tmp_path, host, taken, said, hint):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1] if taken else free_port()
        result = subprocess.run([sys.executable, "-m", "liveengine", "play", str(short_patch()), "--no-osc", "--no-midi", "--no-autosave",
                                 "--web-host", host, "--web", str(port)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "JACK_DEFAULT_SERVER": "liveengine-no-such-server", "JACK_NO_START_SERVER": "1"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"liveengine: cannot serve the web panel on {host}:{port}: {said}") and hint in line, line
    if hint == "--web-host":
        assert "an address of this machine: 127.0.0.1 (the default), or 0.0.0.0" in line and "Pick another port" not in line
    else:
        assert "--web-host" not in line
