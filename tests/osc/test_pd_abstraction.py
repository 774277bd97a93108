"""The Pure Data abstractions and panel: every message they send is in the table, and, run headless in Debian's Pd, they drive the engine and show its feedback."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from liveengine.control.osc.server import OscServer
from liveengine.testing.server import queued_records
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.rt.core import START

ROOT = Path(__file__).resolve().parents[2]
PD_FOLDER = ROOT / "patches" / "pd"
PANEL = PD_FOLDER / "liveengine-panel.pd"


def module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


MAX_TEST = module("max_device_checks", Path(__file__).with_name("test_max_device.py"))  # the same table checker

HARNESS = """#N canvas 0 0 400 300 12;
#X obj 10 10 loadbang;
#X obj 10 40 delay 800;
#X msg 10 70 subscribe {feedback} \\, pad 2 3 0.9 \\, xy 0.5 0.25 \\, mapping plane \\, capture \\, ping;
#X obj 10 110 liveengine 127.0.0.1 {port};
#X obj 200 10 liveengine-panel 127.0.0.1 {port} {feedback};
#X obj 200 50 print fb;
#X obj 300 50 print cells;
#X msg 200 90 page 1 \\, hit 0 1 \\, page 0 \\, hit 1 1;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
#X connect 4 0 5 0;
#X connect 4 1 6 0;
#X connect 1 0 7 0;
#X connect 7 0 4 0;
"""


def parse(text: str) -> tuple[list[tuple[str, list[str]]], list[tuple[int, int, int, int]]]:
    """A top-level Pd patch as (kind, words) per object and (source, outlet, sink, inlet) per cord."""
    objects, cords = [], []
    for record in re.split(r"(?<!\\);\s*\n", text.strip().rstrip(";")):
        parts = record.split()
        if parts[:2] == ["#X", "connect"]:
            cords.append(tuple(int(v) for v in parts[2:6]))
        elif parts[0] == "#X" and parts[1] in ("obj", "msg", "text", "floatatom", "symbolatom"):
            objects.append((parts[1], parts[4:]))
        else:
            assert parts[0] == "#N" and len(objects) == 0, "subpatches are not expected here"
    return objects, cords


def messages_into(objects, cords, sink: int) -> set[tuple]:
    """Every message that can reach `sink`'s left inlet, as tuples of words and kinds (<float>, <symbol>, <bang>)."""

    def out(index: int, outlet: int, depth: int = 0) -> set[tuple]:
        assert depth < 30
        kind, words = objects[index]
        name = words[0] if kind == "obj" and words else kind

        def incoming() -> set[tuple]:
            found = set()
            for a, o, b, i in cords:
                if b == index and i == 0:
                    found |= out(a, o, depth + 1)
            return found

        if kind == "msg":
            result = set()
            for args in incoming() or {("<bang>",)}:
                for message in " ".join(words).split("\\,"):
                    atoms = []
                    for word in message.split():
                        if word.startswith("\\$"):
                            n = int(word[2:])
                            assert args != ("<bang>",) and n <= len(args), (words, args)
                            atoms.append(args[n - 1])
                        else:
                            atoms.append(word)
                    result.add(tuple(atoms))
            return result
        if kind == "symbolatom":
            return {("<symbol>",)}
        if name in ("bng", "loadbang", "delay"):
            return {("<bang>",)}
        if name == "f" and words[1:2] == ["\\$3"]:
            return {("<int>",)}  # the feedback port, a whole number from the panel's arguments
        if name in ("hsl", "vsl"):
            return {("<float>",)}
        if name == "pack":
            return {tuple("<float>" if w == "f" else "<symbol>" for w in words[1:])}
        if name == "t":
            return {("<float>",)} if words[1 + outlet] == "f" else {("<bang>",)}
        if name in ("hsl", "vsl", "tgl"):
            return {("<float>",)}
        if name == "spigot" or words[:2] == ["list", "trim"]:
            return incoming()
        if words[:2] == ["list", "prepend"]:
            return {tuple(words[2:]) + m for m in incoming()}
        if words[:2] == ["list", "append"]:
            return {m + tuple(words[2:]) for m in incoming()}
        if name == "route" and words[1:] == ["page", "hit"]:
            return set()  # from the panel's inlet: what a harness or a hardware grid sends (the headless test runs it)
        raise AssertionError(f"the test cannot follow messages out of [{' '.join(words)}]: model it")

    found = set()
    for a, o, b, i in cords:
        if b == sink and i == 0:
            found |= out(a, o)
    return found


def check_pd(text: str) -> set[tuple]:
    objects, cords = parse(text)
    for a, o, b, i in cords:
        assert 0 <= a < len(objects) and 0 <= b < len(objects), (a, b)
    sent = set()
    for index, (kind, words) in enumerate(objects):
        if kind == "obj" and words[0] == "liveengine":
            sent |= messages_into(objects, cords, index)
    for message in sent:
        try:
            MAX_TEST.checked(("/" + message[0],) + message[1:])
        except LiveEngineError as error:
            pytest.fail(f"Pd sends {' '.join(message)}: {error}")
    return sent


