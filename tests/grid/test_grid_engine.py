"""The grid through the engine, checked on rendered audio: mappings, live switches, variance, on-demand hits, mixes.

Offline backend (fake clock): every render is real, every buffer is what the
engine would play. Distances are between log-magnitude spectra of the buffers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from liveengine.commands import make_command
from liveengine.errors import LiveEngineError
from liveengine.render.buffers import prepare_oneshot
from liveengine.testing.models import build_audio_decoder, build_classifier, build_encoder, contract_metadata


def spectrum(samples: np.ndarray, n: int = 2048) -> np.ndarray:
    frame = np.zeros(n, np.float32)
    frame[: min(n, len(samples))] = samples[:n]
    return np.log(np.abs(np.fft.rfft(frame * np.hanning(n))) + 1e-4)


def distance(a, b) -> float:
    return float(np.mean(np.abs(spectrum(a.samples) - spectrum(b.samples))))


def write_patch(path: Path, grid: str = "", model: str = "builtin:testsynth", engine: str = "", rows: int = 8, render_in: str = "thread") -> Path:
    path.write_text(f'[model]\ndecoder = "{model}"\n[grid]\nrows = {rows}\ncols = {rows}\n{grid}\n'
                    '[audio]\nsamplerate = 48000\nblocksize = 128\n'
                    f'[engine]\nmax_seconds = 0.3\nmaster_gain = 1.0\nvelocity_curve = 1.0\nrender_in = "{render_in}"\n{engine}\n')
    return path


def pads(engine):
    cache = engine.instrument.cache
    return [cache.get(p) for p in range(cache.pads)]


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_neighbouring_pads_sound_more_alike_than_distant_ones(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    buffers = pads(engine)
    rows = cols = 8
    near = [distance(buffers[r * cols + c], buffers[r * cols + c + 1]) for r in range(rows) for c in range(cols - 1)]
    near += [distance(buffers[r * cols + c], buffers[(r + 1) * cols + c]) for r in range(rows - 1) for c in range(cols)]
    far = [distance(buffers[r * cols + c], buffers[(rows - 1 - r) * cols + (cols - 1 - c)]) for r in range(rows) for c in range(cols)
           if abs(2 * r - rows + 1) + abs(2 * c - cols + 1) >= 8]
    assert np.mean(near) < 0.6 * np.mean(far), (np.mean(near), np.mean(far))


def test_rotation_by_a_quarter_turn_moves_each_sound_to_the_rotated_pad(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    before = pads(engine)
    engine.submit(make_command("/param", ["rotation", 90.0]))
    assert engine.wait_rendered(timeout=60)
    after = pads(engine)
    n = 8
    for row, col in [(0, 0), (2, 5), (7, 3), (4, 4)]:
        rotated = after[row * n + col]
        same = before[col * n + (n - 1 - row)]  # the pad whose point turned onto (row, col)
        other = before[row * n + col]
        assert distance(rotated, same) < 0.05 < distance(rotated, other), (row, col)


def test_zoom_in_narrows_the_spread_of_sounds_and_centre_moves_it(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))

    def spread(buffers):
        corners = [buffers[i] for i in (0, 7, 56, 63)]
        return np.mean([distance(a, b) for i, a in enumerate(corners) for b in corners[i + 1:]])

    wide = spread(pads(engine))
    engine.submit(make_command("/param", ["zoom", 4.0]))
    assert engine.wait_rendered(timeout=60)
    narrow = pads(engine)
    assert spread(narrow) < 0.5 * wide
    # Centre (1, 0) at zoom 4: the middle of the grid now sounds like the old pad three quarters to the right.
    engine.submit(make_command("/param", ["center_x", 1.5]))
    assert engine.wait_rendered(timeout=60)
    np.testing.assert_allclose(engine.instrument.pad_points[:, 0].mean(), 1.5, atol=1e-5)


def _encoder_model(tmp_path: Path, classes=("kick", "snare", "hat_closed")) -> str:
    folder = tmp_path / "enc"
    build_audio_decoder(folder, latent_dim=8, output_length=8820, metadata=contract_metadata(8, 44100, 8820, classes=list(classes)))
    build_encoder(folder, 8, 8820)
    build_classifier(folder, 8, len(classes))
    return "enc"


def test_corners_given_as_points_play_exactly_their_anchor_sounds(engines, tmp_path):
    rng = np.random.default_rng(1)
    anchors = rng.standard_normal((4, 8)).round(3)
    listed = ", ".join("[" + ", ".join(map(str, a)) + "]" for a in anchors)
    engine, _ = engines(write_patch(tmp_path / "p.toml", f'mapping = "corners"\ncorners = [{listed}]', rows=4))
    decoder = engine.instrument.decoder
    out = np.zeros((4, decoder.output_length), np.float32)
    decoder.decode_into(anchors.astype(np.float32), out)
    for (row, col), audio in zip([(0, 0), (0, 3), (3, 0), (3, 3)], out):
        expected = prepare_oneshot(audio, decoder.sample_rate, 48000, max_seconds=0.3)
        np.testing.assert_allclose(engine.instrument.cache.get(row * 4 + col).samples, expected.samples, atol=1e-4)


def test_corners_given_as_audio_files_are_encoded_and_the_grid_morphs_between_them(engines, tmp_path):
    import soundfile

    model = _encoder_model(tmp_path)
    t = np.arange(22050) / 22050.0  # a different rate from the model's: read_audio resamples
    files = {"low.wav": np.sin(2 * np.pi * 60 * t) * np.exp(-t * 8), "high.wav": np.random.default_rng(0).standard_normal(len(t)) * np.exp(-t * 40),
             "mid.wav": np.sin(2 * np.pi * 400 * t) * np.exp(-t * 20), "click.wav": (t < 0.002).astype(float)}
    for name, audio in files.items():
        soundfile.write(tmp_path / name, audio.astype(np.float32), 22050)
    patch = write_patch(tmp_path / "p.toml", 'mapping = "corners"\ncorners = ["low.wav", "high.wav", "mid.wav", "click.wav"]', model=model, rows=4)
    engine, _ = engines(patch)
    decoder = engine.instrument.decoder
    from liveengine.audio_files import read_audio

    encoded = decoder.encode(np.stack([np.resize(np.pad(read_audio(tmp_path / n, 44100), (0, 8820))[:8820], 8820) for n in files]))
    np.testing.assert_allclose(engine.instrument.pad_points[[0, 3, 12, 15]], encoded, atol=1e-4)
    buffers = pads(engine)
    assert distance(buffers[0], buffers[1]) < distance(buffers[0], buffers[3])  # along the bottom edge, step by step


def test_mapping_switches_live_and_a_mapping_the_patch_cannot_build_leaves_the_old_one(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml", rows=4))
    before = pads(engine)
    with pytest.raises(LiveEngineError, match="four anchors"):
        engine.submit(make_command("/mapping", ["corners"]))
    with pytest.raises(LiveEngineError, match="2-D latent space"):
        engine.submit(make_command("/mapping", ["direct"]))
    assert engine.instrument.setting.mapping == "plane" and pads(engine) == before


def test_library_mapping_fits_a_map_over_the_users_samples(engines, tmp_path):
    import soundfile

    model = _encoder_model(tmp_path)
    library = tmp_path / "samples"
    (library / "sub").mkdir(parents=True)
    rng = np.random.default_rng(2)
    t = np.arange(44100 // 4) / 44100
    for i in range(12):
        audio = np.sin(2 * np.pi * (50 + 80 * i) * t) * np.exp(-t * (5 + 4 * i)) + rng.standard_normal(len(t)) * 0.02 * i
        soundfile.write(library / ("sub" if i % 2 else "") / f"s{i}.wav", audio.astype(np.float32), 44100)
    (library / "notes.txt").write_text("not audio")
    (library / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    engine, _ = engines(write_patch(tmp_path / "p.toml", 'mapping = "library"\nlibrary = "samples"', model=model, rows=4))
    mapping = engine.instrument.mapping
    assert mapping.name == "library" and mapping.nodes.shape == (4, 4, 8)
    named = {name for name, _ in mapping.nearest}
    assert named <= {f"s{i}.wav" for i in range(0, 12, 2)} | {f"sub/s{i}.wav" for i in range(1, 12, 2)} and len(named) >= 3
    assert engine.wait_rendered(timeout=60) and all(b is not None for b in pads(engine))


@pytest.mark.parametrize("grid, message", [
    ('mapping = "library"\nlibrary = "nowhere"', "does not exist"),
    ('mapping = "library"\nlibrary = "empty"', "no audio files"),
    ('mapping = "library"', "needs \\[grid\\] library"),
    ('mapping = "corners"\ncorners = ["missing.wav", "a.wav", "b.wav", "c.wav"]', "missing.wav"),
    ('mapping = "corners"\ncorners = [[1, 2], [1, 2], [1, 2], [1, 2]]', "2 numbers; this model's latent points have 8"),
    ('mapping = "corners"\ncorners = ["garbage.wav", "a.wav", "b.wav", "c.wav"]', "garbage.wav"),
    ('mapping = "library"\nlibrary = "only-garbage"', "only-garbage"),
])
def test_bad_mapping_input_is_one_clear_error(tmp_path, grid, message):
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    (tmp_path / "empty").mkdir()
    (tmp_path / "only-garbage").mkdir()
    (tmp_path / "only-garbage" / "x.wav").write_bytes(b"RIFF\x00\x00not a wave file at all")
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x00\x00not a wave file at all")
    model = _encoder_model(tmp_path)
    with pytest.raises(LiveEngineError, match=message):
        Engine(load_patch(write_patch(tmp_path / "p.toml", grid, model=model)))


@pytest.mark.parametrize("far, shown", [("1e308", "1e+308"), ("1e6", "1e+06"), ("21.5", "21.5"), ("-19.5", "-19.5")])
def test_a_corner_far_outside_the_model_s_latent_range_is_refused_naming_the_corner(tmp_path, far, shown):
    """Allowed: 10 times the model's largest latent spread (here 2) from its latent mean (here 1); once, 1e308 overflowed
    into numpy warnings and the model was refused for the silence, and 1e6 made the whole grid one sound."""
    import warnings

    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    build_audio_decoder(tmp_path / "wide", latent_dim=8, output_length=4410,
                        metadata=contract_metadata(8, 44100, 4410, **{"latent.mean": [1.0] * 8, "latent.spreads": [0.5, 2.0]}))
    corners = f'mapping = "corners"\ncorners = [[0, 0, 0, 0, 0, 0, 0, 0], [20.5, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, -18.5], [1, 1, {far}, 1, 1, 1, 1, 1]]'
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way
        with pytest.raises(LiveEngineError) as error:
            Engine(load_patch(write_patch(tmp_path / "p.toml", corners, model="wide", rows=4)))
    assert str(error.value) == (f"p.toml: [grid] corners: corner 4 (top_right) number 3 is {shown}; allowed: numbers within 20 of model wide's "
                                "latent mean (1 there), 10 times its largest latent spread (2). "
                                "Use a point near the model's own (such as one a pad plays), or an audio file.")


def test_corners_inside_the_model_s_latent_range_are_kept_as_given(engines, tmp_path):
    build_audio_decoder(tmp_path / "wide", latent_dim=8, output_length=4410,
                        metadata=contract_metadata(8, 44100, 4410, **{"latent.mean": [1.0] * 8, "latent.spreads": [0.5, 2.0]}))
    anchors = [[0] * 8, [20.5] + [1] * 7, [1] * 7 + [-18.5], [1, 1, 20.9, 1, 1, 1, 1, 1]]  # each number within 20 of 1
    listed = ", ".join("[" + ", ".join(map(str, a)) + "]" for a in anchors)
    engine, _ = engines(write_patch(tmp_path / "p.toml", f'mapping = "corners"\ncorners = [{listed}]', model="wide", rows=4))
    np.testing.assert_allclose(engine.instrument.pad_points[[0, 3, 12, 15]], anchors, atol=1e-5)


def test_direct_mapping_plays_a_two_dimensional_latent_space_as_the_plane(engines, tmp_path):
    build_audio_decoder(tmp_path / "two", latent_dim=2, output_length=4410, metadata=contract_metadata(2, 44100, 4410))
    engine, _ = engines(write_patch(tmp_path / "p.toml", 'mapping = "direct"\nzoom = 2.0', model="two", rows=4))
    setting = engine.instrument.setting
    np.testing.assert_allclose(engine.instrument.pad_points, setting.view(setting.pad_uv()), atol=1e-6)
    np.testing.assert_allclose(engine.instrument.pad_points[[0, 15]], [[-1, -1], [1, 1]], atol=1e-6)
    assert distance(pads(engine)[0], pads(engine)[1]) < distance(pads(engine)[0], pads(engine)[15])


@pytest.mark.parametrize("rows", [3, 17])
def test_a_grid_size_out_of_range_is_one_clear_error(tmp_path, rows):
    from liveengine.patch import load_patch

    with pytest.raises(LiveEngineError, match=f"rows.*{rows}.*4 to 16"):
        load_patch(write_patch(tmp_path / "p.toml", rows=rows))


def test_corners_from_files_need_an_encoder(tmp_path):
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    with pytest.raises(LiveEngineError, match="corners bottom_left = 'a.wav' needs a model with an encoder.*model testsynth has no encoder.onnx"):
        Engine(load_patch(write_patch(tmp_path / "p.toml", 'mapping = "corners"\ncorners = ["a.wav", "b.wav", "c.wav", "d.wav"]')))
    # The library mapping says the same before it looks at the folder (which does not exist here).
    with pytest.raises(LiveEngineError, match="mapping 'library' needs a model with an encoder.*model testsynth has no encoder.onnx"):
        Engine(load_patch(write_patch(tmp_path / "q.toml", 'mapping = "library"\nlibrary = "no-such-folder"')))


@pytest.mark.parametrize("render_in", ["thread", "process"])
def test_variance_plays_a_new_seeded_variation_each_hit_and_the_same_seed_replays_them(engines, tmp_path, render_in):
    patch = write_patch(tmp_path / "p.toml", "variance = 0.6\nseed = 42", render_in=render_in)

    def hits(engine, backend, count=4):
        heard = []
        for _ in range(count):
            wait_for(lambda: engine.instrument.cache.ready(engine.instrument.cache.pads + 9) is not None, "the next variation")
            assert engine.submit(make_command("/pad", [1, 1, 0.8]))
            backend.run(256)
            heard.append(engine.last_heard)
            sounds.append(engine.last_sound.samples)
        return heard

    sounds = []

    engine, backend = engines(patch)
    first = hits(engine, backend)
    assert [h.kind for h in first] == ["variation"] * 4
    points = np.stack([h.point for h in first])
    assert len({p.tobytes() for p in points}) == 4  # each hit differs
    base = engine.instrument.pad_points[9]
    assert 0.1 < np.linalg.norm(points - base, axis=1).mean() / np.sqrt(8) < 1.5
    assert engine.instrument.variation_counts[9] == 4

    again, backend2 = engines(patch)
    replay = hits(again, backend2)
    for a, b in zip(first, replay):
        np.testing.assert_array_equal(a.point, b.point)
    for a, b in zip(sounds[:4], sounds[4:]):
        np.testing.assert_array_equal(a, b)


def test_a_hit_before_the_next_variation_is_ready_plays_the_pad_and_is_counted(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml", "variance = 0.5"))
    engine.offline = False  # the live rule, on the fake clock (offline renders wait instead: tests/test_offline_exact.py)
    wait_for(lambda: engine.instrument.cache.ready(engine.instrument.cache.pads + 3) is not None, "variations")
    engine.instrument.workers.render_more = lambda points, slots: None  # hold the next variation back (no re-render)
    assert engine.submit(make_command("/pad", [0, 3]))
    assert engine.submit(make_command("/pad", [0, 3]))
    assert [h.kind for h in list(engine.hits)[-2:]] == ["variation", "pad"]
    assert engine.variation_misses == 1 and engine.status()["variation_misses"] == 1


def test_xy_between_pads_renders_the_exact_point_on_demand(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.instrument.on_demand.deadline = 10.0  # render times vary on a shared machine; the deadline rule has its own test
    setting = engine.instrument.setting
    assert engine.submit(make_command("/xy", [0.5, 0.5, 1.0]))  # the centre: between four pads
    wait_for(lambda: engine.last_heard is not None and engine.last_heard.kind == "exact", "the on-demand render")
    expected = engine.instrument.mapping.to_latent(setting.view(np.array([0.5, 0.5])))
    np.testing.assert_allclose(engine.last_heard.point, expected, atol=1e-6)
    out = backend.render(48000 // 4)[:, 0]
    buffer = engine.last_sound
    assert np.max(np.abs(out)) > 0.1
    start = int(np.flatnonzero(np.abs(out) > 1e-3)[0])
    np.testing.assert_allclose(out[start : start + 500], buffer.samples[buffer.onset : buffer.onset + 500] * 1.0, atol=2e-3)
    assert all(distance(buffer, b) > 1e-3 for b in pads(engine))  # not any pad's sound
    assert engine.on_demand_misses == 0


def test_a_hit_that_would_miss_the_deadline_plays_the_nearest_pad_now_and_the_exact_sound_next_time(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.offline = False  # the live rule, on the fake clock (offline renders wait instead: tests/test_offline_exact.py)
    engine.instrument.on_demand.deadline = 0.0  # every prediction now misses
    assert engine.submit(make_command("/xy", [0.3, 0.9]))
    nearest = engine.instrument.setting.pad_index(round(0.9 * 7), round(0.3 * 7))
    assert engine.last_heard.kind == "fallback" and engine.last_heard.pad == nearest
    np.testing.assert_array_equal(engine.last_sound.samples, engine.instrument.cache.get(nearest).samples)  # a copy: the slot is reused later
    assert engine.on_demand_misses == 1
    wait_for(lambda: engine.instrument.on_demand.rendered >= 1, "the exact render for next time")
    assert engine.submit(make_command("/xy", [0.3, 0.9]))
    assert engine.last_heard.kind == "exact" and engine.on_demand_misses == 1


def test_latent_and_mix_hits_play_the_points_they_name(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.instrument.on_demand.deadline = 10.0  # render times vary on a shared machine; the deadline rule has its own test
    points = engine.instrument.pad_points
    engine.submit(make_command("/mix", [1.0, 0, 0, 1.0, 7, 7, -1.0, 0, 7, 0.9]))
    wait_for(lambda: engine.last_heard is not None and engine.last_heard.kind == "exact", "the mix")
    np.testing.assert_allclose(engine.last_heard.point, points[0] + points[63] - points[7], atol=1e-5)
    z = [0.1, -0.2, 0.3, 0.0, 0.5, -0.5, 0.25, 1.0]
    engine.submit(make_command("/latent", z + [0.5]))
    wait_for(lambda: engine.last_heard.point is not None and np.allclose(engine.last_heard.point, z), "the latent hit")
    with pytest.raises(LiveEngineError, match="latent points have 8"):
        engine.submit(make_command("/latent", [0.1, 0.2, 0.3]))
    with pytest.raises(LiveEngineError, match="outside the 8x8 grid"):
        engine.submit(make_command("/mix", [1.0, 9, 0]))


def test_pad_descriptions_and_colours_come_from_the_rendered_sound_and_the_classifier(engines, tmp_path):
    model = _encoder_model(tmp_path)
    engine, _ = engines(write_patch(tmp_path / "p.toml", model=model, rows=4))
    descriptions = engine.pad_descriptions()
    assert len(descriptions) == 16 and all(d is not None for d in descriptions)
    decoder = engine.instrument.decoder
    probabilities = decoder.classify(engine.instrument.pad_points)
    for pad, d in enumerate(descriptions):
        assert d.drum_class == decoder.classes[int(np.argmax(probabilities[pad]))]
        assert d.probability == pytest.approx(float(probabilities[pad].max()), rel=1e-5)
        assert -80 < d.loudness_db < 0 and 0.0 <= d.brightness <= 1.0
        assert all(0 <= c <= 255 for c in d.color)
    # Same class, same hue family: the colour follows the class, not the pad.
    by_class = {}
    for d in descriptions:
        by_class.setdefault(d.drum_class, set()).add(np.argmax(d.color))
    assert all(len(channels) == 1 for channels in by_class.values())


def test_testsynth_descriptions_order_brightness_across_the_plane(engines, tmp_path):
    engine, _ = engines(write_patch(tmp_path / "p.toml"))
    d = engine.pad_descriptions()
    assert all(x.drum_class is None for x in d)
    assert len({round(x.brightness, 3) for x in d}) > 16  # the plane spans dark to bright sounds
    assert engine.render_progress() == (64, 64) and engine.grid_shape() == (8, 8)
    engine.submit(make_command("/pad", [2, 2]))
    engine.backend.run(256)
    assert engine.playing_pads() == frozenset({18})


def test_velocity_expression_moves_harder_hits_along_the_plane_and_repeats_exactly(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml", 'velocity_moves = 1.0\nvelocity_direction = "right"\nvelocity_layers = 5'))
    setting = engine.instrument.setting
    engine.instrument.on_demand.deadline = 10.0  # this test is about where hits land, not about deadlines
    pad = setting.pad_index(3, 3)
    heard, sound = {}, {}
    assert engine.submit(make_command("/pad", [3, 3, 0.5]))
    heard[0.5], sound[0.5] = engine.last_heard, engine.last_sound
    assert heard[0.5].kind == "pad" and np.array_equal(sound[0.5].samples, engine.instrument.cache.get(pad).samples)
    for velocity in (1.0, 0.0):
        engine.last_heard = None
        assert engine.submit(make_command("/pad", [3, 3, velocity]))
        wait_for(lambda: engine.last_heard is not None and engine.last_heard.kind == "exact", "the expressed hit")
        heard[velocity], sound[velocity] = engine.last_heard, engine.last_sound
    base = engine.instrument.pad_points[pad]
    np.testing.assert_allclose(heard[0.5].point, base, atol=1e-6)  # the middle velocity is the pad itself
    # Full velocity lands 1.0 to the right on the view plane (x runs along the first axis), zero velocity 1.0 to the left.
    np.testing.assert_allclose(heard[1.0].point - base, [1.0, 0, 0, 0, 0, 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(heard[0.0].point - base, [-1.0, 0, 0, 0, 0, 0, 0, 0], atol=1e-5)
    assert distance(sound[1.0], sound[0.5]) > 0.01
    # Velocities in the same layer share one render: the repeat comes from the exact-point cache, at once.
    rendered = engine.instrument.on_demand.rendered
    assert engine.submit(make_command("/pad", [3, 3, 0.97]))
    assert engine.last_heard.kind == "exact" and engine.last_sound.samples is sound[1.0].samples
    assert engine.instrument.on_demand.rendered == rendered


def test_a_hit_on_a_pad_not_rendered_yet_renders_it_or_plays_the_nearest_ready_pad(engines, tmp_path):
    engine, backend = engines(write_patch(tmp_path / "p.toml"))
    engine.offline = False  # the live rule, on the fake clock (offline renders wait instead: tests/test_offline_exact.py)
    cache, setting = engine.instrument.cache, engine.instrument.setting
    pad = setting.pad_index(7, 7)
    cache.buffers[pad] = None  # as just after loading, before the renderer got there
    engine.instrument.on_demand.deadline = 10.0
    assert engine.submit(make_command("/pad", [7, 7]))
    wait_for(lambda: engine.last_heard is not None and engine.last_heard.kind == "exact", "the on-demand render")
    np.testing.assert_array_equal(engine.last_heard.point, engine.instrument.pad_points[pad])
    engine.instrument.on_demand.deadline = 0.0  # now it cannot make it: the nearest ready pad plays at once
    cache.buffers[setting.pad_index(6, 6)] = None
    assert engine.submit(make_command("/pad", [6, 6]))
    assert engine.last_heard.kind == "fallback" and engine.last_heard.pad in {setting.pad_index(5, 6), setting.pad_index(6, 5), setting.pad_index(6, 7), setting.pad_index(7, 6)}
    assert engine.not_ready == 0 and engine.on_demand_misses == 1


def test_corner_files_are_fitted_in_the_background_and_the_live_switch_plays_the_fitted_points(engines, tmp_path):
    """The shipped drum model fits corner files (decoder_grad.onnx): built on a thread after the load, so the switch finds
    the mapping ready; its corner pads are the fitted points, which decode nearer the files than the encoder's means."""
    import soundfile

    from liveengine.decoders.fit import SpectralDistance
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    drums = OnnxDecoder(Path(__file__).resolve().parents[2] / "models_onnx" / "drums")
    # Four sounds unlike the model's own: its decodes at four points, each through a short comb (a room-like colour).
    rng = np.random.default_rng(5)
    sounds = np.zeros((4, drums.output_length), np.float32)
    drums.decode_into((np.asarray(drums.info.latent_mean) + rng.normal(0, 1.5, (4, drums.latent_dim))).astype(np.float32), sounds)
    delay = 331
    sounds[:, delay:] += 0.6 * sounds[:, :-delay]
    names = []
    for i, sound in enumerate(sounds):
        names.append(f"c{i}.wav")
        soundfile.write(tmp_path / names[-1], sound / np.max(np.abs(sound)), drums.sample_rate, subtype="FLOAT")
    listed = ", ".join(f'"{n}"' for n in names)
    engine, _ = engines(write_patch(tmp_path / "p.toml", f"corners = [{listed}]", model="drums", rows=4))
    instrument = engine.instrument
    wait_for(lambda: "corners" in instrument.mappings, "the corners mapping built in the background", timeout=120)
    engine.set_mapping("corners")
    wait_for(lambda: instrument.setting.mapping == "corners" and instrument.pad_points is not None, "the switch")
    corners = instrument.pad_points[[0, 3, 12, 15]]
    from liveengine.grid.anchors import place_files

    fitted = place_files(drums, [tmp_path / n for n in names])
    np.testing.assert_allclose(corners, fitted, atol=1e-4)
    from liveengine.library.index import query_sound, sound_batch

    targets = sound_batch(drums, [query_sound(tmp_path / n, drums)[1] for n in names])
    decoded = {k: np.zeros_like(targets) for k in ("fitted", "encoded")}
    drums.decode_into(fitted.astype(np.float32), decoded["fitted"])
    drums.decode_into(drums.encode(targets), decoded["encoded"])
    distance_of = SpectralDistance(targets)
    fitted_distance, encoded_distance = (distance_of.value_and_grad(decoded[k], grad=False)[0] for k in ("fitted", "encoded"))
    assert np.all(fitted_distance <= encoded_distance + 1e-6) and np.mean(fitted_distance) < 0.97 * np.mean(encoded_distance)


@pytest.mark.parametrize("grid, message", [
    ('mapping = "corners"\ncorners = []', "mapping 'corners' needs four anchors in [grid] corners (bottom_left, bottom_right, top_left, "
                                          "top_right); mine.toml gives 0."),
    ('mapping = "library"', "mapping 'library' needs [grid] library = a folder of your samples; mine.toml names none."),
])
def test_a_mapping_the_patch_lacks_anchors_for_names_the_patch_file(tmp_path, capsys, grid, message):
    from liveengine.cli import main

    assert main(["check", str(write_patch(tmp_path / "mine.toml", grid))]) == 1
    assert capsys.readouterr().err.startswith(f"liveengine: {message}")
