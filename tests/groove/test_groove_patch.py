"""The [groove] patch section, bad input at load and live, and `render-grooves`, with real files throughout."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.cli import main as cli_main
from liveengine.decoders.contract import ModelError
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.groove.cli import render_grooves
from liveengine.patch import load_patch
from liveengine.testing.models import build_pattern_model

from test_groove_render import groove_patch


def write_beat(path, notes):
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    now = 0
    for tick, note in sorted(notes):
        track.append(mido.Message("note_on", note=note, velocity=100, channel=9, time=tick - now))
        now = tick
    midi.save(str(path))
    return path


def test_a_kit_naming_a_pad_off_the_grid_is_one_clear_error(tmp_path):
    with pytest.raises(LiveEngineError) as caught:
        load_patch(groove_patch(tmp_path, kit="[groove.kit]\nkick = [4, 0]\n"))
    assert "[groove.kit] kick = [4, 0] is off the 4x4 sound grid; rows 0..3, columns 0..3" in str(caught.value)
    path = groove_patch(tmp_path)
    path.write_text(path.read_text().replace("bpm = 120", "bpm = 0"))
    with pytest.raises(LiveEngineError, match=r"\[groove\] bpm = 0 is not allowed; allowed: a tempo from 20 to 300 BPM"):
        load_patch(path)


def test_a_broken_groove_model_is_refused_at_start_and_live_the_old_groove_plays_on(tmp_path):
    good = load_patch(groove_patch(tmp_path))
    build_pattern_model(tmp_path / "broken", output_names=("hits", "velocities", "offset"))
    bad = tmp_path / "bad.toml"
    bad.write_text(good.path.read_text().replace('model = "beat"', 'model = "broken"'))
    with pytest.raises(ModelError, match=r"model broken: decoder.onnx outputs \['hits', 'offset', 'velocities'\]"):
        Engine(load_patch(bad))
    engine = Engine(good)
    try:
        engine.wait_rendered(30)
        engine.start(OfflineBackend(48000, 128, 2))
        old = engine.groove
        engine.groove.pad(0, 0, None, 0)
        assert engine.load_patch(bad) is False
        assert engine.groove is old and "still playing" in engine.reports[-1] and "model broken" in engine.reports[-1]
        engine.backend.run(48000, engine.groove.feed)
        assert engine.groove.sequencer.scheduled > 0
    finally:
        engine.stop()


def test_corners_from_midi_files_and_files_that_are_not_drum_midi(tmp_path):
    beats = [write_beat(tmp_path / f"b{i}.mid", [(t * 120, n) for t in range(0, 32, 2 + i) for n in (36, 42)]) for i in range(4)]
    corners = 'mapping = "corners"\ncorners = [' + ", ".join(f'"{b.name}"' for b in beats) + "]"
    engine = Engine(load_patch(groove_patch(tmp_path, extra=corners)))
    try:
        assert engine.groove.page.labels == tuple(b.name for b in beats)
        assert engine.groove.page.points.shape == (4, 4)
    finally:
        engine.stop()
    (tmp_path / "b3.mid").write_bytes(b"not a midi file at all")
    with pytest.raises(LiveEngineError, match="groove MIDI file b3.mid is not a Standard MIDI File"):
        Engine(load_patch(groove_patch(tmp_path, extra=corners)))
    write_beat(tmp_path / "b3.mid", [(0, 60)])
    with pytest.raises(LiveEngineError, match="groove MIDI file b3.mid has 1 notes, none of them drum keys"):
        Engine(load_patch(groove_patch(tmp_path, extra=corners)))


def test_a_groove_command_without_a_groove_page_is_one_sentence(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[engine]\nrender_in = "thread"\n')
    engine = Engine(load_patch(path))
    try:
        from liveengine.commands import make_command

        with pytest.raises(LiveEngineError, match='has no groove page; add \\[groove\\] model = "grooves"'):
            engine.submit(make_command("/groove", [0, 0]))
    finally:
        engine.stop()


def test_render_grooves_writes_a_clip_a_wav_and_the_json_per_pad_and_never_overwrites(tmp_path, capsys):
    patch = load_patch(groove_patch(tmp_path, page="rows = 1\ncols = 2"))
    out = tmp_path / "out"
    entries = render_grooves(patch, out)
    assert len(entries) == 2
    summary = json.loads((out / "grooves.json").read_text())
    assert summary["bpm"] == 120 and summary["counts"] == {"late_bars": 0, "dropped": 0, "not_ready": 0}
    clip = mido.MidiFile(str(out / "groove_r0_c1.mid"))
    notes = [m for m in clip.tracks[0] if m.type == "note_on"]
    assert len(notes) == 32 == entries[1]["hits"]  # one hit a step for two bars
    assert abs(mido.tempo2bpm(next(m.tempo for m in clip.tracks[0] if m.type == "set_tempo")) - 120) < 1e-6
    import soundfile

    audio, rate = soundfile.read(out / "groove_r0_c0.wav")
    assert rate == 48000 and 4.0 <= len(audio) / rate <= 4.2 and np.max(np.abs(audio)) > 0.05
    assert cli_main(["render-grooves", str(patch.path), "--out", str(out)]) != 0
    assert "already holds files" in capsys.readouterr().err
    assert cli_main(["render-grooves", str(patch.path), "--out", str(out), "--force"]) == 0


def test_a_score_naming_a_groove_pad_off_the_page_is_refused_before_it_plays(tmp_path):
    from liveengine.control.score import parse_score

    engine = Engine(load_patch(groove_patch(tmp_path)))
    try:
        with pytest.raises(LiveEngineError) as caught:
            parse_score("0.1 /groove 2 0\n0.2 /groove/kit kick 4 0\n0.3 /groove 1 1\n", "s.score", fits=engine.check_fits)
        text = str(caught.value)
        assert "s.score:1: groove pad (2, 0) is outside the 2x2 groove page" in text
        assert "s.score:2: /groove/kit kick = [4, 0] is off the 4x4 sound grid" in text and "s.score:3" not in text
    finally:
        engine.stop()


def test_the_shipped_model_fills_one_bar_and_returns_and_its_parameters_read_back(tmp_path):
    """The shipped grooves model (its index of training fills) on a testsynth grid, rendered offline."""
    path = tmp_path / "shipped.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[engine]\nmax_seconds = 0.05\nrender_in = "thread"\n'
                    '[groove]\nmodel = "grooves"\nbpm = 120\nrows = 2\ncols = 2\n')
    engine = Engine(load_patch(path))
    try:
        engine.wait_rendered(30)
        engine.start(OfflineBackend(48000, 128, 2))
        groove = engine.groove
        from liveengine.commands import make_command

        groove.pad(0, 0, 0, 0)
        engine.backend.run(48000, groove.feed)
        engine.submit(make_command("/param", ["fill", 1.0]))
        engine.submit(make_command("/param", ["swing", 0.25]))
        engine.submit(make_command("/param", ["mute_ride", 1.0]))
        engine.submit(make_command("/groove/kit", ["snare", 3, 3]))
        engine.backend.run(4 * 48000, groove.feed)
        fill_steps = sorted({e.step for e in groove.sequencer.events if e.label == ("fill",)})
        start = groove.sequencer.fill_start
        assert fill_steps and start % 16 == 0 and all(start <= s < start + 16 for s in fill_steps)  # one bar, from a bar line
        after = [e for e in groove.sequencer.events if e.step >= start + 16]
        assert after and all(e.label == ("pad", 0, 0) for e in after)  # the groove is back
        assert all(groove.voices[e.voice] != "ride" for e in after)
        assert (engine.param_value("swing"), engine.param_value("mute_ride"), engine.param_value("tempo")) == (0.25, 1.0, 120.0)
        assert groove._kit()["snare"] == (3, 3) and engine.status()["groove_late_bars"] == 0
        assert "2x2 plane page, 120 BPM, quantise bar; kit kick [0, 0], snare [3, 3]" in groove.describe()  # what `check` prints
    finally:
        engine.stop()


def test_a_library_of_midi_loops_skips_and_counts_files_without_drums(tmp_path):
    loops = tmp_path / "loops"
    loops.mkdir()
    for i in range(3):
        write_beat(loops / f"loop{i}.mid", [(t * 120, n) for t in range(0, 32, 1 + i) for n in (36, 38 + 4 * (t % 2))])
    write_beat(loops / "melody.mid", [(0, 60)])
    (loops / "notes.txt").write_text("not a loop")
    reports: list[str] = []
    engine = Engine(load_patch(groove_patch(tmp_path, extra='mapping = "library"\nlibrary = "loops"')), on_report=reports.append)
    try:
        assert engine.groove.page.labels == ("loop0.mid", "loop1.mid", "loop2.mid", "1 skipped")
        # said once where play and OSC /patch build the page, naming the file and why
        assert [r for r in reports if r.startswith("groove library: skipped 1 file: melody.mid")], reports
        assert engine.groove.page.points.shape == (4, 4) and np.all(np.isfinite(engine.groove.page.points))
    finally:
        engine.stop()


def test_liveengine_render_plays_a_groove_score(tmp_path):
    import soundfile

    from liveengine.cli import render_score_to_file

    score = tmp_path / "grooves.score"
    score.write_text("0.1 /groove 0 1\n1.0 /param swing 0.3\n2.0 /groove/stop\n")
    status = render_score_to_file(load_patch(groove_patch(tmp_path)), score, tmp_path / "take.wav", seconds=2.5)
    audio, rate = soundfile.read(tmp_path / "take.wav")
    assert status["rejected"] == 0
    beats = np.abs(audio[: int(2.0 * rate), 0]).reshape(-1, rate // 8).max(axis=1)  # 16ths at 120 BPM
    assert np.all(beats[1:] > 0.01)  # every sixteenth from the start to the stop holds a hit
    # Stopped: hits already queued when the stop came (0.1 s and a step ahead at most) still play, none after.
    assert np.max(np.abs(audio[int(2.3 * rate):, 0])) == 0.0


@pytest.mark.parametrize("line, allowed", [
    ('tempo_source = "ableton"', "one of 'patch', 'midi-clock'"),
    ('output = "speakers"', "one of 'internal'"),
    ("gate_ms = 0", "a note length from 1 to 2000 ms"),
    ("midi_channel = 17", "a MIDI channel from 1 to 16"),
])
def test_a_bad_sync_or_midi_out_key_is_one_clear_error(tmp_path, line, allowed):
    key = line.split(" = ")[0]
    with pytest.raises(LiveEngineError) as caught:
        load_patch(groove_patch(tmp_path, extra=line))
    assert f"[groove] {key}" in str(caught.value) and allowed in str(caught.value), str(caught.value)


def test_a_bad_midi_out_note_map_is_one_clear_error(tmp_path):
    path = groove_patch(tmp_path)
    path.write_text(path.read_text() + "\n[groove.notes]\nkick = 200\n")
    with pytest.raises(LiveEngineError, match=r"groove.*notes"):
        load_patch(path)


def test_a_patch_whose_groove_is_refused_leaves_no_render_process_of_its_own_behind(tmp_path, short_patch):
    """load_patch builds the new instrument (its render process, its pool leases) before the groove;
    a groove refused then (here: Ableton Link, an optional extra not installed) ends that instrument too."""
    import multiprocessing

    engine = Engine(load_patch(short_patch(extra_engine='render_in = "process"')))
    try:
        assert engine.wait_rendered(60)
        before = {p.pid for p in multiprocessing.active_children()}
        leased = set(engine.pool._leased)
        bad = tmp_path / "bad.toml"
        bad.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[engine]\nmax_seconds = 0.05\n'
                       '[groove]\nmodel = "grooves"\nbpm = 120\nrows = 2\ncols = 2\ntempo_source = "link"\n')
        assert not engine.load_patch(bad)
        assert engine.reports[-1].startswith("patch not loaded, still playing") and "link" in engine.reports[-1].lower()
        assert {p.pid for p in multiprocessing.active_children()} <= before, "the refused patch's render process was ended"
        assert engine.pool._leased == leased, "and its pool leases came back"
    finally:
        engine.stop()


@pytest.mark.parametrize("number, shown", [("nan", "nan"), ("-inf", "-inf"), ("1" + "0" * 400, "1" + "0" * 400)])
def test_a_groove_corner_that_is_not_a_finite_number_is_refused_at_load_naming_the_corner(tmp_path, number, shown):
    # As [grid] corners: once it reached the pattern model, and the page played nothing.
    path = groove_patch(tmp_path, extra=f'mapping = "corners"\ncorners = [[0, 0, 0, 0], [0, 0, 0, 0], [0.5, {number}, 0, 0], [0, 0, 0, 0]]')
    with pytest.raises(LiveEngineError) as caught:
        load_patch(path)
    assert str(caught.value) == (f"{path}: [groove] corners: corner 3 (top_left) number 2 is {shown}; allowed: a MIDI file path relative "
                                 "to the patch, or a latent point of finite numbers.")


def test_a_groove_corner_far_outside_the_model_s_latent_range_is_refused_naming_the_corner(tmp_path):
    near = [[0, 0, 0, 0], [1, -1, 0.5, 2], [0, 0, 0, 0], [0, 0, 9.5, 0]]
    listed = ", ".join(str(point) for point in near)
    engine = Engine(load_patch(groove_patch(tmp_path, extra=f'mapping = "corners"\ncorners = [{listed}]')))
    try:
        assert engine.groove.page.labels == ("point",) * 4  # finite points within the model's range play as given
    finally:
        engine.stop()
    far = groove_patch(tmp_path, extra=f'mapping = "corners"\ncorners = [{listed.replace("9.5", "1e6")}]')
    with pytest.raises(LiveEngineError, match=r"^groove\.toml: \[groove\] corners: corner 4 \(top_right\) number 3 is 1e\+06; allowed: "
                                              r"numbers within 10 of model beat's latent mean"):
        Engine(load_patch(far))


@pytest.mark.parametrize("page, message", [
    ('mapping = "corners"', "[groove] mapping 'corners' needs four anchors in [groove] corners (bottom_left, bottom_right, top_left, "
                            "top_right); groove.toml gives 0."),
    ('mapping = "library"', "[groove] mapping 'library' needs [groove] library = a folder of MIDI loops; groove.toml names none."),
])
def test_a_groove_mapping_the_patch_lacks_anchors_for_names_the_patch_file(tmp_path, page, message):
    with pytest.raises(LiveEngineError) as caught:
        Engine(load_patch(groove_patch(tmp_path, extra=page)))
    assert str(caught.value).startswith(message)


def write_tpb0(path):
    """A drum file whose header says 0 ticks per beat (a broken exporter's)."""
    midi = mido.MidiFile(ticks_per_beat=0)
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=36, velocity=100, channel=9, time=t) for t in (0, 120)]))
    midi.save(str(path))
    return path


