"""`liveengine generate`, run as a user runs it: random points of the prior, variations of a file, mixes of files.

Real models (builtin:testsynth; the shipped drums model, which has an encoder), real WAV files
in and out, read back and compared with the engine's own render of the latent points the
command wrote into generate.json.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from liveengine.decoders.registry import load_decoder
from liveengine.export.grid_export import render_pads
from liveengine.patch import load_patch, resolve_patch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from test_cli_errors import RENDER, interrupted, liveengine, one_error_line  # noqa: E402

PCM24 = 2.0 ** -22  # a 24-bit file's rounding, with room


def wav(path: Path) -> np.ndarray:
    audio, _ = soundfile.read(path, dtype="float32")
    return audio


def manifest(folder: Path) -> dict:
    return json.loads((folder / "generate.json").read_text())


@pytest.fixture(scope="module")
def drums():
    """The default patch and its model (drums: encoder and classifier)."""
    patch = load_patch(resolve_patch("default"))
    return patch, load_decoder(patch.model, patch.path, **patch.model_options)


@pytest.fixture
def drum_files(tmp_path, drums):
    """Two WAV files of different drums, decoded by the model at its own rate (what a sound designer brings)."""
    patch, decoder = drums
    files = []
    for name, point in (("low.wav", np.full(decoder.latent_dim, 0.8)), ("high.wav", np.full(decoder.latent_dim, -0.8))):
        [buffer] = render_pads(decoder, point[None, :], decoder.sample_rate, 1.0)
        soundfile.write(tmp_path / name, buffer.samples, decoder.sample_rate, subtype="FLOAT")
        files.append(tmp_path / name)
    return files


def test_the_same_seed_gives_the_same_sounds_and_another_seed_others(short_patch, tmp_path):
    patch = short_patch()
    for out, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        result = liveengine("generate", str(patch), "--out", out, "-n", "3", "--seed", seed, cwd=tmp_path, timeout=RENDER)
        assert result.returncode == 0, result.stderr
    names = [f"prior_00{i}.wav" for i in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["generate.json", *names]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert not np.array_equal(wav(tmp_path / "a" / name), wav(tmp_path / "c" / name))
    info = manifest(tmp_path / "a")
    assert info["generated"]["mode"] == "prior" and info["generated"]["seed"] == 5 and info["model"]["name"] == "testsynth"
    # Each file is the engine's render of the latent point written beside it.
    points = np.array([s["latent"] for s in info["sounds"]], np.float32)
    assert len({tuple(p) for p in points}) == 3
    for sound, buffer in zip(info["sounds"], render_pads(load_decoder("builtin:testsynth"), points, 48000, 0.05)):
        np.testing.assert_allclose(wav(tmp_path / "a" / sound["file"]), buffer.samples, atol=PCM24)


def test_generate_never_writes_into_a_folder_that_holds_files(short_patch, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "take.wav").write_bytes(b"keep")
    result = liveengine("generate", str(short_patch()), "--out", "mine", "--seed", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "--out mine already holds files" in one_error_line(result)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["take.wav"] and (tmp_path / "mine" / "take.wav").read_bytes() == b"keep"


def test_a_file_with_variance_0_gives_its_own_decode_and_variance_varies_it(drums, drum_files, tmp_path):
    patch, decoder = drums
    low, high = drum_files
    result = liveengine("generate", "default", "--out", "same", "--from", str(low), "--variance", "0", cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "same").iterdir()) == ["generate.json", "variation_001.wav"]
    sound = wav(tmp_path / "same" / "variation_001.wav")

    # The file's own decode: its point placed as corner files are (fitted from the encoder's mean), rendered as a pad is.
    from liveengine.grid.anchors import place_sounds

    audio = wav(low)
    point = place_sounds(decoder, np.pad(audio, (0, decoder.output_length - len(audio)))[None, :]).astype(np.float32)
    [own] = render_pads(decoder, point, patch.audio["samplerate"], patch.engine["max_seconds"])
    [other] = render_pads(decoder, place_sounds(decoder, np.pad(wav(high), (0, decoder.output_length - len(wav(high))))[None, :]).astype(np.float32),
                          patch.audio["samplerate"], patch.engine["max_seconds"])
    np.testing.assert_allclose(sound, own.samples, atol=1e-4)
    n = min(len(sound), len(other.samples))
    assert np.max(np.abs(sound[:n] - other.samples[:n])) > 0.1  # the premise: the other file decodes to something else
    np.testing.assert_allclose(manifest(tmp_path / "same")["generated"]["from"][0]["latent"], point[0], atol=1e-5)

    result = liveengine("generate", "default", "--out", "varied", "--from", str(low), "--variance", "1", "-n", "2", "--seed", "3",
                        cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    varied = [np.array(s["latent"]) for s in manifest(tmp_path / "varied")["sounds"]]
    assert all(np.linalg.norm(v - point[0]) > 0.5 for v in varied) and np.linalg.norm(varied[0] - varied[1]) > 0.5


def test_a_weighted_mix_with_a_negative_weight(drums, drum_files, tmp_path):
    _, decoder = drums
    low, high = drum_files
    result = liveengine("generate", "default", "--out", "mix", "--from", str(low), str(high), "--weights", "1", "-0.5",
                        cwd=tmp_path, timeout=RENDER)
    assert result.returncode == 0, result.stderr
    info = manifest(tmp_path / "mix")
    assert info["generated"]["mode"] == "mix" and [f["weight"] for f in info["generated"]["from"]] == [1.0, -0.5]
    files = [np.array(f["latent"]) for f in info["generated"]["from"]]
    [sound] = info["sounds"]
    np.testing.assert_allclose(sound["latent"], files[0] - 0.5 * files[1], atol=1e-5)
    assert sound["description"]["class"] in decoder.classes
    assert np.max(np.abs(wav(tmp_path / "mix" / "mix_001.wav"))) > 0.1


@pytest.mark.parametrize("weights, expected", [(("1", "1", "-0.5"), "--weights has 3 numbers for 2 --from files; give one weight per file"),
                                               (("1", "-9"), "has a weight out of range; allowed: a number from -8 to 8 each")])
def test_weights_must_match_the_files(drum_files, tmp_path, weights, expected):
    low, high = drum_files
    result = liveengine("generate", "default", "--out", "mix", "--from", str(low), str(high), "--weights", *weights, cwd=tmp_path)
    assert result.returncode == 1
    assert expected in one_error_line(result)
    assert not (tmp_path / "mix").exists()


def test_from_needs_a_model_with_an_encoder(short_patch, drum_files, tmp_path):
    result = liveengine("generate", str(short_patch()), "--out", "v", "--from", str(drum_files[0]), cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "generate --from needs a model with an encoder" in line and "model testsynth" in line
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("args, expected", [(("--variance", "1"), "--variance applies to sounds made --from files"),
                                            (("--weights", "1"), "--weights needs --from files"),
                                            (("--from", "a.wav", "--variance", "5"), "--variance 5 is out of range; allowed: 0 to 4")])
def test_options_that_do_not_fit_are_one_clear_error(short_patch, tmp_path, args, expected):
    result = liveengine("generate", str(short_patch()), "--out", "new", *args, cwd=tmp_path)
    assert result.returncode == 1
    assert expected in one_error_line(result)
    assert not (tmp_path / "new").exists()


def test_ctrl_c_keeps_the_sounds_rendered_so_far_as_whole_files_and_says_how_many(short_patch, tmp_path):
    """Ctrl-C once exited 130 saying nothing and writing nothing: every sound rendered was lost."""
    code, first, out, err = interrupted("generate", str(short_patch()), "--out", "many", "-n", "10000", "--seed", "3", cwd=tmp_path,
                                        first="rendering sounds: ")  # told after the first batch: some sounds are rendered
    assert first.rstrip().endswith("/10000"), first  # 10,000 sounds take far longer than one batch
    assert code == 130 and "Traceback" not in err and out == ""
    said = re.search(r"^liveengine: stopped by Ctrl-C; many keeps the first (\d+) of 10000 sounds as complete WAV files "
                     r"\(prior_001\.wav(?: \.\.\. prior_(\d+)\.wav)?, seed 3\), with generate\.json; the other (\d+) were not written\.$", err, re.M)
    assert said, err
    kept = int(said.group(1))
    assert "liveengine: stopped by Ctrl-C.\n" not in err  # said once, by the command itself
    assert 1 <= kept < 10000 and kept + int(said.group(3)) == 10000 and int(said.group(2) or 1) == kept
    # Whole files only, none half-written nor left beside them, each listed with its point.
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == sorted(["generate.json", *(f"prior_{i:03d}.wav" for i in range(1, kept + 1))])
    info = manifest(tmp_path / "many")
    assert info["stopped"] == {"by": "Ctrl-C", "sounds_asked": 10000, "sounds_written": kept}
    assert [s["file"] for s in info["sounds"]] == [f"prior_{i:03d}.wav" for i in range(1, kept + 1)]
    last = info["sounds"][-2:]  # the last files written are whole too
    for sound, buffer in zip(last, render_pads(load_decoder("builtin:testsynth"), np.array([s["latent"] for s in last], np.float32), 48000, 0.05)):
        np.testing.assert_allclose(wav(tmp_path / "many" / sound["file"]), buffer.samples, atol=PCM24)


def test_the_summary_says_a_single_files_weight():
    """`--from one.wav --weights -3` scales the file's point by -3: the summary once said only "variations of one.wav"."""
    from liveengine.export.generate import Recipe

    assert Recipe(seed=1, sources=(Path("one.wav"),), weights=(-3.0,)).summary == "variations of -3 x one.wav (variance 0.5)"
    assert Recipe(seed=1, sources=(Path("one.wav"),)).summary == "variations of one.wav (variance 0.5)"
    assert Recipe(seed=1, sources=(Path("a.wav"), Path("b.wav")), weights=(1.0, -0.5)).summary == "a mix of 1 x a.wav, -0.5 x b.wav"


def test_a_generate_killed_while_writing_leaves_its_seed_and_the_points_of_what_it_wrote(short_patch, tmp_path):
    """kill -9 (no Ctrl-C handler runs) once the first sound is on disk: generate.json is there already, says it is
    incomplete, and lists only whole files, each with its point (it once held nothing: the seed and points were lost)."""
    import signal
    import subprocess
    import time

    run = subprocess.Popen([sys.executable, "-m", "liveengine", "generate", str(short_patch()), "--out", "killed", "-n", "600",
                            "--seed", "5"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + RENDER
        while not (tmp_path / "killed" / "prior_001.wav").exists():
            assert time.monotonic() < deadline and run.poll() is None
            time.sleep(0.005)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        run.kill()
    info = manifest(tmp_path / "killed")
    assert info["generated"]["seed"] == 5 and info["writing"]["sounds_asked"] == 600
    on_disk = {p.name for p in (tmp_path / "killed").glob("prior_*.wav")}
    listed = [s["file"] for s in info["sounds"]]
    assert set(listed) <= on_disk and len(on_disk) < 600  # killed while writing; what it lists is there
    for sound in info["sounds"][-2:]:
        assert len(sound["latent"]) > 0 and wav(tmp_path / "killed" / sound["file"]).size > 0