def test_the_committed_panel_is_what_the_script_generates():
    assert PANEL.read_text() == module("build_pd_panel", ROOT / "scripts" / "build_pd_panel.py").build(), \
        "run: python scripts/build_pd_panel.py"


def test_everything_the_panel_and_harness_send_is_in_the_table():
    sent = check_pd(PANEL.read_text())
    words = {m[0] for m in sent}
    assert words == {"pad", "xy", "mapping", "capture", "panic", "patch", "subscribe", "groove", "groove/stop", "tempo/source",
                     "param", "stream/xy", "stream/note", "stream/off", "stream/mix", "stream/input"}, words
    assert {("stream/input", "notes"), ("stream/input", "audio"), ("stream/xy", "<float>", "<float>")} <= sent
    assert {m for m in sent if m[0] == "pad"} == {("pad", str(r), str(c), "1") for r in range(8) for c in range(8)}
    assert {m for m in sent if m[0] == "groove"} == {("groove", str(r), str(c)) for r in range(8) for c in range(8)}
    assert {m[1] for m in sent if m[0] == "tempo/source"} == {"patch", "midi-clock", "transport", "link"}
    assert ("xy", "<float>", "<float>") in sent and ("patch", "<symbol>") in sent and ("subscribe", "<int>") in sent
    harness = check_pd(HARNESS.format(port=9000, feedback=9001))
    assert {m[0] for m in harness} == {"subscribe", "pad", "xy", "mapping", "capture", "ping"}
    with pytest.raises(BaseException):
        check_pd(HARNESS.replace("mapping plane", "mapping sideways").format(port=9000, feedback=9001))


def test_every_feedback_address_is_handled_by_the_panel():
    from liveengine.control.osc.server import FEEDBACK

    objects, _ = parse(PANEL.read_text())
    routes = [w[1:] for kind, w in objects if kind == "obj" and w[0] == "route"]
    for address in FEEDBACK:
        head, _, tail = address[1:].partition("/")
        assert any(head in r for r in routes) and (not tail or any(tail in r for r in routes)), address


def test_pd_panel_and_abstraction_drive_the_engine_and_show_its_feedback(short_patch, tmp_path, monkeypatch):
    pd = shutil.which("pd")
    if pd is None:
        pytest.skip("Pure Data is not installed (Debian package puredata-core)")
    monkeypatch.setenv("LIVEENGINE_LIBRARY", str(tmp_path / "library"))
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    server = OscServer(engine, "127.0.0.1", 0)
    server.start()
    feedback_port = server.address[1] + 1 if server.address[1] < 65000 else server.address[1] - 1
    harness = tmp_path / "harness.pd"
    harness.write_text(HARNESS.format(port=server.address[1], feedback=feedback_port))
    process = subprocess.Popen([pd, "-nogui", "-nosound", "-nomidi", "-stderr", "-path", str(PD_FOLDER), "-open", str(harness)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # Pd's output as it prints
    reader.start()

    def shown() -> bool:  # the feedback the assertions below look for has been printed (or Pd has ended)
        text = "\n".join(lines)
        return process.poll() is not None or ("fb: pong" in text and re.search(r"^fb: (capture|error capture) ", text, re.M) is not None
                                              and "fb: error /groove" in text
                                              and len(set(re.findall(r"^cells: (\d+) color", text, re.M))) >= setting_pads)

    setting_pads = engine.instrument.setting.rows * engine.instrument.setting.cols
    try:
        deadline = time.monotonic() + 30
        # /subscribe from the panel; from the harness's own [liveengine] (its own port: replies go where its
        # subscription says), then pad, xy, mapping, capture, ping
        while server.counters.handled < 8:  # and the panel's own pad (1, 1), after its page went to grooves and back
            assert time.monotonic() < deadline, f"Pd sent {server.counters.handled} messages"
            time.sleep(0.05)
        while not shown() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        output = "".join(lines)
        server.stop()
    events = queued_records(engine)
    setting = engine.instrument.setting
    buffers = engine.instrument.cache.buffers
    engine.stop()
    assert engine.instrument.setting.pad_index(2, 3) in [e[6] for e in events if e[2] == START]
    assert engine.instrument.setting.pad_index(1, 1) in [e[6] for e in events if e[2] == START]  # back on the sound page
    # On the groove page the pad sent /groove 0 1, which this patch (no [groove] model) refuses by name:
    assert re.search(r"^fb: error /groove .*has\\ no\\ groove\\ page", output, re.M), output  # (Pd escapes the spaces)
    assert "couldn't create" not in output and "connection failed" not in output, output
    assert "fb: pong" in output, output
    assert re.search(r"^fb: (capture|error capture) ", output, re.M), output
    # every pad's cell took the colour of its description: Pd's packed colour of the engine's r g b
    painted = dict(re.findall(r"^cells: (\d+) color (-\d+) -1$", output, re.M))
    assert len(painted) == setting.rows * setting.cols, output
    for pad, colour in painted.items():
        r, g, b = buffers[int(pad)].description.color
        assert int(colour) == -1 - ((r >> 2) * 4096 + (g >> 2) * 64 + (b >> 2)), pad
