"""MIDI learn: bindings written into the patch with comments and layout kept, atomically, with a .bak;
shipped patches are never written; `liveengine learn` and `liveengine midi` through real JACK ports."""

from __future__ import annotations

import threading
import time

import mido
import pytest

from liveengine.cli import main
from liveengine.control.midi.learn import wait_for_control, write_bindings
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.resources import patches_dir

PATCH = """# my stage patch: keep this comment
[grid]
rows = 8      # eight rows
cols = 8

[midi]
note_off = "ignore"   # drums ring out
"""


@pytest.fixture(autouse=True)
def user_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEENGINE_USER_PATCHES", str(tmp_path / "user-patches"))
    monkeypatch.setenv("LIVEENGINE_MIDI_PROFILES", str(tmp_path / "user-profiles"))


def test_bindings_keep_comments_and_layout_and_leave_a_backup(tmp_path):
    path = tmp_path / "stage.toml"
    path.write_text(PATCH)
    assert write_bindings(path, {21: "zoom"}) == path
    text = path.read_text()
    assert text.startswith(PATCH)  # every line of the user's file, as it was
    assert "[midi.cc]" in text and '21 = "zoom"' in text
    assert (tmp_path / "stage.toml.bak").read_text() == PATCH
    assert load_patch(path).midi["cc"] == {"21": "zoom"}
    write_bindings(path, {21: "rotation", 22: "gain"})  # rebinding changes the line in place
    assert load_patch(path).midi["cc"] == {"21": "rotation", "22": "gain"}
    assert path.read_text().count("21 =") == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_a_patch_saved_with_a_byte_order_mark_takes_bindings_as_it_loads(tmp_path):
    path = tmp_path / "stage.toml"
    path.write_bytes(b"\xef\xbb\xbf" + PATCH.encode())  # a Windows editor's UTF-8
    write_bindings(path, {21: "zoom"})
    assert load_patch(path).midi["cc"] == {"21": "zoom"} and path.read_text().startswith(PATCH)
    assert (tmp_path / "stage.toml.bak").read_bytes().startswith(b"\xef\xbb\xbf")  # the file as it was


def test_a_binding_that_would_break_the_patch_is_not_written(tmp_path):
    path = tmp_path / "stage.toml"
    path.write_text(PATCH)
    with pytest.raises(LiveEngineError, match="cc"):
        write_bindings(path, {21: "wobble"})
    assert path.read_text() == PATCH and not (tmp_path / "stage.toml.bak").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["stage.toml"]  # no temporary file left behind


def test_a_shipped_patch_gets_a_user_copy(tmp_path):
    shipped = patches_dir() / "default.toml"
    before = shipped.read_text()
    written = write_bindings(shipped, {21: "zoom"})
    assert shipped.read_text() == before  # the package's own file is untouched
    assert written == tmp_path / "user-patches" / "default.toml"
    patch = load_patch(written)  # loads from its new folder, demo score included
    assert patch.midi["cc"] == {"21": "zoom"} and patch.demo_score is not None
    assert written.read_text().startswith(before.split("[model]")[0])  # comments kept in the copy too


def test_wait_for_control_ignores_jitter_and_bound_controls():
    stream = [mido.Message("control_change", control=7, value=64), mido.Message("control_change", control=7, value=65),
              mido.Message("note_on", note=1), mido.Message("control_change", control=21, value=10),
              mido.Message("control_change", control=21, value=20), mido.Message("control_change", control=22, value=0),
              mido.Message("control_change", control=22, value=30)]
    feed = iter(stream)
    assert wait_for_control(lambda: next(feed, None), 1.0, exclude={21}) == (0, 22)
    feed = iter(stream)
    assert wait_for_control(lambda: next(feed, None), 1.0) == (0, 21)
    assert wait_for_control(lambda: None, 0.05) is None


def test_learn_and_midi_refuse_bad_arguments_before_any_port_opens(tmp_path, capsys):
    path = tmp_path / "stage.toml"
    path.write_text(PATCH)
    assert main(["learn", str(path), "--param", "zoom", "--param", "wobble"]) == 1
    err = capsys.readouterr().err
    assert "--param 'wobble' is not a parameter; allowed: gain" in err and "zoom" in err, err
    assert path.read_text() == PATCH
    for argv, complaint in [(["learn", str(path), "--param", "zoom", "--timeout", "-1"], "is not a duration"),
                            (["learn", str(path), "--param", "zoom", "--timeout", "nan"], "is not a duration"),
                            (["learn", str(path)], "--param"),
                            (["midi", "--midi-api", "pipewire"], "invalid choice: 'pipewire'")]:
        with pytest.raises(SystemExit):
            main(argv)
        assert complaint in capsys.readouterr().err, argv


def test_liveengine_learn_binds_two_knobs_over_jack(jack_server, tmp_path, capsys, monkeypatch):
    import rtmidi

    from liveengine.control.midi import learn

    found: list = []  # each control learn has bound, as it binds it: the test moves the next knob from then on

    def watched(*args, **kwargs):
        control = original(*args, **kwargs)
        found.append(control)
        return control

    original = learn.wait_for_control
    monkeypatch.setattr(learn, "wait_for_control", watched)

    knobs = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="learn-knobs")  # C++ only: no Python on JACK's thread
    knobs.open_virtual_port("knobs")
    path = tmp_path / "stage.toml"
    path.write_text(PATCH)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", main(
        ["learn", str(path), "--param", "zoom", "--param", "rotation", "--midi-api", "jack", "--midi-in", "knobs", "--timeout", "20"])))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        value = 0
        while thread.is_alive() and time.monotonic() < deadline:
            control = 22 if found else 21  # the first knob until it is bound, then the second
            knobs.send_message([0xB0, control, value % 128])
            value += 5
            time.sleep(0.02)
    finally:
        thread.join(timeout=30)
        knobs.close_port()
        knobs.delete()
    said = capsys.readouterr()
    out = said.out
    assert result.get("rc") == 0, (out, said.err, found)
    assert load_patch(path).midi["cc"] == {"21": "zoom", "22": "rotation"}
    assert path.read_text().startswith(PATCH)
    assert "CC 21 (channel 1) -> zoom" in out and "stage.toml.bak" in out


def test_liveengine_midi_lists_ports_with_their_profiles(jack_server, capsys):
    import jack

    device = jack.Client("APC mini mk2", no_start_server=True, servername=jack_server.name)  # ports only, no callback
    device.midi_outports.register("APC mini mk2 out")
    device.midi_outports.register("LPX DAW out")
    try:
        assert main(["midi", "--midi-api", "jack"]) == 0
    finally:
        device.close()
    out = capsys.readouterr().out
    assert "* APC mini mk2:APC mini mk2 out  ->  apc-mini-mk2 (Akai APC mini mk2, not yet checked on hardware)" in out
    assert "APC mini mk2:LPX DAW out  ->  apc-mini-mk2" in out and "(not opened: another port of this device)" in out
