"""OnnxDecoder.encode / classify against real encoder.onnx and classifier.onnx files built in tmp_path.

The builders in liveengine.testing.models write a fixed feature encoder and a softmax
classifier next to a decoder; the tests recompute both in numpy and check what the
contract asks of the host: crop or zero-pad to output_length, peak-normalise, one
ModelError naming the model when a part is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveengine.decoders.contract import ModelError
from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.decoders.test_synth import TestSynthDecoder
from liveengine.testing.models import (build_audio_decoder, build_classifier, build_encoder, contract_metadata, encoder_features,
                                       encoder_projection)

from onnx_helpers import check_model_error

DIM, RATE, LENGTH = 6, 22050, 4410
CLASSES = ["kick", "snare", "hat"]


def full_model(tmp_path, name="full"):
    folder = build_audio_decoder(tmp_path / name, latent_dim=DIM, output_length=LENGTH, sample_rate=RATE,
                                 metadata=contract_metadata(DIM, RATE, LENGTH, classes=CLASSES))
    build_encoder(folder, DIM, LENGTH, RATE)
    build_classifier(folder, DIM, len(CLASSES))
    return folder


def reference_mean(audio: np.ndarray, scale: float = 0.5, seed: int = 5) -> np.ndarray:
    """build_encoder's graph written out in numpy (float64), for already prepared rows [batch, LENGTH]."""
    f = encoder_features(LENGTH, RATE)
    frame, frames = int(f["frame"]), int(f["frames"])
    framed = audio[:, : frame * frames].reshape(len(audio), frames, frame).astype(np.float64)
    power = (framed @ f["cos"]) ** 2 + (framed @ f["sin"]) ** 2
    band_power = power @ f["bands"]
    spectrum = band_power.sum(axis=1)
    floor = spectrum.sum(axis=1, keepdims=True) * 1e-4 + 1e-9
    log_spectrum = np.log(spectrum + floor)
    log_envelope = np.log(band_power.sum(axis=2) @ f["segments"] + floor)
    features = np.concatenate([log_spectrum - log_spectrum.mean(axis=1, keepdims=True),
                               log_envelope - log_envelope.mean(axis=1, keepdims=True)], axis=1)
    return features @ (encoder_projection(features.shape[1], DIM, seed) * scale)


