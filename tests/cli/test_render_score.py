"""`liveengine render` as a user runs it: the whole score is checked first, the length is said and limited,
long renders show progress, and Ctrl-C says what it kept. Real subprocesses, real files in tmp_path."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from tests.cli.test_cli_errors import RENDER, interrupted, liveengine, one_error_line

CHOKED = '[choke]\nhats = [[0, 4], [1, 1]]\n'


@pytest.fixture
def patch(short_patch):
    return short_patch(extra=CHOKED)


def test_a_score_beyond_the_limit_is_refused_before_any_file(tmp_path, patch):
    (tmp_path / "typo.score").write_text("0 /pad 0 0\n700 /pad 7 7 0.9\n")
    result = liveengine("render", str(patch), "--score", "typo.score", "--out", "typo.wav", "--tail", "2", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 1
    error = one_error_line(result)
    # 702 s at 48 kHz, 2 channels of float32 plus the 92-byte header: 269,568,092 bytes.
    assert "702 s of audio (269.6 MB of WAV), over the limit of 600 s" in error
    assert "last command is at 700 s" in error and "--max-seconds" in error
    assert not (tmp_path / "typo.wav").exists()


def test_max_seconds_sets_the_limit_and_the_length_and_size_are_said_first(tmp_path, patch):
    (tmp_path / "song.score").write_text("0 /pad 0 0\n12.3 /pad 1 1\n")
    args = ("render", str(patch), "--score", "song.score", "--out", "song.wav", "--tail", "2")
    refused = liveengine(*args, "--max-seconds", "10", cwd=tmp_path, timeout=RENDER)
    assert refused.returncode == 1
    assert "14.3 s of audio" in one_error_line(refused) and "limit of 10 s" in refused.stderr
    assert not (tmp_path / "song.wav").exists()

    result = liveengine(*args, "--max-seconds", "20", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    size = (tmp_path / "song.wav").stat().st_size
    assert lines[0] == f"rendering 14.30 s of audio ({size / 1e6:.1f} MB) to song.wav"  # the estimate is the file's size
    assert lines[-1].startswith("Wrote song.wav (14.30 s, 2 commands, 0 rejected")
    assert result.stderr == ""  # a short render off a terminal shows no progress
    assert len(lines) == len(set(lines)), "a line printed twice"  # it once said `rendering: 14/14` twice


def test_a_long_render_shows_progress_and_ctrl_c_says_what_it_kept(tmp_path, patch):
    (tmp_path / "long.score").write_text("0 /pad 0 0\n3000 /pad 1 1\n")
    code, first, out, err = interrupted("render", str(patch), "--score", "long.score", "--out", "long.wav", "--max-seconds", "3600",
                                        "--tail", "2", cwd=tmp_path, first="rendering audio: ")
    assert first.rstrip().endswith("/3002 s"), first  # 3002 s of audio take far longer than one progress line
    assert code == 130
    assert "Traceback" not in err
    assert out.startswith("rendering 3002.00 s of audio (1.2 GB) to long.wav\n")
    kept = re.search(r"stopped by Ctrl-C; long\.wav keeps the first ([0-9.]+) s of 3002\.00 s as a complete WAV file \(([0-9.]+) MB\)", err)
    assert kept, err
    assert "liveengine: stopped by Ctrl-C.\n" not in err  # said once, by the command itself
    info = sf.info(str(tmp_path / "long.wav"))
    assert f"{info.frames / info.samplerate:.2f}" == kept.group(1)
    assert f"{(92 + info.frames * info.channels * 4) / 1e6:.1f}" == kept.group(2)  # the audio its header covers


def test_every_bad_line_of_a_score_is_reported_in_one_run(tmp_path, patch):
    # Lines the parser accepts but the loaded patch cannot play (a pad outside its 8x8 grid, a choke group or
    # a mapping it lacks) were once counted as `rejected` with exit 0; the others came one per run.
    (tmp_path / "bad.score").write_text("0 /pad 0 0\n1 /pad 9 9\n2 /choke nohats\n3 /pad 0 0 loud\n# fine\n4 /pda 1 1\n"
                                        "soon /pad 1 1\n5 /mapping corners\n")
    result = liveengine("render", str(patch), "--score", "bad.score", "--out", "bad.wav", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 6, result.stderr
    assert lines[0].startswith("liveengine: bad.score:2: pad (9, 9) is outside the 8x8 grid; rows 0..7, columns 0..7.")
    assert lines[1].startswith("bad.score:3: /choke group 'nohats' is not in the patch; groups: hats.")
    assert lines[2].startswith("bad.score:4: /pad argument 'velocity' is 'loud'; expected a number from 0 to 1.")
    assert lines[3].startswith("bad.score:6: unknown address '/pda'; known addresses: /pad")
    assert lines[4].startswith("bad.score:7: 'soon' is not a time")
    assert lines[5].startswith("bad.score:8: mapping 'corners' needs four anchors in [grid] corners")
    assert lines[5].endswith("(6 bad lines in bad.score: fix them all, then run again.)")
    assert not (tmp_path / "bad.wav").exists()


def test_play_checks_its_score_against_the_patch_before_any_device(tmp_path, patch):
    (tmp_path / "bad.score").write_text("0 /pad 0 0\n1 /pad 0 8\n")
    result = liveengine("play", str(patch), "--score", "bad.score", "--no-osc", "--no-midi", "--no-autosave", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 1
    assert "bad.score:2: pad (0, 8) is outside the 8x8 grid" in one_error_line(result)
    assert "playing" not in result.stdout


def test_a_render_runs_until_the_last_sound_has_decayed(tmp_path):
    """Without --tail the file ends when the last hit's sound has, not 2 s later nor mid-hit (item 10)."""
    (tmp_path / "p.toml").write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 8\ncols = 8\n'
                                     '[engine]\nmax_seconds = 0.5\nrender_in = "thread"\n')
    (tmp_path / "hits.score").write_text("0 /pad 0 0\n1.0 /pad 7 7 1.0\n")
    result = liveengine("render", "p.toml", "--score", "hits.score", "--out", "hits.wav", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rendering 1.00 s of audio and its last sounds' decay (at most 1.60 s")
    audio, rate = sf.read(tmp_path / "hits.wav", dtype="float32")
    loud = np.flatnonzero(np.abs(audio[:, 0]) > 1e-4)
    # It ends within 8 blocks of the last sample of the last sound, and that sound played whole.
    assert len(audio) - (loud[-1] + 1) <= 8 * 128 + 128
    assert loud[-1] > 1.0 * rate and len(audio) < 1.6 * rate


def test_a_stream_note_the_score_leaves_held_ends_with_the_score_and_no_file_ends_on_a_cut(tmp_path):
    """A newcomer's `play voice.toml --seconds 3` ran on to its 7.1 s bound with the violin held, then cut at -5.7 dBFS.
    The score's end releases a held stream note (the file ends once its release has decayed), and what still sounds
    at a file's last frame (a --tail shorter than a sound) fades over the last 50 ms."""
    from pathlib import Path

    voice = Path(__file__).resolve().parents[2] / "patches" / "voice.toml"
    (tmp_path / "held.score").write_text("0.0 /stream/note 69 0.8\n1.0 /pad 7 7 0.9\n")
    decayed = liveengine("render", str(voice), "--score", "held.score", "--out", "decayed.wav", cwd=tmp_path, timeout=RENDER)
    assert decayed.returncode == 0, decayed.stderr
    bound = float(re.search(r"at most ([0-9.]+) s", decayed.stdout).group(1))
    audio, rate = sf.read(tmp_path / "decayed.wav", dtype="float32")
    assert np.sqrt(np.mean(audio[int(0.5 * rate):int(0.9 * rate)] ** 2)) > 0.01  # the note sounds while the score plays
    assert len(audio) < bound * rate - 0.5 * rate  # it ended once everything decayed, well before the bound
    assert np.abs(audio[-int(0.005 * rate):]).max() < 1e-3

    cut = liveengine("render", str(voice), "--score", "held.score", "--out", "cut.wav", "--tail", "0.01", cwd=tmp_path, timeout=RENDER)
    assert cut.returncode == 0, cut.stderr
    audio, rate = sf.read(tmp_path / "cut.wav", dtype="float32")
    assert abs(len(audio) - 1.01 * rate) < 256  # the length asked for (to the block)
    fade = int(0.05 * rate)
    assert np.abs(audio[-fade - int(0.2 * rate):-fade]).max() > 0.05  # it still sounded there
    assert np.abs(audio[-1]).max() < 1e-3 and np.abs(audio[-int(0.002 * rate):]).max() < 0.05 * np.abs(audio[-fade - 512:-fade]).max()


def test_play_without_a_device_refuses_a_long_score_naming_its_own_option_and_leaves_no_empty_recording(tmp_path, patch):
    """`play` has no --max-seconds: its refusal names --seconds, and the recording it had opened for the device (empty)
    is not left behind to block the next try."""
    (tmp_path / "long.score").write_text("0.0 /pad 0 0 0.9\n700.0 /pad 1 1 0.9\n")
    result = liveengine("play", str(patch), "--score", "long.score", "--record", "rec.wav", "--no-osc", "--no-midi", "--no-autosave",
                        cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after the pads' progress: play found no device once they were rendered
    assert line.startswith("liveengine: ") and "over the limit of 600 s" in line and "give play --seconds S" in line and "--max-seconds" not in line
    assert not (tmp_path / "rec.wav").exists()
    (tmp_path / "short.score").write_text("0.0 /pad 0 0 0.9\n")
    again = liveengine("play", str(patch), "--score", "short.score", "--record", "rec.wav", "--no-osc", "--no-midi", "--no-autosave",
                       cwd=tmp_path, timeout=RENDER)
    assert again.returncode == 0, again.stderr
    assert sf.info(str(tmp_path / "rec.wav")).frames > 0


def test_play_takes_a_score_or_the_demo_not_both_and_says_when_the_web_panel_is_not_served(tmp_path, patch):
    both = liveengine("play", str(patch), "--score", "x.score", "--demo", "--no-osc", "--no-midi", cwd=tmp_path, timeout=RENDER)
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert "argument --demo: not allowed with argument --score" in both.stderr
    import socket

    (tmp_path / "one.score").write_text("0.0 /pad 0 0 0.9\n")
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = liveengine("play", str(patch), "--score", "one.score", "--record", "w.wav", "--web", str(port), "--no-osc", "--no-midi",
                     "--no-autosave", cwd=tmp_path, timeout=RENDER)
    assert web.returncode == 0, web.stderr
    assert "to w.wav instead; nothing plays live, so the web panel is not served." in web.stdout
