"""`play --keys` in a real pseudo-terminal, through a JACK server: keys play pads into the recording,
a held key (the terminal's repeats) plays once per press, the arrows move the block, and the terminal
is given back as it was."""

from __future__ import annotations

import os
import pty
import termios
import time

import soundfile as sf

from liveengine.testing.jack_rig import onsets
from liveengine.testing.play import start_play


def test_keys_play_pads_and_a_held_key_plays_once(jack_server, short_patch, tmp_path):
    patch = short_patch(extra_engine='render_in = "thread"')
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    process, lines = start_play([str(patch), "--keys", "--record", "take.wav", "--seconds", "5", "--no-osc", "--no-midi"], tmp_path,
                                lambda line: line.startswith("keys: block"), stdin=slave)
    try:
        assert lines and lines[-1].startswith("keys: block at rows 0-3, columns 0-3"), "".join(lines)
        time.sleep(0.2)

        def send(data: bytes, pause: float) -> None:
            os.write(master, data)
            time.sleep(pause)

        send(b"q", 0.3)  # 1: pad (2, 0)
        # 2: pad (1, 0), held: the press and the terminal's repeats in one write, as a reader that woke late
        # gets them (each repeat would be heard alone). Spaced writes made this test depend on the machine's
        # load: a writer held up past REPEAT_GAP between two of them sent a second press. The spacing itself
        # is tested with explicit times in tests/keys/test_keymap.py.
        send(b"a" * 11, 0.6)  # released
        send(b"a", 0.3)  # 3: pressed again
        send(b"\x1b[C", 0.2)  # the block moves right
        send(b"\x1b[115u", 0.2)  # 4: a kitty-protocol terminal: press, repeats (spaced like new presses), release
        for _ in range(5):
            send(b"\x1b[115;1:2u", 0.2)
        send(b"\x1b[115;1:3u", 0.3)
        send(b"p", 0.3)  # not a pad key: nothing
        out = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
    text = "".join(lines) + out
    assert process.returncode == 0, text
    assert "keys: block at rows 0-3, columns 1-4" in text
    audio, rate = sf.read(tmp_path / "take.wav", dtype="float32")
    found = onsets(audio[:, 0], min_gap=240)  # each hit is 50 ms long: 5 ms of quiet after one is a new onset
    assert len(found) == 4, (found, text)
    assert after == before  # echo and line mode restored
