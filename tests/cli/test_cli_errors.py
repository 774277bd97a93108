"""The `liveengine` command as a user runs it: real subprocesses, real files in tmp_path, no audio device.

Bad input gives exit code 1 (2 for argument errors), one `liveengine:` line naming what
was wrong, no traceback unless --debug, and never an overwritten file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
RATE = 48000
QUICK = 30  # s: commands that fail before any rendering
RENDER = 60  # s: commands that render the 64-pad grid (about 0.5 s of work)

BROKEN_PATCH = '[grid]\nrows = 8\n\n[audio]\nblocksize = 7\n'
SCORE = "0.0 /pad 0 0 1.0\n0.5 /pad 3 4 1.0\n"


def liveengine(*args: str, cwd: Path, timeout: float = QUICK) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def interrupted(*args: str, cwd: Path, first: str, timeout: float = RENDER) -> tuple[int, str, str, str]:
    """`liveengine ARGS` sent Ctrl-C (SIGINT) once its first stderr line (progress) is out; that line must start with
    `first`. Returns (exit code, that line, stdout, the rest of stderr)."""
    import signal

    run = subprocess.Popen([sys.executable, "-m", "liveengine", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           # Ctrl-C reaches it as from a terminal even where the suite runs as a background job (which
                           # inherits SIGINT ignored, so Python never raises KeyboardInterrupt: seen, all of a render done, exit 0)
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = run.stderr.readline()  # progress reaches logs too, not only terminals
        assert line.startswith(first), line
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=timeout)
    finally:
        run.kill()
    return run.returncode, line, out, err


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `liveengine:` line a failing command prints on stderr."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("liveengine: "), result.stderr
    return lines[0]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "broken.toml").write_text(BROKEN_PATCH)
    (tmp_path / "song.score").write_text(SCORE)
    return tmp_path


def test_render_broken_patch(files):
    result = liveengine("render", "broken.toml", "--score", "song.score", "--out", "out.wav", cwd=files)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "broken.toml" in line
    assert "[audio] blocksize = 7" in line
    assert "32 to 1024" in line
    assert not (files / "out.wav").exists()


def test_debug_shows_the_traceback(files):
    result = liveengine("--debug", "render", "broken.toml", "--score", "song.score", "--out", "out.wav", cwd=files)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "LiveEngineError" in result.stderr
    assert "[audio] blocksize = 7" in result.stderr
    assert not (files / "out.wav").exists()


def test_render_refuses_an_existing_file_and_force_replaces_it(files):
    out = files / "out.wav"
    before = b"my only take, do not lose\n" * 100
    out.write_bytes(before)

    result = liveengine("render", "default", "--score", "song.score", "--out", "out.wav", cwd=files, timeout=RENDER)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "out.wav already exists" in line and "--force" in line
    assert out.read_bytes() == before

    result = liveengine("render", "default", "--score", "song.score", "--out", "out.wav", "--force", cwd=files, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert rate == RATE
    assert data.shape[1] == 2
    assert int(0.5 * RATE) < data.shape[0] <= int(1.6 * RATE)  # last command at 0.5 s, then until its sound (1 s at most) has decayed
    assert np.max(np.abs(data[-128:])) < 1e-3
    assert np.all(np.isfinite(data))
    assert np.max(np.abs(data)) > 0.1
    assert np.array_equal(data[:, 0], data[:, 1])  # the default patch sends its mono mix to [1, 2]
    assert not any(p.name.startswith("out-") for p in files.iterdir())  # no renamed side copy either


def test_render_refuses_a_non_wav_name(files):
    result = liveengine("render", "default", "--score", "song.score", "--out", "x.txt", cwd=files)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "x.txt" in line and ".wav" in line
    assert not (files / "x.txt").exists()


def test_render_with_unknown_model_leaves_no_file(files):
    # A render that cannot start must not leave an empty WAV behind (which a rerun would then refuse to replace).
    (files / "nomodel.toml").write_text('[model]\ndecoder = "no-such-model"\n')
    result = liveengine("render", "nomodel.toml", "--score", "song.score", "--out", "out.wav", cwd=files)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "'no-such-model'" in line and "builtin:testsynth" in line
    assert not (files / "out.wav").exists()
    # Nor may it destroy the file --force was about to replace.
    before = b"an earlier render\n" * 50
    (files / "out.wav").write_bytes(before)
    result = liveengine("render", "nomodel.toml", "--score", "song.score", "--out", "out.wav", "--force", cwd=files)
    assert result.returncode == 1
    assert "'no-such-model'" in one_error_line(result)
    assert (files / "out.wav").read_bytes() == before


@pytest.mark.parametrize(
    "args, option, allowed",
    [
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--samplerate", "22050"], "--samplerate", "44100, 48000, 96000"),
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--blocksize", "7"], "--blocksize", "32 to 1024"),
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--tail", "nan"], "--tail", "seconds from 0 to 86400 (24 hours)"),
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--tail", "-1"], "--tail", "seconds from 0 to 86400 (24 hours)"),
        # The cap is said, not hidden: 1e9 is a number above 0.
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--tail", "1e9"], "--tail", "seconds from 0 to 86400 (24 hours)"),
        (["render", "default", "--score", "song.score", "--out", "o.wav", "--max-seconds", "1e9"], "--max-seconds",
         "seconds above 0 and at most 86400 (24 hours)"),
        # A patch that does not exist: should the argument ever be accepted, play still stops before any device.
        (["play", "no-such-patch.toml", "--seconds", "-1"], "--seconds", "seconds above 0 and at most 86400 (24 hours)"),
        (["play", "no-such-patch.toml", "--seconds", "1e9"], "--seconds", "seconds above 0 and at most 86400 (24 hours)"),
        (["play", "no-such-patch.toml", "--osc-port", "70000"], "--osc-port", "1 to 65535"),
        (["render-grid", "default", "--out", "grid", "--samplerate", "48000.0"], "--samplerate", "44100, 48000, 96000"),
        (["render-grid", "default", "--out", "grid", "--samplerate", "fast"], "--samplerate", "44100, 48000, 96000"),
    ],
)
def test_bad_cli_arguments(files, args, option, allowed):
    result = liveengine(*args, cwd=files)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"argument {option}" in result.stderr
    assert repr(args[-1]) in result.stderr
    assert allowed in result.stderr
    assert not (files / "o.wav").exists() and not (files / "grid").exists()


@pytest.mark.parametrize(
    "line, shown, allowed",
    [
        ('inputs = "Launchpad"', "inputs = 'Launchpad'", "a list of port names"),
        ("inputs = [1, 2]", "inputs = [1, 2]", "a list of port names"),
        ('virtual = "yes"', "virtual = 'yes'", "true or false"),
        ("virtual = 1", "virtual = 1", "true or false"),
        ('previous_cc = "64"', "previous_cc = '64'", "a CC number from 0 to 127"),
        ("previous_cc = 128", "previous_cc = 128", "a CC number from 0 to 127"),
        ("previous_cc = true", "previous_cc = True", "a CC number from 0 to 127"),
    ],
)
def test_bad_midi_section_values(tmp_path, line, shown, allowed):
    (tmp_path / "stage.toml").write_text(f"[midi]\n{line}\n")
    result = liveengine("check", "stage.toml", cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert "stage.toml: [midi] " + shown + " is not allowed; allowed: " + allowed in error


def test_midi_programs_naming_a_missing_patch_fail_when_the_patch_loads(tmp_path):
    # Reported by `check` (and at `play`), not first when a program change on stage reaches the missing file.
    (tmp_path / "verse.toml").write_text("")
    (tmp_path / "stage.toml").write_text('[midi]\nprograms = ["verse.toml", "chorus.toml"]\n')
    result = liveengine("check", "stage.toml", cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert "stage.toml: [midi] programs names 'chorus.toml'" in error and str(tmp_path / "chorus.toml") in error
    assert "allowed: patch files relative to this patch" in error
    result = liveengine("midi", "stage.toml", cwd=tmp_path)  # before any MIDI port opens
    assert result.returncode == 1 and "'chorus.toml'" in one_error_line(result)


def test_similar_with_a_missing_model_folder(tmp_path):
    (tmp_path / "library").mkdir()
    sound = (0.5 * np.sin(np.arange(RATE // 4) * 0.05)).astype(np.float32)
    for name in ("query.wav", "library/a.wav", "library/b.wav"):
        sf.write(str(tmp_path / name), sound, RATE)
    result = liveengine("similar", "query.wav", "--library", "library", "--model", "no-such-model", cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert "model 'no-such-model' not found" in error and str(tmp_path / "no-such-model") in error
    assert "or a model folder's path" in error
    gone = tmp_path / "gone" / "model"
    result = liveengine("similar", "query.wav", "--library", "library", "--model", str(gone), cwd=tmp_path)
    assert result.returncode == 1
    error = one_error_line(result)
    assert error.count(str(gone)) == 2, error  # in the quoted name and once in the places looked in, not twice there


@pytest.mark.parametrize(
    "content, complaint",
    [
        (b'name = "my-pads"\n[layout\n', "is not valid TOML: Expected ']'"),
        (b'name = "my-pads"\ntitle = "\xff\xfe"\n', "is not UTF-8 text (byte 0xff at offset 26); a profile is a TOML file in UTF-8"),
        # A misspelt key in a table once meant, silently, no LEDs.
        (b'[layout]\norigin = 36\nrows = 4\ncols = 4\nrow_step = 4\n[leds]\nmehtod = "novation_rgb"\n',
         "unknown key 'leds.mehtod'; allowed keys in [leds]: channel, levels, method, mode_off, mode_on, palette, palette_base, "
         "sysex_header. Did you mean 'method'?"),
        (b'[layout]\nbottom_left = 36\nrows = 4\ncols = 4\nrow_step = 4\n',
         "has 2 errors: (1) unknown key 'layout.bottom_left'; allowed keys in [layout]: at, channel, col_step, cols, origin, row_step, rows; "
         "(2) layout.origin is missing; allowed: an integer from 0 to 127."),
    ],
)
def test_a_broken_midi_profile_file(tmp_path, content, complaint):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "my-pads.toml").write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "liveengine", "midi"], cwd=tmp_path, capture_output=True, text=True, timeout=QUICK,
                            env={**os.environ, "LIVEENGINE_MIDI_PROFILES": str(profiles)})
    assert result.returncode == 1
    error = one_error_line(result)
    assert f"MIDI profile {profiles / 'my-pads.toml'}{'' if complaint.startswith('has ') else ':'} {complaint}" in error
    assert "Fix the file, or remove it from the profile folder." in error


def test_check_default_patch(tmp_path):
    result = liveengine("check", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "ok"
    assert "model     drums" in result.stdout  # the shipped trained model, with its encoder and classifier
    assert "classifier yes (kick, snare" in result.stdout
    assert ", fit yes (decoder_grad.onnx: corner and --from files are fitted)" in result.stdout
    assert "default" in result.stdout
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_check_broken_patch(files):
    result = liveengine("check", "broken.toml", cwd=files)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "broken.toml" in line and "[audio] blocksize" in line
    assert "ok" not in result.stdout.split()


@pytest.mark.parametrize("number, complaint", [
    ("nan", "number 1 is nan; allowed: an audio file path relative to the patch, or a latent point of finite numbers."),
    ("inf", "number 1 is inf; allowed: an audio file path relative to the patch, or a latent point of finite numbers."),
    ("1e308", "number 1 is 1e+308; allowed: numbers within 19.9 of model drums19's latent mean (0.406 there), "
              "10 times its largest latent spread (1.99)."),
    ("1e6", "number 1 is 1e+06; allowed: numbers within 19.9 of model drums19's latent mean"),
])
def test_check_refuses_a_corner_point_the_model_cannot_play(tmp_path, number, complaint):
    # The newcomer's patch: once numpy's overflow warnings, then the model refused for the silence (1e6: accepted, one sound).
    t = np.arange(4800) / RATE
    for name in ("kick.wav", "snare.wav", "hat.wav"):
        sf.write(tmp_path / name, (np.sin(2 * np.pi * 80 * t) * np.exp(-t * 30)).astype(np.float32), RATE)
    (tmp_path / "far.toml").write_text('[model]\ndecoder = "drums19"\n[grid]\nmapping = "corners"\n'
                                       f'corners = ["kick.wav", "snare.wav", "hat.wav", [{number}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]\n')
    result = liveengine("check", "far.toml", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)  # one line: no RuntimeWarning before it
    assert "far.toml: [grid] corners: corner 4 (top_right) " + complaint in line
    assert "is refused" not in line and "ok" not in result.stdout.split()


def test_check_unknown_patch_name(tmp_path):
    result = liveengine("check", "nosuch", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "'nosuch'" in line and "default" in line


def test_render_places_hits_on_their_frames(tmp_path):
    # Unity gain and full velocity, so the output's first sample above -60 dBFS is the
    # buffer's own onset; sounds cut at 0.3 s, so the first hit is gone before the second.
    (tmp_path / "unity.toml").write_text("[engine]\nmaster_gain = 1.0\nmax_seconds = 0.3\n")
    (tmp_path / "hits.score").write_text("# two hits, the second one mid-block (24000 = 187.5 blocks of 128)\n0.5 /pad 3 4 1.0\n0.0 /pad 0 0 1.0\n")
    result = liveengine("render", "unity.toml", "--score", "hits.score", "--out", "hits.wav", "--tail", "0.2", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert "2 commands, 0 rejected" in result.stdout

    data, rate = sf.read(str(tmp_path / "hits.wav"), dtype="float32", always_2d=True)
    assert rate == RATE and data.shape[1] == 2
    assert data.shape[0] >= int(0.7 * RATE)
    level = np.max(np.abs(data), axis=1)
    threshold = 1e-3  # -60 dBFS
    assert level[0] > threshold  # first hit lands on frame 0 exactly
    assert np.max(level[: int(0.005 * RATE)]) > 0.05  # and it is a real hit
    # The first hit has decayed before the second one, so the second onset is measurable.
    assert np.max(level[int(0.45 * RATE) : int(0.5 * RATE)]) < threshold
    loud = np.flatnonzero(level[int(0.45 * RATE) :] > threshold) + int(0.45 * RATE)
    assert loud[0] == 24000
    assert np.max(level[24000 : 24000 + int(0.005 * RATE)]) > 0.05


def test_render_tail_0_ends_at_the_last_command(tmp_path):
    # The file ends at the last command's frame, to the frame (the offline clock runs whole blocks; the file is cut).
    (tmp_path / "unity.toml").write_text("[engine]\nmaster_gain = 1.0\nmax_seconds = 0.3\n")
    (tmp_path / "hits.score").write_text("0.0 /pad 0 0 1.0\n0.5 /pad 3 4 1.0\n")
    result = liveengine("render", "unity.toml", "--score", "hits.score", "--out", "hits.wav", "--tail", "0", "--blocksize", "128",
                        cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert "rendering 0.50 s of audio" in result.stdout and "2 commands, 0 rejected" in result.stdout
    data, rate = sf.read(str(tmp_path / "hits.wav"), dtype="float32", always_2d=True)
    assert rate == RATE and data.shape[0] == 24000  # without --tail 0, 0.3 s more of decay
    assert np.max(np.abs(data[:2400])) > 0.05  # the first hit sounds


def test_render_score_with_a_bad_line(tmp_path):
    (tmp_path / "bad.score").write_text("# groove\n0.0 /pad 0 0\n0.5 /pad 0 0 loud\n")
    result = liveengine("render", "default", "--score", "bad.score", "--out", "out.wav", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "bad.score:3:" in line
    assert "'velocity'" in line and "'loud'" in line
    assert not (tmp_path / "out.wav").exists()


def test_render_missing_score(tmp_path):
    result = liveengine("render", "default", "--score", "nope.score", "--out", "out.wav", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "nope.score" in line and "does not exist" in line
    assert not (tmp_path / "out.wav").exists()


def test_liveengine_midi_says_which_shipped_profiles_a_user_file_replaces(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "generic.toml").write_text("[layout]\norigin = 0\nrows = 4\ncols = 4\nrow_step = 4\n")
    result = subprocess.run([sys.executable, "-m", "liveengine", "midi"], cwd=tmp_path, capture_output=True, text=True, timeout=QUICK,
                            env={**os.environ, "LIVEENGINE_MIDI_PROFILES": str(profiles)})
    # Said before any port is listed, so also where no MIDI system runs (rc 1 then).
    assert f"your profile {profiles / 'generic.toml'} replaces the shipped profile 'generic'\n" in result.stdout
