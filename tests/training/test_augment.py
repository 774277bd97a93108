"""The kit-like augmentation (liveengine/training/augment.py): each effect does what its docstring says.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liveengine.training import augment  # noqa: E402

SR = 44100
N = SR


def _burst(count: int = 4) -> torch.Tensor:
    """Short noise bursts (20 ms decay) followed by digital silence: a room or a noise floor shows in the silence."""
    rng = np.random.default_rng(3)
    t = np.arange(N) / SR
    x = rng.standard_normal((count, N)) * np.exp(-t / 0.02)
    x[:, int(0.06 * SR):] = 0.0
    return torch.from_numpy((x / np.abs(x).max(1, keepdims=True)).astype(np.float32))


def _only(monkeypatch, effect: str) -> None:
    for name in ("P_EQ", "P_ROOM", "P_DRIVE", "P_NOISE", "P_DECAY"):
        monkeypatch.setattr(augment, name, 1.0 if name == effect else 0.0)


def _db(x: torch.Tensor) -> float:
    return float(10 * torch.log10(torch.mean(x ** 2) + 1e-20))


def test_a_batch_comes_back_the_same_shape_finite_and_peak_normalised_and_a_seed_repeats_it():
    x = _burst(8)
    y = augment.kit_like(x, np.random.default_rng(0))
    assert y.shape == x.shape and bool(torch.isfinite(y).all())
    assert torch.allclose(y.abs().amax(1), torch.ones(8), atol=1e-5)
    assert torch.equal(y, augment.kit_like(x, np.random.default_rng(0)))
    assert not torch.equal(y, augment.kit_like(x, np.random.default_rng(1)))


def test_nothing_drawn_leaves_the_sound_as_it_was(monkeypatch):
    _only(monkeypatch, "none")
    x = _burst()
    assert torch.allclose(augment.kit_like(x, np.random.default_rng(0)), x, atol=1e-5)


def test_a_room_fills_the_silence_after_the_sound_with_a_decaying_tail(monkeypatch):
    _only(monkeypatch, "P_ROOM")
    y = augment.kit_like(_burst(), np.random.default_rng(0))
    for row in y:
        early, late = row[int(0.06 * SR):int(0.11 * SR)], row[int(0.6 * SR):]  # just after the burst, and 0.5 s later
        assert _db(early) > -60.0  # the tail is there (the dry sound is silent here)
        assert _db(late) < _db(early) - 20.0  # and it decays (RT60 at most 0.6 s: 60 dB in 0.6 s)


def test_eq_changes_the_spectrum_within_its_stated_bounds(monkeypatch):
    _only(monkeypatch, "P_EQ")
    x = _burst()
    y = augment.kit_like(x, np.random.default_rng(0))
    sx, sy = torch.fft.rfft(x).abs(), torch.fft.rfft(y).abs()
    f = torch.fft.rfftfreq(N, 1 / SR)
    band = (f > 50) & (f < 16000)
    for a, b in zip(sx, sy):
        ratio_db = 20 * torch.log10(b[band] / a[band])
        ratio_db -= ratio_db.median()  # the peak normalisation moves every bin alike
        assert float(ratio_db.abs().max()) > 1.0  # something changed
        # at most a 4 dB/octave tilt over the 8.3 octaves from 50 Hz to 16 kHz plus a 9 dB bell, either way
        assert float(ratio_db.max() - ratio_db.min()) < 4 * 8.4 + 2 * 9 + 1


def test_drive_lowers_the_crest_factor_and_keeps_the_peak(monkeypatch):
    _only(monkeypatch, "P_DRIVE")
    x = _burst()
    y = augment.kit_like(x, np.random.default_rng(0))
    crest = lambda s: s.abs().amax(1) / s.pow(2).mean(1).sqrt()  # noqa: E731
    assert bool((crest(y) < crest(x) * 0.95).all())


def test_a_noise_floor_lies_45_to_70_db_below_the_peak(monkeypatch):
    _only(monkeypatch, "P_NOISE")
    y = augment.kit_like(_burst(8), np.random.default_rng(0))
    for row in y:
        assert -70.5 < _db(row[SR // 2:]) < -44.5


def test_decay_changes_the_envelope_by_exp_kt_with_k_in_its_range(monkeypatch):
    _only(monkeypatch, "P_DECAY")
    t = torch.arange(N) / SR
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((8, N)).astype(np.float32)).clamp(-3, 3) / 3
    y = augment.kit_like(x, np.random.default_rng(0))
    for a, b in zip(x, y):
        ratio = (b / torch.where(a.abs() > 0.05, a, torch.ones_like(a)))[a.abs() > 0.05]
        k = np.polyfit(t[a.abs() > 0.05].numpy(), np.log(np.abs(ratio.numpy())), 1)[0]
        assert -8.1 < k < 3.1


def test_anything_but_a_batch_of_sounds_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match=r"batch of sounds \[batch, samples\]; got a tensor of shape \(44100,\)"):
        augment.kit_like(torch.zeros(N), np.random.default_rng(0))


def _onsets(x: np.ndarray, threshold: float = 0.3) -> list[int]:
    """Sample indices where the envelope (5-sample peak) first rises above `threshold` after falling under a tenth of it."""
    envelope = np.abs(x)
    found, armed = [], True
    for i, value in enumerate(envelope):
        if armed and value >= threshold:
            found.append(i)
            armed = False
        elif value < threshold / 10:
            armed = True
    return found


def test_a_layered_clap_is_two_to_six_slaps_within_35_ms_and_peaks_at_one():
    click = np.zeros((1, N), np.float32)
    click[0, 100:110] = 1.0  # one 10-sample slap, then silence: each copy shows as its own onset
    counts = []
    for seed in range(40):
        y = augment.layered(torch.from_numpy(click), np.random.default_rng(seed)).numpy()[0]
        assert abs(np.abs(y).max() - 1.0) < 1e-6
        onsets = _onsets(y, threshold=0.05)
        assert 90 <= onsets[0] <= 112  # the first copy starts at 0: its slap moves only by the resampling (100 / 1.1 to 100 / 0.9)
        assert onsets[-1] - onsets[0] <= int(0.035 * SR) + 12
        assert not np.any(y[int(0.036 * SR) + 130:])  # nothing after the last copy's end
        counts.append(len(onsets))
    assert min(counts) >= 1 and max(counts) <= 6 and len(set(counts)) >= 3  # copies that land together merge; the count varies


def test_layering_is_reproducible_keeps_the_shape_and_refuses_a_single_row():
    x = _burst(3)
    y = augment.layered(x, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.equal(y, augment.layered(x, np.random.default_rng(0)))
    assert not torch.equal(y, x)
    with pytest.raises(ValueError, match=r"layered takes a batch of sounds \[batch, samples\]"):
        augment.layered(x[0], np.random.default_rng(0))
    for seed in range(20):  # shorter than the copies' 35 ms spread: each copy keeps what fits, or is left out
        short = augment.layered(x[:, :1000], np.random.default_rng(seed))
        assert short.shape == (3, 1000) and torch.isfinite(short).all()


def _pitch(row: np.ndarray) -> float:
    """The strongest frequency of the first 0.2 s, refined by a parabola through the peak's bins."""
    spectrum = np.abs(np.fft.rfft(row[:8820] * np.hanning(8820), 1 << 16))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / (1 << 16)


