"""Messages -> Commands offline: pads, velocity, note off, CC scaling from commands.PARAMS, soft takeover,
aftertouch, program change; the byte splitter's bounds; the [midi] patch section."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from liveengine import commands
from liveengine.control.midi.mapping import MidiMapper, MidiSettings, SoftTakeover, scale
from liveengine.control.midi.parse import MAX_EVENT_BYTES, MessageSplitter
from liveengine.control.midi.profiles import load_profiles
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch


@pytest.fixture
def profiles(tmp_path):
    return load_profiles(tmp_path / "none")


def mapper(profiles, name="launchpad-mini-mk3", shape=(8, 8), values=None, **settings):
    values = {} if values is None else values
    takeover = SoftTakeover(lambda param: values.get(param))
    return MidiMapper(profiles[name], MidiSettings(**settings), lambda: shape, takeover, port="p")


def commands_of(actions):
    return [(a[1].address, a[1].args) for a in actions if a[0] == "command"]


def test_note_on_becomes_pad_hit_with_velocity_as_fraction(profiles):
    m = mapper(profiles)
    assert commands_of(m.translate(mido.Message("note_on", note=34, velocity=127))) == [("/pad", (2, 3, 1.0))]
    assert commands_of(m.translate(mido.Message("note_on", note=11, velocity=64))) == [("/pad", (0, 0, 64 / 127))]
    assert m.counters.notes == 2


def test_notes_off_the_layout_or_past_the_grid_are_counted(profiles):
    m = mapper(profiles, shape=(4, 4))
    assert m.translate(mido.Message("note_on", note=10, velocity=100)) == []  # not a pad in programmer mode
    assert m.translate(mido.Message("note_on", note=88, velocity=100)) == []  # pad (7, 7) on a 4x4 grid
    assert m.counters.outside_grid == 2


@pytest.mark.parametrize("mode, expected", [("ignore", []), ("choke", [("/pad/off", (2, 3))]), ("fade", [("/pad/off", (2, 3))])])
def test_note_off_follows_the_patch(profiles, mode, expected):
    m = mapper(profiles, note_off=mode)
    assert commands_of(m.translate(mido.Message("note_off", note=34))) == expected
    assert commands_of(m.translate(mido.Message("note_on", note=34, velocity=0))) == expected  # note on, velocity 0


def test_cc_is_scaled_into_the_parameter_s_range(profiles):
    m = mapper(profiles, cc={21: "rotation", 22: "gain"})
    assert commands_of(m.translate(mido.Message("control_change", control=21, value=127))) == [("/param", ("rotation", 360.0))]
    assert commands_of(m.translate(mido.Message("control_change", control=22, value=0))) == [("/param", ("gain", 0.0))]
    assert m.translate(mido.Message("control_change", control=23, value=5)) == []
    assert m.counters.unbound == 1


def test_parameters_are_read_from_the_command_table_at_run_time(profiles, monkeypatch):
    monkeypatch.setitem(commands.PARAMS, "rotation", (0.0, 10.0, "a range changed after import"))
    m = mapper(profiles, cc={30: "rotation", 31: "not-a-parameter"})
    assert commands_of(m.translate(mido.Message("control_change", control=30, value=127))) == [("/param", ("rotation", 10.0))]
    assert m.translate(mido.Message("control_change", control=31, value=127)) == []  # a binding to a name the table lacks


def test_soft_takeover_holds_a_knob_until_it_reaches_the_value(profiles):
    values = {"zoom": 1.0}
    m = mapper(profiles, values=values, cc={21: "zoom"})
    far = mido.Message("control_change", control=21, value=120)
    assert m.translate(far) == []  # zoom would jump from 1 to 7.5
    assert m.counters.waiting_takeover == 1
    near = round((1.0 - 0.05) / 7.95 * 127)
    (action,) = m.translate(mido.Message("control_change", control=21, value=near))
    values["zoom"] = action[1].args[1]
    assert commands_of(m.translate(mido.Message("control_change", control=21, value=near + 5)))[0][1][1] == pytest.approx(scale("zoom", near + 5))
    values["zoom"] = 5.0  # moved by someone else (OSC): the knob must pick it up again
    assert m.translate(mido.Message("control_change", control=21, value=near + 6)) == []


def test_a_knob_that_crosses_the_value_picks_it_up(profiles):
    values = {"center_x": 0.0}
    m = mapper(profiles, values=values, cc={21: "center_x"})
    assert m.translate(mido.Message("control_change", control=21, value=20)) == []  # -2.74
    assert commands_of(m.translate(mido.Message("control_change", control=21, value=100)))  # jumped across 0 (a fast turn)


def test_aftertouch_drives_the_chosen_parameter(profiles):
    m = mapper(profiles, aftertouch="variance")
    assert commands_of(m.translate(mido.Message("aftertouch", value=127))) == [("/param", ("variance", commands.PARAMS["variance"][1]))]
    assert commands_of(m.translate(mido.Message("polytouch", note=11, value=0))) == [("/param", ("variance", 0.0))]
    assert mapper(profiles).translate(mido.Message("aftertouch", value=3)) == []


def test_program_change_and_next_previous_walk_the_patch_list(profiles):
    programs = (Path("a.toml"), Path("b.toml"), Path("c.toml"))
    m = mapper(profiles, programs=programs, next_cc=104, previous_cc=105)
    assert m.translate(mido.Message("program_change", program=1)) == [("patch", 1)]
    assert m.translate(mido.Message("control_change", control=104, value=127)) == [("patch", 2)]
    assert m.translate(mido.Message("control_change", control=104, value=0)) == []  # release
    assert m.translate(mido.Message("control_change", control=104, value=127)) == [("patch", 0)]  # wraps
    assert m.translate(mido.Message("control_change", control=105, value=127)) == [("patch", 2)]
    assert m.translate(mido.Message("program_change", program=7)) == [("patch", 1)]  # 7 mod 3


def test_profile_channel_filter(profiles, tmp_path):
    (tmp_path / "ch.toml").write_text('name = "ch"\n[layout]\norigin = 36\nrows = 8\ncols = 8\nrow_step = 8\nchannel = 9\n')
    own = load_profiles(tmp_path)
    m = MidiMapper(own["ch"], MidiSettings(), lambda: (8, 8), SoftTakeover(lambda p: None))
    assert m.translate(mido.Message("note_on", channel=0, note=36, velocity=9)) == []
    assert commands_of(m.translate(mido.Message("note_on", channel=9, note=36, velocity=9)))


def test_splitter_running_status_stray_bytes_and_bounds():
    s = MessageSplitter()
    assert [m.note for m in s.split([0x90, 60, 100, 61, 101, 62, 102])] == [60, 61, 62]  # running status
    assert [m.note for m in s.split([63, 103])] == [63]  # carried into the next event
    assert s.split([0xF8, 0xFE]) == [] and s.counters.realtime == 2
    assert [m.type for m in s.split([0xB0, 0xF8, 7, 100])] == ["control_change"]  # clock inside a message
    assert s.split([0xF4, 5, 6]) == [] and s.counters.system_common == 1 and s.counters.stray_bytes == 2
    assert s.split([0xF0, 1, 2, 3]) == [] and s.counters.sysex == 1
    assert s.split([0x90] + [1] * MAX_EVENT_BYTES) == [] and s.counters.oversize == 1
    assert [m.type for m in s.split([0xC0, 5, 0xD0, 9])] == ["program_change", "aftertouch"]
    assert s.split([0x90, 60]) == [] and s.counters.stray_bytes == 3  # cut short


def test_midi_section_of_a_patch(tmp_path):
    (tmp_path / "one.toml").write_text("[grid]\nrows = 8\n")
    path = tmp_path / "p.toml"
    path.write_text('[midi]\napi = "jack"\ninputs = ["LPMiniMK3"]\nnote_off = "choke"\naftertouch = "variance"\n'
                    'programs = ["one.toml", "p.toml"]\nnext_cc = 104\n[midi.cc]\n21 = "zoom"\n')
    settings = MidiSettings.from_patch(load_patch(path))
    assert settings.api == "jack" and settings.inputs == ("LPMiniMK3",) and settings.note_off == "choke"
    assert settings.cc == {21: "zoom"} and settings.programs == (tmp_path / "one.toml", tmp_path / "p.toml")
    assert settings.next_cc == 104 and settings.previous_cc == -1
    bare = tmp_path / "bare.toml"
    bare.write_text("")
    assert MidiSettings.from_patch(load_patch(bare)).programs == tuple(sorted(tmp_path.glob("*.toml")))  # the folder, in order


@pytest.mark.parametrize("text, key", [
    ('[midi]\napi = "pipewire"\n', "api"),
    ('[midi]\nnote_off = "release"\n', "note_off"),
    ('[midi]\naftertouch = "wobble"\n', "aftertouch"),
    ('[midi.cc]\n200 = "zoom"\n', "cc"),
    ('[midi.cc]\n21 = "wobble"\n', "cc"),
    ('[midi]\nnext_cc = 128\n', "next_cc"),
    ('[midi]\nchannel = 1\n', "channel"),
])
def test_bad_midi_section_names_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(LiveEngineError, match=key):
        load_patch(path)


class _Clock:
    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


class _Engine:
    def __init__(self, now, anchor, timing="constant"):
        from types import SimpleNamespace

        self.backend = _Clock(now)
        self.clock = SimpleNamespace(anchor=lambda: anchor, now=lambda: now)
        self.options = SimpleNamespace(timing=timing, blocksize=128, samplerate=48000)


def test_a_note_starts_one_block_after_the_cycle_it_arrived_in():
    from liveengine.control.midi.input import EARLY_CYCLE, arrival_frame

    period = 128 / 48000
    start = 10.0
    assert arrival_frame(_Engine(start + 0.1 * period, (1280, start))) == 1280 + 128  # polled early in the cycle
    assert arrival_frame(_Engine(start + (0.99 - EARLY_CYCLE) * period, (1280, start))) == 1280 + 128
    # Late in the period: the next cycle may have begun before the engine's callback ran.
    assert arrival_frame(_Engine(start + (1.01 - EARLY_CYCLE) * period, (1280, start))) == 1280 + 256
    assert arrival_frame(_Engine(start + 1.2 * period, (1280, start))) == 1280 + 256
    assert arrival_frame(_Engine(start + 5 * period, (1280, start))) is None  # stalled stream: the engine decides
    assert arrival_frame(_Engine(start + 0.1 * period, (1280, start), "lowest-latency")) is None


def test_a_stream_channel_plays_the_stream_voice_and_its_ccs_move_the_xy(profiles):
    m = mapper(profiles, stream_channel=1, stream_x_cc=20, stream_y_cc=21)
    assert commands_of(m.translate(mido.Message("note_on", channel=1, note=62, velocity=127))) == [("/stream/note", (62, 1.0))]
    assert commands_of(m.translate(mido.Message("note_off", channel=1, note=62))) == [("/stream/off", (62,))]
    assert commands_of(m.translate(mido.Message("note_on", channel=1, note=62, velocity=0))) == [("/stream/off", (62,))]
    assert commands_of(m.translate(mido.Message("control_change", channel=5, control=21, value=127))) == [("/stream/xy", (0.5, 1.0))]
    assert commands_of(m.translate(mido.Message("control_change", channel=0, control=20, value=0))) == [("/stream/xy", (0.0, 1.0))]
    assert m.counters.stream == 5
    assert commands_of(m.translate(mido.Message("note_on", channel=0, note=81, velocity=64)))[0][0] == "/pad"  # other channels: pads
