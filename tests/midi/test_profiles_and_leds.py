"""Profiles as data: every shipped one loads, cites its vendor document, maps its notes; LED bytes follow the vendors' tables."""

from __future__ import annotations

import pytest

from liveengine.control.midi.feedback import OFF, PLAYING, LedEncoder, pad_colours
from liveengine.control.midi.profiles import SHIPPED_DIR, choose_profile, load_profiles, parse_profile, skipped
from liveengine.errors import LiveEngineError

SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


@pytest.fixture
def profiles(tmp_path):
    return load_profiles(tmp_path / "no-user-profiles")


def test_the_issue_s_controllers_all_have_profiles():
    assert {"launchpad-mini-mk3", "launchpad-x", "launchpad-pro-mk3", "apc-mini-mk2", "push2", "akai-mpd-4x4", "generic"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_cites_its_document_and_is_marked_unchecked(name, profiles):
    profile = profiles[name]
    assert profile.document and profile.sections
    assert profile.checked_on_hardware is False  # nobody has run these on the hardware yet
    notes = [n for block in profile.blocks for n, _ in block.notes()]
    assert len(notes) == len(set(notes)) == 64  # an 8x8 grid, each pad its own note
    assert profile.shape == (8, 8)


@pytest.mark.parametrize("name, corners", [
    ("launchpad-mini-mk3", {11: (0, 0), 18: (0, 7), 81: (7, 0), 88: (7, 7), 34: (2, 3)}),
    ("launchpad-x", {11: (0, 0), 88: (7, 7)}),
    ("launchpad-pro-mk3", {11: (0, 0), 88: (7, 7)}),
    ("apc-mini-mk2", {0: (0, 0), 7: (0, 7), 56: (7, 0), 63: (7, 7)}),
    ("push2", {36: (0, 0), 43: (0, 7), 92: (7, 0), 99: (7, 7)}),
    ("akai-mpd-4x4", {36: (0, 0), 39: (0, 3), 48: (3, 0), 51: (3, 3), 52: (0, 4), 68: (4, 0), 84: (4, 4), 99: (7, 7)}),
    ("generic", {36: (0, 0), 44: (1, 0), 99: (7, 7)}),
])
def test_note_layouts_follow_the_documents(name, corners, profiles):
    table = profiles[name].note_to_pad
    for note, pad in corners.items():
        assert table[note] == pad


@pytest.mark.parametrize("port, expected", [
    ("LPMiniMK3 MIDI", "launchpad-mini-mk3"),  # macOS / Windows names
    ("Launchpad Mini MK3:Launchpad Mini MK3 LPMiniMK3 MI 20:1", "launchpad-mini-mk3"),  # ALSA
    ("LPX MIDI", "launchpad-x"),
    ("LPProMK3 MIDI", "launchpad-pro-mk3"),
    ("APC mini mk2:APC mini mk2 APC mini mk2 Contr 24:0", "apc-mini-mk2"),
    ("Ableton Push 2 User Port", "push2"),
    ("MIDIIN2 (Ableton Push 2)", "push2"),
    ("MPD218:MPD218 MIDI 1 28:0", "akai-mpd-4x4"),
    ("Some Keyboard", "generic"),
])
def test_profile_chosen_by_port_name(port, expected, profiles):
    assert choose_profile(port, profiles).name == expected


@pytest.mark.parametrize("port", ["LPMiniMK3 DAW", "LPX DAW", "Ableton Push 2 Live Port", "Midi Through:Midi Through Port-0 14:0"])
def test_a_device_s_other_ports_are_not_opened_automatically(port, profiles):
    assert skipped(port, profiles)


def test_patch_override_and_unknown_override(profiles):
    assert choose_profile("Some Keyboard", profiles, "apc-mini-mk2").name == "apc-mini-mk2"
    with pytest.raises(LiveEngineError, match="not a known MIDI profile"):
        choose_profile("x", profiles, "nope")


def test_a_user_profile_adds_a_controller_without_code(tmp_path):
    (tmp_path / "my-pads.toml").write_text(
        'name = "my-pads"\ndocument = "my notes"\nmatch = ["My Pads"]\npriority = 50\n'
        "[layout]\norigin = 60\nrows = 4\ncols = 4\nrow_step = 4\n"
        '[leds]\nmethod = "note_palette"\nchannel = 0\npalette = [[0, 0, 0, 0], [5, 255, 0, 0], [21, 0, 255, 0]]\n')
    profiles = load_profiles(tmp_path)
    profile = choose_profile("My Pads USB", profiles)
    assert profile.name == "my-pads" and profile.note_to_pad[60] == (0, 0) and profile.note_to_pad[75] == (3, 3)
    assert LedEncoder(profile).frame({60: (250, 10, 0), 61: (0, 200, 30)}) == [[0x90, 60, 5], [0x90, 61, 21]]


@pytest.mark.parametrize("text, complaint", [
    ("name = 'x'\n", r"needs a \[layout\]"),
    ("[layout]\norigin = 120\nrows = 8\ncols = 8\nrow_step = 8\n", "outside notes 0..127"),
    ("colour = 1\n[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n", "unknown key 'colour'"),
    ("[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n[leds]\nmethod = 'laser'\n", r"leds\.method"),
    ("match = ['(']\n[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n", "not a regular expression"),
    ("name = 'my pads'\n[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n", "must be 1 to 64 letters"),
    ("[layout]\nblocks = [1]\n", r"layout\.blocks must be a non-empty list of tables"),
    ("[layout]\nblocks = []\n", r"layout\.blocks must be a non-empty list of tables"),
    ("leds = 'rgb'\n[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n", r"must be a \[leds\] table"),
    ("[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n[leds]\nmethod = 'novation_rgb'\nsysex_header = 'F0'\n",
     r"leds\.sysex_header"),
    ("cc = [21]\n[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n", r"must be a \[cc\] table"),
    ("[layout]\norigin = 0\nrows = 1\ncols = 1\nrow_step = 1\n[cc]\n21 = 'wobble'\n", "cc 21 = 'wobble'"),
])
def test_a_broken_profile_is_refused_naming_the_file_and_key(tmp_path, text, complaint):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(LiveEngineError, match=complaint) as error:
        parse_profile(path)
    assert "bad.toml" in str(error.value)


LAYOUT = "[layout]\norigin = 36\nrows = 4\ncols = 4\nrow_step = 4\n"
LED_KEYS = "channel, levels, method, mode_off, mode_on, palette, palette_base, sysex_header"
BLOCK_KEYS = "at, col_step, cols, origin, row_step, rows"


@pytest.mark.parametrize("text, complaint", [
    (LAYOUT + "bogus = 1\n", "unknown key 'layout.bogus'; allowed keys in [layout]: at, channel, col_step, cols, origin, row_step, rows."),
    (LAYOUT + "[leds]\nmehtod = 'novation_rgb'\n",
     f"unknown key 'leds.mehtod'; allowed keys in [leds]: {LED_KEYS}. Did you mean 'method'?"),
    (LAYOUT + "[page]\nbutton = 89\n", "unknown key 'page.button'; allowed keys in [page]: cc, note."),
    ("[[layout.blocks]]\norigin = 36\nrows = 4\ncols = 4\nrow_step = 4\nchanel = 2\n",
     f"unknown key 'layout.blocks[1].chanel'; allowed keys in [[layout.blocks]]: {BLOCK_KEYS}."),
    ("[layout]\norigin = 36\n[[layout.blocks]]\norigin = 36\nrows = 4\ncols = 4\nrow_step = 4\n",
     "unknown key 'layout.origin'; allowed keys in [layout] with [[layout.blocks]]: blocks, channel."),
    ("[layout]\norigin = 36\ncols = 4\nrow_step = 4\n", "layout.rows is missing; allowed: an integer from 1 to 16."),
    ("[[layout.blocks]]\norigin = 36\nrows = 4\ncols = 4\n", "layout.blocks[1].row_step is missing; allowed: an integer from -127 to 127."),
    (LAYOUT + "[leds]\nmethod = 'note_palette'\nchannel = 16\n", "leds.channel = 16 is not allowed; allowed: an integer from 0 to 15."),
    (LAYOUT + "[leds]\nmethod = 'push2_palette'\nlevels = 1\n", "leds.levels = 1 is not allowed; allowed: an integer from 2 to 5."),
    (LAYOUT + "[leds]\nmethod = 'push2_palette'\npalette_base = 'one'\n", "leds.palette_base = 'one' is not allowed; allowed: an integer from 0 to 127."),
    (LAYOUT + "[leds]\nmethod = 'note_palette'\npalette = [[5, 255, 0]]\n",
     "leds.palette = [[5, 255, 0]] is not allowed; allowed: a non-empty list of [index 0..127, r, g, b 0..255]."),
])
def test_a_bad_key_in_any_table_is_refused_naming_table_key_and_what_is_allowed(tmp_path, text, complaint):
    path = tmp_path / "my-pads.toml"
    path.write_text(text)
    with pytest.raises(LiveEngineError) as error:
        load_profiles(tmp_path)  # the real loader, as for a user's profile folder
    assert str(error.value) == f"MIDI profile {path}: {complaint} Fix the file, or remove it from the profile folder."


def test_every_problem_in_a_profile_is_listed_together(tmp_path):
    # The newcomer's profile: the typo'd LED method and the unknown `bottom_left` (so `origin` is missing) at once.
    path = tmp_path / "my-pads.toml"
    path.write_text("[layout]\nbottom_left = 36\nrows = 4\ncols = 4\nrow_step = 4\nbogus = 1\n[leds]\nmehtod = 'novation_rgb'\n")
    with pytest.raises(LiveEngineError) as error:
        parse_profile(path)
    message = str(error.value)
    assert message.startswith(f"MIDI profile {path} has 4 errors: (1) unknown key 'layout.bogus'; ")
    assert "; (2) unknown key 'layout.bottom_left'; allowed keys in [layout]: " in message
    assert "; (3) layout.origin is missing; allowed: an integer from 0 to 127; " in message
    assert "; (4) unknown key 'leds.mehtod'; " in message and message.endswith("Did you mean 'method'? Fix the file, or remove it from the profile folder.")
    assert "None" not in message


def test_launchpad_rgb_sysex_matches_the_programmer_s_reference(profiles):
    # Launchpad Mini [MK3] Programmer's Reference: F0h 00h 20h 29h 02h 0Dh 03h <colourspec...> F7h,
    # colourspec for RGB = 03h <LED index> <red> <green> <blue>, each 0-127.
    encoder = LedEncoder(profiles["launchpad-mini-mk3"])
    assert encoder.frame({11: (255, 0, 128), 88: (2, 4, 6)}) == [
        [0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x03, 0x03, 11, 127, 0, 64, 0x03, 88, 1, 2, 3, 0xF7]]
    assert encoder.setup() == [[0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x01, 0xF7]]
    teardown = encoder.teardown()
    assert teardown[-1] == [0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x00, 0xF7]
    assert len(teardown[0]) == 7 + 64 * 5 + 1  # one message puts all 64 pads out
    assert LedEncoder(profiles["launchpad-x"]).setup() == [[0xF0, 0x00, 0x20, 0x29, 0x02, 0x0C, 0x0E, 0x01, 0xF7]]
    assert LedEncoder(profiles["launchpad-pro-mk3"]).setup() == [[0xF0, 0x00, 0x20, 0x29, 0x02, 0x0E, 0x0E, 0x01, 0xF7]]


def test_apc_mini_mk2_rgb_sysex_matches_the_protocol(profiles):
    # APC mini mk2 Communication Protocol: F0 47 7F 4F 24 <len MSB> <len LSB> <start pad> <end pad>
    # <R MSB> <R LSB> <G MSB> <G LSB> <B MSB> <B LSB> F7, colours 0-255 split into bit 7 and bits 0-6.
    encoder = LedEncoder(profiles["apc-mini-mk2"])
    assert encoder.frame({63: (255, 128, 5)}) == [[0xF0, 0x47, 0x7F, 0x4F, 0x24, 0x00, 0x08, 63, 63, 1, 0x7F, 1, 0x00, 0, 5, 0xF7]]
    assert encoder.setup() == [] and encoder.teardown()[-1][:7] == [0xF0, 0x47, 0x7F, 0x4F, 0x24, 0x00, 0x08]


def test_push2_palette_entries_and_indices_match_the_manual(profiles):
    # Push 2 MIDI and Display Interface Manual: Set LED Color Palette Entry 03h: index, then r, g, b, w
    # each as (lower 7 bits, higher 1 bit); Reapply Color Palette 05h; pads take the index by note-on.
    encoder = LedEncoder(profiles["push2"])
    setup = encoder.setup()
    assert setup[0] == [0xF0, 0x00, 0x21, 0x1D, 0x01, 0x01, 0x0A, 0x01, 0xF7]  # User mode
    assert setup[-1] == [0xF0, 0x00, 0x21, 0x1D, 0x01, 0x01, 0x05, 0xF7]
    entries = setup[1:-1]
    assert len(entries) == 64
    white = encoder.cube_index((255, 255, 255))
    assert entries[white - 1] == [0xF0, 0x00, 0x21, 0x1D, 0x01, 0x01, 0x03, white, 0x7F, 1, 0x7F, 1, 0x7F, 1, 0x7F, 1, 0xF7]
    assert encoder.frame({36: (255, 255, 255), 99: OFF}) == [[0x90, 36, white], [0x90, 99, 0]]
    assert encoder.teardown()[-1] == [0xF0, 0x00, 0x21, 0x1D, 0x01, 0x01, 0x0A, 0x00, 0xF7]


def test_no_led_profiles_send_nothing(profiles):
    for name in ("generic", "akai-mpd-4x4"):
        encoder = LedEncoder(profiles[name])
        assert encoder.setup() == [] and encoder.frame({36: (1, 2, 3)}) == [] and encoder.teardown() == []


class _Description:
    def __init__(self, color):
        self.color = color


def test_pad_colours_rendered_unrendered_playing_and_outside_the_grid(profiles):
    profile = profiles["launchpad-mini-mk3"]
    descriptions = [_Description((10, 20, 30))] * 24 + [None] * 12  # a 6x6 grid, half rendered
    colours = pad_colours(profile, (6, 6), descriptions, frozenset({7}))
    assert colours[11] == (10, 20, 30)  # pad 0
    assert colours[22] == PLAYING  # pad 7 = row 1, column 1, sounding
    assert colours[51] == OFF  # row 4: not rendered yet (render progress shows as pads lighting up)
    assert colours[17] == OFF and colours[81] == OFF  # column 6 and row 7 are past the 6x6 grid


def test_render_progress_dims_the_pads_not_yet_re_rendered(profiles):
    profile = profiles["launchpad-mini-mk3"]
    descriptions = [_Description((200, 100, 40))] * 64  # every pad has a sound (the previous setting's)
    colours = pad_colours(profile, (8, 8), descriptions, frozenset(), progress=(16, 64))
    assert colours[11] == colours[28] == (200, 100, 40)  # pads 0..15 (rows 0, 1) are done
    assert colours[31] == colours[88] == (50, 25, 10)  # the rest glow at a quarter until rendered
    assert pad_colours(profile, (8, 8), descriptions, frozenset(), progress=(64, 64))[88] == (200, 100, 40)


def _block(origin: int, at: list[int], rows: int = 4, cols: int = 4) -> str:
    return f"[[layout.blocks]]\norigin = {origin}\nrows = {rows}\ncols = {cols}\nrow_step = {cols}\nat = {at}\n"


@pytest.mark.parametrize("text, complaint", [
    # An 8 x 8 block from [12, 0] reaches row 19: its top rows were dead pads, accepted silently.
    (_block(36, [0, 0]) + _block(64, [12, 0], 8, 8),
     "layout.blocks[2]: its 8 x 8 pads from at = [12, 0] reach row 19, column 7, off the 16 x 16 grid; "
     "allowed: at[0] + rows and at[1] + cols at most 16."),
    ("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\nat = [0, 15]\n",
     "layout: its 4 x 4 pads from at = [0, 15] reach row 3, column 18, off the 16 x 16 grid; "
     "allowed: at[0] + rows and at[1] + cols at most 16."),
    # With LEDs, pad_to_note keeps one note a pad: the overlapped block's LEDs would never light.
    (_block(36, [0, 0]) + _block(52, [2, 2]) + "[leds]\nmethod = 'note_palette'\n",
     "layout.blocks[2] overlaps layout.blocks[1] on the grid; allowed with LEDs: blocks on distinct pads "
     "(each pad lights one note), or leds.method = 'none'."),
    # A note sent by two pads plays only the first (note_to_pad): the second pad was dead, accepted silently.
    (_block(36, [0, 0]) + _block(44, [4, 0], 2, 4),
     "layout.blocks[2]: note 44 is on two pads, [2, 0] (layout.blocks[1]) and [4, 0], and the second would never play; "
     "allowed: each note on one pad (other origins, or row_step and col_step that repeat no note)."),
    ("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 2\n",
     "layout: note 2 is on two pads, [0, 2] (layout) and [1, 0], and the second would never play; "
     "allowed: each note on one pad (other origins, or row_step and col_step that repeat no note)."),
])
def test_a_block_off_the_grid_overlapping_with_leds_or_repeating_a_note_is_refused(tmp_path, monkeypatch, text, complaint):
    folder = tmp_path / "user-profiles"
    folder.mkdir()
    path = folder / "my-pads.toml"
    path.write_text(text)
    monkeypatch.setenv("LIVEENGINE_MIDI_PROFILES", str(folder))
    with pytest.raises(LiveEngineError) as error:
        load_profiles()
    assert str(error.value) == f"MIDI profile {path}: {complaint} Fix the file, or remove it from the profile folder."


def test_overlapping_blocks_without_leds_still_load(tmp_path):
    # Two banks on the same pads both play them: meaningful when no LEDs need one note a pad.
    (tmp_path / "my-pads.toml").write_text(_block(36, [0, 0]) + _block(52, [0, 0]) + _block(0, [12, 12]))
    profile = load_profiles(tmp_path)["my-pads"]
    assert profile.note_to_pad[36] == profile.note_to_pad[52] == (0, 0) and profile.note_to_pad[15] == (15, 15)


def test_a_user_profile_replacing_a_shipped_one_is_recorded(tmp_path, monkeypatch):
    folder = tmp_path / "user-profiles"
    folder.mkdir()
    (folder / "generic.toml").write_text("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\n")
    (folder / "mine.toml").write_text('name = "akai-mpd-4x4"\n[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\n')
    (folder / "my-pads.toml").write_text("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\n")
    monkeypatch.setenv("LIVEENGINE_MIDI_PROFILES", str(folder))
    profiles = load_profiles()
    assert profiles["generic"].path == folder / "generic.toml"  # still replaced, as before
    assert profiles.replaced == {"generic": folder / "generic.toml", "akai-mpd-4x4": folder / "mine.toml"}
    assert profiles.notes() == [f"your profile {folder / 'mine.toml'} replaces the shipped profile 'akai-mpd-4x4'",
                                f"your profile {folder / 'generic.toml'} replaces the shipped profile 'generic'"]
    assert load_profiles(tmp_path / "none").replaced == {}


def test_play_says_which_shipped_profiles_are_replaced(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import liveengine.control.midi.input as midi_input
    from liveengine.control.midi.cli import start_for_play

    (tmp_path / "generic.toml").write_text("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\n")
    monkeypatch.setenv("LIVEENGINE_MIDI_PROFILES", str(tmp_path))

    class FakeInput:  # no MIDI system here: only the loading and the telling are real
        def __init__(self, *args, **kwargs):
            self.profiles = load_profiles()

        def start(self):
            pass

        def describe(self):
            return ["virtual input 'liveengine' (jack) -> profile generic"]

    monkeypatch.setattr(midi_input, "MidiInput", FakeInput)
    lines: list[str] = []
    patch = SimpleNamespace(midi={})
    monkeypatch.setattr("liveengine.control.midi.mapping.MidiSettings.from_patch", classmethod(lambda cls, p: SimpleNamespace()))
    start_for_play(None, patch, SimpleNamespace(no_midi=False, midi_api=None, midi_in=[]), say=lines.append)
    assert lines == ["MIDI: virtual input 'liveengine' (jack) -> profile generic",
                     f"MIDI: your profile {tmp_path / 'generic.toml'} replaces the shipped profile 'generic'"]
