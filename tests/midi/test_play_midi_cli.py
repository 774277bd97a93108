"""`liveengine play` with a controller: the CLI opens MIDI, a Launchpad-named controller plays pads into
the recording, its LEDs are lit, and at exit it is put back in Live mode."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import soundfile as sf

from liveengine.testing.jack_rig import PERIOD, onsets
from liveengine.testing.midi_rig import MidiTester, led_colours
from liveengine.testing.play import start_play

MODE_ON = bytes([0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x01, 0xF7])
MODE_OFF = bytes([0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x00, 0xF7])


def lit_pads(received) -> set[int]:
    """The Launchpad notes whose last LED colour (received as (frame, SysEx)) is not dark."""
    return {note for note, rgb in led_colours(m for _, m in received).items() if any(rgb)}


def test_play_with_a_controller_records_its_pads_and_restores_it(jack_server, short_patch, tmp_path):
    patch = short_patch(extra_engine='render_in = "thread"', extra='[midi]\ninputs = ["LPMiniMK3"]\n')
    controller = MidiTester(jack_server.name)  # plugged in before play starts
    # The controller is connected as soon as the audio server's ports exist, while the grid may still
    # render: a pad plays once its LED is lit, and the recording runs from the device's first block.
    process, lines = start_play([str(patch), "--record", "take.wav", "--seconds", "4", "--midi-api", "jack", "--no-osc"], tmp_path,
                                lambda line: "MIDI: " in line and "launchpad-mini-mk3" in line)
    try:
        assert any("MIDI: " in l and "launchpad-mini-mk3" in l for l in lines), "".join(lines)
        deadline = time.monotonic() + 30
        while not {34, 66} <= lit_pads(controller.received) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert controller.received and controller.received[0][1] == MODE_ON, "".join(lines)  # liveengine has the controller
        assert {34, 66} <= lit_pads(controller.received), "".join(lines)  # the two pads are lit: they play
        now = controller.frame_time() + PERIOD
        controller.send_many([(now + 14400, bytes([0x90, 34, 100])), (now + 38400, bytes([0x90, 66, 100]))])
        out = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
        controller.close()
    assert process.returncode == 0, "".join(lines) + out
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    assert len(onsets(audio[:, 0], min_gap=2400)) == 2, (onsets(audio[:, 0], min_gap=2400), "".join(lines) + out)  # two notes, two hits
    received = [m for _, m in controller.received]
    assert received[0] == MODE_ON and received[-1] == MODE_OFF  # programmer mode while playing, Live mode after
    assert np.max(np.abs(audio)) > 0.01


def test_play_no_midi_opens_no_port(jack_server, short_patch, tmp_path):
    patch = short_patch(extra_engine='render_in = "thread"')
    done = subprocess.run([sys.executable, "-m", "liveengine", "play", str(patch), "--seconds", "1", "--no-osc", "--no-midi"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MIDI" not in done.stdout
    with_midi = subprocess.run([sys.executable, "-m", "liveengine", "play", str(patch), "--seconds", "1", "--no-osc", "--midi-api", "jack"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    # A JACK server runs, so `auto` is the native JACK client, and the audio server reads MIDI on its own ports.
    assert with_midi.returncode == 0 and "MIDI inputs midi_in_1..midi_in_4" in with_midi.stdout, with_midi.stdout
    # MIDI that cannot start (here an unknown [midi] profile) is said off once, and the audio server opens no MIDI
    # inputs behind that: "MIDI is off" followed by a list of MIDI inputs said two things at once.
    broken = short_patch(extra_engine='render_in = "thread"', extra='[midi]\nprofile = "no-such-profile"\n')
    off = subprocess.run([sys.executable, "-m", "liveengine", "play", str(broken), "--seconds", "1", "--no-osc", "--midi-api", "jack"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert off.returncode == 0 and "MIDI is off" in off.stdout and "no-such-profile" in off.stdout, off.stdout + off.stderr
    assert "MIDI inputs" not in off.stdout, off.stdout
