"""The ONNX decoder contract (docs/model-contract.md) against real ONNX files built in tmp_path.

Conforming models load and decode into preallocated buffers with the chosen normalisation;
every way a model folder can break the contract is one ModelError naming the model, what was
found and what the contract expects.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from onnx import TensorProto

from liveengine.decoders.contract import ModelError, model_identity
from liveengine.decoders.onnx_decoder import LOUDNESS_TARGET, PEAK_TARGET, OnnxDecoder
from liveengine.decoders.registry import load_decoder
from liveengine.errors import LiveEngineError
from liveengine.testing.models import build_audio_decoder, build_stft_decoder, contract_metadata

from onnx_helpers import build_classifier, build_encoder, check_model_error, raw_reference

AUDIO = dict(latent_dim=6, output_length=4410, sample_rate=22050)
STFT = dict(latent_dim=5, n_fft=256, hop=64, output_length=4096, sample_rate=32000)


def audio_model(tmp_path, name="kick", **kwargs):
    meta = contract_metadata(AUDIO["latent_dim"], AUDIO["sample_rate"], AUDIO["output_length"], name=f"{name} display", description="a kick")
    return build_audio_decoder(tmp_path / name, **AUDIO, metadata=meta, **kwargs)


def stft_model(tmp_path, name="snare"):
    return build_stft_decoder(tmp_path / name, **STFT)


def latents(batch: int, dim: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, dim)).astype(np.float32)


def decode(decoder, z):
    out = np.full((len(z), decoder.output_length), np.nan, np.float32)  # NaN: any sample not written shows
    before = out.ctypes.data
    decoder.decode_into(z, out)
    assert out.ctypes.data == before
    return out


# ---- conforming models ----

def test_audio_decoder_reports_its_metadata(tmp_path):
    folder = audio_model(tmp_path)
    decoder = OnnxDecoder(folder)
    assert decoder.name == "kick display"  # liveengine.name, not the folder
    assert (decoder.latent_dim, decoder.sample_rate, decoder.output_length) == (6, 22050, 4410)
    assert decoder.info.output == "audio" and decoder.info.description == "a kick"
    expected = hashlib.sha256(b"decoder.onnx" + (folder / "decoder.onnx").read_bytes()).hexdigest()[:16]
    assert decoder.identity == expected == model_identity(folder)
    assert decoder.info.latent_mean == (0.0,) * 6
    assert decoder.info.latent_axes[1] == (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert decoder.encoder is None and decoder.classifier is None


def test_stft_decoder_reports_its_metadata(tmp_path):
    folder = stft_model(tmp_path)
    decoder = OnnxDecoder(folder)
    assert decoder.name == "snare"  # no liveengine.name: the folder name
    assert (decoder.latent_dim, decoder.sample_rate, decoder.output_length) == (5, 32000, 4096)
    info = decoder.info
    assert (info.output, info.n_fft, info.hop, info.window) == ("stft", 256, 64, "hann")
    assert (info.bins, info.frames) == (129, 65)
    assert decoder.identity == model_identity(folder)


@pytest.mark.parametrize("kind", ["audio", "stft"])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_decode_into_fills_out_peak_normalised(tmp_path, kind, batch):
    folder = audio_model(tmp_path) if kind == "audio" else stft_model(tmp_path)
    decoder = OnnxDecoder(folder, normalize="peak")
    decoder.prepare(8)
    z = latents(batch, decoder.latent_dim)
    out = decode(decoder, z)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.max(np.abs(out), axis=1), PEAK_TARGET, rtol=1e-6)
    raw = raw_reference(folder, z, decoder.info)
    expected = raw * (PEAK_TARGET / np.max(np.abs(raw), axis=1, keepdims=True))
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5)
    # Different points are different sounds (the batch is not one row repeated).
    if batch > 1:
        assert not np.allclose(out[0], out[1], atol=1e-3)


@pytest.mark.parametrize("kind", ["audio", "stft"])
def test_batches_larger_than_max_batch_are_decoded_in_chunks(tmp_path, kind):
    folder = audio_model(tmp_path) if kind == "audio" else stft_model(tmp_path)
    decoder = OnnxDecoder(folder, normalize="none", max_batch=4)
    assert decoder.max_batch == 4
    z = latents(10, decoder.latent_dim, seed=11)
    out = decode(decoder, z)
    np.testing.assert_allclose(out, raw_reference(folder, z, decoder.info), rtol=0, atol=2e-5)
    # The same points one at a time give the same sounds.
    singles = np.concatenate([decode(decoder, z[i : i + 1]) for i in range(10)])
    np.testing.assert_array_equal(out, singles)


@pytest.mark.parametrize("kind", ["audio", "stft"])
def test_normalize_none_is_the_raw_graph_output(tmp_path, kind):
    folder = audio_model(tmp_path) if kind == "audio" else stft_model(tmp_path)
    decoder = OnnxDecoder(folder, normalize="none")
    z = latents(7, decoder.latent_dim, seed=5)
    out = decode(decoder, z)
    raw = raw_reference(folder, z, decoder.info)
    if kind == "audio":
        np.testing.assert_allclose(out, raw, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_allclose(out, raw, rtol=0, atol=1e-5 * np.max(np.abs(raw)))
    # Raw really is not normalised: these peaks are not all 0.9.
    assert np.ptp(np.max(np.abs(out), axis=1)) > 1e-3


def test_loudness_sets_rms_to_minus_18_dbfs_unless_peak_limited(tmp_path):
    # A 10 ms sound has a low crest factor (RMS-normalised it stays under 0.99);
    # the default 200 ms decaying one a high one (the 0.99 peak limit wins).
    flat = build_audio_decoder(tmp_path / "flat", output_length=441)
    spiky = build_audio_decoder(tmp_path / "spiky", output_length=8820)
    branches = set()
    for folder in (flat, spiky):
        decoder = OnnxDecoder(folder, normalize="loudness")
        z = latents(16, 8, seed=9)
        out = decode(decoder, z)
        raw = raw_reference(folder, z)
        rms = np.sqrt(np.mean(out.astype(np.float64) ** 2, axis=1))
        peak = np.max(np.abs(out), axis=1)
        assert np.all(np.isfinite(out))
        assert np.all(peak <= 0.99 * (1 + 1e-6))
        for r, p, row, raw_row in zip(rms, peak, out, raw):
            # Only a gain: the shape of the sound is the graph's.
            np.testing.assert_allclose(row, raw_row * (p / np.max(np.abs(raw_row))), rtol=0, atol=1e-6)
            if abs(r - LOUDNESS_TARGET) <= 1e-4 * LOUDNESS_TARGET:
                branches.add("rms")
                assert 20 * np.log10(r) == pytest.approx(-18.0, abs=1e-3)
            else:
                branches.add("limited")
                assert p == pytest.approx(0.99, rel=1e-6) and r < LOUDNESS_TARGET
    assert branches == {"rms", "limited"}


def test_prepare_and_reset_do_not_change_the_sound(tmp_path):
    decoder = OnnxDecoder(stft_model(tmp_path))
    z = latents(3, decoder.latent_dim)
    first = decode(decoder, z)
    decoder.prepare(64)
    decoder.reset()
    np.testing.assert_array_equal(decode(decoder, z), first)


def test_wrong_buffer_shapes_are_refused(tmp_path):
    decoder = OnnxDecoder(audio_model(tmp_path))
    with pytest.raises(ValueError, match=r"z\[batch, 6\]"):
        decoder.decode_into(np.zeros((2, 5), np.float32), np.zeros((2, 4410), np.float32))
    with pytest.raises(ValueError, match=r"out\[batch, 4410\]"):
        decoder.decode_into(np.zeros((2, 6), np.float32), np.zeros((3, 4410), np.float32))


def test_optional_encoder_and_classifier_load(tmp_path):
    folder = build_audio_decoder(tmp_path / "full", metadata=contract_metadata(8, 44100, 8820, classes=["kick", "snare", "hat"]))
    build_encoder(folder)
    build_classifier(folder)
    decoder = OnnxDecoder(folder)
    assert decoder.info.classes == ("kick", "snare", "hat")
    assert decoder.encoder is not None and decoder.classifier is not None
    # The identity covers every .onnx file in the folder.
    only_decoder = hashlib.sha256(b"decoder.onnx" + (folder / "decoder.onnx").read_bytes()).hexdigest()[:16]
    assert decoder.identity != only_decoder


# ---- identity ----

def test_identity_is_stable_across_loads_and_changes_with_one_weight_byte(tmp_path):
    import onnx

    folder = audio_model(tmp_path)
    first, second = OnnxDecoder(folder).identity, OnnxDecoder(folder).identity
    assert first == second and len(first) == 16
    # A byte-identical copy under another folder name has the same identity.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "decoder.onnx").write_bytes((folder / "decoder.onnx").read_bytes())
    assert OnnxDecoder(copy).identity == first

    model = onnx.load(folder / "decoder.onnx")
    w2 = next(t for t in model.graph.initializer if t.name == "w2")
    raw = bytearray(w2.raw_data)
    raw[1000] ^= 0x01  # the lowest mantissa bit of one weight
    w2.raw_data = bytes(raw)
    onnx.save(model, folder / "decoder.onnx")
    changed = OnnxDecoder(folder).identity
    assert changed != first
    assert OnnxDecoder(folder).identity == changed


# ---- broken folders and files ----

def test_folder_missing(tmp_path):
    with pytest.raises(ModelError) as info:
        OnnxDecoder(tmp_path / "ghost")
    check_model_error(info.value, "ghost", [str(tmp_path / "ghost"), "is not a folder"], ["a folder with decoder.onnx"])


def test_folder_missing_via_the_registry(tmp_path):
    patch = tmp_path / "song.toml"
    with pytest.raises(LiveEngineError) as info:
        load_decoder("ghost", patch)
    message = str(info.value)
    assert "\n" not in message
    assert "model 'ghost' not found" in message
    assert str(tmp_path / "ghost") in message
    assert "allowed: builtin:testsynth" in message


def test_decoder_onnx_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    build_encoder(tmp_path / "empty")  # an encoder alone is not a model
    with pytest.raises(ModelError) as info:
        OnnxDecoder(tmp_path / "empty")
    check_model_error(info.value, "empty", ["decoder.onnx is missing"], ["a model folder holds decoder.onnx"])


def test_random_bytes(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    (folder / "decoder.onnx").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "noise", ["decoder.onnx"], ["not a loadable ONNX model"])


def test_truncated_file(tmp_path):
    folder = audio_model(tmp_path, name="cut")
    data = (folder / "decoder.onnx").read_bytes()
    (folder / "decoder.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "cut", ["decoder.onnx"], ["not a loadable ONNX model"])


def test_input_named_x(tmp_path):
    folder = build_audio_decoder(tmp_path / "xin", input_name="x")
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "xin", ["named 'x'"], ["names it 'z'"])


def test_input_type_double(tmp_path):
    folder = build_audio_decoder(tmp_path / "double", input_type=TensorProto.DOUBLE)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "double", ["tensor(double)"], ["expected tensor(float)"])


def test_rank_3_input(tmp_path):
    folder = build_audio_decoder(tmp_path / "rank3", input_rank=3)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "rank3", ["['batch', 8, 1]"], ["expected rank 2"])


@pytest.mark.parametrize("key", ["contract", "kind", "sample_rate", "latent_dim", "output_length", "output"])
def test_metadata_missing_a_required_key(tmp_path, key):
    meta = contract_metadata(8, 44100, 8820)
    del meta[key]
    folder = build_audio_decoder(tmp_path / "bare", metadata=meta)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "bare", [f"lacks liveengine.{key};"], ["the contract requires liveengine.contract, liveengine.kind"])


@pytest.mark.parametrize("key, value, found, expected", [
    ("contract", "2", "contract = '2'", "reads contract 1"),
    ("kind", "streaming", "kind = 'streaming'", "plays oneshot"),
    ("output", "mel", "output = 'mel'", "allowed: audio, stft"),
    ("sample_rate", "44.1k", "sample_rate = '44.1k'", "an integer from 8000 to 192000"),
    ("sample_rate", "4000", "sample_rate = 4000", "an integer from 8000 to 192000"),
    ("fit_length", "9000", "fit_length = 9000", "an integer from 4096 to 8820"),  # longer than the output
    ("earlier_identities", '["549df0736e068fc6", "x"]', "earlier_identities = '[\"549df0736e068fc6\", \"x\"]'",
     "a JSON list of 16-digit hex model hashes"),
])
def test_metadata_value_outside_the_contract(tmp_path, key, value, found, expected):
    meta = contract_metadata(8, 44100, 8820)
    meta[key] = value
    folder = build_audio_decoder(tmp_path / "odd", metadata=meta)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "odd", [found], [expected])


def test_latent_dim_contradicts_the_input_shape(tmp_path):
    folder = build_audio_decoder(tmp_path / "dims", latent_dim=8, metadata=contract_metadata(6, 44100, 8820))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "dims", ["decoder input 'z' has shape ['batch', 8]"], ["axis 1 must be 6"])


def test_output_length_contradicts_the_output_shape(tmp_path):
    folder = build_audio_decoder(tmp_path / "length", output_length=8820, metadata=contract_metadata(8, 44100, 4000))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "length", ["decoder output 'audio' has shape ['batch', 8820]"], ["axis 1 must be 4000"])


def test_stft_frames_contradict_the_metadata(tmp_path):
    # hop 64 in the graph, 128 in the metadata: 65 frames found, 33 expected.
    meta = contract_metadata(8, 44100, 4096, "stft", **{"stft.n_fft": "256", "stft.hop": "128", "stft.window": "hann"})
    folder = build_stft_decoder(tmp_path / "frames", n_fft=256, hop=64, output_length=4096, metadata=meta)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "frames", ["['batch', 129, 65]"], ["axis 2 must be 33"])


def stft_meta(**changes):
    meta = contract_metadata(8, 44100, 4096, "stft", **{"stft.n_fft": "256", "stft.hop": "64", "stft.window": "hann"})
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    return meta


def test_stft_without_n_fft(tmp_path):
    folder = build_stft_decoder(tmp_path / "nofft", metadata=stft_meta(**{"stft.n_fft": None}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "nofft", ["output = stft but lacks liveengine.stft.n_fft"], ["names n_fft, hop and window"])


def test_stft_hop_not_dividing_n_fft(tmp_path):
    folder = build_stft_decoder(tmp_path / "hop", metadata=stft_meta(**{"stft.hop": "100"}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "hop", ["stft.hop = 100"], ["does not divide n_fft = 256"])


def test_stft_window_blackman(tmp_path):
    folder = build_stft_decoder(tmp_path / "window", metadata=stft_meta(**{"stft.window": "blackman"}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "window", ["stft.window = 'blackman'"], ["allowed: hann"])


def test_stft_outputs_named_wrong(tmp_path):
    # An audio graph declared as an STFT model.
    meta = contract_metadata(8, 44100, 8820, "stft", **{"stft.n_fft": "256", "stft.hop": "64", "stft.window": "hann"})
    folder = build_audio_decoder(tmp_path / "mislabelled", metadata=meta)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "mislabelled", ["outputs ['audio']"], ["outputs 'magnitude' and 'phase'"])


def test_latent_mean_wrong_length(tmp_path):
    folder = build_audio_decoder(tmp_path / "mean", metadata=contract_metadata(8, 44100, 8820, **{"latent.mean": [0.0] * 5}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "mean", ["latent.mean has 5 numbers"], ["expected 8 (latent_dim)"])


def test_latent_mean_not_numbers(tmp_path):
    folder = build_audio_decoder(tmp_path / "meantext", metadata=contract_metadata(8, 44100, 8820, **{"latent.mean": "zeros"}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "meantext", ["latent.mean = 'zeros'"], ["a JSON list of numbers"])


@pytest.mark.parametrize("axes, found", [
    ([[1.0] * 8], "[[1.0, 1.0"),  # one axis
    ([[1.0] * 8, [1.0] * 7], "[[1.0, 1.0"),  # one axis too short
    ([[1.0] * 8, ["a"] * 8], '"a"'),  # not numbers
    ("axes", "'axes'"),  # not JSON
    ({"x": [1.0] * 8}, '{"x"'),  # not a list
])
def test_latent_axes_malformed(tmp_path, axes, found):
    folder = build_audio_decoder(tmp_path / "axes", metadata=contract_metadata(8, 44100, 8820, **{"latent.axes": axes}))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "axes", ["liveengine.latent.axes", found], ["a JSON list of at least 2 lists of 8 numbers"])


@pytest.mark.parametrize("classes, found", [
    ("kick", "'kick'"),  # not JSON
    ([], "[]"),  # empty
    (["kick", 3], '["kick", 3]'),  # a number
    (["kick", ""], '["kick", ""]'),  # an empty name
    ({"kick": 0}, '{"kick": 0}'),  # not a list
])
def test_classes_malformed(tmp_path, classes, found):
    folder = build_audio_decoder(tmp_path / "classes", metadata=contract_metadata(8, 44100, 8820, classes=classes))
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "classes", ["liveengine.classes", found], ["a JSON list of class names"])


def test_decoder_outputs_nan(tmp_path):
    folder = build_audio_decoder(tmp_path / "nan", add_nan=True)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "nan", ["outputs NaN or infinity for the prior's mean"], ["expected finite audio"])


def test_decoder_outputs_silence(tmp_path):
    folder = build_audio_decoder(tmp_path / "mute", output_scale=0.0)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "mute", ["outputs silence (below -80 dBFS) for the prior's mean"], ["expected a sound"])


def test_classifier_without_classes(tmp_path):
    folder = build_audio_decoder(tmp_path / "unlabelled")
    build_classifier(folder)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "unlabelled", ["classifier.onnx is present"], ["names no liveengine.classes"])


def test_classifier_with_wrong_input(tmp_path):
    folder = build_audio_decoder(tmp_path / "clsx", metadata=contract_metadata(8, 44100, 8820, classes=["a", "b", "c"]))
    build_classifier(folder, input_name="latent")
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder)
    check_model_error(info.value, "clsx", ["classifier.onnx inputs ['latent']"], ["expected one input 'z'"])


def test_encoder_with_wrong_input_name(tmp_path):
    folder = build_audio_decoder(tmp_path / "enc")
    build_encoder(folder, input_name="wave")
    decoder = OnnxDecoder(folder)  # the encoder loads on first use
    with pytest.raises(ModelError) as info:
        decoder.encoder  # noqa: B018 - the property loads it
    check_model_error(info.value, "enc", ["encoder.onnx inputs ['wave']"], ["expected one input 'audio'"])


def test_corrupt_encoder(tmp_path):
    folder = build_audio_decoder(tmp_path / "encbytes")
    (folder / "encoder.onnx").write_bytes(b"not onnx at all" * 10)
    decoder = OnnxDecoder(folder)  # the encoder loads on first use
    with pytest.raises(ModelError) as info:
        decoder.encode(np.zeros((1, 100), np.float32))
    check_model_error(info.value, "encbytes", ["encoder.onnx"], ["not a loadable ONNX model"])


def test_unknown_normalize(tmp_path):
    with pytest.raises(ModelError) as info:
        OnnxDecoder(audio_model(tmp_path), normalize="rms")
    check_model_error(info.value, "kick", ["normalize = 'rms'"], ["allowed: peak, loudness, none"])


def test_broken_model_through_the_registry_is_one_model_error(tmp_path):
    """load_decoder (what the engine calls) passes the ModelError on as it is: no wrapping, no chain."""
    build_audio_decoder(tmp_path / "badmeta", metadata=contract_metadata(8, 44100, 8820, contract="2"))
    with pytest.raises(ModelError) as info:
        load_decoder("badmeta", tmp_path / "song.toml")
    check_model_error(info.value, "badmeta", ["contract = '2'"], ["reads contract 1"])
    assert info.value.__cause__ is None


def test_metadata_values_are_strings_json_encoded(tmp_path):
    """The builder's metadata really is what the contract table says (guards the tests above)."""
    import onnx

    folder = audio_model(tmp_path)
    props = {p.key: p.value for p in onnx.load(folder / "decoder.onnx").metadata_props}
    assert props["liveengine.contract"] == "1"
    assert json.loads(props["liveengine.latent.mean"]) == [0.0] * 6


@pytest.mark.parametrize("fixed", [1, 3])
def test_graph_with_a_fixed_batch_is_decoded_in_chunks(tmp_path, fixed):
    """docs/model-contract.md: a fixed batch is accepted and decoded in chunks (10 rows: 3+3+3+1 with batch 3)."""
    import onnx

    folder = audio_model(tmp_path, name=f"fixed{fixed}")
    model = onnx.load(folder / "decoder.onnx")
    for value in list(model.graph.input) + list(model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = fixed
    onnx.save(model, folder / "decoder.onnx")
    decoder = OnnxDecoder(folder, normalize="none")  # the load check decodes one row
    assert decoder.max_batch == fixed
    z = latents(10, decoder.latent_dim, seed=4)
    out = decode(decoder, z)
    expected = np.concatenate([raw_reference(folder, z[i : i + 1].repeat(fixed, axis=0))[:1] for i in range(10)])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
