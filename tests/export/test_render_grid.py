"""`liveengine render-grid`: a generated ONNX model's 4x4 grid exported, then read back as a sampler would read it.

The SFZ is parsed and every sample it names must exist; the Decent Sampler preset is parsed
as XML; grid.json is loaded; every WAV decodes and each pad's sound differs.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import soundfile

from liveengine.cli import main
from liveengine.decoders.registry import load_decoder
from liveengine.export.cli import patch_grid
from liveengine.export.grid_export import pad_notes, render_pads
from liveengine.patch import load_patch
from liveengine.testing.models import build_audio_decoder, build_classifier, contract_metadata

CLASSES = ["kick", "snare", "hat"]


def make_patch(tmp_path, decoder="drums", rows=4, cols=4, normalize="peak", samplerate=48000, classifier=True, scale=1.0):
    if not decoder.startswith("builtin:") and not (tmp_path / decoder).exists():
        folder = build_audio_decoder(tmp_path / decoder, latent_dim=4, output_length=4410, sample_rate=22050, output_scale=scale,
                                     metadata=contract_metadata(4, 22050, 4410, classes=CLASSES if classifier else None))
        if classifier:
            build_classifier(folder, 4, len(CLASSES))
    path = tmp_path / f"{decoder.replace(':', '_')}.toml"
    path.write_text(f'[model]\ndecoder = "{decoder}"\nnormalize = "{normalize}"\n[grid]\nrows = {rows}\ncols = {cols}\n'
                    f"[audio]\nsamplerate = {samplerate}\n[engine]\nmax_seconds = 0.5\nrender_in = \"thread\"\n")
    return path


def parse_sfz(path):
    """Regions as dicts of opcodes (comments dropped, <global> opcodes inherited)."""
    regions, header, glob = [], None, {}
    for line in path.read_text().splitlines():
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        for token in re.findall(r"<\w+>|\S+=\S*", line):
            if token.startswith("<"):
                header = token
                if header == "<region>":
                    regions.append(dict(glob))
                continue
            key, value = token.split("=", 1)
            (regions[-1] if header == "<region>" else glob if header == "<global>" else {})[key] = value
    return regions


def test_render_grid_writes_pads_and_maps_that_load_back(tmp_path, capsys):
    patch_path = make_patch(tmp_path)
    out = tmp_path / "export"
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 0
    assert "Wrote 16 pads" in capsys.readouterr().out

    # SFZ: every region names an existing sample, one note per pad, note = 36 + row * cols + col.
    regions = parse_sfz(out / "grid.sfz")
    assert len(regions) == 16
    for region in regions:
        assert (out / region["sample"]).is_file(), region
        row, col = map(int, re.fullmatch(r"pad_r(\d+)_c(\d+)\.wav", region["sample"]).groups())
        assert region["lokey"] == region["hikey"] == region["pitch_keycenter"] == str(36 + row * 4 + col)
        assert region["loop_mode"] == "one_shot"
    assert sorted(r["sample"] for r in regions) == sorted(f"pad_r{r}_c{c}.wav" for r in range(4) for c in range(4))

    # Decent Sampler: the same mapping.
    root = ET.parse(out / "grid.dspreset").getroot()
    assert root.tag == "DecentSampler"
    samples = root.findall("./groups/group/sample")
    assert {(s.get("path"), s.get("rootNote"), s.get("loNote"), s.get("hiNote")) for s in samples} == \
        {(r["sample"], r["lokey"], r["lokey"], r["lokey"]) for r in regions}

    # JSON: rows, columns, latent points (the engine's grid), files, descriptions.
    info = json.loads((out / "grid.json").read_text())
    patch = load_patch(patch_path)
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rows, cols, points = patch_grid(patch, decoder)
    assert (info["rows"], info["cols"], info["sample_rate"], info["sample_format"]) == (4, 4, 48000, "PCM_24")
    gain = 10 ** (info["gain_db"] / 20)  # below 1 only if resampling overshot full scale
    assert 0.9 < gain <= 1.0
    assert info["model"]["hash"] == decoder.identity and info["model"]["classes"] == CLASSES
    assert len(info["pads"]) == 16
    for pad in info["pads"]:
        index = pad["row"] * 4 + pad["col"]
        assert pad["pad"] == index and pad["note"] == 36 + index and pad["file"] == f"pad_r{pad['row']}_c{pad['col']}.wav"
        np.testing.assert_allclose(pad["latent"], points[index], atol=1e-5)
        d = pad["description"]
        assert d["class"] in CLASSES and 1 / 3 <= d["probability"] <= 1.0
        assert -60 < d["loudness_db"] < 0 and 0 <= d["brightness"] <= 1 and 0 < d["centroid_hz"] < 24000

    # WAVs: 24-bit at the patch's rate, exactly what the engine's render path makes, different per pad.
    expected = render_pads(decoder, points, 48000, 0.5)
    sounds = []
    for pad in info["pads"]:
        audio, rate = soundfile.read(out / pad["file"], dtype="float32")
        assert rate == 48000 and soundfile.info(out / pad["file"]).subtype == "PCM_24" and audio.ndim == 1
        buffer = expected[pad["pad"]]
        assert len(audio) == len(buffer.samples)
        np.testing.assert_allclose(audio, buffer.samples * gain, rtol=1e-5, atol=2.0 ** -22)
        assert pad["seconds"] == pytest.approx(len(audio) / 48000, abs=1e-4)
        sounds.append(audio)
    for i in range(16):
        for j in range(i + 1, 16):
            n = min(len(sounds[i]), len(sounds[j]))
            assert len(sounds[i]) != len(sounds[j]) or np.max(np.abs(sounds[i][:n] - sounds[j][:n])) > 1e-3, (i, j)


def test_an_existing_folder_needs_force_and_stale_pads_go(tmp_path, capsys):
    patch_path = make_patch(tmp_path, rows=4, cols=4)
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"--out {out} already holds files" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (out / "pad_r7_c7.wav").write_bytes(b"old")  # from an earlier, larger grid
    assert main(["render-grid", str(patch_path), "--out", str(out), "--force"]) == 0
    names = {p.name for p in out.iterdir()}
    assert "pad_r7_c7.wav" not in names and "notes.txt" in names and "pad_r3_c3.wav" in names
    (tmp_path / "afile").write_text("x")
    assert main(["render-grid", str(patch_path), "--out", str(tmp_path / "afile")]) == 1
    assert "is a file; expected a folder" in capsys.readouterr().err


def test_a_render_stopped_while_writing_leaves_no_half_grid_and_the_rerun_writes_it(tmp_path, capsys, monkeypatch):
    patch_path = make_patch(tmp_path, rows=4, cols=4)
    out = tmp_path / "export"
    real, calls = soundfile.write, []

    def stopped(*args, **kwargs):  # Ctrl-C arrives while the fifth pad is being written
        calls.append(args[0])
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(soundfile, "write", stopped)  # export_grid imports soundfile when it runs
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 130
    assert not out.exists() and "stopped by Ctrl-C" in capsys.readouterr().err
    assert len(list((tmp_path / ".export.partial").iterdir())) == 4  # the half grid sits hidden beside it
    monkeypatch.setattr(soundfile, "write", real)
    out.mkdir()  # an empty folder is a new one too
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 0  # no --force needed: nothing of the user's is there
    assert len([p for p in out.iterdir() if p.suffix == ".wav"]) == 16 and (out / "grid.json").is_file()
    assert not (tmp_path / ".export.partial").exists()


def test_24_bit_files_never_clip_and_float_keeps_levels(tmp_path, capsys):
    loud = make_patch(tmp_path, decoder="loud", normalize="none", scale=50.0, classifier=False)
    patch = load_patch(loud)
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rendered = render_pads(decoder, patch_grid(patch, decoder)[2], 48000, 0.5)
    peak = max(float(np.max(np.abs(b.samples))) for b in rendered)
    assert peak > 2.0  # the premise: this patch renders far above full scale

    out = tmp_path / "pcm"
    assert main(["render-grid", str(loud), "--out", str(out)]) == 0
    assert "every pad is" in capsys.readouterr().out
    info = json.loads((out / "grid.json").read_text())
    gain = 10 ** (info["gain_db"] / 20)
    assert gain == pytest.approx(0.999 / peak, rel=1e-3)
    for pad in info["pads"]:  # one gain for all: the balance between pads is kept
        audio, _ = soundfile.read(out / pad["file"], dtype="float32")
        assert np.max(np.abs(audio)) < 1.0
        np.testing.assert_allclose(audio, rendered[pad["pad"]].samples * gain, rtol=1e-5, atol=2.0 ** -22)

    out = tmp_path / "float"
    assert main(["render-grid", str(loud), "--out", str(out), "--float", "--samplerate", "44100"]) == 0
    audio, rate = soundfile.read(out / "pad_r0_c0.wav", dtype="float32")
    assert rate == 44100 and soundfile.info(out / "pad_r0_c0.wav").subtype == "FLOAT" and np.max(np.abs(audio)) > 1.0
    info = json.loads((out / "grid.json").read_text())
    assert info["gain_db"] == 0 and info["model"]["classes"] is None
    assert all(p["description"]["class"] is None and p["description"]["probability"] is None for p in info["pads"])


def test_testsynth_grid_exports(tmp_path):
    patch_path = make_patch(tmp_path, decoder="builtin:testsynth", rows=4, cols=5)
    out = tmp_path / "synth"
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 0
    regions = parse_sfz(out / "grid.sfz")
    assert len(regions) == 20 and all((out / r["sample"]).is_file() for r in regions)
    assert {r["lokey"] for r in regions} == {str(n) for n in range(36, 56)}
    assert (out / "pad_r3_c4.wav").is_file() and not (out / "pad_r4_c3.wav").exists()


def test_pad_notes_stay_midi_notes_for_every_grid_size():
    assert pad_notes(64) == list(range(36, 100))
    assert pad_notes(16) == list(range(36, 52))
    for pads in (100, 127, 144, 256):
        notes = pad_notes(pads)
        mapped = [n for n in notes if n is not None]
        assert len(mapped) == min(pads, 127) and len(set(mapped)) == len(mapped)
        assert min(mapped) >= 1 and max(mapped) <= 127
        assert mapped == sorted(mapped) and notes[: len(mapped)] == mapped  # bottom-left pads first


def test_export_follows_the_patchs_mapping_corners_from_audio_anchors(tmp_path):
    """A corners patch whose anchors are audio files: the exported corner pads sit on the anchors' encodings."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.testing.models import build_encoder

    folder = build_audio_decoder(tmp_path / "enc", latent_dim=4, output_length=4410, sample_rate=22050)
    build_encoder(folder, 4, 4410, 22050)
    t = np.arange(4410) / 22050
    anchors = []
    for i, (freq, decay) in enumerate([(60, 0.1), (400, 0.05), (3000, 0.02), (7000, 0.01)]):
        sound = (np.sin(2 * np.pi * freq * t) * np.exp(-t / decay) * 0.8).astype(np.float32)
        soundfile.write(tmp_path / f"anchor{i}.wav", sound, 22050, subtype="FLOAT")
        anchors.append(sound)
    patch_path = tmp_path / "corners.toml"
    patch_path.write_text('[model]\ndecoder = "enc"\n[grid]\nrows = 4\ncols = 4\nmapping = "corners"\n'
                          'corners = ["anchor0.wav", "anchor1.wav", "anchor2.wav", "anchor3.wav"]\n'
                          '[engine]\nmax_seconds = 0.5\nrender_in = "thread"\n')
    out = tmp_path / "export"
    assert main(["render-grid", str(patch_path), "--out", str(out)]) == 0
    info = json.loads((out / "grid.json").read_text())
    assert info["source"]["mapping"] == "corners"
    encoded = OnnxDecoder(folder).encode(np.stack(anchors))
    latent = {(p["row"], p["col"]): np.array(p["latent"]) for p in info["pads"]}
    for (row, col), anchor in zip([(0, 0), (0, 3), (3, 0), (3, 3)], encoded):  # bottom left, bottom right, top left, top right
        np.testing.assert_allclose(latent[(row, col)], anchor, atol=1e-4)
    assert not np.allclose(latent[(1, 1)], latent[(0, 0)], atol=1e-3)  # inner pads lie between, not on a corner
