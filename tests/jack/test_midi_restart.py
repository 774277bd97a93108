"""The JACK server restarts mid-performance: the audio server's MIDI inputs and LED outputs are made again,
the controller is connected to them again, its next note plays, and it shows the whole LED state again
(SysEx through the audio server's own JACK port). Each step is asserted to happen within a liveness bound
(midi_restart_child.LIVENESS); how long each took (about 1 s on a quiet machine) is printed, never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("midi_restart_child.py")
sys.path.insert(0, str(CHILD.parent))
from midi_restart_child import LED_SYSEX, MODE_ON, PADS, led_state, shown_after_setup  # noqa: E402


def test_midi_inputs_come_back_after_a_jack_restart_and_a_note_plays(jack_server, short_patch):
    # jack_server proves JACK runs here; the restart happens in a child with a JACK server of its own.
    name = f"liveengine-midi-loss-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != "JACK_DEFAULT_SERVER"}
    patch = short_patch(extra_engine='render_in = "thread"')
    done = subprocess.run([sys.executable, str(CHILD), str(patch), name], capture_output=True, text=True, timeout=180, env=env)
    print(done.stdout, done.stderr, sep="\n")  # in full under "Captured stdout call" when an assertion below fails
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    reports = result["reports"]
    assert result["before"]["connected"] and result["handled_before"], (result, done.stderr[-2000:])
    assert result["server_started_before"] == 1  # read and started in the audio server
    assert result["noticed_loss"] and result["audio_back"], reports
    assert any("audio device back" in r and "MIDI inputs" in r for r in reports), reports  # the re-made ports are said
    assert result["after"]["connected"], (result, done.stderr[-2000:])
    assert result["handled_after"] and result["server_started_after"] == 2, (result, done.stderr[-2000:])
    assert result["hits"][-2:] == [0, 0]  # note 11 on the Launchpad: pad (0, 0), both times
    # LEDs: before and after the restart the stand-in got programmer mode and a colour for every pad, through
    # the audio server's leds_1, ending as liveengine last sent them (what JACK lost on the way drawn again).
    expected = {int(note): rgb for note, rgb in result["leds_sent"].items()}
    assert set(expected) == PADS
    for life in ("before", "after"):
        received = [bytes.fromhex(m) for m in result[life]["received"]]
        # Programmer mode, then every pad: the setup may reach nobody if written as JACK switched its graph to the
        # new connection, so it is drawn once more in full a moment after connecting (input.py, SETTLE_SECONDS).
        assert shown_after_setup(received), [m.hex() for m in received]
        assert all(m == MODE_ON or (m.startswith(LED_SYSEX) and m.endswith(b"\xf7") and (len(m) - len(LED_SYSEX) - 1) % 5 == 0)
                   for m in received), [m.hex() for m in received]  # every SysEx whole
        assert led_state(received) == expected, life
    assert result["after"]["leds_at"] is not None, result["after"]  # within the liveness bound of its connection
    back = next(i for i, r in enumerate(reports) if "audio device back" in r)  # and said: reconnected with its LEDs, or redrawn
    assert any("LEDs on LPMiniMK3:LPMiniMK3 MIDI in" in r or "drawn again in full" in r for r in reports[back + 1 :]), reports
    # The audio server alone killed and replaced while the controller stays: its new LED output is connected
    # again, the redraw is said, and the stand-in shows programmer mode and every pad again.
    assert result["stay_ready"] and result["server_back"], result
    assert any("LEDs of LPMiniMK3:LPMiniMK3 MIDI out drawn again in full" in r and "connected again" in r for r in reports), reports
    assert result["stay"]["redrawn_at"] is not None, (result["stay"], reports, done.stderr[-3000:])
    assert led_state([bytes.fromhex(m) for m in result["stay"]["received"]]) == expected
    # Measured, not asserted (a busy machine stretches them): seconds from JACK's return to the controller's
    # connection and to its whole LED state, and from the new audio server's start to the full redraw.
    print(f"connected {result['seconds_connected_after_jack_returned']:.2f} s and LEDs drawn "
          f"{result['after']['leds_at'] - result['jack_back_at']:.2f} s after JACK's return; LEDs drawn again "
          f"{result['seconds_redrawn_after_server_back']:.2f} s after the audio server's; {result['midi_out_unheard']} "
          f"MIDI-out messages JACK delivered to nobody, {result['led_redraws']} redraws; the stand-ins' late reads "
          f"{result['before']['late_reads']}, {result['after']['late_reads']}, {result['stay']['late_reads']}")
