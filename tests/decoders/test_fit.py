"""Fitting a latent point to a sound (liveengine/decoders/fit.py, decoder_grad.onnx): the gradient's pieces against finite
differences, the shipped drum model's fit on held-out kit files (real ONNX files, real Debian samples), and the load check
that refuses a gradient file which does not belong to its decoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from liveengine.decoders.contract import ModelError
from liveengine.decoders.fit import SpectralDistance, synthesis_adjoint
from liveengine.decoders.istft import InverseSTFT
from liveengine.decoders.onnx_decoder import OnnxDecoder

REPO = Path(__file__).resolve().parents[2]
DRUMS = REPO / "models_onnx" / "drums"
KITS = Path("/usr/share/hydrogen/data/drumkits")
HELD_OUT = [KITS / "ForzeeStereo" / f for f in ("Kick-0.wav", "Snare-0.wav", "HiHatClosed-0.wav", "Crash18-0.wav")]


def _decaying_noise(rows: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 44100
    return (rng.standard_normal((rows, length)) * np.exp(-t * rng.uniform(2, 6, (rows, 1)))).astype(np.float32)


def test_the_distance_gradient_matches_central_differences():
    # Noise at every bin keeps the distance smooth (no |log| kink at a silent bin), so differences can check the gradient.
    # float64 here: the algebra is what is checked (a fit runs the same code in float32, whose rounding would hide it).
    targets, signals = _decaying_noise(2, 22050, 1).astype(np.float64), _decaying_noise(2, 22050, 2).astype(np.float64)
    distance = SpectralDistance(targets, dtype=np.float64)
    value, grad = distance.value_and_grad(signals)
    assert value.shape == (2,) and np.all(value > 0.5)
    assert np.allclose(distance.value_and_grad(targets, grad=False)[0], 0.0, atol=1e-5)  # a sound is at distance 0 from itself
    assert np.allclose(distance.value_and_grad(3.0 * targets, grad=False)[0], 0.0, atol=1e-5)  # and level does not count
    rng = np.random.default_rng(3)
    for _ in range(3):
        direction = rng.standard_normal(signals.shape)
        step = 1e-6
        ahead, _ = distance.value_and_grad(signals + step * direction, grad=False)
        behind, _ = distance.value_and_grad(signals - step * direction, grad=False)
        numeric = (ahead.astype(np.float64) - behind) / (2 * step)
        analytic = np.sum(grad.astype(np.float64) * direction, axis=1)
        assert np.allclose(analytic, numeric, rtol=0.02, atol=1e-4), (analytic, numeric)


def test_the_synthesis_adjoint_is_the_inverse_stfts_transpose():
    n_fft, hop, length = 1024, 256, 22050
    frames = 1 + length // hop
    istft = InverseSTFT(n_fft, hop, frames, length, 2)
    rng = np.random.default_rng(4)
    magnitude = np.abs(rng.standard_normal((2, n_fft // 2 + 1, frames))).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, magnitude.shape).astype(np.float32)
    weights = rng.standard_normal((2, length))

    def weighted(m, p):
        out = np.zeros((2, length), np.float32)
        istft(m.astype(np.float32), p.astype(np.float32), out)
        return np.sum(out.astype(np.float64) * weights, axis=1)

    magnitude_grad, phase_grad = synthesis_adjoint(istft, magnitude, phase, weights)
    # The audio is linear in the magnitude at a fixed phase: the transpose must give the exact change.
    direction = rng.standard_normal(magnitude.shape)
    change = weighted(magnitude + direction, phase) - weighted(magnitude, phase)
    assert np.allclose(np.sum(magnitude_grad * direction, axis=(1, 2)), change, rtol=1e-3)
    direction = rng.standard_normal(phase.shape)
    numeric = (weighted(magnitude, phase + 1e-3 * direction) - weighted(magnitude, phase - 1e-3 * direction)) / 2e-3
    assert np.allclose(np.sum(phase_grad * direction, axis=(1, 2)), numeric, rtol=1e-2)


@pytest.fixture(scope="module")
def drums():
    return OnnxDecoder(DRUMS, threads=1)


def test_the_shipped_drum_model_fits_held_out_kit_files_nearer_than_its_encoder(drums):
    if not all(p.exists() for p in HELD_OUT):
        pytest.skip("needs the Debian package hydrogen-drumkits (its ForzeeStereo kit is held out of training)")
    from liveengine.grid.anchors import place_files
    from liveengine.library.index import query_sound, sound_batch

    assert drums.can_fit
    sounds = sound_batch(drums, [query_sound(p, drums)[1] for p in HELD_OUT])
    points, start, end = drums.fit(sounds)
    assert points.shape == (4, drums.latent_dim) and np.all(np.isfinite(points))
    assert np.all(end <= start)  # the walk keeps the nearest point it passed: never further than the encoder's mean
    assert np.mean(end) < 0.95 * np.mean(start), (start, end)
    # The distance it reports is that of the decoded sound the engine plays (peak-normalised, as the pads are).
    out = np.zeros((4, drums.output_length), np.float32)
    drums.decode_into(points, out)
    assert np.allclose(SpectralDistance(sounds).value_and_grad(out, grad=False)[0], end, atol=1e-3)
    # Corners and generate --from place files by this fit, deterministically.
    assert np.allclose(place_files(drums, HELD_OUT), points, atol=1e-5)
    assert not np.allclose(points, drums.encode(sounds), atol=1e-3)


def test_zero_steps_keep_the_encoders_mean_and_silent_or_empty_input_is_no_fit(drums):
    decoded = np.zeros((3, drums.output_length), np.float32)
    drums.decode_into(np.asarray([drums.info.latent_mean] * 3, np.float32) + np.eye(3, drums.latent_dim, dtype=np.float32), decoded)
    points, start, end = drums.fit(decoded, steps=0)
    assert np.allclose(points, drums.encode(decoded)) and np.all(np.isfinite(start)) and np.array_equal(start, end)
    moved, _, nearer = drums.fit(decoded, steps=5)
    assert np.all(nearer <= start) and not np.allclose(moved, points)
    # A silent row keeps the encoder's mean and has no distance; the other rows fit as they would alone.
    mixed = np.concatenate([decoded[:1], np.zeros((1, drums.output_length), np.float32)])
    points, start, end = drums.fit(mixed, steps=5)
    assert np.allclose(points[1], drums.encode(mixed[1:])[0]) and np.isnan(start[1]) and np.isnan(end[1])
    assert np.allclose(points[0], moved[0], atol=1e-6) and np.isclose(end[0], nearer[0])
    points, start, end = drums.fit(np.zeros((0, drums.output_length), np.float32))
    assert points.shape == (0, drums.latent_dim) and start.shape == end.shape == (0,)
    with pytest.raises(ValueError, match=r"steps >= 0"):
        drums.fit(decoded, steps=-1)




def test_the_tether_holds_a_fit_near_the_encoders_mean(drums):
    """The fit's objective is the distance plus tether x |z - encoder mean|^2: a free walk (0) goes furthest, the
    default less far, a tether no step can pay for not at all; each keeps a sound as near as the encoder had it or nearer."""
    from liveengine.decoders import fit

    assert fit.TETHER > 0
    sounds = _decaying_noise(3, drums.output_length, seed=5)  # far from anything the model renders: a fit wants to walk
    mean = drums.encode(sounds)
    walked = {}
    for tether in (0.0, fit.TETHER, 1e9):
        points, start, end = drums.fit(sounds, steps=8, tether=tether)
        assert np.all(end <= start)
        walked[tether] = np.linalg.norm(points - mean, axis=1)
    assert np.all(walked[1e9] == 0)
    assert np.sum(walked[fit.TETHER]) < np.sum(walked[0.0]) and np.sum(walked[fit.TETHER]) > 0
    assert np.allclose(drums.fit(sounds, steps=8)[0], drums.fit(sounds, steps=8, tether=fit.TETHER)[0])
    for wrong in (-0.1, float("nan"), float("inf"), "0.01", True):
        with pytest.raises(ValueError, match=r"tether >= 0"):
            drums.fit(sounds, steps=1, tether=wrong)
def _write_grad(folder: Path, latent_dim: int, bins: int, frames: int, inputs=("z", "magnitude_grad", "phase_grad"), batch="batch") -> None:
    """A decoder_grad.onnx of the right shapes that answers zero, naming the folder's decoder.onnx as the export does."""
    import hashlib

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", [inputs[0], "zero"], ["z_grad"])], "decoder_grad",
        [helper.make_tensor_value_info(inputs[0], TensorProto.FLOAT, [batch, latent_dim]),
         helper.make_tensor_value_info(inputs[1], TensorProto.FLOAT, [batch, bins, frames]),
         helper.make_tensor_value_info(inputs[2], TensorProto.FLOAT, [batch, bins, frames])],
        [helper.make_tensor_value_info("z_grad", TensorProto.FLOAT, ["batch", latent_dim])],
        [numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    decoder = folder / "decoder.onnx"
    if decoder.exists():
        model.metadata_props.append(onnx.StringStringEntryProto(key="liveengine.decoder_sha256", value=hashlib.sha256(decoder.read_bytes()).hexdigest()))
    onnx.save(model, folder / "decoder_grad.onnx")


def test_a_gradient_file_of_another_decoder_or_with_wrong_inputs_is_refused_in_one_sentence(tmp_path, drums):
    folder = tmp_path / "drums"
    shutil.copytree(DRUMS, folder)
    info = drums.info
    _write_grad(folder, info.latent_dim, info.bins, info.frames)
    with pytest.raises(ModelError, match=r"decoder_grad.onnx does not match decoder.onnx: .* correlation 0.00 and slope 0.00"):
        OnnxDecoder(folder)
    _write_grad(folder, info.latent_dim, info.bins, info.frames, inputs=("z", "dmag", "dphase"))
    with pytest.raises(ModelError, match=r"decoder_grad.onnx has inputs \['z', 'dmag', 'dphase'\].*expected inputs z, magnitude_grad, phase_grad"):
        OnnxDecoder(folder)
    _write_grad(folder, info.latent_dim, info.bins + 1, info.frames)
    with pytest.raises(ModelError, match=r"decoder_grad input 'magnitude_grad' has shape .* axis 1 must be 513"):
        OnnxDecoder(folder)
    _write_grad(folder, info.latent_dim, info.bins, info.frames, batch=1)
    with pytest.raises(ModelError, match=r"decoder_grad.onnx has a fixed batch \(1\); the contract asks for a dynamic one"):
        OnnxDecoder(folder)
    # A fine-tune's gradient follows this decoder closely (drums2 warm-started from drums): the hash tells them apart.
    shutil.copyfile(REPO / "models_onnx" / "drums2" / "decoder_grad.onnx", folder / "decoder_grad.onnx")
    with pytest.raises(ModelError, match=r"decoder_grad.onnx was exported for another decoder.onnx \(its liveengine.decoder_sha256 is [0-9a-f]{16}, "
                                         r"this decoder's is [0-9a-f]{16}\)"):
        OnnxDecoder(folder)
    (folder / "decoder_grad.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match=r"decoder_grad.onnx is not a loadable ONNX model"):
        OnnxDecoder(folder)
    (folder / "decoder_grad.onnx").unlink()
    plain = OnnxDecoder(folder)
    assert not plain.can_fit
    assert plain.identity == drums.identity  # decoder_grad.onnx is derived: state files saved without it stay valid
    with pytest.raises(ModelError, match=r"has no decoder_grad.onnx, so it cannot fit points to sounds"):
        plain.fit(np.zeros((1, 100), np.float32))


def test_a_gradient_file_beside_an_audio_decoder_is_refused(tmp_path):
    from liveengine.testing.models import build_audio_decoder

    folder = tmp_path / "audio_model"
    folder.mkdir()
    build_audio_decoder(folder)
    _write_grad(folder, 8, 513, 18)
    with pytest.raises(ModelError, match=r"decoder_grad.onnx is for STFT decoders .*this decoder outputs audio"):
        OnnxDecoder(folder)


def test_a_fit_compares_only_the_first_fit_length_samples(drums):
    """liveengine.fit_length (a decoder with a derived tail): what the file holds after it changes nothing."""
    from liveengine.decoders.fit import fit_points

    z = np.asarray([drums.info.latent_mean] * 2, np.float32) + np.eye(2, drums.latent_dim, dtype=np.float32)
    targets = np.zeros((2, drums.output_length), np.float32)
    drums.decode_into(z, targets)
    noisy = targets.copy()
    noisy[:, 30000:] = np.random.default_rng(0).uniform(-0.5, 0.5, (2, drums.output_length - 30000))
    start = drums.encode(targets) + 0.3

    def grad(z, magnitude_grad, phase_grad):
        return drums.decoder_grad.run(None, {"z": z, "magnitude_grad": magnitude_grad, "phase_grad": phase_grad})[0]

    def fitted(sounds, compared):
        return fit_points(drums.decode_stft, grad, drums.istft, sounds, start, steps=3, compared=compared)

    clean, first, last = fitted(targets, 30000)
    assert np.array_equal(fitted(noisy, 30000)[0], clean) and np.all(last < first)
    assert not np.allclose(fitted(noisy, None)[0], clean, atol=1e-4)