def tone(freq: float, decay: float, length: int = LENGTH, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(length) / RATE
    x = np.sin(2 * np.pi * freq * t) + noise * np.random.default_rng(seed).standard_normal(length)
    return (x * np.exp(-t / decay)).astype(np.float32)


def test_encode_is_the_mean_of_the_graph_for_prepared_rows(tmp_path):
    decoder = OnnxDecoder(full_model(tmp_path))
    assert decoder.can_encode and decoder.can_classify
    audio = np.stack([tone(80, 0.2), tone(3000, 0.02, noise=1.0), tone(440, 0.5)])
    audio /= np.max(np.abs(audio), axis=1, keepdims=True)  # already peak 1: the host changes nothing
    mean = decoder.encode(audio)
    assert mean.dtype == np.float32 and mean.shape == (3, DIM)
    np.testing.assert_allclose(mean, reference_mean(audio), atol=2e-4)


def test_encode_crops_pads_and_peak_normalises(tmp_path):
    decoder = OnnxDecoder(full_model(tmp_path))
    sound = tone(200, 0.05)
    sound /= np.max(np.abs(sound))
    base = decoder.encode(sound[None, :])
    np.testing.assert_allclose(decoder.encode(0.05 * sound[None, :]), base, atol=1e-5)  # level does not matter
    longer = np.concatenate([sound, tone(5000, 1.0, length=3000, noise=1.0)])  # what lies past output_length is cropped
    np.testing.assert_allclose(decoder.encode(longer[None, :]), base, atol=1e-5)
    short = sound[:1000] / np.max(np.abs(sound[:1000]))
    padded = np.zeros(LENGTH, np.float32)
    padded[:1000] = short
    np.testing.assert_allclose(decoder.encode(short[None, :]), reference_mean(padded[None, :]), atol=2e-4)
    silent = decoder.encode(np.zeros((1, 500), np.float32))  # silence stays silence: finite, no division by zero
    assert np.all(np.isfinite(silent))
    with pytest.raises(ValueError, match=r"audio\[batch, samples\]"):
        decoder.encode(sound)


def probe_encoder(folder, picks):
    """An encoder whose mean is the prepared audio at sample indices `picks`: shows what the host fed it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((LENGTH, DIM), np.float32)
    w[picks, np.arange(DIM)] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["audio", "w"], ["mean"]), helper.make_node("MatMul", ["audio", "w"], ["logvar"])], "probe",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", LENGTH])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", DIM]),
         helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["batch", DIM])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "encoder.onnx")


def test_host_prepares_rows_as_the_contract_says(tmp_path):
    folder = build_audio_decoder(tmp_path / "probe", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    picks = [0, 1, 999, 1000, 2000, LENGTH - 1]
    probe_encoder(folder, picks)
    decoder = OnnxDecoder(folder)
    short = np.zeros(1000, np.float32)
    short[[0, 1, 999]] = [0.1, -0.25, 0.05]  # peak 0.25 -> scaled by 4; samples from 1000 on are zero padding
    long = np.full(LENGTH + 500, 0.5, np.float32)
    long[LENGTH:] = 3.0  # past output_length: cropped before the peak is taken
    long[1] = -0.5
    got = decoder.encode(np.stack([np.pad(short, (0, LENGTH + 500 - 1000)), long]))
    np.testing.assert_allclose(got[0], [0.4, -1.0, 0.2, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(got[1], [1.0, -1.0, 1.0, 1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(decoder.encode(short[None, :])[0], got[0], atol=1e-6)
    np.testing.assert_array_equal(decoder.encode(np.zeros((1, 10), np.float32)), np.zeros((1, DIM)))
    assert decoder.encode(np.zeros((0, 10), np.float32)).shape == (0, DIM)


def test_encoder_puts_similar_sounds_near_and_different_sounds_far(tmp_path):
    decoder = OnnxDecoder(full_model(tmp_path))
    kicks = [tone(60, 0.15), tone(63, 0.16), tone(58, 0.14, noise=0.02, seed=1)]
    hats = [tone(8000, 0.02, noise=2.0, seed=2), tone(7500, 0.025, noise=2.0, seed=3)]
    points = decoder.encode(np.stack(kicks + hats))
    distance = lambda a, b: float(np.linalg.norm(points[a] - points[b]))  # noqa: E731
    within = max(distance(0, 1), distance(0, 2), distance(1, 2), distance(3, 4))
    across = min(distance(i, j) for i in range(3) for j in (3, 4))
    assert across > 5 * within, (within, across)


def test_encoder_separates_testsynth_neighbours_from_distant_points(tmp_path):
    """Rendered drums: a small step in the synth's latent space moves the encoding less than a jump across it."""
    synth = TestSynthDecoder()
    decoder = OnnxDecoder(full_model(tmp_path))
    rng = np.random.default_rng(4)
    z = rng.standard_normal((12, 8)).astype(np.float32)
    near = z + 0.03 * rng.standard_normal(z.shape).astype(np.float32)
    audio = np.zeros((24, synth.output_length), np.float32)
    synth.decode_into(np.concatenate([z, near]), audio)
    resampled = audio[:, ::2]  # 44.1 kHz -> 22.05 kHz (the synth is band-limited enough for this check)
    points = decoder.encode(resampled)
    steps = np.linalg.norm(points[:12] - points[12:], axis=1)
    jumps = np.linalg.norm(points[:12, None] - points[None, :12], axis=2)[np.triu_indices(12, 1)]
    assert np.median(steps) * 5 < np.median(jumps), (np.median(steps), np.median(jumps))


def test_classify_is_a_softmax_over_the_named_classes(tmp_path):
    decoder = OnnxDecoder(full_model(tmp_path))
    assert decoder.classes == tuple(CLASSES)
    z = np.random.default_rng(0).standard_normal((5, DIM)).astype(np.float32)
    probabilities = decoder.classify(z)
    assert probabilities.shape == (5, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # Each class owns a direction: far along it, that class wins.
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(tmp_path / "full" / "classifier.onnx").graph.initializer}
    logits = z @ weights["w"] + weights["b"]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    far = (weights["w"] / np.linalg.norm(weights["w"], axis=0)).T * 10.0
    assert list(np.argmax(decoder.classify(far), axis=1)) == [0, 1, 2]
    with pytest.raises(ValueError, match=rf"z\[batch, {DIM}\]"):
        decoder.classify(np.zeros((2, DIM + 1), np.float32))


def test_a_model_without_encoder_or_classifier_says_so(tmp_path):
    decoder = OnnxDecoder(build_audio_decoder(tmp_path / "bare", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE))
    assert not decoder.can_encode and not decoder.can_classify
    with pytest.raises(ModelError) as info:
        decoder.encode(np.zeros((1, LENGTH), np.float32))
    check_model_error(info.value, "bare", ["has no encoder.onnx"], ["with encoder.onnx can"])
    with pytest.raises(ModelError) as info:
        decoder.classify(np.zeros((1, DIM), np.float32))
    check_model_error(info.value, "bare", ["has no classifier.onnx"], ["classifier.onnx and liveengine.classes"])
    with pytest.raises(ModelError):
        decoder.classes  # noqa: B018 - the property itself raises


def test_testsynth_has_no_encoder():
    synth = TestSynthDecoder()
    assert not getattr(synth, "can_encode", False) and not getattr(synth, "can_classify", False)


def test_encoder_of_the_wrong_length_is_refused_on_first_use_while_the_decoder_plays(tmp_path):
    """encoder.onnx loads on first use (a descent encoder is most of a model's load): a wrong one is refused then, by name,
    every time it is asked for, and the decoder plays on."""
    folder = build_audio_decoder(tmp_path / "mismatch", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    build_encoder(folder, DIM, LENGTH * 2, RATE)
    decoder = OnnxDecoder(folder)
    assert decoder.can_encode and not decoder.encoder_loaded
    for _ in range(2):
        with pytest.raises(ModelError) as info:
            decoder.encode(np.zeros((1, LENGTH), np.float32))
        check_model_error(info.value, "mismatch", ["encoder input 'audio'", str(LENGTH * 2)], [f"axis 1 must be {LENGTH}"])
    played = np.zeros((1, LENGTH), np.float32)
    decoder.decode_into(np.zeros((1, DIM), np.float32), played)
    assert np.max(np.abs(played)) > 0
    folder = build_audio_decoder(tmp_path / "narrow", latent_dim=DIM, output_length=LENGTH, sample_rate=RATE)
    build_encoder(folder, DIM + 2, LENGTH, RATE)
    with pytest.raises(ModelError) as info:
        OnnxDecoder(folder).encoder  # noqa: B018 - the property loads it
    check_model_error(info.value, "narrow", ["encoder output 'mean'"], [f"axis 1 must be {DIM}"])


def test_an_encoder_gone_since_the_load_is_refused_by_name_with_a_new_error_each_time(tmp_path):
    """The file is looked for at load and opened on first use: gone between them (moved, being exported again), it is
    one ModelError naming it, a new one on each call (the first one's traceback does not grow)."""
    decoder = OnnxDecoder(full_model(tmp_path))
    (decoder.folder / "encoder.onnx").unlink()
    errors = []
    for _ in range(2):
        with pytest.raises(ModelError) as info:
            decoder.encode(np.zeros((1, LENGTH), np.float32))
        errors.append(info.value)
        check_model_error(info.value, "full", ["encoder.onnx was in", "is not now"], ["a model folder with encoder.onnx"])
    errors.append(pytest.raises(ModelError, decoder.encode, np.zeros((1, LENGTH), np.float32)).value)

    def depth(error):
        frames, tb = 0, error.__traceback__
        while tb is not None:
            frames, tb = frames + 1, tb.tb_next
        return frames
    assert errors[1] is not errors[2] and depth(errors[1]) == depth(errors[2])


def test_builders_need_a_decoder_folder(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(FileNotFoundError, match="no decoder.onnx"):
        build_encoder(tmp_path / "nothing", DIM, LENGTH)
    with pytest.raises(FileNotFoundError, match="no decoder.onnx"):
        build_classifier(tmp_path / "nothing", DIM, 3)


def test_many_sounds_are_encoded_a_few_at_a_time_with_the_same_points(tmp_path):
    """An encoder that checks its guess holds tens of MB per sound in one run: encode runs at most ENCODE_ROWS rows at
    once (a spy around the real session counts them), and the points are those of one sound at a time."""
    from liveengine.decoders import onnx_decoder

    decoder = OnnxDecoder(full_model(tmp_path))
    audio = np.stack([tone(60 + 90 * i, 0.05 + 0.04 * i, noise=0.1 * i, seed=i) for i in range(7)])
    alone = np.concatenate([decoder.encode(row[None]) for row in audio])
    session, rows = decoder.encoder, []

    class Spy:
        def get_inputs(self):
            return session.get_inputs()

        def run(self, outputs, feed):
            rows.append(len(feed["audio"]))
            return session.run(outputs, feed)

    decoder._encoder = Spy()  # in place of the loaded session
    together = decoder.encode(audio)
    assert rows == [onnx_decoder.ENCODE_ROWS] * 3 + [1] and onnx_decoder.ENCODE_ROWS == 2
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