def test_retuning_moves_each_chosen_sounds_pitch_within_the_range_and_fades_a_lower_one(monkeypatch):
    monkeypatch.setattr(augment, "RETUNE_CHANCE", 1.0)
    t = np.arange(N) / SR
    x = torch.from_numpy(np.tile(np.sin(2 * np.pi * 440.0 * t) * 0.8, (12, 1)).astype(np.float32))  # rings to the end
    y = augment.retuned(x, np.random.default_rng(0), 4.0)
    assert y.shape == x.shape and y.dtype == torch.float32
    ratios = np.array([_pitch(row) / 440.0 for row in y.numpy()])
    assert np.all((ratios > 2 ** (-4 / 12) - 1e-3) & (ratios < 2 ** (4 / 12) + 1e-3)) and np.ptp(ratios) > 0.1
    for ratio, row in zip(ratios, y.numpy()):
        if ratio < 1:  # cut at the window: the data set's 50 ms fade
            assert abs(row[-1]) < 1e-3 and np.abs(row[-int(0.06 * SR):-int(0.05 * SR)]).max() > 0.7
        else:  # over sooner: silence after the resampled end
            assert not np.any(row[int(N / ratio) + 2:])


def test_retuning_chooses_half_draws_nothing_at_zero_and_refuses_a_negative_range():
    x = _burst(40)
    rng = np.random.default_rng(0)
    assert augment.retuned(x, rng, 0.0) is x
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn: the recipes before retuning repeat
    y = augment.retuned(x, np.random.default_rng(1), 3.0)
    changed = int(sum(not torch.equal(a, b) for a, b in zip(x, y)))
    assert 10 <= changed <= 30 and torch.equal(y, augment.retuned(x, np.random.default_rng(1), 3.0))
    with pytest.raises(ValueError, match=r"retuned takes a range of 0 semitones or more; got -1"):
        augment.retuned(x, rng, -1.0)
    with pytest.raises(ValueError, match=r"retuned takes a batch of sounds \[batch, samples\]"):
        augment.retuned(x[0], rng, 2.0)


