"""A pad controller's page button switches its pads between the sound grid and the groove page and back; on the
groove page a pad starts or switches a groove, and the LEDs show the playing groove and the step position."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.control.midi.feedback import GROOVE_PAD, GROOVE_PLAYING, GROOVE_STEP, OFF, groove_colours
from liveengine.control.midi.input import Device, MidiInput
from liveengine.control.midi.mapping import MidiMapper, MidiSettings, SoftTakeover
from liveengine.control.midi.profiles import load_profiles
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.midi_rig import led_colours

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "groove"))
from test_groove_render import groove_patch  # noqa: E402


@pytest.fixture
def profiles(tmp_path):
    return load_profiles(tmp_path / "no-user-profiles")


def mapper(profile, groove_shape=(4, 4)):
    return MidiMapper(profile, MidiSettings(), lambda: (8, 8), SoftTakeover(lambda name: None), groove_shape=lambda: groove_shape)


def translate(m, message):
    return [(a[0], a[1] if a[0] == "page" else (a[1].address, a[1].args)) for a in m.translate(message)]


@pytest.mark.parametrize("name", ["launchpad-mini-mk3", "launchpad-x", "launchpad-pro-mk3"])
def test_the_launchpad_page_button_switches_the_pads_to_grooves_and_back(name, profiles):
    m = mapper(profiles[name])
    press, release = mido.Message("control_change", control=89, value=127), mido.Message("control_change", control=89, value=0)
    assert translate(m, mido.Message("note_on", note=12, velocity=127)) == [("command", ("/pad", (0, 1, 1.0)))]
    assert translate(m, press) == [("page", "grooves")] and translate(m, release) == []
    assert translate(m, mido.Message("note_on", note=12, velocity=127)) == [("command", ("/groove", (0, 1)))]
    assert translate(m, mido.Message("note_on", note=44, velocity=90)) == [("command", ("/groove", (3, 3)))]
    assert translate(m, mido.Message("note_on", note=55, velocity=90)) == []  # off the 4x4 groove page: counted
    assert m.counters.outside_grid == 1
    assert translate(m, press) == [("page", "sounds")]
    assert translate(m, mido.Message("note_on", note=55, velocity=127)) == [("command", ("/pad", (4, 4, 1.0)))]


def test_the_apc_page_button_is_a_note_and_a_patch_without_grooves_stays_on_sounds(profiles):
    m = mapper(profiles["apc-mini-mk2"])
    assert translate(m, mido.Message("note_on", note=112, velocity=127)) == [("page", "grooves")]
    assert translate(m, mido.Message("note_on", note=1, velocity=127)) == [("command", ("/groove", (0, 1)))]
    no_grooves = mapper(profiles["launchpad-x"], groove_shape=(0, 0))
    assert translate(no_grooves, mido.Message("control_change", control=89, value=127)) == [] and no_grooves.page == "sounds"


def test_groove_leds_show_the_page_the_playing_groove_and_the_step(profiles):
    profile = profiles["launchpad-mini-mk3"]  # notes row*10 + col + 11
    colours = groove_colours(profile, (4, 4), (1, 2), 5)
    assert colours[11 + 12] == GROOVE_PLAYING  # (1, 2)
    assert colours[11] == GROOVE_PAD and colours[11 + 33] == GROOVE_PAD  # the page's other pads
    assert colours[11 + 70 + 2] == GROOVE_STEP  # step 5 of 16 along the top row's 8 pads: column 2
    assert colours[11 + 55] == OFF and sum(c == GROOVE_STEP for c in colours.values()) == 1
    stopped = groove_colours(profile, (4, 4), None, None)
    assert GROOVE_PLAYING not in stopped.values() and GROOVE_STEP not in stopped.values()


class RecordingOut:
    """Stands in for the controller's LED port (no hardware here): keeps what would be sent."""

    def __init__(self):
        self.sent = []

    def send_message(self, message):
        self.sent.append(list(message))


def test_a_launchpad_switches_to_the_groove_page_plays_a_groove_and_back(tmp_path, profiles):
    """The real engine (offline backend) and the real MIDI mapping and LED path; only the port is a stand-in."""
    engine = Engine(load_patch(groove_patch(tmp_path)))
    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(OfflineBackend(48000, 128, 2))
        profile = profiles["launchpad-mini-mk3"]
        midi = MidiInput(engine, MidiSettings(), api="jack", profiles=profiles, report=lambda text: None)
        out = RecordingOut()
        device = Device("LPMiniMK3 MIDI", None, profile, midi._mapper("LPMiniMK3 MIDI", profile), midi.counters.parse, out, "LPMiniMK3 MIDI out")
        midi.devices[device.name] = device
        midi.refresh_leds()
        out.sent.clear()

        def press(message):
            params = {}
            midi._dispatch(device, message, None, params)

        press(mido.Message("control_change", control=89, value=127))  # to the groove page (2x2 in this patch)
        press(mido.Message("note_on", note=12, velocity=100))  # groove pad (0, 1)
        assert engine.groove.sequencer.running and engine.groove.sequencer.current.label == ("pad", 0, 1)
        engine.backend.render(48000 // 4, engine.groove.feed)  # a quarter second: steps 0..1 at 120 BPM
        midi.refresh_leds()
        lit = led_colours(out.sent)
        assert lit[12] == half(GROOVE_PLAYING) and lit[11] == half(GROOVE_PAD) and lit[13] == OFF  # the page is 2x2
        step = engine.groove.now_playing(engine.now_frame())[1]
        assert step is not None and lit[81 + (step % 16) // 2] == half(GROOVE_STEP)
        out.sent.clear()
        press(mido.Message("control_change", control=89, value=127))  # back to the sounds
        assert engine.groove.sequencer.current.label == ("pad", 0, 1)  # the groove plays on
        midi.refresh_leds()
        assert half(GROOVE_PAD) not in led_colours(out.sent).values() and out.sent  # the sound grid's colours again
    finally:
        engine.stop()


def half(rgb):
    return tuple(v // 2 for v in rgb)  # 8-bit colours as the Launchpad SysEx carries them (0..127)