def test_render_grooves_refuses_a_corner_with_0_ticks_per_beat_in_one_sentence(tmp_path, capsys):
    beats = [write_beat(tmp_path / f"b{i}.mid", [(t * 120, 36) for t in range(0, 32, 2)]) for i in range(3)] + [write_tpb0(tmp_path / "zero.mid")]
    corners = 'mapping = "corners"\ncorners = [' + ", ".join(f'"{b.name}"' for b in beats) + "]"
    patch = groove_patch(tmp_path, extra=corners)
    assert cli_main(["render-grooves", str(patch), "--out", str(tmp_path / "out")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["liveengine: groove MIDI file zero.mid has 0 ticks per beat; a groove needs a Standard MIDI File of type 0 or 1, "
                     "timed in ticks per beat, 1 or more. Export it again from your DAW as a MIDI file timed in beats."]
    assert not (tmp_path / "out" / "grooves.json").exists()


def test_render_grooves_names_every_skipped_library_file_and_why(tmp_path, capsys):
    loops = tmp_path / "loops"
    loops.mkdir()
    for i in range(2):
        write_beat(loops / f"loop{i}.mid", [(t * 120, n) for t in range(0, 32, 1 + i) for n in (36, 38 + 4 * (t % 2))])
    (loops / "empty.mid").write_bytes(b"")
    (loops / "cut.mid").write_bytes((loops / "loop0.mid").read_bytes()[:30])
    (loops / "song.mid").write_bytes(b"ID3\x03\x00 an mp3, not MIDI")
    write_tpb0(loops / "zero.mid")
    patch = groove_patch(tmp_path, extra='mapping = "library"\nlibrary = "loops"', page="rows = 1\ncols = 2")
    out = tmp_path / "out"
    assert cli_main(["render-grooves", str(patch), "--out", str(out)]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if "groove library" in line]
    assert len(said) == 1 and said[0].startswith("groove library: skipped 4 files: cut.mid is not a Standard MIDI File ("), said
    for name in ("empty.mid is not a Standard MIDI File (", "song.mid is not a Standard MIDI File (",
                 "zero.mid has 0 ticks per beat; a groove needs a Standard MIDI File of type 0 or 1"):
        assert name in said[0]
    skipped = json.loads((out / "grooves.json").read_text())["skipped_library_files"]
    assert sorted(skipped) == ["cut.mid", "empty.mid", "song.mid", "zero.mid"]
    assert skipped["zero.mid"] == "has 0 ticks per beat; a groove needs a Standard MIDI File of type 0 or 1, timed in ticks per beat, 1 or more"


def test_a_library_too_small_to_lay_out_names_the_files_it_skipped(tmp_path):
    loops = tmp_path / "loops"
    loops.mkdir()
    write_beat(loops / "loop0.mid", [(t * 120, 36) for t in range(0, 32, 2)])
    (loops / "empty.mid").write_bytes(b"")
    with pytest.raises(LiveEngineError, match=r"1 MIDI file\(s\) with drums \(1 skipped: empty.mid is not a Standard MIDI File \(EOFError"):
        Engine(load_patch(groove_patch(tmp_path, extra='mapping = "library"\nlibrary = "loops"')))