def _studio_only(monkeypatch, effect: str) -> None:
    for name in ("P_BAND", "P_THIN", "P_TWO_MICS", "P_BLEED", "P_COMPRESS"):
        monkeypatch.setattr(augment, name, 1.0 if name == effect else 0.0)


def _ratio_db(x: torch.Tensor, y: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Per row, the mean power ratio y / x in dB over the band [low, high) Hz."""
    f = torch.fft.rfftfreq(N, 1 / SR)
    band = (f >= low) & (f < high)
    px, py = torch.fft.rfft(x).abs()[:, band] ** 2, torch.fft.rfft(y).abs()[:, band] ** 2
    return 10 * torch.log10(py.mean(1) / px.mean(1))


def _noise(count: int = 6) -> torch.Tensor:
    """White noise over the whole window: every band has energy to compare."""
    x = np.random.default_rng(5).standard_normal((count, N))
    return torch.from_numpy((x / np.abs(x).max(1, keepdims=True)).astype(np.float32))


def test_studio_draws_nothing_then_leaves_the_sound_and_a_seed_repeats_it(monkeypatch):
    x = _burst(8)
    y = augment.studio(x, np.random.default_rng(0))
    assert y.shape == x.shape and bool(torch.isfinite(y).all()) and torch.allclose(y.abs().amax(1), torch.ones(8), atol=1e-5)
    assert torch.equal(y, augment.studio(x, np.random.default_rng(0)))
    _studio_only(monkeypatch, "none")
    assert torch.allclose(augment.studio(x, np.random.default_rng(0)), x, atol=1e-5)
    with pytest.raises(ValueError, match=r"studio takes a batch of sounds \[batch, samples\]; got a tensor of shape \(44100,\)"):
        augment.studio(x[0], np.random.default_rng(0))


def test_a_band_limit_removes_the_top_octave_and_keeps_the_band_below_it(monkeypatch):
    _studio_only(monkeypatch, "P_BAND")
    x = _noise()
    y = augment.studio(x, np.random.default_rng(0))
    low = _ratio_db(x, y, 200, 4000)
    top = _ratio_db(x, y, 21000, 22000) - low  # 8th order from a cutoff of 16 kHz at most: 22 dB down by 21 kHz
    assert bool((top < -20).all()), top
    for a, b in zip(x, y):  # below 4 kHz (at most 2/3 of the lowest cutoff) the spectrum keeps its shape within 1.5 dB
        r = _ratio_db(a[None], b[None], 200, 4000) - _ratio_db(a[None], b[None], 200, 400)
        assert abs(float(r[0])) < 1.5


def test_thin_takes_the_lowest_band_away(monkeypatch):
    _studio_only(monkeypatch, "P_THIN")
    x = _noise()
    y = augment.studio(x, np.random.default_rng(0))
    assert bool((_ratio_db(x, y, 5, 12) - _ratio_db(x, y, 1000, 4000) < -10).all())  # a high-pass at 30 Hz or above


def test_two_microphones_comb_the_spectrum_within_their_levels(monkeypatch):
    _studio_only(monkeypatch, "P_TWO_MICS")
    x = _noise()
    y = augment.studio(x, np.random.default_rng(0))
    f = torch.fft.rfftfreq(N, 1 / SR)
    band = (f > 100) & (f < 20000)
    for a, b in zip(x, y):
        ratio = torch.fft.rfft(b).abs()[band] / torch.fft.rfft(a).abs()[band]
        ratio = torch.nn.functional.avg_pool1d(ratio[None, None], 31, 1)[0, 0]  # 31 Hz against teeth at least 667 Hz apart
        spread = float(20 * torch.log10(ratio.max() / ratio.min()))
        assert 4.5 < spread < 20 * np.log10(1.8 / 0.2) + 1  # levels 0.3..0.8: peaks 1 + g, notches 1 - g


def test_bleed_adds_another_sound_of_the_batch_15_to_30_db_down(monkeypatch):
    _studio_only(monkeypatch, "P_BLEED")
    t = np.arange(N) / SR
    tones = np.stack([np.sin(2 * np.pi * f * t) * np.exp(-t / 0.2) for f in (440.0, 3000.0)]).astype(np.float32)
    x = torch.from_numpy(tones / np.abs(tones).max(1, keepdims=True))
    y = augment.studio(x, np.random.default_rng(0))
    own = [(400, 480), (2900, 3100)]
    for i, row in enumerate(y):
        a, b = own[i], own[1 - i]
        mine = _ratio_db(x[i:i + 1], row[None], *a)  # about 0 dB: its own tone stays
        other = 10 * torch.log10(_band_power(row, *b) / _band_power(x[1 - i], *b))
        assert -31.0 < float(other - mine) < -14.0


def _band_power(row: torch.Tensor, low: float, high: float) -> torch.Tensor:
    f = torch.fft.rfftfreq(N, 1 / SR)
    return (torch.fft.rfft(row).abs()[(f >= low) & (f < high)] ** 2).mean()


def test_the_compressor_raises_the_decay_against_the_peak(monkeypatch):
    _studio_only(monkeypatch, "P_COMPRESS")
    x = _burst(6)
    y = augment.studio(x, np.random.default_rng(0))
    late = slice(int(0.03 * SR), int(0.05 * SR))  # under the envelope's 10 % point: left alone, so it rises against the pushed-down peak
    for a, b in zip(x, y):
        assert _db(b[late]) > _db(a[late]) + 3.0 and abs(float(b.abs().max()) - 1.0) < 1e-5


def _closed_hat(count: int = 4) -> torch.Tensor:
    """Three inharmonic partials (3.1, 5.3 and 8.2 kHz) with a little noise, struck and damped within 40 ms."""
    rng = np.random.default_rng(9)
    t = np.arange(N) / SR
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (3100.0, 5300.0, 8200.0)) + 0.05 * rng.standard_normal((count, N))
    x = x * np.exp(-t / 0.008)
    return torch.from_numpy((x / np.abs(x).max(1, keepdims=True)).astype(np.float32))


def test_an_opened_hat_rings_on_with_the_closed_hats_partials_and_decays_within_its_rt60(monkeypatch):
    x = _closed_hat()
    y = augment.opened(x, np.random.default_rng(0))
    assert y.shape == x.shape and torch.allclose(y.abs().amax(1), torch.ones(4), atol=1e-5)
    assert torch.equal(y, augment.opened(x, np.random.default_rng(0)))
    early, later = slice(int(0.1 * SR), int(0.2 * SR)), slice(int(0.4 * SR), int(0.5 * SR))
    f = np.fft.rfftfreq(int(0.1 * SR), 1 / SR)
    for a, b in zip(x, y):
        assert _db(a[early]) < -120 and _db(b[early]) > -30  # the closed hat is over by 0.1 s; the opened one rings
        decay = (_db(b[early]) - _db(b[later])) / 0.3  # dB/s: an RT60 of 0.8..2.5 s falls 24..75 dB/s
        assert 60 / 2.5 - 4 < decay < 60 / 0.8 + 4
        power = np.abs(np.fft.rfft(b[early].numpy())) ** 2
        near = np.min([np.abs(f - q) for q in (3100.0, 5300.0, 8200.0)], axis=0) < 200
        assert power[near].sum() > 0.95 * power.sum()  # the ring is the hit's partials: 5 % of the band holds 95 % of it
        assert abs(float(b[-1])) < 1e-6  # faded at the window's end, as the data set fades a cut sound
    with pytest.raises(ValueError, match=r"opened takes a batch of sounds \[batch, samples\]"):
        augment.opened(x[0], np.random.default_rng(0))


def test_a_varied_sound_moves_within_its_pitch_range_and_seven_in_ten_are_damped_within_their_time_constants():
    t = np.arange(N) / SR
    x = torch.from_numpy(np.tile(np.sin(2 * np.pi * 1000.0 * t) * 0.8, (40, 1)).astype(np.float32))  # rings to the end
    y = augment.varied(x, np.random.default_rng(0), 7.0, (0.015, 0.06))
    assert y.shape == x.shape and torch.allclose(y.abs().amax(1), torch.ones(40), atol=1e-5)
    assert torch.equal(y, augment.varied(x, np.random.default_rng(0), 7.0, (0.015, 0.06)))
    ratios = np.array([_pitch(row) / 1000.0 for row in y.numpy()])
    assert np.all((ratios > 2 ** (-7 / 12) - 1e-3) & (ratios < 2 ** (7 / 12) + 1e-3)) and np.ptp(ratios) > 0.3
    # damped from 10 ms on by exp(-t / tau), tau 15..60 ms: 0.1 s later the sound is 14.5 to 58 dB down; undamped it rings on
    fall = np.array([_db(row[int(0.01 * SR):int(0.02 * SR)]) - _db(row[int(0.11 * SR):int(0.12 * SR)]) for row in y])
    damped = fall > 3
    assert 20 <= damped.sum() <= 36 and np.all(np.abs(fall[~damped]) < 1)
    assert np.all((fall[damped] > 10 * np.log10(np.e) * 2 * 0.1 / 0.06 - 1) & (fall[damped] < 10 * np.log10(np.e) * 2 * 0.1 / 0.015 + 1))
    with pytest.raises(ValueError, match=r"varied takes 0 semitones or more and damping times"):
        augment.varied(x, np.random.default_rng(0), 7.0, (0.06, 0.015))
    with pytest.raises(ValueError, match=r"varied takes a batch of sounds \[batch, samples\]"):
        augment.varied(x[0], np.random.default_rng(0), 7.0, (0.015, 0.06))


def test_vary_cymbals_damps_every_cymbal_drawn_and_nothing_else_and_without_it_draws_as_before():
    t = np.arange(N) / SR
    x = torch.from_numpy(np.tile(np.sin(2 * np.pi * 6000.0 * t) * 0.8, (8, 1)).astype(np.float32))  # rings to the end
    classes = np.array([6, 0, 6, 4, 6, 2, 6, 1])  # cymbal, kick, cymbal, open hat, cymbal, clap, cymbal, snare
    pool, closed = x.numpy(), np.array([], int)
    y = augment.class_variants(x.clone(), classes, np.random.default_rng(0), pool, closed, 2, 4, cymbal=6, vary_cymbals=1.0)
    assert [not torch.equal(a, b) for a, b in zip(x, y)] == [c == 6 for c in classes]
    # every varied cymbal damped from 10 ms on, tau 60..200 ms: 0.1 s later 4.3 to 14.5 dB down (a third undamped would ring on)
    fall = np.array([_db(row[int(0.01 * SR):int(0.02 * SR)]) - _db(row[int(0.11 * SR):int(0.12 * SR)]) for row in y[classes == 6]])
    assert np.all((fall > 10 * np.log10(np.e) * 2 * 0.1 / 0.2 - 1) & (fall < 10 * np.log10(np.e) * 2 * 0.1 / 0.06 + 1))
    rng, reference = np.random.default_rng(1), np.random.default_rng(1)  # 0: nothing drawn, the recipes before it repeat
    assert torch.equal(augment.class_variants(x.clone(), classes, rng, pool, closed, 2, 4, cymbal=6, vary_cymbals=0.0), x)
    assert rng.random() == reference.random()


def test_class_variants_vary_only_claps_and_open_hats_and_without_it_draw_as_before(monkeypatch):
    x = _burst(8)
    classes = np.array([0, 2, 4, 3, 2, 7, 4, 1])  # kick, clap, open hat, closed hat, clap, perc, open hat, snare
    pool, closed = x.numpy(), np.array([3])
    y = augment.class_variants(x.clone(), classes, np.random.default_rng(0), pool, closed, 2, 4, vary=1.0)
    changed = [not torch.equal(a, b) for a, b in zip(x, y)]
    assert changed == [c in (2, 4) for c in classes]
    rng = np.random.default_rng(0)  # vary_open: the open hats' own chance, the claps drawn as before
    claps_only = augment.class_variants(x.clone(), classes, rng, pool, closed, 2, 4, vary=1.0, vary_open=0.0)
    assert [not torch.equal(a, b) for a, b in zip(x, claps_only)] == [c == 2 for c in classes]
    assert torch.equal(claps_only[classes == 2], y[classes == 2])
    opens_only = augment.class_variants(x.clone(), classes, np.random.default_rng(0), pool, closed, 2, 4, vary=0.0, vary_open=1.0)
    assert [not torch.equal(a, b) for a, b in zip(x, opens_only)] == [c == 4 for c in classes]
    before = augment.class_variants(x.clone(), classes, np.random.default_rng(1), pool, closed, 2, 4, 0.5, 0.5)
    rng = np.random.default_rng(1)
    assert torch.equal(before, augment.class_variants(x.clone(), classes, rng, pool, closed, 2, 4, 0.5, 0.5, vary=0.0))
    reference = np.random.default_rng(1)  # vary 0 draws nothing: the recipes before it repeat
    augment.class_variants(x.clone(), classes, reference, pool, closed, 2, 4, 0.5, 0.5)
    assert rng.random() == reference.random()
    rings = []  # an open hat varied and then replaced by an opened closed hat rings shorter; one not varied as before
    monkeypatch.setattr(augment, "opened", lambda x, rng, rt60: rings.append(rt60) or x)
    augment.class_variants(x.clone(), classes, np.random.default_rng(0), pool, closed, 2, 4, 0.0, 1.0, vary=1.0)
    augment.class_variants(x.clone(), classes, np.random.default_rng(0), pool, closed, 2, 4, 0.0, 1.0, vary=0.0)
    assert rings == [augment.VARIED_OPEN_RT60, augment.OPEN_RT60]
